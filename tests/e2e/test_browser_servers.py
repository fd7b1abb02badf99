"""Several servers on one PostgreSQL database: a page watched on one server follows bids placed
on another as they happen, through LISTEN/NOTIFY, long before any periodic re-read would."""

from __future__ import annotations

import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from browser_support import LIVE_TIMEOUT_MS
from playwright.sync_api import Browser, expect
from serve_support import commex_server

from commex.bootstrap import build_services
from commex.settings import Settings
from commex.web.live import SHARED_RECHECK_S


def _post(url: str, path: str, body: dict[str, object], token: str | None = None) -> dict:  # type: ignore[type-arg]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.post(f"{url}{path}", json=body, headers=headers, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


@pytest.mark.postgres
@pytest.mark.slow
def test_a_page_on_server_one_follows_bids_placed_on_server_three(
    postgres_url: str, tmp_path: Path, web_browser: Browser
) -> None:
    env = {"COMMEX_DATABASE_URL": postgres_url}
    with ExitStack() as servers:
        first, _, third = (
            servers.enter_context(commex_server(tmp_path / f"server-{i}", env)) for i in range(3)
        )
        seller = _post(first, "/v1/accounts", {"name": "Northwind", "roles": ["provider"]})
        auction = _post(
            first,
            "/v1/auctions",
            {
                "direction": "forward",
                "format": "english",
                "title": "Harbour data block",
                "terms": {"service": "data", "duration_s": 3600},
                "currency": "EUR",
                "closes_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                "min_increment": "1.00",
            },
            seller["token"],
        )
        buyer = _post(third, "/v1/accounts", {"name": "Harbour Family", "roles": ["recipient"]})
        page = web_browser.new_page()
        page.goto(f"{first}/auctions/{auction['id']}")
        live = page.locator("#live")
        expect(live).to_contain_text("0 bids")

        started = time.monotonic()
        bids = f"/v1/auctions/{auction['id']}/bids"
        _post(third, bids, {"amount": "12.00"}, buyer["token"])
        expect(live).to_contain_text("1 bid", timeout=LIVE_TIMEOUT_MS)
        expect(live).to_contain_text("Harbour Family")
        expect(live.locator(".standing")).to_contain_text("12.00 EUR")
        rival = _post(third, "/v1/accounts", {"name": "Riverside Centre", "roles": ["recipient"]})
        _post(third, bids, {"amount": "20.00"}, rival["token"])
        expect(live.locator(".standing")).to_contain_text(
            "Riverside Centre", timeout=LIVE_TIMEOUT_MS
        )
        # Both arrived well before the page's safety re-read: they were pushed, not polled.
        assert time.monotonic() - started < SHARED_RECHECK_S / 2


def test_sqlite_keeps_polling_and_postgresql_relays(tmp_path: Path, postgres_url: str) -> None:
    on_file = build_services(Settings(tmp_path / "file"))
    on_postgres = build_services(Settings(tmp_path / "pg", postgres_url))
    try:
        assert on_file.relay is None and not on_file.hub.shared
        assert on_postgres.relay is not None
    finally:
        on_file.shutdown()
        on_postgres.shutdown()
