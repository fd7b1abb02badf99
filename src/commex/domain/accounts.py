"""Accounts and their roles on the exchange."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from commex.domain.errors import InvalidInput

MAX_NAME = 80


class Role(StrEnum):
    """What an account may do: sell (provider), buy (recipient), moderate (operator)."""

    PROVIDER = "provider"
    RECIPIENT = "recipient"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Account:
    """A party of the exchange."""

    id: str
    name: str
    roles: frozenset[Role]
    created_at: datetime
    owner_id: str | None = None
    suspended_at: datetime | None = None
    suspension_reason: str | None = None

    @property
    def owner(self) -> str:
        """Who stands behind the account: itself, or the account that opened it (accounts of
        one owner may not bid on each other's auctions or rate each other)."""
        return self.owner_id or self.id

    def has(self, role: Role) -> bool:
        return role in self.roles

    @property
    def is_operator(self) -> bool:
        return Role.OPERATOR in self.roles

    @property
    def suspended(self) -> bool:
        return self.suspended_at is not None


def check_name(name: object) -> str:
    """A display name: 1 to 80 printable characters, trimmed."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("name must be a non-empty string", field="name")
    name = name.strip()
    if len(name) > MAX_NAME or not name.isprintable():
        raise InvalidInput(f"name must be at most {MAX_NAME} printable characters", field="name")
    return name


def parse_roles(roles: object, *, allow_operator: bool = False) -> frozenset[Role]:
    """Roles from wire data; the operator role is granted only by the operator command."""
    if not isinstance(roles, list | tuple | set | frozenset) or not roles:
        raise InvalidInput(
            "roles must be a non-empty list of 'provider'/'recipient'", field="roles"
        )
    out: set[Role] = set()
    for r in roles:
        try:
            role = Role(r)
        except ValueError as exc:
            raise InvalidInput(f"unknown role {r!r}", field="roles") from exc
        if role is Role.OPERATOR and not allow_operator:
            raise InvalidInput("the operator role is granted by the operator only", field="roles")
        out.add(role)
    return frozenset(out)
