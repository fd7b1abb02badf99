"""Finding accounts by name: the recipients a contract may be shared with, as a person types a
name, and the one account a typed name means."""

from __future__ import annotations

from dataclasses import dataclass

from commex.domain.accounts import Account, Role
from commex.domain.errors import InvalidInput
from commex.services.bus import Deps
from commex.services.ports import UnitOfWork
from commex.services.queries import Query

MAX_NAMED = 50
MAX_NAME = 80


@dataclass(frozen=True, slots=True)
class RecipientsNamed(Query[list[Account]]):
    """Recipient accounts whose name holds ``text`` (case aside), by name."""

    text: str
    limit: int = 20


@dataclass(frozen=True, slots=True)
class RecipientNamed(Query[Account]):
    """The one recipient account named ``name`` (case aside); refused, naming ``field``, when
    none is, or several are."""

    name: str
    field: str = "account_name"


def _text(text: object, field: str) -> str:
    if not isinstance(text, str) or len(text.strip()) > MAX_NAME or not text.isprintable():
        raise InvalidInput(f"{field} must be a name of at most {MAX_NAME} characters", field)
    return text.strip()


def recipients_named(query: RecipientsNamed, uow: UnitOfWork, deps: Deps) -> list[Account]:
    text = _text(query.text, "name")
    if not text or not 1 <= query.limit <= MAX_NAMED:
        return []
    return uow.accounts.named(text, Role.RECIPIENT.value, query.limit)


def recipient_named(query: RecipientNamed, uow: UnitOfWork, deps: Deps) -> Account:
    name = _text(query.name, query.field)
    if not name:
        raise InvalidInput("type the name of the recipient account", query.field)
    found = [
        a
        for a in uow.accounts.named(name, Role.RECIPIENT.value, MAX_NAMED)
        if a.name.lower() == name.lower()
    ]
    if not found:
        raise InvalidInput(f"no recipient account is named {name!r}", query.field)
    if len(found) > 1:
        ids = ", ".join(a.id for a in found)
        raise InvalidInput(
            f"several recipient accounts are named {name!r} ({ids}); give the id", query.field
        )
    return found[0]
