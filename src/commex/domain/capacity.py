"""Provider capacity (T5): never sell minimum rates a provider cannot carry at once.

A provider declares its capacity in bit/s. Everything it has promised holds part of it for a
time: a contract its minimum rate over its window, an open forward auction its minimum rate
times the blocks on offer, a bid on an open reverse auction the minimum rate it would owe if it
won. A commitment without a window holds capacity at every moment. A new block is refused when,
at the busiest moment of its own window, what is already committed plus what it needs would
pass the capacity; the error gives the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from commex.domain.errors import Conflict, InvalidInput

MAX_CAPACITY_BPS = 10**13
_MAX_NAMED = 3


@dataclass(frozen=True, slots=True)
class Commitment:
    """Capacity held from ``start`` to ``end`` (None: unbounded on that side)."""

    label: str
    bps: int
    start: datetime | None = None
    end: datetime | None = None


def check_capacity_value(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CAPACITY_BPS:
        raise InvalidInput(
            f"capacity_bps must be a whole number of bit/s from 1 to {MAX_CAPACITY_BPS}",
            "capacity_bps",
        )
    return value


def _overlaps(a: Commitment, b: Commitment) -> bool:
    if a.end is not None and b.start is not None and a.end <= b.start:
        return False
    return not (b.end is not None and a.start is not None and b.end <= a.start)


def peak(existing: Sequence[Commitment], within: Commitment) -> tuple[int, list[Commitment]]:
    """The most capacity held at once by ``existing`` during ``within``'s window, and the
    commitments held at that moment."""
    relevant = [c for c in existing if c.bps > 0 and _overlaps(c, within)]
    if not relevant:
        return 0, []
    # Capacity held only changes where a commitment starts, so the busiest moment is the start
    # of one of them (or of the window itself).
    moments = {within.start} | {c.start for c in relevant}
    best, best_at = -1, list[Commitment]()
    for moment in moments:
        if moment is not None and within.start is not None and moment < within.start:
            continue
        if moment is not None and within.end is not None and moment >= within.end:
            continue
        held = [c for c in relevant if _holds(c, moment)]
        total = sum(c.bps for c in held)
        if total > best:
            best, best_at = total, held
    return max(best, 0), best_at


def _holds(c: Commitment, moment: datetime | None) -> bool:
    if moment is None:  # the unbounded past: only commitments open on that side
        return c.start is None
    return (c.start is None or c.start <= moment) and (c.end is None or moment < c.end)


def check_capacity(
    capacity_bps: int | None, existing: Sequence[Commitment], new: Commitment
) -> None:
    """Refuse ``new`` when it would oversubscribe ``capacity_bps`` (no declared capacity: no
    limit)."""
    if capacity_bps is None or new.bps <= 0:
        return
    held, at_peak = peak(existing, new)
    if held + new.bps <= capacity_bps:
        return
    named = ", ".join(f"{c.label} {c.bps} bit/s" for c in at_peak[:_MAX_NAMED])
    more = f" and {len(at_peak) - _MAX_NAMED} more" if len(at_peak) > _MAX_NAMED else ""
    already = (
        f"; already committed at the busiest moment: {held} bit/s ({named}{more})" if held else ""
    )
    raise Conflict(
        f"capacity exceeded: {new.label} needs {new.bps} bit/s at its minimum rate, the provider "
        f"declares {capacity_bps} bit/s{already}; {held + new.bps} bit/s > {capacity_bps} bit/s"
    )
