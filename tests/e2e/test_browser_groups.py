"""A group of four buys a service together, in a real browser against a real server, as issue 7
tells it: two payers save cards and pledge, two members join without paying and are sponsored;
a provider wins the group's reverse auction; the server's scheduler closes it and charges each
payer exactly its share; every member sees the contract's shares on the group's page; and in the
group's next auction both payers show the payment rating the charges recorded."""

from __future__ import annotations

import re
import time

from browser_support import LIVE_TIMEOUT_MS, WebLive, save_card, sign_up
from playwright.sync_api import Browser, Page, expect

from support.engine import contracts_of, members


def _account_id(page: Page, base: str) -> str:
    page.goto(f"{base}/account")
    return page.locator("dt:text('Account id') + dd code").inner_text()


def _open_group_auction(page: Page, group_url: str, title: str) -> str:
    page.goto(group_url)
    page.get_by_label("What the group buys").fill(title)
    page.locator('select[name="closes_in_unit"]').select_option("minutes")
    page.get_by_label("Closes in").fill("10")
    page.get_by_role("button", name="Open the auction").click()
    expect(page.get_by_role("status")).to_have_text("The group's auction is open.")
    return page.get_by_role("link", name=title).first.get_attribute("href") or ""


def _until_charged(page: Page, url: str) -> None:
    """Reload the group's page until the scheduler has closed the auction and charged both
    payers (it runs every second), or the live timeout passes."""
    deadline = time.monotonic() + LIVE_TIMEOUT_MS / 1000
    while True:
        page.goto(url)
        if page.locator(".shares .charge-status", has_text="succeeded").count() == 2:
            return
        assert time.monotonic() < deadline, page.locator("#auctions").inner_text()
        page.wait_for_timeout(200)


def test_a_group_of_four_wins_pays_its_shares_and_both_payers_are_rated(
    web_live: WebLive, web_browser: Browser
) -> None:
    base = web_live.url
    pages: dict[str, Page] = {}
    crashes: list[str] = []
    for name in ("Ann", "Bob", "Cat", "Dan", "Northwind"):
        page = web_browser.new_context(viewport={"width": 900, "height": 1100}).new_page()
        page.on("pageerror", lambda e: crashes.append(str(e)))
        pages[name] = page
        sign_up(page, base, name, "provider" if name == "Northwind" else "recipient")
    ids = {name: _account_id(page, base) for name, page in pages.items()}
    ann, bob, cat, dan, seller = (pages[n] for n in ("Ann", "Bob", "Cat", "Dan", "Northwind"))
    save_card(ann, base, "4242424242424242")
    save_card(bob, base, "5555555555554444")

    ann.goto(f"{base}/groups")
    ann.get_by_label("Name").fill("Harbour Street")
    ann.get_by_label("Your pledge").fill("60.00")
    ann.get_by_role("button", name="Form the group").click()
    expect(ann.get_by_role("status")).to_have_text("The group is formed.")
    group_url = ann.url.split("?")[0]
    for name in ("Bob", "Cat", "Dan"):
        ann.get_by_label("Recipient account id").fill(ids[name])
        ann.get_by_role("button", name="Invite").click()
        expect(ann.get_by_role("status")).to_have_text("The invitation is sent.")
    web_live.clock.advance(1)  # Bob joins after Ann: the split's ties follow the joining order
    bob.goto(group_url)
    bob.get_by_label("Pledge (the most you will pay)").fill("40.00")
    bob.get_by_role("button", name="Pay, with this pledge").click()
    expect(bob.get_by_role("status")).to_have_text("Your membership is updated.")
    for page in (cat, dan):
        page.goto(group_url)
        page.get_by_role("button", name="Join without paying").click()
        expect(page.get_by_role("status")).to_have_text("Your membership is updated.")
    expect(cat.locator(f'tr[data-account="{ids["Cat"]}"] .sponsorship')).to_have_text("unsponsored")
    ann.goto(group_url)
    ann.get_by_label("Cat").check()
    ann.get_by_label("Dan").check()
    ann.get_by_role("button", name="Save sponsorships").click()
    expect(ann.get_by_role("status")).to_have_text("Your sponsorships are saved.")
    cat.goto(group_url)
    expect(cat.locator(f'tr[data-account="{ids["Cat"]}"] .sponsorship')).to_contain_text(
        "sponsored by Ann"
    )
    expect(cat.locator("#ceiling")).to_have_text("100.00 EUR")
    expect(cat.locator("#split .rule")).to_contain_text("in proportion to their pledges")

    auction_path = _open_group_auction(ann, group_url, "Street voice block")
    seller.goto(f"{base}{auction_path}")
    expect(seller.locator("#group")).to_contain_text("Bought by the group Harbour Street")
    expect(seller.locator("#group")).to_contain_text("Bob (no ratings yet) pledged 40.00 EUR")
    seller.get_by_label("Your bid").fill("75.01")
    seller.get_by_role("button", name="Place bid").click()
    expect(seller.get_by_role("status")).to_have_text("Your bid of 75.01 EUR is in.")

    web_live.clock.advance(11 * 60)  # the scheduler closes the auction and charges the payers
    for page in (ann, bob, cat, dan):
        _until_charged(page, group_url)
        shares = page.locator(".shares li")
        expect(shares.nth(0)).to_have_text(
            re.compile(r"Ann pays 45\.01 EUR \(succeeded\)"), timeout=LIVE_TIMEOUT_MS
        )
        expect(shares.nth(1)).to_have_text(re.compile(r"Bob pays 30\.00 EUR \(succeeded\)"))
    expect(dan.locator(f'tr[data-account="{ids["Dan"]}"] .sponsorship')).to_contain_text(
        "sponsored by Ann"
    )
    (contract,) = contracts_of(web_live.services.bus, ids["Northwind"])
    on_it = {m.ref for m in members(web_live.services.bus, contract.id, ids["Ann"])}
    assert on_it == {ids["Ann"], ids["Bob"], ids["Cat"], ids["Dan"]}  # provided to all four
    # A sponsored member opens the contract from the group's page and sees who pays for it.
    dan.goto(group_url)
    dan.get_by_role("link", name="contract", exact=True).first.click()
    expect(dan.locator("#charges .group-members")).to_contain_text("Dan: sponsored by Ann")
    expect(dan.locator("#usage .usage-total")).to_contain_text("0 s of the block of")
    # The payment ratings name each payer.
    expect(dan.locator("#ratings")).to_contain_text("rated Bob as recipient: paid satisfactorily")

    # The group's next auction shows both payers' payment ratings to every bidder.
    second = _open_group_auction(ann, group_url, "Street data block")
    seller.goto(f"{base}{second}")
    badge = seller.locator("#group")
    expect(badge).to_contain_text("Ann (100% positive, 1 rating in the last 12 months)")
    expect(badge).to_contain_text("Bob (100% positive, 1 rating in the last 12 months)")
    assert crashes == []
