"""Who is calling: API tokens, passwords and web sessions.

Tokens are 256 random bits shown once; only their SHA-256 is stored (a fast hash is right for a
high-entropy secret, and lets the token be found by its hash). Passwords are stored as a
memory-hard hash (argon2id, through the :class:`PasswordHasher` port). A web session is a
random cookie value whose hash is stored with its own CSRF token and an expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from commex.domain.accounts import Account
from commex.domain.errors import InvalidInput, Unauthenticated
from commex.services.exchange import Exchange
from commex.services.ports import Clock, PasswordHasher, SessionRecord, UnitOfWorkFactory

TOKEN_PREFIX = "cx_"  # noqa: S105 - a visible prefix, not a secret
MIN_PASSWORD = 10
MAX_PASSWORD = 256
MAX_TOKEN = 128
SESSION_TTL = timedelta(days=7)


def new_token(prefix: str = TOKEN_PREFIX) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login_key(name: str) -> str:
    """Login names compare without regard to case or surrounding space."""
    return name.strip().casefold()


def check_password(password: object) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(
            f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters", field="password"
        )
    return password


@dataclass(frozen=True, slots=True)
class Registered:
    """A new account and its API token (shown this once, never stored in clear)."""

    account: Account
    token: str


@dataclass(frozen=True, slots=True)
class WebSession:
    """A logged-in browser: the cookie value (only here in clear), its CSRF token, its account."""

    token: str
    csrf: str
    account: Account


class Auth:
    """Registration, token authentication, password login and sessions."""

    def __init__(
        self,
        exchange: Exchange,
        uow: UnitOfWorkFactory,
        clock: Clock,
        hasher: PasswordHasher,
        session_ttl: timedelta = SESSION_TTL,
    ) -> None:
        self._exchange = exchange
        self._uow = uow
        self._clock = clock
        self._hasher = hasher
        self._ttl = session_ttl

    def register(
        self,
        name: str,
        roles: Sequence[str],
        password: str | None = None,
        *,
        operator: bool = False,
        owner: str | None = None,
    ) -> Registered:
        """Open an account with an API token and, given a password, a web login by name;
        ``owner`` makes it another account of that owner."""
        if password is not None:
            check_password(password)
        token = new_token()
        account = self._exchange.create_account(
            name, roles, token_hash=token_hash(token), allow_operator=operator, owner=owner
        )
        if password is not None:
            # Hash outside the transaction: argon2 is deliberately slow.
            digest = self._hasher.hash(password)
            with self._uow() as uow:
                uow.credentials.set_password(account.id, login_key(account.name), digest)
                uow.commit()
        return Registered(account, token)

    def rotate_token(self, account_id: str) -> str:
        """A new API token for the account; the old one stops working."""
        token = new_token()
        with self._uow() as uow:
            uow.credentials.set_token_hash(account_id, token_hash(token))
            uow.commit()
        return token

    def authenticate(self, token: str | None) -> Account:
        """The account a bearer token belongs to, or Unauthenticated."""
        if not token or len(token) > MAX_TOKEN:
            raise Unauthenticated("a valid bearer token is required")
        with self._uow(write=False) as uow:
            account = uow.credentials.by_token_hash(token_hash(token))
        if account is None:
            raise Unauthenticated("a valid bearer token is required")
        return account

    def login(self, name: str, password: str) -> WebSession:
        """Start a web session; a wrong name or password gives the same answer."""
        failure = Unauthenticated("wrong name or password")
        if not isinstance(password, str) or len(password) > MAX_PASSWORD or not name:
            raise failure
        with self._uow(write=False) as uow:
            found = uow.credentials.by_login(login_key(name))
        if found is None:
            self._hasher.hash(password)  # spend the same time as a real check
            raise failure
        account, digest = found
        if not self._hasher.verify(digest, password):
            raise failure
        token, csrf = new_token("cs_"), secrets.token_urlsafe(24)
        now = self._clock.now()
        with self._uow() as uow:
            uow.credentials.delete_expired_sessions(now)
            uow.credentials.add_session(
                SessionRecord(token_hash(token), account.id, csrf, now, now + self._ttl)
            )
            uow.commit()
        return WebSession(token, csrf, account)

    def session(self, token: str | None) -> WebSession:
        """The live session behind a cookie value, or Unauthenticated."""
        if not token or len(token) > MAX_TOKEN:
            raise Unauthenticated("please log in")
        with self._uow(write=False) as uow:
            record = uow.credentials.session(token_hash(token))
            account = uow.accounts.get(record.account_id) if record else None
        if record is None or account is None or record.expires_at <= self._clock.now():
            raise Unauthenticated("your session has ended; please log in again")
        return WebSession(token, record.csrf, account)

    def logout(self, token: str) -> None:
        with self._uow() as uow:
            uow.credentials.delete_session(token_hash(token))
            uow.commit()


def csrf_ok(session: WebSession, presented: str | None) -> bool:
    """Whether a form or header carried this session's CSRF token (compared in constant time)."""
    return bool(presented) and hmac.compare_digest(session.csrf, presented or "")
