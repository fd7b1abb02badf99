"""Each account's own security (O3) and the throttles that guard logins, signups and card
saves.

Throttles count attempts per key in the database (see :mod:`commex.domain.throttling` for the
rules), so every server process of ``commex serve --workers N``, and every host on one
PostgreSQL database, sees the same counts: a guesser gains nothing by spreading its attempts
over processes, and a restart forgets nothing. A check is a read; a counted attempt is one small
write, next to the argon2 hash that a login costs anyway.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from commex.domain import throttling
from commex.domain.errors import Forbidden, NotFound
from commex.domain.events import DeviceRevoked, SessionsEnded
from commex.domain.members import Device
from commex.domain.moderation import check_reason
from commex.domain.throttling import ThrottleRule
from commex.services import trust_messages as m
from commex.services.bus import Deps, MessageBus
from commex.services.loading import account_of, check_id
from commex.services.names import name_key
from commex.services.ports import UnitOfWork

Keys = Sequence[tuple[str, ThrottleRule]]


def _hashed(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def login_keys(name: str, client: str | None) -> Keys:
    """The keys a login attempt counts under: its (folded) name and its client's address."""
    keys: list[tuple[str, ThrottleRule]] = [
        (f"login:name:{_hashed(name_key(name))}", throttling.LOGIN_NAME)
    ]
    if client:
        keys.append((f"login:addr:{_hashed(client)}", throttling.LOGIN_ADDRESS))
    return keys


def signup_keys(client: str | None) -> Keys:
    return [(f"signup:addr:{_hashed(client)}", throttling.SIGNUP_ADDRESS)] if client else []


def card_keys(account_id: str, client: str | None) -> Keys:
    keys: list[tuple[str, ThrottleRule]] = [(f"card:acct:{account_id}", throttling.CARD_ACCOUNT)]
    if client:
        keys.append((f"card:addr:{_hashed(client)}", throttling.CARD_ADDRESS))
    return keys


def check_throttles(bus: MessageBus, keys: Keys) -> None:
    """Raise Throttled (429, with the seconds to wait) while any key is blocked."""
    if not keys:
        return
    now = bus.clock.now()
    with bus.unit_of_work(write=False) as uow:
        for key, rule in keys:
            throttling.check(uow.throttles.get(key), rule, now)


def count_attempt(bus: MessageBus, keys: Keys) -> None:
    """Count one attempt under every key."""
    if not keys:
        return
    now = bus.clock.now()
    with bus.unit_of_work() as uow:
        for key, rule in keys:
            uow.throttles.put(key, throttling.count(uow.throttles.get(key), rule, now))
        uow.commit()


def forget_attempts(bus: MessageBus, keys: Keys) -> None:
    """A success clears the keys given (a login clears its name's count, not its address's)."""
    if not keys:
        return
    with bus.unit_of_work() as uow:
        for key, _ in keys:
            uow.throttles.delete(key)
        uow.commit()


# -- an account's own devices and sessions -------------------------------------------------------


def revoke_device(cmd: m.RevokeDevice, uow: UnitOfWork, deps: Deps) -> Device:
    """Deregister one of the caller's devices: its token stops working at once (the next call
    presenting it is refused); its ratings and usage stay on record."""
    device = uow.accounts.device(check_id("device", cmd.device_id))
    by = account_of(uow, cmd.by_id)
    if device is None or (device.recipient_id != by.id and not by.is_operator):
        raise NotFound(f"device {cmd.device_id} not found")
    now = deps.clock.now()
    if not uow.accounts.revoke_device(device.id, now):
        raise NotFound(f"device {cmd.device_id} is not registered (deregistered already?)")
    uow.record([DeviceRevoked(device.id, device.recipient_id, by.id, now)])
    return device


def end_sessions(cmd: m.EndSessions, uow: UnitOfWork, deps: Deps) -> int:
    """Log the account out everywhere: every web session ends."""
    by = account_of(uow, cmd.by_id)
    if by.id != cmd.account_id and not by.is_operator:
        raise Forbidden("only the account itself or the operator may end its sessions")
    account = account_of(uow, cmd.account_id)
    ended = uow.accounts.delete_sessions_of(account.id)
    now = deps.clock.now()
    uow.record([SessionsEnded(account.id, by.id, check_reason(cmd.reason), now)])
    return ended
