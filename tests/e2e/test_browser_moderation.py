"""The operator's moderation in a real browser against a real server (SQLite, the scheduler
running): find accounts, auctions and contracts; suspend and reinstate with a reason; issue a
one-time password-reset link; close and cancel auctions; on a contract's page hide a rating,
refund part of a charge and cancel the contract. Each action is refused to anyone else: the
403 page, and nothing changed.

Before, the operator had no page at all: every one of these steps failed at its first click.
"""

from __future__ import annotations

import re
from pathlib import Path

from browser_support import LIVE_TIMEOUT_MS, PASSWORD, WebLive, save_card, sign_up, until_charged
from playwright.sync_api import Browser, BrowserContext, Page, expect

from commex.services import queries as q
from commex.services import trust_messages as m
from commex.services.commands import Caller, Register

MODERATOR = "Moderator"


def _moderator(live: WebLive) -> str:
    """The operator's account (with a web login); its id, for the test's own reads."""
    reg = Register(MODERATOR, ("operator",), PASSWORD, operator=True)
    return live.services.bus.handle(reg).account.id


def _account_id(live: WebLive, op_id: str, name: str) -> str:
    return live.services.bus.handle(m.FindAccounts(name, op_id))[0].id


def _suspended(live: WebLive, account_id: str) -> bool:
    return live.services.bus.handle(q.ShowAccount(account_id)).account.suspended


def _status(live: WebLive, auction_id: str) -> str:
    return str(live.services.bus.handle(q.AuctionState(auction_id)).status)


def _log_in(page: Page, base: str, name: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("header .me")).to_have_text(name)


def _operator(live: WebLive, browser: Browser) -> tuple[BrowserContext, Page]:
    ctx = browser.new_context(viewport={"width": 1100, "height": 1000})
    page = ctx.new_page()
    _log_in(page, live.url, MODERATOR)
    return ctx, page


def _open_auction(page: Page, base: str, title: str) -> str:
    page.goto(f"{base}/auctions/new")
    page.get_by_label("Title").fill(title)
    page.get_by_role("radio", name="Forward: I sell blocks of service").check()
    page.locator("#f-closes_in").fill("10")
    page.locator("#f-closes_in_unit").select_option("minutes")
    page.get_by_role("button", name="Open the auction").click()
    expect(page.locator("h1")).to_have_text(title)
    return page.url


def _bid(page: Page, auction_url: str, amount: str) -> None:
    page.goto(auction_url)
    page.get_by_label("Your bid").fill(amount)
    page.get_by_role("button", name="Place bid").click()
    expect(page.get_by_role("status")).to_have_text(f"Your bid of {amount} EUR is in.")


def _csrf(page: Page) -> str:
    return page.locator('input[name="csrf"]').first.get_attribute("value") or ""


def _search(page: Page, text: str) -> None:
    page.get_by_role("link", name="Moderation").click()
    page.get_by_label("Find an account, auction or contract").fill(text)
    page.get_by_role("button", name="Find").click()


def test_the_operator_moderates_accounts_and_auctions_from_its_pages(
    web_live: WebLive, web_browser: Browser
) -> None:
    base = web_live.url
    seller_ctx, buyer_ctx = web_browser.new_context(), web_browser.new_context()
    seller, buyer = seller_ctx.new_page(), buyer_ctx.new_page()
    sign_up(seller, base, "Northwind Carrier", "provider")
    sign_up(buyer, base, "Harbour Family", "recipient")
    first = _open_auction(seller, base, "Evening voice minutes")
    second = _open_auction(seller, base, "Night voice minutes")
    _bid(buyer, first, "12.00")
    op_id = _moderator(web_live)

    # A recipient is no operator: no link, a 403 page, and its forged posts change nothing.
    expect(buyer.get_by_role("link", name="Moderation")).to_have_count(0)
    buyer.goto(f"{base}/operator?q=Northwind")
    expect(buyer.locator("h1")).to_have_text("Not allowed")
    buyer.goto(f"{base}/account")
    token = _csrf(buyer)
    seller_id = _account_id(web_live, op_id, "Northwind Carrier")
    first_id, second_id = first.rsplit("/", 1)[1], second.rsplit("/", 1)[1]
    for path in (
        f"/operator/accounts/{seller_id}/suspend",
        f"/operator/accounts/{seller_id}/password-reset",
        f"/operator/auctions/{first_id}/close",
        f"/operator/auctions/{second_id}/cancel",
    ):
        answer = buyer.request.post(f"{base}{path}", form={"csrf": token, "reason": "mine now"})
        assert answer.status == 403 and "Not allowed" in answer.text(), (path, answer.status)
    assert not _suspended(web_live, seller_id)
    assert _status(web_live, first_id) == _status(web_live, second_id) == "open"

    # The operator finds the recipient and suspends it, with a reason: its bid is withdrawn
    # and its session ends.
    op_ctx, op = _operator(web_live, web_browser)
    _search(op, "harbour")
    found = op.locator("#found-accounts li.account", has_text="Harbour Family")
    found.get_by_label("Reason").fill("shill bidding")
    found.get_by_role("button", name="Suspend").click()
    expect(op.get_by_role("status")).to_have_text(
        "The account is suspended; its open bids are withdrawn."
    )
    expect(found).to_contain_text("suspended (shill bidding)")
    buyer.goto(first)
    expect(buyer.locator("header .me")).to_have_count(0)
    assert web_live.services.bus.handle(q.AuctionState(first_id)).english.leader_id is None

    # A suspension needs a reason; then the operator reinstates, with one.
    found.get_by_role("button", name="Reinstate").click()  # the browser asks for the reason
    expect(found).to_contain_text("suspended (shill bidding)")
    found.get_by_label("Reason").fill("appeal upheld")
    found.get_by_role("button", name="Reinstate").click()
    expect(op.get_by_role("status")).to_have_text("The account is reinstated.")
    expect(found).not_to_contain_text("suspended")

    # A one-time password-reset link, shown once, sets a new password.
    found.get_by_role("button", name="Issue a password-reset link").click()
    link = op.locator("#reset-link code.token").inner_text().strip()
    assert re.search(r"/reset-password/cxr_", link), link
    buyer.goto(link)
    buyer.get_by_label("New password").fill("a brand new passphrase")
    buyer.get_by_role("button", name="Set the password").click()
    expect(buyer.get_by_role("status")).to_have_text("Your new password is set: log in with it.")
    _log_in(buyer, base, "Harbour Family", "a brand new passphrase")

    # The operator finds the auctions by title, closes one early and cancels the other.
    _search(op, "voice minutes")
    evening = op.locator("#found-auctions li.auction", has_text="Evening voice minutes")
    evening.get_by_label("Reason to close").fill("closed early: the seller asked")
    evening.get_by_role("button", name="Close the auction").click()
    expect(op.get_by_role("status")).to_have_text("The auction is closed.")
    night = op.locator("#found-auctions li.auction", has_text="Night voice minutes")
    night.get_by_label("Reason to cancel").fill("misleading title")
    night.get_by_role("button", name="Cancel the auction").click()
    expect(op.get_by_role("status")).to_have_text("The auction is cancelled.")
    expect(night.locator(".status")).to_have_text("cancelled")
    assert _status(web_live, first_id) == "closed"
    for ctx in (seller_ctx, buyer_ctx, op_ctx):
        ctx.close()


def test_the_operator_hides_refunds_and_cancels_on_a_contract_page(
    web_live: WebLive, web_browser: Browser, tmp_path: Path
) -> None:
    base = web_live.url
    seller_ctx, buyer_ctx = web_browser.new_context(), web_browser.new_context()
    seller, buyer = seller_ctx.new_page(), buyer_ctx.new_page()
    sign_up(seller, base, "Northwind Carrier", "provider")
    sign_up(buyer, base, "Harbour Family", "recipient")
    save_card(buyer, base)
    auction = _open_auction(seller, base, "Evening voice minutes")
    _bid(buyer, auction, "12.00")
    web_live.clock.advance(11 * 60)
    outcome = buyer.locator("#live .outcome")
    expect(outcome).to_contain_text("wins at 12.00 EUR", timeout=LIVE_TIMEOUT_MS)
    outcome.get_by_role("link", name="contract").click()
    contract_url = buyer.url
    contract_id = contract_url.rsplit("/", 1)[1]
    until_charged(buyer, contract_url)
    ratings = buyer.locator("#ratings")
    ratings.get_by_role("group", name="Were you satisfied with the service?").get_by_role(
        "radio", name="No"
    ).check()
    ratings.get_by_role("button", name="Send the rating").click()
    expect(buyer.get_by_role("status")).to_have_text("Thank you: your rating is in.")
    expect(buyer.locator(".provider")).to_contain_text("0% positive, 1 rating")
    op_id = _moderator(web_live)

    # The provider would gladly hide that rating, refund nothing and keep the contract: it is
    # refused each, and nothing changes.
    seller.goto(contract_url)
    expect(seller.locator("#moderation")).to_have_count(0)
    token = _csrf(seller)
    bus = web_live.services.bus
    rating_id = bus.handle(q.ShowContract(contract_id, Caller(op_id))).ratings[0].id
    charge_id = bus.handle(q.ShowContractCharges(contract_id, op_id)).charges[0].id
    for path, form in (
        (f"/contracts/{contract_id}/ratings/{rating_id}/hide", {"reason": "unfair"}),
        (f"/contracts/{contract_id}/charges/{charge_id}/refunds", {"amount": "1", "reason": "x"}),
        (f"/contracts/{contract_id}/cancel", {"reason": "no"}),
    ):
        answer = seller.request.post(f"{base}{path}", form={"csrf": token, **form})
        assert answer.status == 403 and "Not allowed" in answer.text(), (path, answer.status)
    seller.reload()
    expect(seller.locator(".provider")).to_contain_text("0% positive, 1 rating")
    expect(seller.locator(".status")).to_have_text("active")

    # The operator reaches the contract from its search and acts on it.
    op_ctx, op = _operator(web_live, web_browser)
    _search(op, contract_id)
    op.locator("#found-contract").get_by_role("link").click()
    expect(op.locator("h1")).to_contain_text("Contract for voice")

    hide = op.locator("#ratings li.rating", has_text="Harbour Family rated")
    hide.get_by_label("Reason to hide").fill("the rater never used the service")
    hide.get_by_role("button", name="Hide the rating").click()
    expect(op.get_by_role("status")).to_contain_text("The rating is hidden")
    expect(hide).to_contain_text("Hidden by the operator")
    expect(op.locator(".provider")).to_contain_text("no ratings yet")

    refund = op.locator("#charges form.refund-form")
    refund.get_by_label("Amount to refund").fill("20.00")
    refund.get_by_label("Reason to refund").fill("calls dropped")
    refund.get_by_role("button", name="Refund").click()
    expect(op.locator("#charges").get_by_role("alert")).to_contain_text("more than")
    refund = op.locator("#charges form.refund-form")
    refund.get_by_label("Amount to refund").fill("5.00")
    refund.get_by_label("Reason to refund").fill("calls dropped")
    refund.get_by_role("button", name="Refund").click()
    expect(op.get_by_role("status")).to_contain_text("The refund is made")
    expect(op.locator("#charges")).to_contain_text("-5.00")

    cancel = op.locator("#moderation")
    cancel.get_by_label("Reason to cancel the contract").fill("the provider stopped delivering")
    cancel.get_by_role("button", name="Cancel the contract").click()
    expect(op.get_by_role("status")).to_have_text("The contract is cancelled.")
    expect(op.locator(".status")).to_have_text("cancelled")
    expect(op.locator(".ended")).to_contain_text("the provider stopped delivering")
    op.screenshot(path=str(tmp_path / "moderated-contract.png"), full_page=True)
    buyer.goto(contract_url)
    expect(buyer.locator(".status")).to_have_text("cancelled")
    expect(buyer.locator("#ratings")).to_contain_text("Hidden by the operator")
    for ctx in (seller_ctx, buyer_ctx, op_ctx):
        ctx.close()
