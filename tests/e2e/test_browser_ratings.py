"""Two-sided ratings in a real browser against a real server, as the issue tells it: a recipient
wins a provider's auction; it rates the provider from its account and, through the HTTP API, from
a phone that is a member of the contract; the provider rates whether the recipient paid; then in
the provider's next auction both parties' reputations show those ratings."""

from __future__ import annotations

from pathlib import Path

import httpx
from browser_support import LIVE_TIMEOUT_MS, WebLive, save_card, sign_up, until_charged
from playwright.sync_api import Browser, Page, expect


def _open_auction(page: Page, base: str, title: str) -> str:
    page.goto(f"{base}/auctions/new")
    page.get_by_label("Title").fill(title)
    page.get_by_role("radio", name="Forward: I sell blocks of service").check()
    page.get_by_label("Format").select_option("english")
    page.locator("#f-closes_in").fill("10")
    page.locator("#f-closes_in_unit").select_option("minutes")
    page.get_by_label("Minimum increment").fill("1.00")
    page.get_by_role("button", name="Open the auction").click()
    expect(page.locator("h1")).to_have_text(title)
    return page.url


def _bid(page: Page, auction_url: str, amount: str) -> None:
    page.goto(auction_url)
    page.get_by_label("Your bid").fill(amount)
    page.get_by_role("button", name="Place bid").click()
    expect(page.get_by_role("status")).to_have_text(f"Your bid of {amount} EUR is in.")


def test_ratings_from_both_sides_and_a_phone_show_in_the_next_auction(
    web_live: WebLive, web_browser: Browser, tmp_path: Path
) -> None:
    base = web_live.url
    seller_ctx = web_browser.new_context(viewport={"width": 800, "height": 1000})
    buyer_ctx = web_browser.new_context(viewport={"width": 390, "height": 844})
    seller, buyer = seller_ctx.new_page(), buyer_ctx.new_page()
    crashes: list[str] = []
    for page in (seller, buyer):
        page.on("pageerror", lambda e: crashes.append(str(e)))
        page.on(
            "response", lambda r: crashes.append(f"{r.status} {r.url}") if r.status >= 400 else None
        )

    sign_up(seller, base, "Northwind Carrier", "provider")
    sign_up(buyer, base, "Harbour Family", "recipient")
    save_card(buyer, base)  # the contract is paid: only then do its ratings carry weight

    # The provider sells; the recipient bids and wins when the scheduler closes the auction.
    first = _open_auction(seller, base, "Evening voice minutes")
    _bid(buyer, first, "12.00")
    web_live.clock.advance(11 * 60)
    outcome = buyer.locator("#live .outcome")
    expect(outcome).to_contain_text("wins at 12.00 EUR", timeout=LIVE_TIMEOUT_MS)
    outcome.get_by_role("link", name="contract").click()
    contract_url = buyer.url
    contract_id = contract_url.rsplit("/", 1)[1]
    until_charged(buyer, contract_url)
    expect(buyer.locator(".provider")).to_contain_text("Northwind Carrier (no ratings yet)")

    # The recipient rates the provider from its account.
    ratings = buyer.locator("#ratings")
    ratings.get_by_role("group", name="Were you satisfied with the service?").get_by_role(
        "radio", name="Yes"
    ).check()
    ratings.get_by_label("Score (optional)").select_option("5")
    ratings.get_by_label("Comment (optional)").fill("Clear calls all evening")
    ratings.get_by_role("button", name="Send the rating").click()
    expect(buyer.get_by_role("status")).to_have_text("Thank you: your rating is in.")
    expect(ratings).to_contain_text("Harbour Family rated Northwind Carrier as provider")
    expect(ratings).to_contain_text("Clear calls all evening")
    expect(buyer.locator(".provider")).to_contain_text("100% positive, 1 rating")

    # It registers a phone, shares the contract with it, and the phone rates through the API.
    buyer.get_by_role("link", name="Devices").click()
    buyer.get_by_label("Device name").fill("Kitchen phone")
    buyer.get_by_label("User").fill("Ann")
    buyer.get_by_label("Phone numbers").fill("+14155550123")
    buyer.get_by_role("button", name="Register the device").click()
    expect(buyer.locator("#new-device")).to_contain_text("It is shown this once")
    device_token = buyer.locator("#new-device code.token").inner_text().strip()
    assert device_token.startswith("cxd_")
    expect(buyer.locator("table.devices")).to_contain_text("+14155550123")
    buyer.goto(contract_url)
    members = buyer.locator("#members")
    members.get_by_label("Device").select_option(label="Kitchen phone (Ann)")
    members.get_by_role("button", name="Add the member").click()
    expect(buyer.get_by_role("status")).to_have_text("The member is added.")
    expect(members.locator("ul.members")).to_contain_text("Kitchen phone")
    answer = httpx.post(
        f"{base}/v1/contracts/{contract_id}/ratings",
        headers={"Authorization": f"Bearer {device_token}"},
        json={"satisfied": True, "score": 5},
    )
    assert answer.status_code == 201, answer.text

    # The provider rates whether the recipient paid, and sees what the other side said.
    seller.goto(f"{base}/contracts")
    seller.get_by_role("link", name="voice, 1,000 min").click()
    expect(seller.locator("#ratings")).to_contain_text("from device Kitchen phone")
    seller.get_by_role("group", name="Did the recipient satisfactorily pay?").get_by_role(
        "radio", name="Yes"
    ).check()
    seller.get_by_role("button", name="Send the rating").click()
    expect(seller.get_by_role("status")).to_have_text("Thank you: your rating is in.")
    expect(seller.locator("#ratings")).to_contain_text("paid satisfactorily")
    expect(seller.locator(".provider")).to_contain_text("100% positive, 2 ratings")
    # the recipient's: the charge that went through and the provider's own rating
    expect(seller.locator(".recipient")).to_contain_text("100% positive, 2 ratings")
    seller.screenshot(path=str(tmp_path / "contract-rated.png"), full_page=True)

    # The provider's next auction: both reputations are there for everyone to weigh.
    second = _open_auction(seller, base, "Weekend voice minutes")
    _bid(buyer, second, "15.00")
    provider_rep = "100% positive, 2 ratings in the last 12 months"
    payer_rep = "100% positive, 2 ratings in the last 12 months"
    for page in (buyer, seller):  # the seller's open page follows the bid live
        expect(page.locator(".owner")).to_contain_text(f"Northwind Carrier ({provider_rep})")
        expect(page.locator("#live .standing")).to_contain_text(
            f"Harbour Family ({payer_rep})", timeout=LIVE_TIMEOUT_MS
        )
        expect(page.locator("#live table.bids")).to_contain_text(payer_rep)
    buyer.screenshot(path=str(tmp_path / "next-auction-phone.png"), full_page=True)
    seller.screenshot(path=str(tmp_path / "next-auction.png"), full_page=True)

    assert crashes == []  # nothing was refused, failed or threw
    seller_ctx.close()
    buyer_ctx.close()
