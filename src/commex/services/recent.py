"""Reputations for bid answers, remembered for at most a second.

A bid's answer shows its bidder's reputation; reading it costs a few statements in every
batch, for bidders who bid again and again. :class:`RecentReputations` keeps what was read for
``ttl_s`` (a second at most, the token cache's rule), so an answer may show a reputation up to
a second old; every page and every other answer still reads it fresh. Eligibility is never
decided from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from commex.domain.accounts import Role
from commex.domain.reputation import Reputation
from commex.services.ports import ReputationSource, UnitOfWork

MAX_TTL_S = 1.0


class RecentReputations:
    """(account, role) -> (reputation, when it was read), bounded in size and age.

    ``monotonic`` is a clock in seconds that never goes back; ``ttl_s`` 0 reads every time."""

    def __init__(
        self,
        source: ReputationSource,
        monotonic: Callable[[], float],
        ttl_s: float = MAX_TTL_S,
        max_entries: int = 10_000,
    ) -> None:
        if not 0 <= ttl_s <= MAX_TTL_S:
            raise ValueError(f"ttl_s must be between 0 and {MAX_TTL_S} s")
        self._source = source
        self._now = monotonic
        self._ttl = ttl_s
        self._max = max_entries
        self._entries: dict[tuple[str, Role], tuple[Reputation, float]] = {}

    def of_many(
        self, uow: UnitOfWork, account_ids: Iterable[str], role: Role
    ) -> dict[str, Reputation]:
        """Each account's reputation in ``role``: remembered when read less than ``ttl_s``
        ago, read in ``uow`` otherwise (in one call for all that are not)."""
        now = self._now()
        found: dict[str, Reputation] = {}
        missing: list[str] = []
        for account_id in account_ids:
            entry = self._entries.get((account_id, role))
            if entry is not None and now - entry[1] < self._ttl:
                found[account_id] = entry[0]
            else:
                missing.append(account_id)
        if missing:
            read = self._source.of_many(uow, missing, role)
            if len(self._entries) + len(read) > self._max:
                self._entries.clear()
            for account_id, rep in read.items():
                self._entries[(account_id, role)] = (rep, now)  # aged from before the read
            found.update(read)
        return found
