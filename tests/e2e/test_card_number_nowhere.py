"""No card number is stored, logged or answered (B1, issue 7): cards are registered through the
API and the web page, a group's charges run (one declined, retried), and then every table and
column of the database, the SQLite file's bytes, every log record (all loggers at DEBUG) and
every answer the exchange gave are searched for the numbers. They appear nowhere."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, select, text

from commex.adapters.clock import ManualClock
from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import Services, build_services
from commex.server import create_server
from commex.services.commands import ChargeDue
from commex.settings import Settings
from support.engine import close_due

PASSWORD = "correct horse battery"
NUMBERS = {
    "Ann": "4111111111111111",  # approved (not one the cards page suggests as an example)
    "Bob": "5555555555554444",
    "Cat": "4000000000000341",  # saved, then declined at every charge
}
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def _forms(number: str) -> list[str]:
    """The number as typed, spaced in fours, and dashed: any of them would be a leak."""
    fours = [number[i : i + 4] for i in range(0, len(number), 4)]
    return [number, " ".join(fours), "-".join(fours)]


@pytest.fixture(params=["sqlite", "postgresql"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Services, str]]:
    url = request.getfixturevalue("migrated_store")(request.param)
    settings = Settings(tmp_path, url)
    clock = ManualClock(T0)
    services = build_services(
        settings, clock=clock, hasher=Argon2Hasher(time_cost=1, memory_kib=1024)
    )
    try:
        yield services, settings.url()
    finally:
        services.shutdown()


class Recorder:
    """A test client that keeps every answer it received."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.answers: list[str] = []

    def __call__(self, method: str, path: str, **kw: Any) -> Any:
        response = self.client.request(method, path, **kw)
        self.answers.append(f"{response.status_code} {dict(response.headers)} {response.text}")
        return response


def test_no_card_number_in_the_database_the_logs_or_any_answer(
    setup: tuple[Services, str], caplog: pytest.LogCaptureFixture
) -> None:
    services, url = setup
    caplog.set_level(logging.DEBUG)  # the root logger: every commex, sqlalchemy, httpx logger
    for name in ("", "commex", "sqlalchemy", "sqlalchemy.engine", "stripe", "httpx", "uvicorn"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    app = create_server(services, scheduler=False)
    call = Recorder(TestClient(app, follow_redirects=False))
    clock: Any = services.clock
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    for name in ("Ann", "Bob", "Cat", "Seller"):
        role = "provider" if name == "Seller" else "recipient"
        body = {"name": name, "roles": [role], "password": PASSWORD}
        data = call("POST", "/v1/accounts", json=body).json()
        tokens[name], ids[name] = data["token"], data["id"]

    def api(method: str, path: str, who: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {tokens[who]}"} | kw.pop("headers", {})
        response = call(method, path, headers=headers, **kw)
        assert response.status_code < 400, response.text
        return response.json()

    # Ann and Cat register through the API; Bob through the web page, as typed with spaces.
    for name in ("Ann", "Cat"):
        card = {"number": NUMBERS[name], "exp_month": 12, "exp_year": 2031, "cvc": "123"}
        api("POST", "/v1/payment-methods", name, json=card)
    assert call("POST", "/login", data={"name": "Bob", "password": PASSWORD}).status_code == 303
    page = call("GET", "/account/cards").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    form = {"csrf": csrf.group(1), "number": " ".join(_forms(NUMBERS["Bob"])[1:2]),
            "exp_month": "12", "exp_year": "2031", "cvc": "123"}  # fmt: skip
    assert call("POST", "/account/cards", data=form).status_code in (201, 303)
    saved = api("GET", "/v1/payment-methods", "Bob")
    assert "4444" in str(saved)
    # A bad number is refused without echoing it.
    bad = {"number": NUMBERS["Ann"][:-1] + "3", "exp_month": 12, "exp_year": 2031, "cvc": "1"}
    auth = {"Authorization": f"Bearer {tokens['Ann']}"}
    assert call("POST", "/v1/payment-methods", json=bad, headers=auth).status_code == 422

    group = api("POST", "/v1/groups", "Ann", json={"name": "Flats", "currency": "EUR",
                                                   "pledge": "50.00"})  # fmt: skip
    for name, pledge in (("Bob", "30.00"), ("Cat", "20.00")):
        api("POST", f"/v1/groups/{group['id']}/invitations", "Ann", json={"account_id": ids[name]})
        clock.advance(1)
        api("POST", f"/v1/groups/{group['id']}/membership", name,
            json={"answer": "payer", "pledge": pledge})  # fmt: skip
    auction_body = {
        "format": "first-price", "title": "Voice", "terms": {"service": "voice", "duration_s": 60},
        "closes_at": (clock.now() + timedelta(hours=1)).isoformat(),
    }  # fmt: skip
    auction = api("POST", f"/v1/groups/{group['id']}/auctions", "Ann", json=auction_body)
    api("POST", f"/v1/auctions/{auction['id']}/bids", "Seller", json={"amount": "90.00"})
    clock.advance(3601)
    close_due(services.bus)
    services.bus.handle(ChargeDue())
    contract_id = api("GET", f"/v1/auctions/{auction['id']}", "Ann")["outcome"]["winners"][0][
        "contract_id"
    ]
    # Cat's card was just declined: asking again on it is refused, naming only its last four.
    cat = {"Authorization": f"Bearer {tokens['Cat']}"}
    again = call("POST", f"/v1/contracts/{contract_id}/charges/retry", headers=cat)
    assert again.status_code == 409 and "ending in 0341" in again.json()["error"]["message"]
    charges = api("GET", f"/v1/contracts/{contract_id}/charges", "Seller")["charges"]
    assert sorted(c["status"] for c in charges) == ["pending", "succeeded", "succeeded"]
    for name in ("Ann", "Bob", "Cat"):
        api("GET", "/v1/charges", name)
        api("GET", f"/v1/groups/{group['id']}", name)
    call("GET", f"/groups/{group['id']}")
    call("GET", "/account/cards")

    leaks = {n: _forms(number) for n, number in NUMBERS.items()}
    found: list[str] = []
    # 1. Every table, every column.
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                for row in conn.execute(select(text("*")).select_from(text(f'"{table}"'))):
                    cells = " ".join(str(v) for v in row)
                    found += [f"{table}: {n}" for n, forms in leaks.items() if _any(forms, cells)]
    finally:
        engine.dispose()
    # 2. The SQLite file's bytes (with its write-ahead log), if this run used one.
    if url.startswith("sqlite:///"):
        db = Path(url.removeprefix("sqlite:///"))
        for path in (db, db.with_name(db.name + "-wal")):
            if path.exists():
                raw = path.read_bytes()
                found += [f"{path.name}: {n}" for n, number in NUMBERS.items()
                          if number.encode() in raw]  # fmt: skip
    # 3. Every log record, 4. every answer.
    logs = "\n".join(f"{r.name} {r.getMessage()} {r.args}" for r in caplog.records)
    assert "commex.billing" in logs  # the charges were logged, at least their outcomes
    found += [f"logs: {n}" for n, forms in leaks.items() if _any(forms, logs)]
    answers = "\n".join(call.answers)
    found += [
        f"answers: {n}: {a[:300]}"
        for a in call.answers
        for n, forms in leaks.items()
        if _any(forms, a)
    ]
    assert "1111" in answers  # the last four digits are shown, and only they
    assert found == []


def _any(forms: list[str], haystack: str) -> bool:
    return any(f in haystack for f in forms)
