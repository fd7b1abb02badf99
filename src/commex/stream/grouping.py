"""Per-stream arithmetic over batches of many streams, without a Python loop per packet.

Rows are sorted once by stream (and input order within a stream); a row's predecessor in its
own stream, a running maximum per stream or the end of a per-stream recurrence are then a few
array operations. A stream's value before the batch comes from the caller's state (its
``carry``), so a stream cut into many batches gives the same answer as in one piece.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from commex.stream.types import I64, Bools

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Groups:
    """``order`` sorts rows by (stream, input order); ``stream`` holds the sorted rows'
    stream ids, ``first`` marks each stream's first sorted row and ``rank`` numbers the
    streams present, in order."""

    order: I64
    stream: I64
    first: Bools
    rank: I64

    @classmethod
    def of(cls, stream: Any, index: Any) -> Groups:
        order = np.lexsort((index, stream)).astype(np.int64)
        s = np.asarray(stream)[order].astype(np.int64)
        first = np.ones(s.shape[0], dtype=np.bool_)
        first[1:] = s[1:] != s[:-1]
        return cls(order, s, first, np.cumsum(first) - 1)

    def subset(self, mask: Bools) -> Groups:
        """The groups of the sorted rows where ``mask`` holds (still sorted; ``order``
        numbers them within the subset)."""
        s = self.stream[mask]
        first = np.ones(s.shape[0], dtype=np.bool_)
        first[1:] = s[1:] != s[:-1]
        return Groups(np.arange(s.shape[0], dtype=np.int64), s, first, np.cumsum(first) - 1)

    @property
    def present(self) -> I64:
        """The stream ids present, in order."""
        ids: I64 = self.stream[self.first]
        return ids

    @property
    def last(self) -> Bools:
        """Each stream's last sorted row."""
        last = np.ones(self.first.shape[0], dtype=np.bool_)
        last[:-1] = self.first[1:]
        return last

    def previous(self, values: Any, carry: Any) -> Any:
        """Each sorted row's predecessor in its stream; a stream's first row gets its
        stream's ``carry``."""
        prev = np.empty_like(values)
        if values.shape[0]:
            prev[1:] = values[:-1]
            prev[self.first] = carry[self.stream[self.first]]
        return prev

    def running_max(self, values: I64, carry: I64) -> I64:
        """The maximum so far within each stream (sorted rows, inclusive), from ``carry``."""
        if not values.shape[0]:
            return values
        start = np.where(self.first, np.maximum(values, carry[self.stream]), values)
        low = int(start.min())
        span = int(start.max()) - low + 1
        lifted = (start - low) + self.rank * span
        acc: I64 = np.maximum.accumulate(lifted) - self.rank * span + low
        return acc

    def position(self, mask: Bools) -> tuple[I64, I64]:
        """For the sorted rows where ``mask`` holds: each one's position among its stream's
        masked rows, and how many masked rows its stream has."""
        streams = int(self.rank[-1]) + 1 if self.rank.shape[0] else 0
        counts = np.bincount(self.rank[mask], minlength=streams)
        before: I64 = np.cumsum(mask) - mask
        base: I64 = before[self.first]
        pos: I64 = (before - base[self.rank])[mask]
        total: I64 = counts[self.rank[mask]]
        return pos, total


def recurrence_end(
    groups: Groups, start: F64, values: F64, mask: Bools, gain: float, size: int
) -> tuple[F64, Bools]:
    """Per stream id (``size`` of them), the value of ``J += (v - J) * gain`` after the masked
    sorted rows' ``values`` in order, from ``start`` (per stream id), in closed form; and which
    streams had any masked row."""
    pos, count = groups.position(mask)
    keep = 1.0 - gain
    ids = groups.stream[mask]
    counts = np.bincount(ids, minlength=size)
    # A term further than this from its stream's end weighs less than 1e-30 of the last one
    # (for the gains used here): it is left out rather than raised to a huge power.
    age = count - 1 - pos
    recent = age < np.log(1e-30) / np.log(keep)
    weights = gain * np.power(keep, age[recent].astype(np.float64))
    tally = np.bincount(ids[recent], weights=values[mask][recent] * weights, minlength=size)
    touched = counts > 0
    end: F64 = np.where(touched, start * np.power(keep, counts) + tally, start)
    return end, touched
