"""Node keys (S10): a processing node authenticates as its provider with a key the exchange
issued to that provider, never with a secret shared across providers.

A key is shown once, when it is issued; the exchange keeps its hash, a name and the last few
characters (to tell keys apart in a list). Its provider revokes it, after which it
authenticates nothing. A key acts for its node only: it checks work under the provider's
subcontracts and meters their packets, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from commex.domain.accounts import Account, Role
from commex.domain.errors import Conflict, Forbidden, InvalidInput, NotFound

NODE_KEY_PREFIX = "cxn_"
MAX_ACTIVE_KEYS = 20
MAX_NAME = 80


@dataclass(frozen=True, slots=True)
class NodeKey:
    """An issued node key, as stored (never the key itself)."""

    id: str
    provider_id: str
    name: str
    hint: str  # the key's last characters
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def check_key_name(name: object) -> str:
    """A key's name: 1 to 80 printable characters, so a list tells its nodes apart."""
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise InvalidInput(f"name must be 1 to {MAX_NAME} characters", "name")
    if any(ch < " " or ch == "\x7f" for ch in name):
        raise InvalidInput("name must not hold control characters", "name")
    return name.strip()


def issue(
    provider: Account, name: object, active: int, key_id: str, key: str, now: datetime
) -> NodeKey:
    """A new key of ``provider`` (which holds ``active`` keys already)."""
    if not provider.has(Role.PROVIDER):
        raise Forbidden("only a provider runs processing nodes")
    checked = check_key_name(name)
    if active >= MAX_ACTIVE_KEYS:
        raise Conflict(f"at most {MAX_ACTIVE_KEYS} node keys are active at once: revoke one first")
    return NodeKey(key_id, provider.id, checked, key[-4:], now)


def revoke(key: NodeKey | None, provider_id: str, key_id: str, now: datetime) -> NodeKey:
    """The key revoked by its provider (revoking it again changes nothing); another
    provider's key does not exist for the caller."""
    if key is None or key.provider_id != provider_id:
        raise NotFound(f"node key {key_id} not found")
    if key.revoked_at is not None:
        return key
    return replace(key, revoked_at=now)
