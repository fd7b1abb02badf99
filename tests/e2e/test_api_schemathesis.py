"""Property-based checks of the whole HTTP API from its own OpenAPI document: whatever a client
sends to any operation, the server never answers with a 5xx.

Schemathesis generates requests (valid and invalid) for every operation and sends them through
the ASGI app, no network. Requests carry a real token, rotating between a provider, a recipient,
a two-role account and the operator, and path ids are often swapped for real auctions, accounts
and contracts, so generated bodies reach the bidding, closing and contract rules instead of
stopping at a 404. Each generated request is sent to three apps, over the in-memory services, a
SQLite file and PostgreSQL: the examples are made once and every storage answers all of them.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi

from commex.bootstrap import in_memory_services
from commex.server import create_server

# The OpenAPI document does not depend on the data, so it is read once from a throw-away app;
# every example is then sent to the test's own app (``app=`` below).
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_server(in_memory_services(), scheduler=False)
)
_POSITIVE = re.compile(r"^[1-9]\d{0,11}(\.\d{1,2})?$")


class _Stage:
    """A small market behind the app: callers, and real ids to aim the generated requests at."""

    def __init__(self, world: Any) -> None:
        self.world = world
        provider = world.account("Fuzz Provider", "provider")
        recipient = world.account("Fuzz Recipient", "recipient")
        both = world.account("Fuzz Both", "recipient", "provider")
        self._callers = itertools.cycle([recipient, provider, world.operator, both])
        forward = world.create_auction(provider)
        english = world.create_auction(provider, format="english", soft_close_s=30)
        reverse = world.create_auction(recipient, "reverse", reserve="100.00")
        closed = world.create_auction(provider)
        assert world.bid(recipient, closed["id"], "10.00").status_code == 201
        done = world.post(
            f"/v1/auctions/{closed['id']}/close", world.operator, json={"reason": "fixture"}
        )
        assert done.status_code == 200, done.text
        contract = done.json()["outcome"]["winners"][0]["contract_id"]
        self.ids = {
            "auction_id": [forward["id"], english["id"], reverse["id"], closed["id"]],
            "contract_id": [contract],
            "account_id": [provider.id, recipient.id, both.id],
        }
        self.sent = 0
        self.now = world.clock.now()
        # One client for every request of the test (a new one per request cost a tenth of the
        # test's time); it keeps no cookie from one request to the next.
        self.client = asgi.ASGIClient(world.app)

    def session(self) -> asgi.ASGIClient:
        self.client.cookies.clear()
        return self.client

    def headers(self) -> dict[str, str]:
        self.sent += 1
        return dict(next(self._callers).headers)

    def repair(self, case: Any) -> None:
        """In half the examples, fix the fields random text almost never gets right (a future
        close time, a service name, a currency, positive amounts), so the rest of the generated
        body reaches the rules behind them."""
        if not isinstance(case.body, dict) or (self.sent // 4) % 2:
            return
        # Generated examples may share nested objects: edit a copy, never the generator's data.
        body = case.body = copy.deepcopy(case.body)
        if case.operation.path == "/v1/auctions":
            body["closes_at"] = (self.now + timedelta(hours=1)).isoformat()
            body["currency"] = "EUR"
            if isinstance(body.get("terms"), dict):
                body["terms"]["service"] = "voice"
                for key in ("window_start", "window_end"):
                    body["terms"].pop(key, None)
        for key in ("amount", "max_amount", "reserve", "min_increment"):
            value = body.get(key)
            if isinstance(value, str) and not _POSITIVE.match(value):
                body[key] = f"{len(value) + 1}.{len(value) % 100:02d}"

    def aim(self, name: str, generated: Any) -> Any:
        """A real id most of the time (picked by the generated value), else the generated one."""
        pool = self.ids.get(name)
        if not pool or not isinstance(generated, str):
            return generated
        slot = len(generated) % (len(pool) + 1)
        return pool[slot] if slot < len(pool) else generated


@pytest.fixture
def api_stages(
    api_world: Any, api_sqlite_world: Any, api_postgresql_world: Any
) -> Iterator[dict[str, _Stage]]:
    stages = {
        "memory": _Stage(api_world),
        "sqlite": _Stage(api_sqlite_world),
        "postgresql": _Stage(api_postgresql_world),
    }
    with contextlib.ExitStack() as clients:
        for stage in stages.values():
            clients.enter_context(stage.client)
        yield stages


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    # One market per operation on purpose: examples pile up bids, closes and cancels on it.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_operation_answers_a_server_error(case: Any, api_stages: dict[str, _Stage]) -> None:
    path_parameters = case.path_parameters
    body = case.body
    for storage, stage in api_stages.items():
        if path_parameters:
            case.path_parameters = {n: stage.aim(n, v) for n, v in path_parameters.items()}
        case.body = body
        stage.repair(case)
        try:
            case.call_and_validate(
                session=stage.session(), headers=stage.headers(), checks=[not_a_server_error]
            )
        except Exception as failure:
            failure.add_note(f"over the {storage} storage")
            raise


def test_the_document_lists_every_operation_of_the_api() -> None:
    operations = {f"{op.ok().method.upper()} {op.ok().path}" for op in schema.get_all_operations()}
    assert operations == {
        "GET /v1/health",
        "GET /v1/accounts",
        "POST /v1/accounts/{account_id}/suspension",
        "DELETE /v1/accounts/{account_id}/suspension",
        "POST /v1/accounts/{account_id}/password-reset",
        "POST /v1/accounts/me/password",
        "POST /v1/accounts/me/token",
        "DELETE /v1/accounts/me/sessions",
        "DELETE /v1/devices/{device_id}",
        "POST /v1/charges/{charge_id}/refunds",
        "POST /v1/contracts/{contract_id}/cancel",
        "POST /v1/ratings/{rating_id}/hide",
        "POST /v1/accounts",
        "GET /v1/accounts/me",
        "GET /v1/accounts/{account_id}",
        "POST /v1/auctions",
        "GET /v1/auctions",
        "GET /v1/auctions/{auction_id}",
        "POST /v1/auctions/{auction_id}/bids",
        "POST /v1/auctions/{auction_id}/close",
        "POST /v1/auctions/{auction_id}/cancel",
        "GET /v1/contracts",
        "GET /v1/contracts/{contract_id}",
        "PUT /v1/providers/me/offer",
        "GET /v1/providers",
        "POST /v1/contracts/{contract_id}/members",
        "POST /v1/contracts/{contract_id}/ratings",
        "POST /v1/devices",
        "GET /v1/contracts/{contract_id}/members",
        "DELETE /v1/contracts/{contract_id}/members/{member_id}",
        "POST /v1/contracts/{contract_id}/sessions",
        "POST /v1/contracts/{contract_id}/sessions/{session_id}/end",
        "POST /v1/contracts/{contract_id}/usage",
        "GET /v1/contracts/{contract_id}/usage",
        "POST /v1/contracts/{contract_id}/deliveries",
        "GET /v1/providers/me/contracts",
        "PUT /v1/providers/me/capacity",
        "GET /v1/providers/me/capacity",
        "POST /v1/payment-methods",
        "GET /v1/payment-methods",
        "DELETE /v1/payment-methods/{method_id}",
        "POST /v1/payment-methods/{method_id}/default",
        "POST /v1/groups",
        "GET /v1/groups",
        "GET /v1/groups/{group_id}",
        "POST /v1/groups/{group_id}/invitations",
        "POST /v1/groups/{group_id}/membership",
        "PUT /v1/groups/{group_id}/sponsorships",
        "POST /v1/groups/{group_id}/auctions",
        "GET /v1/contracts/{contract_id}/charges",
        "POST /v1/contracts/{contract_id}/charges/retry",
        "GET /v1/charges",
        "PUT /v1/auctions/{auction_id}/watch",
        "DELETE /v1/auctions/{auction_id}/watch",
        "GET /v1/watchlist",
        "GET /v1/notifications",
        "GET /v1/notifications/unread",
        "POST /v1/notifications/read",
        "POST /v1/webhooks",
        "GET /v1/webhooks",
        "DELETE /v1/webhooks/{webhook_id}",
        "GET /v1/webhooks/{webhook_id}/deliveries",
        "GET /v1/webhooks/{webhook_id}/deliveries/{delivery_id}",
        "POST /v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
        "GET /v1/audit",
        "POST /v1/subcontracts",
        "GET /v1/subcontracts",
        "GET /v1/subcontracts/{subcontract_id}",
        "GET /v1/contracts/{contract_id}/subcontracts",
        "POST /v1/subcontracts/{subcontract_id}/outcome",
        "POST /v1/subcontracts/{subcontract_id}/work-check",
        "POST /v1/subcontracts/{subcontract_id}/packets",
        "GET /v1/providers/me/node-keys",
        "POST /v1/providers/me/node-keys",
        "DELETE /v1/providers/me/node-keys/{key_id}",
    }
