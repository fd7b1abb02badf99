"""Who a bearer token belongs to, remembered for at most a second.

Every API call authenticates; looking the token up in the database each time costs a
transaction. :class:`TokenCache` remembers an answer for ``ttl_s`` (one second at most), so a
token that is rotated or revoked, by this process or by any other sharing the database, stops
working within that second; :meth:`TokenCache.forget` makes it immediate in this process, and
the composition root calls it for every :class:`~commex.domain.events.CredentialsChanged`.
A token that is refused is never remembered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from commex.domain.accounts import Account
from commex.domain.events import CredentialsChanged, Event
from commex.services import queries as q
from commex.services.accounts import token_hash
from commex.services.bus import MessageBus

MAX_TTL_S = 1.0


class TokenCache:
    """Token hash -> (account, when it was read), bounded in size and age.

    ``monotonic`` is a clock in seconds that never goes back (the composition root passes
    ``time.monotonic``); ``max_entries`` bounds memory, the oldest entries going first."""

    def __init__(
        self,
        monotonic: Callable[[], float],
        ttl_s: float = MAX_TTL_S,
        max_entries: int = 10_000,
    ) -> None:
        if not 0 <= ttl_s <= MAX_TTL_S:
            raise ValueError(f"ttl_s must be between 0 and {MAX_TTL_S} s")
        self._now = monotonic
        self._ttl = ttl_s
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[Account, float]] = {}

    def account(self, token: str) -> Account | None:
        """The account ``token`` was found to belong to less than ``ttl_s`` ago, or None."""
        key = token_hash(token)
        found = self._entries.get(key)
        if found is None:
            return None
        account, read_at = found
        if self._now() - read_at >= self._ttl:
            with self._lock:
                self._entries.pop(key, None)
            return None
        return account

    def remember(self, token: str, account: Account, read_at: float) -> None:
        """Keep what a lookup that started at ``read_at`` (on the same clock) found: the age
        counts from before the read, so a revocation during the read is not outlived."""
        with self._lock:
            if len(self._entries) >= self._max:
                for key in list(self._entries)[: max(1, self._max // 10)]:
                    del self._entries[key]
            self._entries[token_hash(token)] = (account, read_at)

    def forget(self, account_id: str) -> None:
        """Forget every token of ``account_id`` (its token was rotated, or it was suspended)."""
        with self._lock:
            stale = [k for k, (a, _) in self._entries.items() if a.id == account_id]
            for key in stale:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def on_events(self, events: Sequence[Event]) -> None:
        """The bus's subscriber: forget the accounts whose credentials changed."""
        for event in events:
            if isinstance(event, CredentialsChanged):
                self.forget(event.account_id)

    def now(self) -> float:
        return self._now()


class CachedAuthentication:
    """The flow for :class:`~commex.services.queries.Authenticate`: the cache first, then the
    database (whose answer the cache keeps)."""

    def __init__(self, cache: TokenCache) -> None:
        self.cache = cache

    def __call__(self, query: q.Authenticate, bus: MessageBus) -> Account:
        if query.token:
            cached = self.cache.account(query.token)
            if cached is not None:
                return cached
        started = self.cache.now()
        with bus.unit_of_work(write=False) as uow:
            account = bus.handle_in(uow, query)
        assert query.token is not None  # a missing token is refused by the handler
        self.cache.remember(query.token, account, started)
        return account
