"""Accounts, auctions and processing offers over HTTP."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from commex.client.base import ClientBase, with_retries


def _q(value: str) -> str:
    return quote(value, safe="")


class AuctionCalls(ClientBase):
    def create_account(
        self, name: str, roles: list[str], password: str | None = None
    ) -> dict[str, Any]:
        """Open an account (no token needed; with one, another account of the same owner);
        the answer holds its token, shown this once."""
        body: dict[str, Any] = {"name": name, "roles": roles}
        if password is not None:
            body["password"] = password
        return self._send("POST", "/v1/accounts", json=body)

    def account(self, account_id: str) -> dict[str, Any]:
        """An account's public face: name, roles and reputation."""
        return self._get(f"/v1/accounts/{_q(account_id)}")

    def create_auction(self, body: dict[str, Any]) -> dict[str, Any]:
        """Open an auction (shaped like ``POST /v1/auctions``); the answer is the auction."""
        return self._send("POST", "/v1/auctions", json=body)

    def auctions(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Auctions newest first, each with its owner's reputation."""
        params: dict[str, Any] = {"limit": limit}
        if status is not None:
            params["status"] = status
        items: list[dict[str, Any]] = self._get("/v1/auctions", params=params)["items"]
        return items

    def auction(self, auction_id: str) -> dict[str, Any]:
        """The auction as the caller may see it."""
        return self._get(f"/v1/auctions/{_q(auction_id)}")

    def bid(
        self,
        auction_id: str,
        amount: str,
        max_amount: str | None = None,
        idempotency_key: str | None = None,
        *,
        attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> dict[str, Any]:
        """Bid, once: the bid carries an idempotency key (``idempotency_key``, else a fresh
        one), so while the exchange is unreachable or its bid writer is down for a moment
        (503) it is sent again, up to ``attempts`` times, and never placed twice."""
        body: dict[str, Any] = {"amount": amount}
        if max_amount is not None:
            body["max_amount"] = max_amount
        headers = {"Idempotency-Key": idempotency_key or secrets.token_urlsafe(18)}
        path = f"/v1/auctions/{_q(auction_id)}/bids"
        return with_retries(
            lambda: self._send("POST", path, json=body, headers=headers),
            attempts=attempts,
            backoff_s=0.5,
            sleep=sleep,
        )

    def close_auction(self, auction_id: str, reason: str | None = None) -> dict[str, Any]:
        """Close and award (the operator, or the owner once due); the auction as it ends."""
        path = f"/v1/auctions/{_q(auction_id)}/close"
        return self._send("POST", path, json={"reason": reason})

    def cancel_auction(self, auction_id: str, reason: str | None = None) -> dict[str, Any]:
        """Cancel (the owner while it has no bids, the operator any time with a reason)."""
        path = f"/v1/auctions/{_q(auction_id)}/cancel"
        return self._send("POST", path, json={"reason": reason})

    def publish_offer(
        self, node_url: str, capabilities: list[str], price: str, currency: str
    ) -> dict[str, Any]:
        """Publish this provider's processing offer."""
        body = {"node_url": node_url, "capabilities": capabilities, "price": price}
        return self._send("PUT", "/v1/providers/me/offer", json=body | {"currency": currency})

    def providers(self, capability: str) -> list[dict[str, Any]]:
        """Offers of ``capability``, best reputation first, then lower price."""
        found = self._get("/v1/providers", params={"capability": capability})
        items: list[dict[str, Any]] = found["items"]
        return items
