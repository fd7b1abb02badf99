"""A shared block of time on the contract page, as a browser without JavaScript sees it: the
members' shares, reporting usage, removing a member, and who may see the page at all."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from web_deal import Deal, csrf_of, open_deal

from commex.services.commands import RecordDelivery


@pytest.fixture
def deal() -> Iterator[Deal]:
    with open_deal() as world:
        yield world


def _add_phone(d: Deal, number: str) -> None:
    r = d.buyer.post(f"{d.path}/members", data={"csrf": csrf_of(d.buyer), "phone_number": number})
    assert r.status_code == 303, r.text


def text(page: str) -> str:
    """What a person reads: the page without its tags, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


def _member_ids(page: str) -> list[str]:
    return re.findall(r'data-member="([^"]+)"', page)


def _member_named(page: str, label: str) -> str:
    """The id of the member whose usage row shows ``label``."""
    rows = re.findall(r'data-member="([^"]+)">(.*?)</tr>', page, re.S)
    (found,) = [member for member, row in rows if label in row]
    return found


def _report(client: TestClient, d: Deal, member_id: str, seconds: str) -> str:
    data = {"csrf": csrf_of(client), "member_id": member_id, "seconds": seconds}
    r = client.post(f"{d.path}/usage", data=data)
    return text(r.text)


def test_members_share_the_block_and_the_page_shows_each_share(deal: Deal) -> None:
    d = deal
    _add_phone(d, "+14155550123")
    _add_phone(d, "+442079460000")
    page = d.buyer.get(d.path).text
    first = _member_named(page, "+14155550123")
    second = _member_named(page, "+442079460000")
    assert "0 s of the block of 3600 s used" in text(page)
    assert "2 of at most 2 member(s)" in text(page)
    answer = _report(d.buyer, d, first, "1200.5")
    assert "Accepted 1200.5 s; 2399.5 s remain." in answer
    answer = _report(d.buyer, d, second, "3000")
    assert "Accepted 2399.5 s; 0 s remain." in answer
    assert "Not all was accepted: the block of 3600 s had 2399.5 s left; the rest is cut." in answer
    refused = d.buyer.post(
        f"{d.path}/usage", data={"csrf": csrf_of(d.buyer), "member_id": first, "seconds": "1"}
    )
    assert refused.status_code == 409
    assert "the block of 3600 s is used up" in refused.text
    fragment = d.buyer.get(f"{d.path}/usage").text
    assert "3600 s of the block of 3600 s used · 0 s remain" in text(fragment)
    shares = re.findall(r'class="seconds">([^<]+)<', fragment)
    assert sorted(shares) == ["1200.5 s", "2399.5 s"]


def test_bad_usage_is_refused_next_to_its_field(deal: Deal) -> None:
    d = deal
    _add_phone(d, "+14155550123")
    (member,) = _member_ids(d.buyer.get(d.path).text)
    r = d.buyer.post(
        f"{d.path}/usage", data={"csrf": csrf_of(d.buyer), "member_id": member, "seconds": "-3"}
    )
    assert r.status_code == 422
    assert 'id="seconds-error"' in r.text
    assert "seconds must be more than 0" in r.text
    assert 'value="-3"' in r.text


def test_a_removed_member_keeps_its_usage_and_frees_its_place(deal: Deal) -> None:
    d = deal
    _add_phone(d, "+14155550123")
    _add_phone(d, "+442079460000")
    first = _member_named(d.buyer.get(d.path).text, "+14155550123")
    _report(d.buyer, d, first, "60")
    r = d.buyer.post(f"{d.path}/members/{first}/remove", data={"csrf": csrf_of(d.buyer)})
    assert r.status_code == 303
    page = text(d.buyer.get(d.path + "?done=removed").text)
    assert "its usage so far stays on record" in page
    assert "1 of at most 2 member(s)" in page
    assert "(removed)" in page
    assert "60 s of the block of 3600 s used" in page
    _add_phone(d, "+33142685300")  # the freed place takes a new member
    assert "2 of at most 2 member(s)" in text(d.buyer.get(d.path).text)


def test_only_the_recipient_removes_and_a_stranger_sees_nothing(deal: Deal) -> None:
    d = deal
    _add_phone(d, "+14155550123")
    (member,) = _member_ids(d.buyer.get(d.path).text)
    r = d.seller.post(f"{d.path}/members/{member}/remove", data={"csrf": csrf_of(d.seller)})
    assert r.status_code == 403
    assert "only the contract&#39;s recipient removes members" in r.text
    stranger, _ = d.person("Curious Neighbour", "recipient")
    assert stranger.get(d.path).status_code == 404
    assert stranger.get(f"{d.path}/usage").status_code == 404


def test_a_member_account_sees_the_contract_and_reports_only_its_own_use(deal: Deal) -> None:
    d = deal
    friend, friend_id = d.person("Harbour Friend", "recipient")
    r = d.buyer.post(f"{d.path}/members", data={"csrf": csrf_of(d.buyer), "account_id": friend_id})
    assert r.status_code == 303, r.text
    _add_phone(d, "+14155550123")
    page = friend.get(d.path)
    assert page.status_code == 200
    mine = _member_named(page.text, "Harbour Friend")
    phone = _member_named(page.text, "+14155550123")
    assert "Accepted 30 s" in _report(friend, d, mine, "30")
    refused = friend.post(
        f"{d.path}/usage", data={"csrf": csrf_of(friend), "member_id": phone, "seconds": "30"}
    )
    assert refused.status_code == 403
    assert "you may report usage only for your own membership" in refused.text


def test_a_member_account_finds_the_shared_contract_among_its_contracts(deal: Deal) -> None:
    d = deal
    friend, friend_id = d.person("Harbour Friend", "recipient")
    assert "No contracts yet" in friend.get("/contracts").text
    r = d.buyer.post(f"{d.path}/members", data={"csrf": csrf_of(d.buyer), "account_id": friend_id})
    assert r.status_code == 303, r.text
    listed = text(friend.get("/contracts").text)
    assert "voice, 1 h member Northwind Carrier" in listed
    assert f'href="{d.path}"' in friend.get("/contracts").text


def test_the_page_shows_what_the_receiver_reported_and_whose_measure_found_a_breach() -> None:
    figures = {"streams": 1, "fraction_lost": 0.25, "cumulative_lost": 30, "jitter_ms": 4.5,
               "round_trip_ms": 12.25}  # fmt: skip
    with open_deal(min_rate_bps=64_000) as d:
        for run, sent in (("run-rx", 80_000), ("run-slow", 32_000)):
            cmd = RecordDelivery(d.contract_id, d.seller_id, run, "30", 1, 1, sent, figures)
            d.bus.handle(cmd)
        page = text(d.buyer.get(d.path).text)
    assert "25.00% lost at worst, 30 lost, jitter 4.5 ms, round trip 12.25 ms" in page
    assert "breach: the receiver got less than the minimum rate" in page
    assert "breach: sent below the minimum rate" in page
