"""Passwords (O3): an account changes its own (it must give the current one, and its other
web sessions end), and the operator issues a one-time reset link for an account that lost it
(there is no mail server: the operator hands the link over, and it is shown once).

A reset link's token is 256 random bits of which only the SHA-256 is stored, like an API
token; it works once (an atomic conditional update marks it used), for 24 hours, and issuing a
new one replaces the old. Setting a password through it ends every session of the account.
Both are flows: argon2 runs outside any transaction. A wrong current password counts against
the account's login throttle, as a wrong login does.
"""

from __future__ import annotations

from datetime import datetime

from commex.domain.accounts import Account
from commex.domain.credentials import RESET_LINK_TTL, reset_link_live
from commex.domain.errors import Conflict, InvalidInput, NotFound
from commex.domain.events import PasswordChanged, PasswordResetIssued, SessionsEnded
from commex.domain.moderation import refuse_if_suspended
from commex.services import security
from commex.services.accounts import MAX_TOKEN, check_password, new_token, token_hash
from commex.services.bus import Deps, MessageBus
from commex.services.loading import account_of
from commex.services.moderation import operator_of
from commex.services.ports import ResetRecord, UnitOfWork
from commex.services.trust_messages import (
    ChangePassword,
    IssuePasswordReset,
    ResetLink,
    ResetLinkAccount,
    ResetPassword,
)

_DEAD_LINK = (
    "this password-reset link is not valid: it was used, replaced by a newer one, or expired"
)


def change_password(cmd: ChangePassword, bus: MessageBus) -> int:
    new = _new_password(cmd.new_password)
    with bus.unit_of_work(write=False) as uow:
        account = account_of(uow, cmd.account_id)
        digest = uow.accounts.password_hash(account.id)
    if digest is None:
        raise Conflict("this account has no password (it logs in with its API token only)")
    keys = security.login_keys(account.name, cmd.client)
    security.check_throttles(bus, keys)
    current = cmd.current_password
    if not isinstance(current, str) or not bus.deps.hasher.verify(digest, current[:256]):
        security.count_attempt(bus, keys)
        raise InvalidInput("the current password is not right", field="current_password")
    if current == new:
        raise InvalidInput("the new password must differ from the current one", "new_password")
    hashed = bus.deps.hasher.hash(new)
    keep = None if cmd.keep_session is None else token_hash(cmd.keep_session)
    now = bus.clock.now()
    with bus.unit_of_work() as uow:
        uow.accounts.set_password_hash(account.id, hashed)
        ended = uow.accounts.delete_sessions_of(account.id, keep=keep)
        uow.record(
            [
                PasswordChanged(account.id, account.id, "changed", now),
                SessionsEnded(account.id, account.id, "password changed", now),
            ]
        )
        uow.commit()
    return ended


def issue_reset(cmd: IssuePasswordReset, uow: UnitOfWork, deps: Deps) -> ResetLink:
    by = operator_of(uow, cmd.by_id, "issue a password-reset link")
    account = account_of(uow, cmd.account_id)
    if uow.accounts.password_hash(account.id) is None:
        raise Conflict(f"account {account.id} has no password to reset (it uses its API token)")
    if account.suspended:
        raise Conflict(f"account {account.id} is suspended: reinstate it first")
    token, now = new_token("cxr_"), deps.clock.now()
    expires = now + RESET_LINK_TTL
    uow.accounts.add_reset(ResetRecord(token_hash(token), account.id, by.id, now, expires))
    uow.record([PasswordResetIssued(account.id, by.id, expires, now)])
    return ResetLink(account, token, expires)


def reset_link_account(query: ResetLinkAccount, uow: UnitOfWork, deps: Deps) -> Account:
    return _live_link(uow, query.token, deps.clock.now())[1]


def reset_password(cmd: ResetPassword, bus: MessageBus) -> Account:
    new = _new_password(cmd.new_password)
    with bus.unit_of_work(write=False) as uow:
        _live_link(uow, cmd.token, bus.clock.now())
    hashed = bus.deps.hasher.hash(new)
    now = bus.clock.now()
    with bus.unit_of_work() as uow:
        record, account = _live_link(uow, cmd.token, now)
        if not uow.accounts.use_reset(record.token_hash, now):
            raise NotFound(_DEAD_LINK)  # used a moment ago by another request
        uow.accounts.set_password_hash(account.id, hashed)
        uow.accounts.delete_sessions_of(account.id)
        uow.record(
            [
                PasswordChanged(account.id, record.by_id, "reset", now),
                SessionsEnded(account.id, record.by_id, "password reset", now),
            ]
        )
        uow.commit()
    security.forget_attempts(bus, security.login_keys(account.name, None))
    return account


def _live_link(uow: UnitOfWork, token: str, now: datetime) -> tuple[ResetRecord, Account]:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
        raise NotFound(_DEAD_LINK)
    record = uow.accounts.reset(token_hash(token))
    if record is None or not reset_link_live(record.expires_at, record.used_at, now):
        raise NotFound(_DEAD_LINK)
    account = account_of(uow, record.account_id)
    refuse_if_suspended(account)
    return record, account


def _new_password(value: object) -> str:
    try:
        return check_password(value)
    except InvalidInput as exc:
        message = exc.message.replace("password", "new_password", 1)
        raise InvalidInput(message, "new_password") from exc
