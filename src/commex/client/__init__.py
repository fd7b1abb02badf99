"""HTTP clients of the exchange, for programs that are not the server: the command line,
processing nodes that publish their offers, packet planes that look for subcontractors and
report deliveries and open subcontracts, subcontractors' nodes that check and meter their
work, bidding bots and devices.

Every call presents an API token (``COMMEX_TOKEN``, or a profile saved by ``commex login``);
the server's JSON errors come back as the same commex errors the library raises.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from commex.client.auctions import AuctionCalls
from commex.client.base import api_token_from_env
from commex.client.billing import BillingCalls
from commex.client.contracts import ContractCalls
from commex.client.market import MarketCalls
from commex.client.subcontracts import SubcontractCalls

if TYPE_CHECKING:
    from commex.client.plane import (
        DeliveryNotRecorded,
        ExchangeDirectory,
        deliver_with_retries,
        report_delivery,
    )

# The packet plane's calls bring the stream package (and numpy) with them: they are imported
# when first asked for, so a command that only talks to the exchange (`commex card list`)
# starts without them.
_PLANE = {"DeliveryNotRecorded", "ExchangeDirectory", "deliver_with_retries", "report_delivery"}


def __getattr__(name: str) -> Any:
    if name in _PLANE:
        return getattr(importlib.import_module("commex.client.plane"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ExchangeClient(AuctionCalls, ContractCalls, BillingCalls, MarketCalls, SubcontractCalls):
    """A small client of the exchange's ``/v1`` API."""


__all__ = [
    "DeliveryNotRecorded",
    "ExchangeClient",
    "ExchangeDirectory",
    "api_token_from_env",
    "deliver_with_retries",
    "report_delivery",
]
