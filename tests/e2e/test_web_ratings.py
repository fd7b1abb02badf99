"""Ratings, members and devices on the web pages, as a browser without JavaScript sees them: who
gets which form, what a rating shows, refusals with the services' words, CSRF and escaping.

Reputations here are the real ones (the tallies the ratings move), not fixed figures."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from web_deal import Deal, csrf_of, open_deal

from commex.domain.ratings import RATING_WINDOW
from commex.services.commands import AddMember, Rate, RegisterDevice
from commex.services.queries import AuthenticateDevice, DevicesOf
from support.engine import close_due, contracts_of, open_auction, place_bid, ratings
from support.engine import members as current_members

PASSWORD = "correct horse battery"
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RATE_PROVIDER = "Were you satisfied with the service?"
RATE_RECIPIENT = "Did the recipient satisfactorily pay?"


@pytest.fixture
def deal() -> Iterator[Deal]:
    with open_deal() as world:
        yield world


def rate(client: TestClient, deal: Deal, **fields: str) -> httpx.Response:
    return client.post(f"{deal.path}/ratings", data={"csrf": csrf_of(client), **fields})


def test_each_party_sees_its_own_rating_question_and_a_stranger_sees_nothing(deal: Deal) -> None:
    stranger, _ = deal.person("Riverside Centre", "recipient")

    buyer_page = deal.buyer.get(deal.path)
    seller_page = deal.seller.get(deal.path)

    assert buyer_page.status_code == seller_page.status_code == 200
    assert RATE_PROVIDER in buyer_page.text
    assert RATE_RECIPIENT not in buyer_page.text
    assert "Add a member" in buyer_page.text  # only the recipient shares the contract
    assert RATE_RECIPIENT in seller_page.text
    assert RATE_PROVIDER not in seller_page.text
    assert "Add a member" not in seller_page.text
    for page in (buyer_page, seller_page):  # both parties, each with its reputation
        assert "Northwind Carrier" in page.text
        assert "Harbour Family" in page.text
        assert page.text.count("no ratings yet") == 2
    hidden = stranger.get(deal.path)
    assert hidden.status_code == 404
    assert RATE_PROVIDER not in hidden.text
    assert "Harbour Family" not in hidden.text
    refused = rate(stranger, deal, satisfied="yes")
    assert refused.status_code == 404
    assert ratings(deal.bus, deal.contract_id, deal.buyer_id) == []


@pytest.fixture
def paid_deal() -> Iterator[Deal]:
    with open_deal(paid=True) as world:
        yield world


def test_both_sides_rate_and_the_ratings_and_reputations_show(paid_deal: Deal) -> None:
    deal = paid_deal
    by_buyer = deal.buyer.post(
        f"{deal.path}/ratings",
        data={
            "csrf": csrf_of(deal.buyer),
            "satisfied": "yes",
            "score": "4",
            "comment": "Clear calls",
        },
    )
    assert by_buyer.status_code == 303
    assert by_buyer.headers["location"].startswith(deal.path)
    page = deal.buyer.get(by_buyer.headers["location"]).text
    assert "your rating is in" in page
    assert re.search(r"Harbour Family</span> rated <span class=\"name\">Northwind Carrier", page)
    assert "satisfied" in page and "4/5" in page and "Clear calls" in page
    assert RATE_PROVIDER not in page  # rated: the form gives way to when
    # the time in UTC, marked for the viewer's browser to show in its own zone
    assert re.search(
        r"You rated this contract on <time datetime=\"2026-03-01T14:00[^\"]*\" "
        r"data-local=\"minutes\">2026-03-01 14:00 UTC</time>",
        page,
    )
    assert "100% positive, 1 rating in the last 12 months" in page  # the provider's, next to it

    by_seller = rate(deal.seller, deal, satisfied="no")
    assert by_seller.status_code == 303
    page = deal.seller.get(deal.path).text
    assert "did not pay satisfactorily" in page
    # The recipient's: the charge that went through (1.0) and the seller's "no", which weighs
    # 0.55 (30.00 paid, by a seller two hours old with one payment): 1 / 1.55 positive.
    assert "64% positive, 2 ratings in the last 12 months" in page

    # The same reputations wherever the parties appear.
    assert "100% positive, 1 rating" in deal.buyer.get("/contracts").text
    assert "64% positive, 2 ratings" in deal.seller.get("/contracts").text
    seller_account = deal.seller.get("/account").text
    assert "100% positive, 1 rating" in seller_account  # as a provider
    assert "no ratings yet" in seller_account  # as a recipient
    assert "64% positive, 2 ratings" in deal.buyer.get("/account").text


def test_rating_twice_is_refused_with_the_reason_on_the_page(deal: Deal) -> None:
    assert rate(deal.buyer, deal, satisfied="yes").status_code == 303

    again = rate(deal.buyer, deal, satisfied="no")

    assert again.status_code == 409
    assert "you have already rated this contract" in again.text
    assert len(ratings(deal.bus, deal.contract_id, deal.buyer_id)) == 1


def test_a_bad_score_is_named_and_after_the_window_ratings_are_refused(deal: Deal) -> None:
    bad = rate(deal.buyer, deal, satisfied="yes", score="9", comment="kept")
    assert bad.status_code == 422
    assert 'id="score-error"' in bad.text
    assert "score must be a whole number from 1 to 5" in bad.text
    assert ">kept</textarea>" in bad.text

    deal.clock.advance((RATING_WINDOW + timedelta(days=1)).total_seconds())
    seller = TestClient(deal.app, follow_redirects=False)  # sessions last a week: log in again
    seller.post("/login", data={"name": "Northwind Carrier", "password": PASSWORD})
    late = rate(seller, deal, satisfied="yes")
    assert late.status_code == 409
    assert "ratings for this contract closed on" in late.text
    assert ratings(deal.bus, deal.contract_id, deal.buyer_id) == []


def test_posts_without_the_csrf_token_are_refused(deal: Deal) -> None:
    for path, data in (
        (f"{deal.path}/ratings", {"satisfied": "yes"}),
        (f"{deal.path}/members", {"phone_number": "+14155550123"}),
        ("/devices", {"name": "Kitchen phone", "user": "Ann"}),
    ):
        refused = deal.buyer.post(path, data=data)
        assert refused.status_code == 403, path
        assert "this form has expired" in refused.text
        wrong = deal.buyer.post(path, data={**data, "csrf": "forged"})
        assert wrong.status_code == 403, path
    assert ratings(deal.bus, deal.contract_id, deal.buyer_id) == []
    assert current_members(deal.bus, deal.contract_id, deal.buyer_id) == []
    assert deal.services.bus.handle(DevicesOf(deal.buyer_id)) == []


def test_the_device_page_shows_the_token_once(deal: Deal) -> None:
    assert 'href="/devices"' in deal.buyer.get("/").text
    assert 'href="/devices"' not in deal.seller.get("/").text  # devices are for recipients
    empty = deal.buyer.get("/devices")
    assert empty.status_code == 200
    assert "No devices yet." in empty.text

    done = deal.buyer.post(
        "/devices",
        data={
            "csrf": csrf_of(deal.buyer),
            "name": "Kitchen phone",
            "user": "Ann",
            "phone_numbers": "+14155550123, +442071838750",
        },
    )

    assert done.status_code == 201
    token = re.search(r"cxd_[A-Za-z0-9_-]{20,}", done.text)
    assert token
    assert deal.services.bus.handle(AuthenticateDevice(token.group(0))).name == "Kitchen phone"
    listed = deal.buyer.get("/devices").text
    assert "Kitchen phone" in listed
    assert "Ann" in listed
    assert "+14155550123, +442071838750" in listed
    assert token.group(0) not in listed  # shown once, never again


def test_device_form_errors_name_the_field(deal: Deal) -> None:
    bad = deal.buyer.post(
        "/devices",
        data={"csrf": csrf_of(deal.buyer), "name": "Kitchen phone", "user": "Ann",
              "phone_numbers": "+1 555, nonsense"},
    )  # fmt: skip
    assert bad.status_code == 422
    assert 'id="phone_numbers-error"' in bad.text
    assert "not a valid telephone number" in bad.text
    assert 'value="Kitchen phone"' in bad.text  # what was typed stays
    assert "cxd_" not in bad.text
    refused = deal.seller.post(
        "/devices", data={"csrf": csrf_of(deal.seller), "name": "Desk", "user": "Bob"}
    )
    assert refused.status_code == 403
    assert "only a recipient registers client devices" in refused.text


def test_the_recipient_adds_a_device_and_a_bad_number_is_named(deal: Deal) -> None:
    device = deal.services.bus.handle(RegisterDevice(deal.buyer_id, "Kitchen phone", "Ann")).device
    form = deal.buyer.get(deal.path).text
    assert f'<option value="{device.id}">Kitchen phone (Ann)</option>' in form

    bad = deal.buyer.post(
        f"{deal.path}/members", data={"csrf": csrf_of(deal.buyer), "phone_number": "12345"}
    )
    assert bad.status_code == 422
    assert 'id="phone_number-error"' in bad.text
    assert "is not a telephone number in international form" in bad.text
    assert 'value="12345"' in bad.text

    added = deal.buyer.post(
        f"{deal.path}/members", data={"csrf": csrf_of(deal.buyer), "device_id": device.id}
    )
    assert added.status_code == 303
    page = deal.buyer.get(added.headers["location"]).text
    assert "The member is added." in page
    members = page.split('id="members"', 1)[1].split("</ul>", 1)[0]
    assert "device" in members and "Kitchen phone" in members
    assert "Kitchen phone" in deal.seller.get(deal.path).text  # the provider sees its members

    number = deal.buyer.post(
        f"{deal.path}/members",
        data={"csrf": csrf_of(deal.buyer), "phone_number": "+14155550123"},
    )
    assert number.status_code == 303
    full = deal.buyer.post(
        f"{deal.path}/members",
        data={"csrf": csrf_of(deal.buyer), "phone_number": "+442071838750"},
    )
    assert full.status_code == 409
    assert "shared by at most 2 member(s)" in full.text
    assert 'id="phone_number-error"' in full.text
    assert len(current_members(deal.bus, deal.contract_id, deal.buyer_id)) == 2


def test_a_rating_from_a_member_device_says_so(deal: Deal) -> None:
    device = deal.services.bus.handle(RegisterDevice(deal.buyer_id, "Kitchen phone", "Ann")).device
    deal.services.bus.handle(AddMember(deal.contract_id, deal.buyer_id, device_id=device.id))
    deal.services.bus.handle(Rate(deal.contract_id, device_id=device.id, satisfied=True, score=5))

    page = deal.seller.get(deal.path).text

    assert "from device Kitchen phone" in page
    assert "5/5" in page
    assert RATE_PROVIDER in deal.buyer.get(deal.path).text  # the account may still rate


def test_a_comment_is_shown_as_text_never_as_markup(deal: Deal) -> None:
    comment = "<script>alert(1)</script>"
    assert rate(deal.buyer, deal, satisfied="yes", comment=comment).status_code == 303
    device = deal.buyer.post(
        "/devices",
        data={"csrf": csrf_of(deal.buyer), "name": "<b>Phone</b>", "user": "<i>Ann</i>"},
    )
    assert device.status_code == 201

    for client, path in (
        (deal.seller, deal.path),
        (deal.buyer, deal.path),
        (deal.buyer, "/devices"),
    ):
        page = client.get(path).text
        assert "<script>alert" not in page
        assert "<b>Phone</b>" not in page and "<i>Ann</i>" not in page
    page = deal.seller.get(deal.path).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;Phone&lt;/b&gt;" in deal.buyer.get("/devices").text


def test_ratings_wait_for_delivery_to_start(deal: Deal) -> None:
    later = {"window_start": "2026-04-01T00:00:00Z", "window_end": "2026-04-02T00:00:00Z"}
    auction = open_auction(
        deal.services.bus,
        deal.seller_id,
        {
            "direction": "forward",
            "format": "english",
            "title": "Next month",
            "terms": {"service": "voice", "duration_s": 3600, **later},
            "currency": "EUR",
            "closes_at": "2026-03-01T15:00:00Z",
        },
    )
    place_bid(deal.services.bus, auction.id, deal.buyer_id, "10.00")
    deal.clock.advance(2 * 3600)
    close_due(deal.services.bus)
    deal.world.log_in_again()  # two hours on, the sessions have ended (an idle hour)
    (contract,) = [
        c for c in contracts_of(deal.services.bus, deal.buyer_id) if c.auction_id == auction.id
    ]

    early = deal.buyer.post(
        f"/contracts/{contract.id}/ratings", data={"csrf": csrf_of(deal.buyer), "satisfied": "yes"}
    )

    assert early.status_code == 409
    assert "ratings open when delivery starts" in early.text
    assert RATE_PROVIDER in early.text  # the form stays, to use once delivery starts
    assert ratings(deal.bus, contract.id, deal.buyer_id) == []


def test_the_recipient_shares_with_another_recipient_account(deal: Deal) -> None:
    _, other = deal.person("Riverside Centre", "recipient")

    unknown = deal.buyer.post(
        f"{deal.path}/members", data={"csrf": csrf_of(deal.buyer), "account_id": "acc_nobody"}
    )
    assert 'id="account_id-error"' in unknown.text
    assert "account acc_nobody not found" in unknown.text
    added = deal.buyer.post(
        f"{deal.path}/members", data={"csrf": csrf_of(deal.buyer), "account_id": other}
    )
    assert added.status_code == 303
    members = deal.buyer.get(deal.path).text.split('id="members"', 1)[1].split("</ul>", 1)[0]
    assert "account" in members and "Riverside Centre" in members
    refused = deal.seller.post(
        f"{deal.path}/members", data={"csrf": csrf_of(deal.seller), "phone_number": "+14155550123"}
    )
    assert refused.status_code == 403
    assert "only the contract&#39;s recipient adds members" in refused.text
    assert len(current_members(deal.bus, deal.contract_id, deal.buyer_id)) == 1
