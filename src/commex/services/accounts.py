"""Accounts and who is calling: registration, API tokens, password login and web sessions.

Tokens are 256 random bits shown once; only their SHA-256 is stored (a fast hash is right for a
high-entropy secret, and lets the token be found by its hash). Passwords are stored as a
memory-hard hash (argon2id, through the :class:`PasswordHasher` port), computed before the
transaction opens so no lock is held while it runs. A web session is a random cookie value
whose hash is stored with its own CSRF token and an expiry.

:func:`authenticate` takes the caller's unit of work, so authentication can share a transaction
with the command it authorises.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from commex.domain.accounts import MAX_NAME, Account, Role, check_name, parse_roles
from commex.domain.credentials import SESSION_IDLE, SESSION_LIFETIME, needs_touch, session_over
from commex.domain.errors import InvalidInput, Unauthenticated
from commex.domain.events import CredentialsChanged, TokenRotated
from commex.domain.moderation import refuse_if_suspended
from commex.services import audit, security
from commex.services import commands as c
from commex.services import queries as q
from commex.services.bus import Deps, MessageBus
from commex.services.loading import account_of
from commex.services.names import name_key
from commex.services.ports import Login, SessionRecord, UnitOfWork
from commex.services.results import AccountView, Party, Registered, WebSession, party

TOKEN_PREFIX = "cx_"  # noqa: S105 - a visible prefix, not a secret
MIN_PASSWORD = 10
MAX_PASSWORD = 256
MAX_TOKEN = 128
SESSION_TTL = SESSION_LIFETIME  # what a session cookie may live at most
_BAD_TOKEN = "a valid bearer token is required"  # noqa: S105 - words, not a secret
log = logging.getLogger("commex.accounts")


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


def csrf_ok(session: WebSession, presented: str | None) -> bool:
    """Whether a form or header carried this session's CSRF token (compared in constant time)."""
    return bool(presented) and hmac.compare_digest(session.csrf, presented or "")


# -- registration --------------------------------------------------------------------------------


def register(cmd: c.Register, bus: MessageBus) -> Registered:
    """A flow: the password is hashed first (argon2 is deliberately slow), then the account,
    its token and its login are written in one transaction, so a taken name leaves nothing."""
    password = None if cmd.password is None else check_password(cmd.password)
    name, roles = check_name(cmd.name), parse_roles(list(cmd.roles), allow_operator=cmd.operator)
    throttled = security.signup_keys(cmd.client)
    security.check_throttles(bus, throttled)
    security.count_attempt(bus, throttled)  # every signup counts, taken or not
    login = None
    if password is not None:
        login = Login(login_key(name), bus.deps.hasher.hash(password))
    token = new_token()
    with bus.unit_of_work() as uow:
        account = Account(bus.deps.ids.new("acc"), name, roles, bus.clock.now(), cmd.owner_id)
        if cmd.owner_id is not None:
            account_of(uow, cmd.owner_id)
        uow.accounts.add(account, token_hash(token), login, name_key(name))
        by = None if cmd.operator else cmd.owner_id or account.id  # an operator: the admin's CLI
        audit.record(
            uow, bus.deps, "account.opened", account.id, by=by, accounts=(account.id,),
            detail={"name": name, "roles": " ".join(sorted(r.value for r in roles))},
        )  # fmt: skip
        uow.commit()
    log.info("account opened", extra={"account_id": account.id, "web_login": login is not None})
    return Registered(account, token)


def rotate_token(cmd: c.RotateToken, uow: UnitOfWork, deps: Deps) -> str:
    """A new API token, shown once; the old one stops working with this commit."""
    token = new_token()
    account_id = account_of(uow, cmd.account_id).id
    uow.accounts.set_token_hash(account_id, token_hash(token))
    audit.record(uow, deps, "token.rotated", account_id, by=account_id)
    uow.record(
        [TokenRotated(account_id, account_id, deps.clock.now()), CredentialsChanged(account_id)]
    )
    return token


# -- who is calling ------------------------------------------------------------------------------


def authenticate(uow: UnitOfWork, token: str | None) -> Account:
    """The account a bearer token belongs to, or Unauthenticated."""
    if not token or len(token) > MAX_TOKEN:
        raise Unauthenticated(_BAD_TOKEN)
    account = uow.accounts.by_token_hash(token_hash(token))
    if account is None:
        raise Unauthenticated(_BAD_TOKEN)
    refuse_if_suspended(account)
    return account


def authenticated(query: q.Authenticate, uow: UnitOfWork, deps: Deps) -> Account:
    return authenticate(uow, query.token)


def login(cmd: c.Login, bus: MessageBus) -> WebSession:
    """A flow: find the login, verify the password outside any transaction (argon2 is slow),
    then store the session; a wrong name or password gives the same answer."""
    failure = Unauthenticated("wrong name or password")
    password = cmd.password
    if not isinstance(password, str) or len(password) > MAX_PASSWORD or not cmd.name:
        raise failure
    keys = security.login_keys(cmd.name[:MAX_NAME], cmd.client)
    security.check_throttles(bus, keys)  # blocked: refused before any hash is spent
    with bus.unit_of_work(write=False) as uow:
        found = uow.accounts.by_login(login_key(cmd.name))
    if found is None:
        bus.deps.hasher.hash(password)  # spend the same time as a real check
        security.count_attempt(bus, keys)
        log.info("login refused: no such name")  # never the name: it may be a password
        raise failure
    account, digest = found
    if not bus.deps.hasher.verify(digest, password):
        security.count_attempt(bus, keys)
        log.info("login refused: wrong password", extra={"account_id": account.id})
        raise failure
    security.forget_attempts(bus, keys[:1])
    refuse_if_suspended(account)
    token, csrf = new_token("cs_"), secrets.token_urlsafe(24)
    now = bus.clock.now()
    with bus.unit_of_work() as uow:
        uow.accounts.delete_expired_sessions(now, now - SESSION_IDLE)
        uow.accounts.add_session(
            SessionRecord(token_hash(token), account.id, csrf, now, now + SESSION_LIFETIME)
        )
        uow.commit()
    log.info("logged in", extra={"account_id": account.id})
    return WebSession(token, csrf, account)


def current_session(query: q.CurrentSession, bus: MessageBus) -> WebSession:
    """A flow: the live session behind a cookie, ended an hour after its last use or 12 hours
    after it began (see :mod:`commex.domain.credentials`); a use is written down at most once
    a minute, in a transaction of its own."""
    token = query.token
    if not token or len(token) > MAX_TOKEN:
        raise Unauthenticated("please log in")
    hashed, now = token_hash(token), bus.clock.now()
    with bus.unit_of_work(write=False) as uow:
        record = uow.accounts.session(hashed)
        account = uow.accounts.get(record.account_id) if record else None
    if record is None or account is None:
        raise Unauthenticated("your session has ended; please log in again")
    over = session_over(record.created_at, record.used_at, now)
    if over is not None:
        raise Unauthenticated(over)
    refuse_if_suspended(account)
    if needs_touch(record.used_at, now):
        with bus.unit_of_work() as uow:
            uow.accounts.touch_session(hashed, now)
            uow.commit()
    return WebSession(token, record.csrf, account)


def logout(cmd: c.Logout, uow: UnitOfWork, deps: Deps) -> None:
    uow.accounts.delete_session(token_hash(cmd.token))


# -- accounts as others see them -----------------------------------------------------------------


def show_account(query: q.ShowAccount, uow: UnitOfWork, deps: Deps) -> AccountView:
    account = account_of(uow, query.account_id)
    reps = deps.reputations
    return AccountView(
        account,
        reps.of(uow, account.id, Role.PROVIDER),
        reps.of(uow, account.id, Role.RECIPIENT),
    )


def show_party(query: q.ShowParty, uow: UnitOfWork, deps: Deps) -> Party:
    account = account_of(uow, query.account_id)
    rep = deps.reputations.of(uow, account.id, query.role)
    paid = uow.charges.settled_counts([account.id])
    return party(account, account.id, query.role, rep, paid)


def any_accounts(query: q.AnyAccounts, uow: UnitOfWork, deps: Deps) -> bool:
    return uow.accounts.count() > 0
