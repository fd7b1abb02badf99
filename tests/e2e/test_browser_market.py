"""The marketplace in a real browser against a real server: filtering the list, the star, the
notification badge counting up live, a chart one can read (and its table), the create form in
human units, and times shown in the viewer's own time zone."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from browser_support import LIVE_TIMEOUT_MS, PASSWORD, WebLive
from playwright.sync_api import Browser, Page, expect

from commex.services.commands import Register
from support.engine import open_auction, place_bid


def _person(web_live: WebLive, name: str, role: str) -> str:
    return web_live.services.bus.handle(Register(name, (role,), PASSWORD)).account.id


def _log_in(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("header .me")).to_have_text(name)


def _auction(web_live: WebLive, owner: str, title: str, **kw: Any) -> str:
    body = {
        "direction": "forward",
        "format": "english",
        "title": title,
        "terms": {"service": "voice", "duration_s": 3600},
        "currency": "EUR",
        "min_increment": "1.00",
        "closes_at": (web_live.clock.now() + timedelta(hours=2)).isoformat(),
    } | kw
    return open_auction(web_live.services.bus, owner, body).id


def _watch_problems(page: Page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    return problems


def test_filters_and_the_star(web_live: WebLive, web_browser: Browser) -> None:
    seller = _person(web_live, "Northwind Carrier", "provider")
    _person(web_live, "Harbour Family", "recipient")
    _auction(web_live, seller, "Evening voice minutes")
    data = {"service": "data", "duration_s": 86400, "min_rate_bps": 20_000_000}
    _auction(web_live, seller, "Fibre for the harbour", terms=data)
    page = web_browser.new_page()
    problems = _watch_problems(page)
    _log_in(page, web_live.url, "Harbour Family")
    page.goto(web_live.url)
    lines = page.locator("#open-auctions .auction-line")
    expect(lines).to_have_count(2)
    page.get_by_text("Filters").click()
    page.get_by_label("At least").fill("10 Mbit/s")
    page.get_by_label("Service").select_option("data")
    page.get_by_role("button", name="Find").click()
    expect(lines).to_have_count(1)
    expect(lines.first).to_contain_text("Fibre for the harbour")
    expect(lines.first).to_contain_text("at least 20 Mbit/s")
    star = lines.first.get_by_role("button", name="☆ Watch")
    page.evaluate("window.commexStayed = true")
    star.click()
    expect(lines.first.get_by_role("button", name="★ Watching")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert page.evaluate("window.commexStayed") is True  # swapped in place, no reload
    page.get_by_role("link", name="Watchlist").click()
    expect(page.locator(".auction-line")).to_have_count(1)
    expect(page.locator(".auction-line")).to_contain_text("Fibre for the harbour")
    page.goto(f"{web_live.url}/?min_rate=fast")
    expect(page.get_by_role("alert")).to_contain_text("such as 20 Mbit/s")
    # the refused search answered 422 (which the console reports), and nothing else failed
    assert [p for p in problems if "min_rate=fast" not in p and "422" not in p] == []
    assert len(problems) == 2


def test_the_badge_counts_up_live_and_the_centre_says_what_happened(
    web_live: WebLive, web_browser: Browser
) -> None:
    seller = _person(web_live, "Northwind Carrier", "provider")
    ann = _person(web_live, "Ann Harbour", "recipient")
    bob = _person(web_live, "Bob Quay", "recipient")
    auction_id = _auction(web_live, seller, "Evening voice minutes")
    place_bid(web_live.services.bus, auction_id, ann, "10.00")
    page = web_browser.new_page()
    problems = _watch_problems(page)
    _log_in(page, web_live.url, "Ann Harbour")
    badge = page.locator("header .badge")
    expect(badge).to_have_text("0")
    page.evaluate("window.commexStayed = true")
    place_bid(web_live.services.bus, auction_id, bob, "12.00")  # Ann is outbid meanwhile
    expect(badge).to_have_text("1", timeout=LIVE_TIMEOUT_MS)
    web_live.clock.advance(1)  # newest first: the later notice must be later, not a tie
    place_bid(web_live.services.bus, auction_id, ann, "13.00")
    place_bid(web_live.services.bus, auction_id, bob, "14.00")
    expect(badge).to_have_text("2", timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.commexStayed") is True
    page.get_by_role("link", name=re.compile("Notifications")).click()
    notices = page.locator(".notice")
    expect(notices).to_have_count(2)
    expect(notices.first).to_contain_text("You were outbid on “Evening voice minutes”")
    expect(notices.first).to_contain_text("The price is now 14.00 EUR")
    page.get_by_role("button", name="Mark all read").click()
    expect(badge).to_have_text("0")
    assert problems == []


def test_a_price_chart_is_drawn_and_read_as_a_table(
    web_live: WebLive, web_browser: Browser, tmp_path: Path
) -> None:
    seller = _person(web_live, "Northwind Carrier", "provider")
    ann, bob = (_person(web_live, n, "recipient") for n in ("Ann Harbour", "Bob Quay"))
    auction_id = _auction(web_live, seller, "Evening voice minutes")
    for who, amount in ((ann, "10.00"), (bob, "12.00"), (ann, "15.00")):
        web_live.clock.advance(60)
        place_bid(web_live.services.bus, auction_id, who, amount)
    page = web_browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{web_live.url}/auctions/{auction_id}")
    chart = page.get_by_role("img", name="Price over time, EUR")
    expect(chart).to_be_visible()
    assert chart.bounding_box()["width"] > 300  # type: ignore[index]
    expect(chart.locator("polyline")).to_have_count(1)
    page.get_by_text("as a table").click()
    rows = page.locator(".chart-figure table tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.last).to_contain_text("15.00 EUR")
    expect(rows.last).to_contain_text("Ann Harbour")
    page.screenshot(path=str(tmp_path / "price-chart-phone.png"), full_page=True)


def test_the_form_in_human_units_and_times_in_the_viewers_zone(
    web_live: WebLive, web_browser: Browser
) -> None:
    _person(web_live, "Northwind Carrier", "provider")
    context = web_browser.new_context(timezone_id="Asia/Tokyo", locale="en-US")
    page = context.new_page()
    problems = _watch_problems(page)
    _log_in(page, web_live.url, "Northwind Carrier")
    page.goto(f"{web_live.url}/auctions/new")
    page.get_by_label("Title").fill("Night data, a month")
    page.get_by_role("radio", name="Forward: I sell blocks of service").check()
    page.get_by_label("Service kind").select_option("data")
    page.get_by_label("Block of usage").fill("30 days")
    page.get_by_label("Minimum rate (optional)").fill("20 Mbit/s")
    page.get_by_label("Maximum rate (optional)").fill("1 Gbit/s")
    page.get_by_label("Minimum rate (optional)").fill("fast")
    page.get_by_role("button", name="Open the auction").click()
    expect(page.locator("#terms\\.min_rate_bps-error")).to_contain_text("such as 20 Mbit/s")
    page.get_by_label("Minimum rate (optional)").fill("20 Mbit/s")
    page.get_by_role("button", name="Open the auction").click()
    expect(page.locator("h1")).to_have_text("Night data, a month")
    terms = page.locator("main")
    expect(terms).to_contain_text("30 days")
    expect(terms).to_contain_text("20 Mbit/s")
    expect(terms).to_contain_text("1 Gbit/s")
    tokyo = (web_live.clock.now() + timedelta(hours=9)).strftime("%Y-%m-%d %H:%M")
    opened = page.locator("dt:text('Opened') + dd time")
    expect(opened).to_contain_text(tokyo)
    expect(opened).to_contain_text("GMT+9")
    assert (opened.get_attribute("title") or "").endswith("UTC")
    assert [p for p in problems if "422" not in p] == []
    context.close()
