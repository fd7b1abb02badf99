"""Finding, following and hearing over HTTP: auction search, the watchlist, notifications and
webhooks."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from commex.client.base import ClientBase


def _q(value: str) -> str:
    return quote(value, safe="")


class MarketCalls(ClientBase):
    def find_auctions(self, **filters: Any) -> dict[str, Any]:
        """A page of ``GET /v1/auctions`` (filters as its query parameters, None left out):
        ``items`` and ``next_cursor``."""
        params = {k: v for k, v in filters.items() if v is not None and v != ""}
        return self._get("/v1/auctions", params=params)

    def watch(self, auction_id: str) -> dict[str, Any]:
        return self._send("PUT", f"/v1/auctions/{_q(auction_id)}/watch")

    def unwatch(self, auction_id: str) -> dict[str, Any]:
        return self._send("DELETE", f"/v1/auctions/{_q(auction_id)}/watch")

    def watchlist(self, cursor: str | None = None) -> dict[str, Any]:
        return self._get("/v1/watchlist", params={"cursor": cursor} if cursor else {})

    def notifications(
        self, unread: bool = False, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        """A page of the notification centre: ``items``, ``next_cursor`` and ``unread``."""
        params: dict[str, Any] = {"limit": limit, "unread": str(unread).lower()}
        if cursor:
            params["cursor"] = cursor
        return self._get("/v1/notifications", params=params)

    def mark_read(self, ids: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"ids": ids} if ids else {"all": True}
        return self._send("POST", "/v1/notifications/read", json=body)

    def create_webhook(self, url: str, events: list[str]) -> dict[str, Any]:
        """A new webhook; its signing secret is in the answer, this once."""
        return self._send("POST", "/v1/webhooks", json={"url": url, "events": events})

    def webhooks(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._get("/v1/webhooks", params={"limit": 500})["items"]
        return items

    def delete_webhook(self, webhook_id: str) -> dict[str, Any]:
        return self._send("DELETE", f"/v1/webhooks/{_q(webhook_id)}")

    def deliveries(self, webhook_id: str, cursor: str | None = None) -> dict[str, Any]:
        params = {"cursor": cursor} if cursor else {}
        return self._get(f"/v1/webhooks/{_q(webhook_id)}/deliveries", params=params)

    def redeliver(self, webhook_id: str, delivery_id: str) -> dict[str, Any]:
        path = f"/v1/webhooks/{_q(webhook_id)}/deliveries/{_q(delivery_id)}/retry"
        return self._send("POST", path)
