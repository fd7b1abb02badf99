"""Client devices of a recipient's users (I4), each with its own token, and telephone numbers
as E.164 (validated with ``phonenumbers``)."""

from __future__ import annotations

import phonenumbers

from commex.domain import members as member_rules
from commex.domain.errors import InvalidInput, Unauthenticated
from commex.domain.members import Device
from commex.domain.moderation import refuse_if_suspended
from commex.services import audit
from commex.services import commands as c
from commex.services import queries as q
from commex.services.accounts import MAX_TOKEN, new_token, token_hash
from commex.services.bus import Deps
from commex.services.loading import account_of
from commex.services.ports import UnitOfWork
from commex.services.results import RegisteredDevice

DEVICE_TOKEN_PREFIX = "cxd_"  # noqa: S105 - a visible prefix, not a secret
MAX_PHONE = 32
_BAD_TOKEN = "a valid device token is required"  # noqa: S105 - words, not a secret


def e164(number: object, field: str = "phone_number") -> str:
    """A telephone number as E.164 (``+14155550123``); a bad one is an error naming it."""
    if not isinstance(number, str) or not 0 < len(number) <= MAX_PHONE:
        raise InvalidInput(f"{field} must be a telephone number such as +14155550123", field)
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(
            f"{number!r} is not a telephone number in international form (+country...)", field
        ) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(f"{number!r} is not a valid telephone number", field)
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def register_device(cmd: c.RegisterDevice, uow: UnitOfWork, deps: Deps) -> RegisteredDevice:
    numbers = [e164(n, "phone_numbers") for n in cmd.phone_numbers]
    token = new_token(DEVICE_TOKEN_PREFIX)
    recipient = account_of(uow, cmd.recipient_id)
    device = member_rules.new_device(
        deps.ids.new("dev"), recipient, cmd.name, cmd.user, numbers, deps.clock.now()
    )
    uow.accounts.add_device(device, token_hash(token))
    audit.record(
        uow, deps, "device.registered", device.id, by=recipient.id,
        detail={"name": device.name, "user": device.user},
    )  # fmt: skip
    return RegisteredDevice(device, token)


def authenticate_device(uow: UnitOfWork, token: str | None) -> Device:
    """The device a device token belongs to, or Unauthenticated."""
    if not token or len(token) > MAX_TOKEN or not token.startswith(DEVICE_TOKEN_PREFIX):
        raise Unauthenticated(_BAD_TOKEN)
    device = uow.accounts.device_by_token_hash(token_hash(token))
    if device is None:
        raise Unauthenticated(_BAD_TOKEN)
    refuse_if_suspended(account_of(uow, device.recipient_id))
    return device


def authenticated_device(query: q.AuthenticateDevice, uow: UnitOfWork, deps: Deps) -> Device:
    return authenticate_device(uow, query.token)


def devices_of(query: q.DevicesOf, uow: UnitOfWork, deps: Deps) -> list[Device]:
    return uow.accounts.devices_of(query.recipient_id)
