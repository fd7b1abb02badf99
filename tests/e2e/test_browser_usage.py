"""A shared block in a real browser against a real server, as issue 6 tells it: a recipient wins
a block of 600 s in a provider's forward auction and shares it, on the pages, with three
telephone numbers and two devices of two users. Then all five use it at once: the devices
report through the HTTP API with their own tokens and the recipient's switchboard reports for
the numbers, together asking for more than the block. The contract page, left open, follows the
usage live: the members' shares add up exactly to the block, and nothing more is accepted."""

from __future__ import annotations

import re
import threading
from decimal import Decimal
from pathlib import Path

import httpx
from browser_support import LIVE_TIMEOUT_MS, WebLive, sign_up
from playwright.sync_api import Browser, Page, expect

BLOCK_S = 600
NUMBERS = ("+14155550123", "+442079460000", "+33142685300")
REPORTS_EACH = 8
REPORT_S = "17.5"  # 5 members x 8 reports x 17.5 s = 700 s asked of a 600 s block


def _register_device(page: Page, base: str, name: str, user: str) -> str:
    page.goto(f"{base}/devices")
    page.get_by_label("Device name").fill(name)
    page.get_by_label("User").fill(user)
    page.get_by_role("button", name="Register the device").click()
    expect(page.locator("#new-device")).to_contain_text("It is shown this once")
    token = page.locator("#new-device code.token").inner_text().strip()
    assert token.startswith("cxd_")
    return token


def _add(page: Page, **field: str) -> None:
    members = page.locator("#members")
    if "device" in field:
        members.get_by_label("Device").select_option(label=field["device"])
    else:
        members.get_by_label("Telephone number").fill(field["number"])
    members.get_by_role("button", name="Add the member").click()
    expect(page.get_by_role("status")).to_have_text("The member is added.")


def test_five_members_share_a_block_and_their_concurrent_use_stops_at_it(
    web_live: WebLive, web_browser: Browser, tmp_path: Path
) -> None:
    base = web_live.url
    seller_ctx = web_browser.new_context(viewport={"width": 900, "height": 1000})
    buyer_ctx = web_browser.new_context(viewport={"width": 900, "height": 1400})
    seller, buyer = seller_ctx.new_page(), buyer_ctx.new_page()
    crashes: list[str] = []
    for page in (seller, buyer):
        page.on("pageerror", lambda e: crashes.append(str(e)))
    sign_up(seller, base, "Northwind Carrier", "provider")
    sign_up(buyer, base, "Harbour Community", "recipient")
    buyer_token = buyer.locator("code.token").inner_text().strip()  # shown once, at sign-up

    # The provider sells a 600 s block that up to five members may share; the recipient wins.
    seller.goto(f"{base}/auctions/new")
    seller.get_by_label("Title").fill("Shared voice block")
    seller.get_by_role("radio", name="Forward: I sell blocks of service").check()
    seller.get_by_label("Format").select_option("first-price")
    seller.locator("#f-duration").fill("10 min")
    seller.locator("#f-terms\\.max_members").fill("5")
    seller.locator("#f-closes_in").fill("10")
    seller.locator("#f-closes_in_unit").select_option("minutes")
    seller.get_by_role("button", name="Open the auction").click()
    expect(seller.locator("h1")).to_have_text("Shared voice block")
    buyer.goto(seller.url)
    buyer.get_by_label("Your bid").fill("9.00")
    buyer.get_by_role("button", name="Place bid").click()
    expect(buyer.get_by_role("status")).to_have_text("Your bid of 9.00 EUR is in.")
    web_live.clock.advance(11 * 60)
    outcome = buyer.locator("#live .outcome")
    expect(outcome).to_contain_text("wins at 9.00 EUR", timeout=LIVE_TIMEOUT_MS)
    outcome.get_by_role("link", name="contract").click()
    contract_url = buyer.url
    contract_id = contract_url.rsplit("/", 1)[1]

    # Two devices of two users, and three numbers, join the contract through the pages.
    tokens = {
        "Alice's softphone": _register_device(buyer, base, "Alice's softphone", "Alice"),
        "Bob's desk phone": _register_device(buyer, base, "Bob's desk phone", "Bob"),
    }
    buyer.goto(contract_url)
    _add(buyer, device="Alice's softphone (Alice)")
    _add(buyer, device="Bob's desk phone (Bob)")
    for number in NUMBERS:
        _add(buyer, number=number)
    expect(buyer.locator("#members")).to_contain_text("5 of at most 5 member(s)")
    buyer.locator("#members").get_by_label("Telephone number").fill("+81312345678")
    buyer.locator("#members").get_by_role("button", name="Add the member").click()
    expect(buyer.locator("#phone_number-error")).to_have_text(
        "this contract is shared by at most 5 member(s); it has 5"
    )

    # Everyone uses the block at once: the devices with their own tokens, the recipient's
    # switchboard (its API token) for the three numbers, asking for more than there is.
    buyer.goto(contract_url)
    rows = buyer.locator("#usage tr.share")
    expect(rows).to_have_count(5)
    ids = {
        rows.nth(i).locator("td").first.inner_text(): rows.nth(i).get_attribute("data-member")
        for i in range(5)
    }
    reporters: list[tuple[str, str]] = [
        (tokens[name], str(member))
        for label, member in ids.items()
        for name in tokens
        if name in label
    ]
    reporters += [
        (buyer_token, str(member)) for label, member in ids.items() if label.split()[-1] in NUMBERS
    ]
    assert len(reporters) == 5
    accepted: list[Decimal] = []
    refused: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(reporters))

    def use(token: str, member_id: str) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api:
            start.wait()
            for _ in range(REPORTS_EACH):
                r = api.post(
                    f"/v1/contracts/{contract_id}/usage",
                    json={"member_id": member_id, "seconds": REPORT_S, "bytes": 1000},
                )
                with lock:
                    if r.status_code == 201:
                        accepted.append(Decimal(str(r.json()["accepted_seconds"])))
                    else:
                        assert r.status_code == 409, r.text
                        refused.append(r.json()["error"]["message"])

    threads = [threading.Thread(target=use, args=pair) for pair in reporters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(accepted) == BLOCK_S  # exactly the block, not a millisecond more
    assert refused and all("is used up" in m for m in refused)

    # The open page follows by itself: the block is used up, the shares add up to it.
    usage = buyer.locator("#usage")
    expect(usage.locator(".usage-total")).to_contain_text(
        f"{BLOCK_S} s of the block of {BLOCK_S} s used · 0 s remain", timeout=LIVE_TIMEOUT_MS
    )
    shares = [usage.locator("tr.share td.seconds").nth(i).inner_text() for i in range(5)]
    assert sum(Decimal(re.sub(r"\s*s$", "", s)) for s in shares) == BLOCK_S
    buyer.screenshot(path=str(tmp_path / "shared-block.png"), full_page=True)

    # One more report from the page is refused with the reason.
    form = buyer.locator("form.usage-form")
    form.get_by_label("Seconds").fill("1")
    form.get_by_role("button", name="Report").click()
    expect(buyer.locator("form.usage-form [role=alert]")).to_contain_text(
        f"the block of {BLOCK_S} s is used up"
    )
    assert crashes == []
    seller_ctx.close()
    buyer_ctx.close()
