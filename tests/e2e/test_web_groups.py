"""Group pages as a browser without JavaScript sees them: forming a group, joining, sponsoring,
opening its auction, the group on the auction's page, the shares and charges after the award,
the charges section of a contract, refusals in the services' words, CSRF and escaping."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from commex.services.commands import AddCard, ChargeDue
from commex.web.groups import charges_context
from commex.web.render import templates
from support.engine import account, close_due, contracts_of, place_bid
from support.pages import csrf_of as page_csrf
from support.worlds import WebWorld, web_world

Town = WebWorld


@pytest.fixture
def town() -> Iterator[Town]:
    world = web_world()
    yield world
    world.close()


def csrf_of(client: TestClient) -> str:
    return page_csrf(client, "/groups")


def post(client: TestClient, path: str, **fields: object) -> object:
    return client.post(path, data={"csrf": csrf_of(client), **fields})


def test_a_group_forms_buys_and_shows_its_shares_on_the_pages(town: Town) -> None:
    ann, ann_id = town.person("Ann <b>", "recipient")
    bob, bob_id = town.person("Bob", "recipient")
    cat, cat_id = town.person("Cat", "recipient")
    formed = post(ann, "/groups", name="Quay <Flats>", currency="eur", pledge="60.00")
    assert formed.status_code == 303
    path = formed.headers["location"].split("?")[0]
    page = ann.get(path).text
    assert "Quay &lt;Flats&gt;" in page and "<Flats>" not in page and "in proportion" in page
    for who_id in (bob_id, cat_id):
        assert post(ann, f"{path}/invitations", account_id=who_id).status_code == 303
    assert post(bob, f"{path}/membership", answer="payer", pledge="40.00").status_code == 303
    assert post(cat, f"{path}/membership", answer="non-payer", pledge="").status_code == 303
    assert "unsponsored" in cat.get(path).text
    assert post(ann, f"{path}/sponsorships", sponsored=[cat_id]).status_code == 303
    cat_page = cat.get(path).text
    assert "sponsored by Ann &lt;b&gt;" in cat_page and "100.00 EUR" in cat_page

    refused = post(ann, f"{path}/auctions", title="Flat voice", duration="1000",
                   closes_in="1", ceiling="100.01")  # fmt: skip
    assert refused.status_code == 422
    assert "above what the payers pledged, 100.00 EUR" in refused.text
    opened = post(ann, f"{path}/auctions", title="Flat voice", duration="1000", closes_in="1")
    assert opened.status_code == 303
    (auction_id,) = re.findall(r'href="/auctions/(auc_[0-9a-f]+)"', ann.get(path).text)
    seller, seller_id = town.person("Northwind", "provider")
    auction_page = seller.get(f"/auctions/{auction_id}").text
    assert "Bought by the group Quay &lt;Flats&gt;" in auction_page
    assert 'pledged <span class="money">60.00 EUR' in auction_page
    assert "The ceiling is what these payers pledged" in auction_page
    frozen = post(bob, f"{path}/membership", answer="payer", pledge="10.00")
    assert frozen.status_code == 409 and "is under way" in frozen.text

    town.services.bus.handle(AddCard(ann_id, "4242424242424242", 12, 2030, "123"))
    town.services.bus.handle(AddCard(bob_id, "4000000000000002", 12, 2030, "123"))
    place_bid(town.services.bus, auction_id, seller_id, "50.00")
    town.clock.advance(2 * 3600)
    close_due(town.services.bus)
    town.services.bus.handle(ChargeDue())
    town.log_in_again()  # two hours on, the sessions have ended (an idle hour)
    shares = re.sub(r"\s+", " ", cat.get(path).text)
    assert 'Ann &lt;b&gt;</span> pays <span class="money">30.00 EUR</span>' in shares
    assert "(succeeded)" in shares and "(pending)" in shares  # Bob's card was declined
    # Once closed, the auction's page no longer claims today's payers set its ceiling.
    closed_page = seller.get(f"/auctions/{auction_id}").text
    assert "The ceiling is what these payers pledged" not in closed_page
    assert "the shares charged at the award are on the group's page" in closed_page

    (contract,) = contracts_of(town.services.bus, seller_id)
    viewer = account(town.services.bus, cat_id)
    context = charges_context(town.services.bus, contract.id, viewer)
    html = templates.get_template("_charges.html").render(
        context | {"when": lambda t: t.isoformat()}
    )
    text = re.sub(r"\s+", " ", html)
    assert "Cat</span>: sponsored by Ann &lt;b&gt;" in text
    assert "Your card was declined." in text and "30.00 EUR" in text
    assert "the exchange takes no fee" in text


def test_group_pages_are_for_members_and_forms_need_their_csrf(town: Town) -> None:
    ann, _ = town.person("Ann", "recipient")
    eve, _ = town.person("Eve", "recipient")
    formed = post(ann, "/groups", name="Quiet", currency="EUR")
    path = formed.headers["location"].split("?")[0]
    assert eve.get(path).status_code == 404
    forged = ann.post(f"{path}/invitations", data={"account_id": "acc_x"})
    assert forged.status_code == 403
    bad = post(ann, "/groups", name="X", currency="EUR", split_rule="random")
    assert bad.status_code == 422 and "split_rule must be" in bad.text
