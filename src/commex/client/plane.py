"""What the packet plane asks of the exchange: providers to subcontract to (S5), and reports
of what it delivered under a contract (S7), retried while the exchange cannot answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from commex.client.base import retriable, with_retries
from commex.domain.errors import CommexError
from commex.stream.subcontracting import Provider

if TYPE_CHECKING:
    from commex.client import ExchangeClient


class ExchangeDirectory:
    """The packet plane's :class:`~commex.stream.subcontracting.ProviderDirectory` over the
    exchange: providers offering a step, with their reputation and price, never the caller
    itself (a subcontract goes to a different provider), and, when ``approved`` names any, only
    those (the recipient's approved providers under a contract)."""

    def __init__(self, client: ExchangeClient, approved: frozenset[str] = frozenset()) -> None:
        self._client = client
        self._me: str | None = None
        self.approved = approved

    def find(self, capability: str) -> list[Provider]:
        if self._me is None:
            self._me = str(self._client.me()["id"])
        found = []
        for item in self._client.providers(capability):
            provider = item["provider"]
            outside = bool(self.approved) and provider["id"] not in self.approved
            if provider["id"] == self._me or outside:
                continue
            try:
                price: Decimal | None = Decimal(str(item["price"]))
            except InvalidOperation:
                price = None
            found.append(
                Provider(
                    name=str(provider["name"]),
                    url=str(item["node_url"]),
                    reputation=float(provider["reputation"]["lower_bound"]),
                    price=price,
                    id=str(provider["id"]),
                )
            )
        return found


class DeliveryNotRecorded(CommexError):
    """Raised when a delivery report could not reach the exchange after every retry."""

    code = "delivery_not_recorded"


def report_delivery(
    client: ExchangeClient, contract_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """``POST /v1/contracts/{id}/deliveries``: the exchange's answer, ``{"accepted_seconds",
    "remaining_seconds", "breach", "min_rate_bps", ...}``; a 409 (nothing of the block
    remains) is a :class:`Conflict`."""
    result: dict[str, Any] = client._call(
        "POST", f"/v1/contracts/{contract_id}/deliveries", json=body
    )
    return result


def deliver_with_retries(
    client: ExchangeClient,
    contract_id: str,
    body: dict[str, Any],
    *,
    attempts: int = 4,
    backoff_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """:func:`report_delivery`, tried ``attempts`` times with the same body (and so the same
    run id, which the exchange counts once) while the exchange is unreachable or failing."""
    try:
        return with_retries(
            lambda: report_delivery(client, contract_id, body),
            attempts=attempts,
            backoff_s=backoff_s,
            sleep=sleep,
        )
    except CommexError as exc:
        if not retriable(exc):
            raise
        raise DeliveryNotRecorded(
            f"the delivery {body['run_id']} to contract {contract_id} was not recorded "
            f"after {attempts} tries: {exc.message}"
        ) from exc
