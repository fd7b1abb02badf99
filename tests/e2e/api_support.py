"""What the tests of the HTTP API share: one exchange behind a test client (``ApiWorld``) and the
accounts that act on it (``ApiActor``). A module of its own, so that test files import it by a
name no other directory's ``conftest`` shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx2
from fastapi.testclient import TestClient

from commex.adapters.clock import ManualClock
from commex.bootstrap import Services
from commex.server import create_server
from commex.services.commands import Register

API_OPEN_FOR = timedelta(hours=1)


@dataclass(frozen=True)
class ApiActor:
    """An account as a caller: its id, name and bearer token."""

    id: str
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class ApiWorld:
    """One exchange behind a test client, with helpers that act only through HTTP.

    The client does not re-raise server exceptions: a crash shows up as a 500 answer, which
    the tests can then assert never happens.
    """

    def __init__(self, services: Services, clock: ManualClock) -> None:
        self.services = services
        self.clock = clock
        self.app = create_server(services, scheduler=False)
        self.client = TestClient(self.app, raise_server_exceptions=False)
        reg = services.bus.handle(Register("Op", ("operator",), operator=True))
        self.operator = ApiActor(reg.account.id, reg.account.name, reg.token)

    def account(self, name: str, *roles: str, password: str | None = None) -> ApiActor:
        body: dict[str, Any] = {"name": name, "roles": list(roles)}
        if password is not None:
            body["password"] = password
        r = self.client.post("/v1/accounts", json=body)
        assert r.status_code == 201, r.text
        data = r.json()
        return ApiActor(data["id"], data["name"], data["token"])

    def auction_body(self, direction: str = "forward", **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "direction": direction,
            "format": "first-price",
            "title": f"{direction} block of voice",
            "terms": {"service": "voice", "duration_s": 3600},
            "currency": "EUR",
            "closes_at": (self.clock.now() + API_OPEN_FOR).isoformat(),
        }
        body.update(overrides)
        return body

    def create_auction(
        self, owner: ApiActor, direction: str = "forward", **overrides: Any
    ) -> dict[str, Any]:
        r = self.post("/v1/auctions", owner, json=self.auction_body(direction, **overrides))
        assert r.status_code == 201, r.text
        return dict(r.json())

    def bid(
        self,
        who: ApiActor | None,
        auction_id: str,
        amount: Any,
        max_amount: Any = None,
        key: str | None = None,
    ) -> httpx2.Response:
        body: dict[str, Any] = {"amount": amount}
        if max_amount is not None:
            body["max_amount"] = max_amount
        headers = {"Idempotency-Key": key} if key is not None else {}
        return self.post(f"/v1/auctions/{auction_id}/bids", who, json=body, headers=headers)

    def get(self, path: str, who: ApiActor | None = None, **kw: Any) -> httpx2.Response:
        return self.client.get(path, headers=self._headers(who, kw.pop("headers", None)), **kw)

    def post(self, path: str, who: ApiActor | None = None, **kw: Any) -> httpx2.Response:
        return self.client.post(path, headers=self._headers(who, kw.pop("headers", None)), **kw)

    def auction(self, who: ApiActor, auction_id: str) -> dict[str, Any]:
        r = self.get(f"/v1/auctions/{auction_id}", who)
        assert r.status_code == 200, r.text
        return dict(r.json())

    @staticmethod
    def _headers(who: ApiActor | None, extra: dict[str, str] | None) -> dict[str, str]:
        out = dict(who.headers) if who is not None else {}
        out.update(extra or {})
        return out
