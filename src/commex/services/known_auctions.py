"""What the bid desk keeps of open auctions between its batches: each auction's bidding state
(the auction itself and, on a sealed auction, its bidders' standing bids) with the version of
the row it was read or written at.

A batch reads the versions of its auctions (one small statement, their rows locked); an auction
whose version is the one kept is used as kept, and only the others are read in full. Every
write to an auction raises its version, by this process or any other sharing the database (its
bids, a close, a cancel, a withdrawal), so nothing kept outlives a change. What a batch did is
kept only once its commit succeeded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from commex.domain.auctions import Auction, Bid


@dataclass
class Known:
    """One auction as of ``version``; ``own`` is each bidder's standing bid (None for none)
    on a sealed auction, for the bidders read so far."""

    auction: Auction
    version: int
    own: dict[str, Bid | None] = field(default_factory=dict)


class KnownAuctions:
    """Auction id -> :class:`Known`, bounded in size (emptied when full)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max = max_entries
        self._entries: dict[str, Known] = {}
        self._staged: list[Known] = []

    def __len__(self) -> int:
        return len(self._entries)

    def current(self, versions: Mapping[str, int]) -> dict[str, Known]:
        """Those kept at the version given for them (the others are forgotten: stale)."""
        found: dict[str, Known] = {}
        for auction_id, version in versions.items():
            kept = self._entries.get(auction_id)
            if kept is None:
                continue
            if kept.version == version:
                found[auction_id] = kept
            else:
                del self._entries[auction_id]
        return found

    def stage(self, known: Iterable[Known]) -> None:
        """What a batch left (each auction as of the version it wrote or read), kept once the
        batch is committed (:meth:`keep_staged`)."""
        self._staged = list(known)

    def keep_staged(self) -> None:
        """The staged batch was committed: keep what it left."""
        staged, self._staged = self._staged, []
        for k in staged:
            if k.auction.id not in self._entries and len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[k.auction.id] = k

    def clear(self) -> None:
        """Forget everything, what is staged included (a batch failed)."""
        self._entries.clear()
        self._staged = []
