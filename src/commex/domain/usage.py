"""Metering a block of time (T3) and the rate it was delivered at (T4).

Members consume a contract's block through usage sessions: a session is opened for a member,
reports seconds (and bytes) as they are used, and is ended. A report of ``s`` seconds made at
``now`` is usage in the interval ``(now - s, now]``; only the part of it inside the contract's
window counts, and never more than what remains of the block. What is cut is answered, not
silently dropped: the caller learns what was accepted and what remains.

Usage is counted in milliseconds, so fractional seconds from devices and stream durations add
up exactly. The services apply :func:`meter` with the contract's row locked, so concurrent
reports from any number of members and server processes never consume more than the block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from commex.domain.contracts import Contract, ContractStatus
from commex.domain.errors import Conflict, InvalidInput
from commex.domain.members import Member

MAX_REPORT_S = 366 * 86400  # one report covers at most a year of use
MAX_BYTES = 10**15
MAX_RUN_ID = 64
MS = 1000
_SECONDS = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,9})?")  # plain decimals: no "1e2", "1_000"


@dataclass(frozen=True, slots=True)
class UsageSession:
    """One member's use of a contract: opened, reported into, ended."""

    id: str
    contract_id: str
    member_id: str
    started_at: datetime
    ended_at: datetime | None = None
    used_ms: int = 0
    bytes: int = 0

    @property
    def open(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True, slots=True)
class Metered:
    """What a usage report consumed: accepted and remaining milliseconds, and why any was cut."""

    requested_ms: int
    accepted_ms: int
    remaining_ms: int
    cut: str | None = None


@dataclass(frozen=True, slots=True)
class MemberUsage:
    """A member's share of the block so far."""

    member_id: str
    used_ms: int
    bytes: int
    sessions: int


def seconds_to_ms(value: object, field: str = "seconds") -> int:
    """Seconds from the wire (a number or a decimal string, at most 3 decimal places) as whole
    milliseconds; anything else is an error naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput(f"{field} must be a number of seconds such as 90 or 1.5", field)
    if isinstance(value, str) and not _SECONDS.fullmatch(value):
        raise InvalidInput(f"{field} must be a number of seconds, not {value[:24]!r}", field)
    try:
        seconds = Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidInput(f"{field} must be a number of seconds, not {value!r}", field) from exc
    if not seconds.is_finite() or seconds <= 0 or seconds > MAX_REPORT_S:
        raise InvalidInput(f"{field} must be more than 0 and at most {MAX_REPORT_S}", field)
    ms = seconds * MS
    if ms != ms.to_integral_value():
        raise InvalidInput(f"{field} has at most 3 decimal places (milliseconds)", field)
    return int(ms)


def check_bytes(value: object, field: str = "bytes") -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_BYTES:
        raise InvalidInput(f"{field} must be a whole number from 0 to {MAX_BYTES}", field)
    return value


def block_ms(contract: Contract) -> int:
    return contract.terms.duration_s * MS


def meter(
    contract: Contract,
    used_ms: int,
    requested_ms: int,
    now: datetime,
    *,
    elapsed: bool = True,
    since: datetime | None = None,
) -> Metered:
    """How much of a report of ``requested_ms`` made at ``now`` the block accepts, given
    ``used_ms`` already consumed by every member. Refused outright (Conflict) when the contract
    is not in service or nothing of it remains; cut at the window's edges and at the block.

    ``elapsed=False`` is for the packet plane's stream-seconds, which were processed at ``now``
    rather than lived through up to it: they count whole while ``now`` is inside the window.
    ``since`` is when the session reported into began, moved on by what it already reported: a
    session cannot report more use than the time it has been open."""
    _check_in_service(contract)
    block = block_ms(contract)
    remaining = max(0, block - used_ms)
    if remaining == 0:
        raise Conflict(
            f"contract {contract.id}: the block of {contract.terms.duration_s} s is used up"
        )
    start = now - timedelta(milliseconds=requested_ms if elapsed else 0)
    window_start, window_end = contract.terms.window_start, contract.terms.window_end
    inside = requested_ms
    cut: str | None = None
    if elapsed and since is not None and since > start:
        start = since
        inside = max(0, _ms(now - since))
        cut = (
            f"only {_s(inside)} s of the {_s(requested_ms)} s reported fit in the session's "
            f"time since {since.isoformat()}"
        )
    if window_end is not None and window_start is not None:
        if start >= window_end or (not elapsed and now >= window_end):
            raise Conflict(
                f"contract {contract.id}: its window ended at {window_end.isoformat()}; "
                "usage after it is not accepted"
            )
        lo, hi = max(start, window_start), min(now, window_end)
        in_window = max(0, _ms(hi - lo)) if elapsed else requested_ms
        if in_window < inside:
            inside = in_window
            cut = (
                f"only {_s(inside)} s of the {_s(requested_ms)} s reported fall inside the "
                f"window {window_start.isoformat()} to {window_end.isoformat()}"
            )
    accepted = min(inside, remaining)
    if accepted < inside:
        cut = (
            f"the block of {contract.terms.duration_s} s had {_s(remaining)} s left; "
            "the rest is cut"
        )
    return Metered(requested_ms, accepted, remaining - accepted, cut)


def open_session(
    contract: Contract, member: Member, used_ms: int, session_id: str, now: datetime
) -> UsageSession:
    """Open a session for ``member``; refused when the contract is not in service, its window
    has ended or nothing of the block remains."""
    _check_in_service(contract)
    if member.contract_id != contract.id:
        raise InvalidInput(f"member {member.id} is not a member of contract {contract.id}")
    end = contract.terms.window_end
    if end is not None and now >= end:
        raise Conflict(f"contract {contract.id}: its window ended at {end.isoformat()}")
    if used_ms >= block_ms(contract):
        raise Conflict(
            f"contract {contract.id}: the block of {contract.terms.duration_s} s is used up"
        )
    return UsageSession(session_id, contract.id, member.id, now)


def _check_in_service(contract: Contract) -> None:
    if contract.status is ContractStatus.COMPLETED and contract.used_ms >= block_ms(contract):
        raise Conflict(
            f"contract {contract.id}: the block of {contract.terms.duration_s} s is used up"
        )
    if contract.status is not ContractStatus.ACTIVE:
        when = contract.terms.window_start
        hint = f"; its window opens at {when.isoformat()}" if when is not None else ""
        raise Conflict(f"contract {contract.id} is {contract.status.value}, not in service{hint}")


def check_run_id(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_RUN_ID or not value.isprintable():
        raise InvalidInput(f"run_id must be 1 to {MAX_RUN_ID} printable characters", "run_id")
    return value


def _ms(delta: timedelta) -> int:
    return delta // timedelta(milliseconds=1)


def _s(ms: int) -> str:
    """Milliseconds as seconds for people: ``12``, ``12.5``."""
    return f"{Decimal(ms) / MS:f}".rstrip("0").rstrip(".") if ms % MS else str(ms // MS)
