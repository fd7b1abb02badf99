"""What the browser tests share: Debian's Chromium, and signing up through the pages."""

from __future__ import annotations

import time
from dataclasses import dataclass

from playwright.sync_api import Page, expect

from commex.adapters.clock import ManualClock
from commex.bootstrap import Services

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--headless=new",
]
PASSWORD = "correct horse battery"
LIVE_TIMEOUT_MS = 10_000


@dataclass
class WebLive:
    url: str
    services: Services
    clock: ManualClock


def sign_up(page: Page, base: str, name: str, role: str) -> None:
    page.goto(f"{base}/signup")
    page.get_by_label("Name").fill(name)
    page.locator(f'input[name="roles"][value="{role}"]').check()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("It is shown this once")).to_be_visible()
    expect(page.locator("header .me")).to_have_text(name)


def save_card(page: Page, base: str, number: str = "4242424242424242") -> None:
    """Save a payment card on the cards page (the built-in test gateway takes it)."""
    page.goto(f"{base}/account/cards")
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry month").fill("12")
    page.get_by_label("Expiry year").fill("2035")
    page.get_by_label("Security code (CVC)").fill("123")
    page.get_by_role("button", name="Save the card").click()
    expect(page.get_by_role("status")).to_contain_text(f"ending in {number[-4:]}")


def until_charged(page: Page, contract_url: str) -> None:
    """Reload a contract's page until the scheduler (every second) has charged it, or the live
    timeout passes."""
    deadline = time.monotonic() + LIVE_TIMEOUT_MS / 1000
    while True:
        page.goto(contract_url)
        if page.locator("#charges .charge-status", has_text="succeeded").count() == 1:
            return
        assert time.monotonic() < deadline, page.locator("#charges").inner_text()
        page.wait_for_timeout(200)
