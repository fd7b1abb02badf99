"""What the browser tests share: Debian's Chromium, and signing up through the pages."""

from __future__ import annotations

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
