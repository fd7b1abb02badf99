"""Subcontracts on the contract pages (S10): both providers see the subcontract with its step,
packets and amount; the parent contract's recipient sees which step went to whom, never the
price; nobody else sees the subcontract at all."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from commex.adapters.clock import ManualClock
from commex.bootstrap import in_memory_services
from commex.server import create_server
from commex.services import commands as c
from commex.services import subcontract_messages as m
from commex.services.subcontract_results import NodeCaller
from support.engine import close_due, open_auction, place_bid
from support.pages import csrf_of
from support.worlds import FAST_HASHER, PASSWORD, START, WebWorld


@dataclass
class Pages:
    world: WebWorld
    recipient: TestClient
    alpha: TestClient
    bravo: TestClient
    charlie: TestClient
    parent_id: str
    sub_id: str
    alpha_id: str
    bravo_id: str


def _login(browser: TestClient, name: str) -> None:
    answer = browser.post("/login", data={"name": name, "password": PASSWORD})
    assert answer.status_code == 303, answer.text


@pytest.fixture
def pages() -> Iterator[Pages]:
    clock = ManualClock(START)
    services = in_memory_services(
        clock=clock, hasher=FAST_HASHER, resolve=lambda _host: ["93.184.215.14"]
    )
    w = WebWorld(services, clock, create_server(services, scheduler=False))
    recipient, recipient_id = w.person("Harbour <b>Clinic</b>", "recipient")
    alpha, alpha_id = w.person("Alpha", "provider")
    bravo, bravo_id = w.person("Bravo", "provider")
    charlie, _ = w.person("Charlie", "provider")
    terms = {"service": "stream-processing", "duration_s": 3600, "steps": ["transcode:pcmu"]}
    auction = open_auction(
        w.bus,
        recipient_id,
        {
            "direction": "reverse", "format": "first-price", "title": "Call processing",
            "terms": terms, "currency": "EUR",
            "closes_at": (clock.now() + timedelta(hours=1)).isoformat(),
        },
    )  # fmt: skip
    place_bid(w.bus, auction.id, alpha_id, "40.00")
    clock.advance(3601)
    parent_id = close_due(w.bus)[0].outcome.winners[0].contract_id  # type: ignore[union-attr]
    # An hour without a request ends a web session: the four log in again after the close.
    names = ("Harbour <b>Clinic</b>", "Alpha", "Bravo", "Charlie")
    for browser, name in zip((recipient, alpha, bravo, charlie), names, strict=True):
        _login(browser, name)
    w.bus.handle(
        c.PublishOffer(bravo_id, "https://node.bravo.example", ("transcode",), "2.50", "EUR")
    )
    w.bus.handle(c.AddCard(alpha_id, "4242424242424242", 12, 2030, "123"))
    opened = w.bus.handle(m.OpenSubcontract(parent_id, alpha_id, bravo_id, "transcode:pcmu"))
    sub_id = opened.line.subcontract.id
    w.bus.handle(m.MeterPackets(sub_id, NodeCaller(bravo_id), "run-1", 1330))
    try:
        yield Pages(w, recipient, alpha, bravo, charlie, parent_id, sub_id, alpha_id, bravo_id)
    finally:
        w.close()


def test_both_providers_see_the_subcontract_on_their_contract_pages(pages: Pages) -> None:
    for browser in (pages.alpha, pages.bravo):
        page = browser.get(f"/contracts/{pages.sub_id}")
        assert page.status_code == 200, page.text
        assert "Subcontract for transcode:pcmu" in page.text
        assert "2.50 EUR per 1,000 packets" in page.text
        assert '<dd class="packets">1330</dd>' in page.text
        assert "3.33 EUR" in page.text  # 2.50 x 1,330 / 1,000, rounded half up
        listed = browser.get("/contracts").text
        assert f'href="/contracts/{pages.sub_id}">subcontract: transcode:pcmu</a>' in listed
        assert "2.50 EUR per 1,000 packets" in listed
    parent = pages.alpha.get(f"/contracts/{pages.parent_id}").text
    assert "Steps done by other providers" in parent and "3.33 EUR" in parent


def test_the_recipient_sees_the_step_and_the_provider_not_the_price(pages: Pages) -> None:
    page = pages.recipient.get(f"/contracts/{pages.parent_id}")
    assert page.status_code == 200
    assert "Steps done by other providers" in page.text
    assert "transcode:pcmu" in page.text and "Bravo" in page.text and "1330" in page.text
    assert "3.33" not in page.text and "2.50" not in page.text
    assert f"/contracts/{pages.sub_id}" not in page.text
    assert pages.recipient.get(f"/contracts/{pages.sub_id}").status_code == 404
    assert "<b>Clinic</b>" not in pages.alpha.get(f"/contracts/{pages.parent_id}").text  # escaped


def test_nobody_else_sees_the_subcontract(pages: Pages) -> None:
    assert pages.charlie.get(f"/contracts/{pages.sub_id}").status_code == 404
    assert pages.sub_id not in pages.charlie.get("/contracts").text


def test_the_operator_cancels_a_subcontract_from_its_page(pages: Pages) -> None:
    w = pages.world
    w.bus.handle(c.Register("Moderator", ("operator",), PASSWORD, operator=True))
    operator = w.browser()
    _login(operator, "Moderator")
    page = operator.get(f"/contracts/{pages.sub_id}")
    assert page.status_code == 200, page.text
    assert "Cancel the contract" in page.text
    assert "next qualifying bid" not in page.text  # a subcontract had no auction to give on
    form = {"csrf": csrf_of(operator), "reason": "results of <i>another</i> provider"}
    done = operator.post(f"/contracts/{pages.sub_id}/cancel", data=form)
    assert done.status_code == 303, done.text
    after = operator.get(done.headers["location"]).text
    assert '<dd class="status">cancelled</dd>' in after
    assert "by the operator: results of &lt;i&gt;another&lt;/i&gt; provider" in after
    assert "<i>another</i>" not in after
    # The packets metered before it are charged, and once paid the charge is refunded here.
    assert "3.33 EUR" in after
    w.bus.handle(c.ChargeDue())
    paid = operator.get(f"/contracts/{pages.sub_id}").text
    (charge_id,) = re.findall(r'/charges/(chg_[0-9a-f]+)/refunds"', paid)
    form = {"csrf": csrf_of(operator), "amount": "3.33", "reason": "not the provider's results"}
    refunded = operator.post(f"/contracts/{pages.sub_id}/charges/{charge_id}/refunds", data=form)
    assert refunded.status_code == 303, refunded.text
    assert "-3.33 EUR" in operator.get(refunded.headers["location"]).text
    parent = pages.alpha.get(f"/contracts/{pages.parent_id}").text
    assert '<dd class="status">active</dd>' in parent


def test_a_parent_with_more_subcontracts_than_a_page_links_to_the_rest(pages: Pages) -> None:
    w = pages.world
    opened = [pages.sub_id]
    for _ in range(100):  # 101 in all: one more than the contract page's first page
        w.clock.advance(1)
        sub = m.OpenSubcontract(pages.parent_id, pages.alpha_id, pages.bravo_id, "transcode:pcmu")
        opened.append(w.bus.handle(sub).line.subcontract.id)
        w.bus.handle(m.CloseSubcontract(opened[-1], pages.alpha_id, "passed", sent=0))
    page = pages.alpha.get(f"/contracts/{pages.parent_id}").text
    on_page = re.findall(r'href="/contracts/(con_[0-9a-z]+)"><code>', page)
    assert on_page == opened[:100]
    (more,) = re.findall(r'<a href="([^"]+)" rel="next">More subcontracts</a>', page)
    more = more.replace("&amp;", "&")
    rest = pages.alpha.get(more)
    assert rest.status_code == 200, rest.text
    assert re.findall(r'href="/contracts/(con_[0-9a-z]+)"><code>', rest.text) == opened[100:]
    assert "More subcontracts" not in rest.text  # the last page
    # The recipient pages through them too, without prices; a stranger gets nothing.
    seen = pages.recipient.get(more).text
    assert seen.count("<code>transcode:pcmu</code>") == 1 and "EUR" not in seen
    assert pages.charlie.get(more).status_code == 404
    bad = pages.alpha.get(f"/contracts/{pages.parent_id}/subcontracts?cursor=nonsense")
    assert bad.status_code == 422 and "cursor" in bad.text
