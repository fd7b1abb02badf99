"""Two people in a real browser against a real server: one sells by english auction, the other
bids, and each sees the other's doings live (server-sent events), then the outcome."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from browser_support import LIVE_TIMEOUT_MS, PASSWORD, WebLive, sign_up
from playwright.sync_api import Browser, expect

from commex.services.commands import Register
from support.engine import open_auction


def test_a_bid_appears_live_on_the_sellers_page_and_the_outcome_after_the_close(
    web_live: WebLive, web_browser: Browser, tmp_path: Path
) -> None:
    base = web_live.url
    seller_ctx = web_browser.new_context(viewport={"width": 800, "height": 1000})
    buyer_ctx = web_browser.new_context(viewport={"width": 390, "height": 844})
    seller, buyer = seller_ctx.new_page(), buyer_ctx.new_page()
    problems: list[str] = []
    for page in (seller, buyer):
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on(
            "response",
            lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        page.on("pageerror", lambda e: problems.append(str(e)))

    sign_up(seller, base, "Northwind Carrier", "provider")
    sign_up(buyer, base, "Harbour Family", "recipient")

    # The seller opens an english forward auction through the form.
    seller.goto(f"{base}/auctions/new")
    seller.get_by_label("Title").fill("Evening voice minutes")
    seller.get_by_role("radio", name="Forward: I sell blocks of service").check()
    seller.get_by_label("Format").select_option("english")
    seller.locator("#f-closes_in").fill("10")
    seller.locator("#f-closes_in_unit").select_option("minutes")
    seller.get_by_label("Minimum increment").fill("1.00")
    seller.get_by_role("button", name="Open the auction").click()
    expect(seller.locator("h1")).to_have_text("Evening voice minutes")
    expect(seller.locator("#live")).to_contain_text("0 bids")
    expect(seller.locator("#live .countdown")).to_contain_text("min")
    auction_url = seller.url
    seller.evaluate("window.commexStayed = true")  # gone if the page reloads
    listing = seller_ctx.new_page()
    listing.goto(base)
    line = listing.locator(".auction-line", has_text="Evening voice minutes")
    expect(line).to_contain_text("0 bids")
    expect(line).to_contain_text("Northwind Carrier")
    listing.evaluate("window.commexStayed = true")

    # The buyer bids on the same auction.
    buyer.goto(auction_url)
    buyer.get_by_label("Your bid").fill("12.00")
    buyer.get_by_role("button", name="Place bid").click()
    expect(buyer.get_by_role("status")).to_have_text("Your bid of 12.00 EUR is in.")

    # A refused bid says why, in place.
    buyer.get_by_label("Your bid").fill("12.505")
    buyer.get_by_role("button", name="Place bid").click()
    expect(buyer.locator("#bid-area").get_by_role("alert")).to_contain_text("decimal places")

    # The seller's open page shows the bid without a reload.
    live = seller.locator("#live")
    expect(live).to_contain_text("1 bid", timeout=LIVE_TIMEOUT_MS)
    expect(live).to_contain_text("Harbour Family")
    expect(live).to_contain_text("12.00")
    expect(live.locator(".standing")).to_contain_text("12.00 EUR")
    assert seller.evaluate("window.commexStayed") is True
    expect(line).to_contain_text("1 bid", timeout=LIVE_TIMEOUT_MS)  # the list follows too
    assert listing.evaluate("window.commexStayed") is True
    seller.screenshot(path=str(tmp_path / "auction-live.png"), full_page=True)

    # Time passes beyond the close; the scheduler closes and both pages show the outcome.
    web_live.clock.advance(11 * 60)
    for page in (seller, buyer):
        outcome = page.locator("#live .outcome")
        expect(outcome).to_contain_text("Harbour Family", timeout=LIVE_TIMEOUT_MS)
        expect(outcome).to_contain_text("wins at 12.00 EUR")
        expect(page.locator("#live .status")).to_have_text("closed")
        expect(page.locator("#bid-area")).to_contain_text("Bidding has ended")
    assert seller.evaluate("window.commexStayed") is True
    expect(listing.locator("#open-auctions")).to_contain_text(
        "No auctions are open", timeout=LIVE_TIMEOUT_MS
    )
    expect(buyer.locator("#live .outcome").get_by_role("link", name="contract")).to_be_visible()
    buyer.screenshot(path=str(tmp_path / "auction-closed-phone.png"), full_page=True)

    # The buyer's contract names the seller and the price.
    buyer.locator("#live .outcome").get_by_role("link", name="contract").click()
    expect(buyer.locator("main")).to_contain_text("Northwind Carrier")
    expect(buyer.locator("main")).to_contain_text("12.00 EUR")

    refused = [p for p in problems if p.endswith("/bids") and p.startswith("422 ")]
    assert len(refused) == 1  # the refused bid, and nothing else failed or complained
    assert [p for p in problems if "422" not in p] == []
    seller_ctx.close()
    buyer_ctx.close()


def test_logging_in_and_bidding_work_without_javascript(
    web_live: WebLive, web_browser: Browser
) -> None:
    services = web_live.services
    seller = services.bus.handle(Register("Summit ISP", ("provider",), PASSWORD)).account
    services.bus.handle(Register("Riverside Centre", ("recipient",), PASSWORD))
    auction = open_auction(
        services.bus,
        seller.id,
        {
            "direction": "forward",
            "format": "second-price",
            "title": "Sealed data block",
            "terms": {"service": "data", "duration_s": 86400},
            "currency": "EUR",
            "closes_at": (web_live.clock.now() + timedelta(hours=1)).isoformat(),
        },
    )
    context = web_browser.new_context(java_script_enabled=False)
    page = context.new_page()

    page.goto(f"{web_live.url}/auctions/{auction.id}")
    page.get_by_role("link", name="Log in to bid").click()
    page.get_by_label("Name").fill("Riverside Centre")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("h1")).to_have_text("Sealed data block")  # back where the visitor was
    page.get_by_label("Your bid").fill("70.00")
    page.get_by_role("button", name="Place bid").click()

    expect(page.get_by_role("status")).to_have_text("Your bid of 70.00 EUR is in.")
    expect(page.locator("#live")).to_contain_text("Riverside Centre")
    expect(page.locator("#live")).to_contain_text("sealed until the close")
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("header")).to_contain_text("Log in")
    page.goto(f"{web_live.url}/auctions/{auction.id}")
    expect(page.locator("#live")).to_contain_text("1 bid")
    expect(page.locator("#live")).not_to_contain_text("70.00")  # A8: a visitor sees none
    context.close()
