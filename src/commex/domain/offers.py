"""Processing offers: what a provider's processing node does, where it is and what it charges.

The packet plane looks these up to subcontract a step it does not offer itself (S5): by
capability, then ranked by the provider's reputation and its price.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from commex.domain.accounts import Account, Role
from commex.domain.errors import Forbidden, InvalidInput
from commex.domain.money import Money

_CAPABILITY = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_URL = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]{1,253}(:[0-9]{1,5})?(/[\x21-\x7e]*)?$")
MAX_CAPABILITIES = 16
MAX_URL = 200


@dataclass(frozen=True, slots=True)
class ProcessingOffer:
    """A provider's node: its base URL, the steps it performs, the price per 1,000 packets."""

    provider_id: str
    node_url: str
    capabilities: frozenset[str]
    price: Money
    updated_at: datetime


def make_offer(
    provider: Account, node_url: object, capabilities: object, price: Money, now: datetime
) -> ProcessingOffer:
    """Validate an offer; only providers make one."""
    if not provider.has(Role.PROVIDER):
        raise Forbidden("only a provider offers processing")
    if not isinstance(node_url, str) or len(node_url) > MAX_URL or not _URL.match(node_url):
        raise InvalidInput("node_url must be an http(s) URL such as http://node:8765", "node_url")
    if (
        not isinstance(capabilities, list | tuple | set | frozenset)
        or not 0 < len(capabilities) <= MAX_CAPABILITIES
        or not all(isinstance(c, str) and _CAPABILITY.match(c) for c in capabilities)
    ):
        raise InvalidInput(
            f"capabilities must be 1 to {MAX_CAPABILITIES} step names such as 'transcode'",
            "capabilities",
        )
    if price.amount < 0:
        raise InvalidInput("price must not be negative", "price")
    return ProcessingOffer(provider.id, node_url.rstrip("/"), frozenset(capabilities), price, now)
