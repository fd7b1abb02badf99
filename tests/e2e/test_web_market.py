"""The marketplace's pages without a browser: the list's search and its pages, the star and the
watchlist, the notification centre and its badge, the charts with their tables, "pay now", a
member chosen by name, and forms that take human units."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from web_deal import Deal, csrf_of, open_deal

from commex.services import commands as c
from commex.services.marketplace import UnreadCount
from commex.services.queries import ListCards
from commex.web import search
from support.engine import open_auction, place_bid
from support.worlds import START, WebWorld, web_world

DECLINED_AT_CHARGE, GOOD = "4000000000000341", "4242424242424242"


@pytest.fixture
def deal() -> Iterator[Deal]:
    with open_deal() as found:
        yield found


@pytest.fixture
def world() -> Iterator[WebWorld]:
    w = web_world(START)
    try:
        yield w
    finally:
        w.close()


def _auction(w: WebWorld, owner: str, title: str, **terms: object) -> str:
    body = {
        "direction": "forward",
        "format": "english",
        "title": title,
        "terms": {"service": "voice", "duration_s": 3600, **terms},
        "currency": "EUR",
        "closes_at": "2026-03-01T15:00:00Z",
    }
    return open_auction(w.bus, owner, body).id


def titles(html: str) -> list[str]:
    return re.findall(r'<a class="title" href="/auctions/[^"]+">([^<]+)</a>', html)


def test_the_list_finds_pages_and_says_what_is_wrong_with_a_filter(world: WebWorld) -> None:
    seller, seller_id = world.person("Northwind", "provider")
    for i in range(3):
        world.clock.advance(60)
        _auction(world, seller_id, f"Voice block {i}")
    _auction(world, seller_id, "Fibre month", service="data", min_rate_bps=20_000_000)
    page = seller.get("/?min_rate=10+Mbit%2Fs").text
    assert titles(page) == ["Fibre month"] and "at least 20 Mbit/s" in page
    assert titles(seller.get("/?q=BLOCK&sort=newest").text) == [
        "Voice block 2", "Voice block 1", "Voice block 0",
    ]  # fmt: skip
    first = seller.get("/?q=block&sort=newest&cursor=").text
    assert "More auctions" not in first
    refused = seller.get("/?min_rate=fast")
    assert refused.status_code == 422
    assert 'id="s-min_rate" name="min_rate" type="text" value="fast"' in refused.text
    assert 'aria-invalid="true"' in refused.text and "such as 20 Mbit/s" in refused.text
    assert "No auction matches these filters." in seller.get("/?service=sms").text


def test_the_list_pages_with_a_next_link(world: WebWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "PAGE", 2)
    seller, seller_id = world.person("Northwind", "provider")
    for i in range(3):
        world.clock.advance(60)
        _auction(world, seller_id, f"Block {i}")
    page = seller.get("/?sort=newest").text
    assert titles(page) == ["Block 2", "Block 1"]
    more = re.search(r'<a href="([^"]+)" rel="next">More auctions</a>', page)
    assert more is not None
    assert titles(seller.get(more.group(1).replace("&amp;", "&")).text) == ["Block 0"]


def test_a_star_puts_an_auction_on_the_watchlist(world: WebWorld) -> None:
    seller, seller_id = world.person("Northwind", "provider")
    buyer, _buyer_id = world.person("Harbour", "recipient")
    auction_id = _auction(world, seller_id, "Voice minutes")
    assert "☆ Watch" in buyer.get(f"/auctions/{auction_id}").text
    starred = buyer.post(
        f"/auctions/{auction_id}/watch", data={"csrf": csrf_of(buyer), "watch": "1"}
    )
    assert starred.status_code == 303 and starred.headers["location"] == f"/auctions/{auction_id}"
    assert 'aria-pressed="true"' in buyer.get(f"/auctions/{auction_id}").text
    assert titles(buyer.get("/watchlist").text) == ["Voice minutes"]
    assert titles(seller.get("/watchlist").text) == []
    forged = buyer.post(f"/auctions/{auction_id}/watch", data={"csrf": "forged", "watch": "0"})
    assert forged.status_code == 403
    buyer.post(f"/auctions/{auction_id}/watch", data={"csrf": csrf_of(buyer), "watch": "0"})
    assert "You watch no auction yet" in buyer.get("/watchlist").text


def test_the_notification_centre_and_its_badge(world: WebWorld) -> None:
    _seller, seller_id = world.person("Northwind", "provider")
    ann, ann_id = world.person("Ann", "recipient")
    _, bob_id = world.person("Bob", "recipient")
    auction_id = _auction(world, seller_id, "Fibre <month>")
    place_bid(world.bus, auction_id, ann_id, "10.00")
    place_bid(world.bus, auction_id, bob_id, "12.00")
    page = ann.get("/notifications").text
    assert "You were outbid on “Fibre &lt;month&gt;”" in page  # escaped, as every text
    assert "The price is now 12.00 EUR" in page
    assert re.search(r'class="badge"[^>]*>1</span>', page)
    read = ann.post("/notifications/read", data={"csrf": csrf_of(ann)})
    assert read.status_code == 303 and world.bus.handle(UnreadCount(ann_id)) == 0
    assert re.search(r'class="badge none"[^>]*>0</span>', ann.get("/notifications").text)


def test_an_account_page_shows_its_reputation_month_by_month() -> None:
    with open_deal(paid=True) as deal:  # only a paid contract's rating counts
        deal.bus.handle(c.Rate(deal.contract_id, True, 5, account_id=deal.buyer_id))
        page = deal.buyer.get(f"/accounts/{deal.seller_id}").text
        assert "<svg" in page and 'role="img"' in page
        assert "<title id=" in page and "Reputation as a provider, month by month" in page
        row = r"<td>2026-03</td><td>1</td><td>0</td><td>1</td><td>100%</td>"
        assert re.search(row, page)
        assert "Reputation as a provider" in deal.seller.get("/account").text


def test_a_rating_with_nothing_paid_behind_it_stays_out_of_the_reputation_chart(
    deal: Deal,
) -> None:
    deal.bus.handle(c.Rate(deal.contract_id, True, 5, account_id=deal.buyer_id))
    page = deal.buyer.get(f"/accounts/{deal.seller_id}").text
    assert "Reputation as a provider, month by month" in page
    assert not re.search(r"<td>2026-03</td><td>1</td>", page)


def test_the_contract_page_draws_its_use_and_delivered_rate(deal: Deal) -> None:
    member = deal.bus.handle(
        c.AddMember(deal.contract_id, deal.buyer_id, phone_number="+14155550123")
    )
    deal.bus.handle(c.ReportUsage(deal.contract_id, c.Caller(deal.buyer_id), member.id, "90"))
    page = deal.buyer.get(deal.path).text
    assert "Use of the block by member" in page and "<td>+14155550123</td><td>90 s</td>" in page
    assert "Delivered rate" not in page  # no delivery measured yet
    deal.bus.handle(c.RecordDelivery(deal.contract_id, deal.seller_id, "run-1", "10", 1, 1, 900))
    assert "Delivered rate against the contract&#39;s bounds" in deal.seller.get(deal.path).text


def test_pay_now_on_a_declined_charge(deal: Deal) -> None:
    deal.bus.handle(c.AddCard(deal.buyer_id, DECLINED_AT_CHARGE, 12, 2030, "123"))
    deal.bus.handle(c.ChargeDue())
    page = deal.buyer.get(deal.path).text
    assert "Pay now" in page and "Pay now" not in deal.seller.get(deal.path).text
    key = re.search(r'name="idem" value="([^"]+)"', page)
    assert key is not None
    again = deal.buyer.post(
        f"{deal.path}/pay-now", data={"csrf": csrf_of(deal.buyer), "idem": key.group(1)}
    )
    assert again.status_code == 409 and "Save another card" in again.text
    deal.bus.handle(c.AddCard(deal.buyer_id, GOOD, 12, 2030, "123"))
    (good,) = [m for m in deal.bus.handle(ListCards(deal.buyer_id)) if m.last4 == "4242"]
    deal.bus.handle(c.MakeDefaultCard(deal.buyer_id, good.id))
    paid = deal.buyer.post(f"{deal.path}/pay-now", data={"csrf": csrf_of(deal.buyer), "idem": "k2"})
    assert paid.status_code == 303 and paid.headers["location"].endswith("done=paid#charges")
    assert "Pay now" not in deal.buyer.get(deal.path).text


def test_a_member_is_chosen_by_name(deal: Deal) -> None:
    deal.person("Harbour Annex", "recipient")
    options = deal.buyer.get(f"{deal.path}/recipients?account_name=annex").text
    assert re.search(r'<option value="Harbour Annex">Harbour Annex \(acc_', options)
    csrf = csrf_of(deal.buyer)
    added = deal.buyer.post(
        f"{deal.path}/members", data={"csrf": csrf, "account_name": "harbour annex"}
    )
    assert added.status_code == 303
    assert "Harbour Annex" in deal.buyer.get(deal.path).text
    missing = deal.buyer.post(f"{deal.path}/members", data={"csrf": csrf, "account_name": "Nobody"})
    assert missing.status_code == 422
    assert 'id="account_name-error">no recipient account is named' in missing.text


def test_the_create_form_takes_rates_and_blocks_in_human_units(world: WebWorld) -> None:
    seller, _ = world.person("Summit ISP", "provider")
    data = {
        "csrf": csrf_of(seller),
        "title": "Night data",
        "direction": "forward",
        "format": "english",
        "terms.service": "data",
        "duration": "30 days",
        "terms.min_rate_bps": "512 kbit/s",
        "terms.max_rate_bps": "1.5 Gbit/s",
        "terms.max_members": "4",
        "closes_in": "2",
        "closes_in_unit": "hours",
        "currency": "EUR",
    }
    made = seller.post("/auctions/new", data=data)
    assert made.status_code == 303, made.text
    page = seller.get(made.headers["location"]).text
    assert "30 days" in page and "512 kbit/s" in page and "1.5 Gbit/s" in page
