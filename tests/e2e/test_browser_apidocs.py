"""The API's documentation opens in a real browser with nothing from outside: /docs (Swagger UI)
and /redoc (ReDoc) load their assets from the server itself, within its Content-Security-Policy
(no inline script), and show the bid operation."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from browser_support import LIVE_TIMEOUT_MS, WebLive
from playwright.sync_api import Browser, Page, expect

BIDS = "/v1/auctions/{auction_id}/bids"
# ReDoc's side menu always asks for Redocly's logo from its CDN; the policy refuses it (so
# nothing leaves) and ReDoc then shows its "API docs by Redocly" line without the picture.
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def _watch(page: Page, base: str) -> list[str]:
    """Collects what would leave a reader with a blank or broken page: console errors (CSP
    refusals among them), failed requests, and any request to another origin."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.url}")
            if r.status >= 400 or not r.url.startswith(base)
            else None
        ),
    )
    page.on(
        "request",
        lambda r: (
            None
            if r.url.startswith((base, "data:", "blob:"))
            else problems.append(f"went outside: {r.url}")
        ),
    )
    return problems


def test_swagger_ui_opens_and_shows_the_bid_operation(
    web_live: WebLive, web_browser: Browser, tmp_path: Path
) -> None:
    context = web_browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    problems = _watch(page, web_live.url)
    page.goto(f"{web_live.url}/docs")
    operation = page.locator(".opblock-post").filter(has=page.locator(f'[data-path="{BIDS}"]'))
    expect(operation).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    operation.locator(".opblock-summary").click()  # open it: its body and answers show
    expect(operation).to_contain_text("Idempotency-Key")
    expect(operation).to_contain_text("201")
    expect(page.locator(".info .title")).to_contain_text("commex")
    page.screenshot(path=str(tmp_path / "docs.png"), full_page=False)
    assert problems == []
    context.close()


def test_redoc_opens_and_shows_the_bid_operation(
    web_live: WebLive, web_browser: Browser, tmp_path: Path
) -> None:
    context = web_browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    problems = _watch(page, web_live.url)
    page.goto(f"{web_live.url}/redoc")
    heading = page.get_by_role("heading", name="Place Bid")
    expect(heading).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(page.get_by_text(BIDS).first).to_be_attached()
    expect(page.get_by_text("API docs by Redocly")).to_be_visible()
    page.screenshot(path=str(tmp_path / "redoc.png"), full_page=False)
    refused = [p for p in problems if REDOCLY_LOGO in p]
    assert [p for p in problems if p not in refused] == []
    assert all("went outside" in p or "Content Security Policy" in p for p in refused)
    context.close()


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_pages_keep_the_servers_script_policy(web_live: WebLive, path: str) -> None:
    r = httpx.get(f"{web_live.url}{path}")
    assert r.status_code == 200
    policy = r.headers["content-security-policy"]
    assert "script-src" not in policy and "default-src 'self'" in policy  # this origin alone
    assert "<script>" not in r.text and "cdn" not in r.text.lower()
    for src in ("/docs/assets/", "/static/apidocs.js") if path == "/docs" else ("/docs/assets/",):
        assert src in r.text
