"""B1 on the web page /account/cards, as a browser without JavaScript sees it: add, list, make
default, remove; CSRF; the number is never put back into a page, even after an error; nobody
else's cards can be touched."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from commex.services.queries import DefaultCard, ListCards
from support.pages import csrf_of as page_csrf
from support.worlds import WebWorld, web_world

VISA = "4242 4242 4242 4242"
Site = WebWorld


@pytest.fixture
def site() -> Iterator[Site]:
    world = web_world()
    yield world
    world.close()


def csrf_of(client: TestClient) -> str:
    return page_csrf(client, "/account/cards")


def add(client: TestClient, number: str = VISA, month: str = "12", year: str = "2030",
        cvc: str = "123"):  # fmt: skip
    data = {"csrf": csrf_of(client), "number": number, "exp_month": month, "exp_year": year}
    return client.post("/account/cards", data={**data, "cvc": cvc})


def test_the_account_page_links_to_the_cards_of_a_recipient_only(site: Site) -> None:
    ann, _ = site.person("Ann", "recipient")
    carrier, _ = site.person("Northwind", "provider")
    assert 'href="/account/cards"' in ann.get("/account").text
    assert 'href="/account/cards"' not in carrier.get("/account").text
    page = carrier.get("/account/cards")
    assert page.status_code == 200
    assert "Only recipient accounts pay for services" in page.text
    assert 'name="number"' not in page.text


def test_the_form_asks_for_the_card_with_the_browsers_card_fields(site: Site) -> None:
    ann, _ = site.person("Ann", "recipient")
    page = ann.get("/account/cards").text
    assert "No cards yet." in page
    number = re.search(r"<input id=\"c-number\"[^>]*>", page)
    assert number and 'autocomplete="cc-number"' in number.group(0)
    assert 'value=""' in number.group(0)
    assert 'autocomplete="cc-csc"' in page and 'type="password"' in page
    assert 'autocomplete="cc-exp-month"' in page and 'autocomplete="cc-exp-year"' in page


def test_a_recipient_adds_chooses_and_removes_cards(site: Site) -> None:
    ann, ann_id = site.person("Ann", "recipient")
    saved = add(ann)
    assert saved.status_code == 201
    assert "Saved the visa ending in 4242, expires 12/2030." in saved.text
    assert "424242" not in saved.text
    site.clock.advance(1)
    assert add(ann, "5555 5555 5555 4444", "3", "2031", "4321").status_code == 201
    cards = site.services.bus.handle(ListCards(ann_id))
    visa, mastercard = cards
    page = ann.get("/account/cards").text
    assert "visa ending in 4242" in page and "mastercard ending in 4444" in page
    assert "03/2031" in page
    assert page.count("<strong>default</strong>") == 1

    chosen = ann.post(f"/account/cards/{mastercard.id}/default", data={"csrf": csrf_of(ann)})
    assert chosen.status_code == 303
    assert chosen.headers["location"] == "/account/cards?done=default"
    assert "That card is now your default." in ann.get(chosen.headers["location"]).text
    assert site.services.bus.handle(DefaultCard(ann_id)).id == mastercard.id

    gone = ann.post(f"/account/cards/{mastercard.id}/remove", data={"csrf": csrf_of(ann)})
    assert gone.status_code == 303
    assert [(c.id, c.is_default) for c in site.services.bus.handle(ListCards(ann_id))] == [
        (visa.id, True)
    ]
    assert "mastercard" not in ann.get("/account/cards").text


MASTERCARD = "5555 5555 5555 4444"  # not the number the page suggests, so any echo is seen


@pytest.mark.parametrize(
    ("number", "month", "year", "cvc", "field", "says"),
    [
        ("5555 5555 5555 4445", "12", "2030", "123", "number", "has a wrong check digit"),
        (MASTERCARD, "13", "2030", "123", "exp_month", "must be from 1 to 12"),
        (MASTERCARD, "12", "2025", "123", "exp_year", "the card has expired"),
        ("0000 0000 0000 0000", "12", "2030", "123", "number", "cannot start with 0"),
        (MASTERCARD, "12", "2030", "12", "cvc", "3 or 4 digits"),
    ],
)
def test_an_error_is_named_next_to_its_field_and_the_number_never_comes_back(
    site: Site, number: str, month: str, year: str, cvc: str, field: str, says: str
) -> None:
    ann, ann_id = site.person("Ann", "recipient")
    answer = add(ann, number, month, year, cvc)
    assert answer.status_code == 422
    assert re.search(rf'<p class="error" id="{field}-error">[^<]*{re.escape(says)}', answer.text)
    assert "55555555" not in answer.text.replace(" ", "")
    assert '<input id="c-cvc" name="cvc" value=""' in answer.text
    assert '<input id="c-number" name="number" value=""' in answer.text
    assert f'id="c-month" name="exp_month" value="{month}"' in answer.text  # kept to correct
    assert site.services.bus.handle(ListCards(ann_id)) == []


def test_a_sixth_card_is_refused_on_the_page(site: Site) -> None:
    ann, _ = site.person("Ann", "recipient")
    for _ in range(5):
        assert add(ann).status_code == 201
    refused = add(ann)
    assert refused.status_code == 409
    assert "at most 5 cards" in refused.text


def test_forms_without_the_csrf_token_are_refused(site: Site) -> None:
    ann, ann_id = site.person("Ann", "recipient")
    add(ann)
    (card,) = site.services.bus.handle(ListCards(ann_id))
    for path, data in (
        ("/account/cards", {"number": VISA, "exp_month": "12", "exp_year": "2030", "cvc": "1"}),
        (f"/account/cards/{card.id}/remove", {}),
        (f"/account/cards/{card.id}/default", {}),
    ):
        assert ann.post(path, data=data).status_code == 403, path
        assert ann.post(path, data={**data, "csrf": "forged"}).status_code == 403, path
    assert site.services.bus.handle(ListCards(ann_id)) == [card]


def test_nobody_else_can_remove_or_choose_my_card(site: Site) -> None:
    ann, ann_id = site.person("Ann", "recipient")
    bob, _ = site.person("Bob", "recipient")
    add(ann)
    (card,) = site.services.bus.handle(ListCards(ann_id))
    for action in ("remove", "default"):
        answer = bob.post(f"/account/cards/{card.id}/{action}", data={"csrf": csrf_of(bob)})
        assert answer.status_code == 404
        assert f"payment method {card.id} not found" in answer.text
    assert card.id not in bob.get("/account/cards").text
    assert site.services.bus.handle(ListCards(ann_id)) == [card]


def test_a_visitor_is_sent_to_log_in(site: Site) -> None:
    visitor = TestClient(site.app, follow_redirects=False)
    answer = visitor.get("/account/cards")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/account/cards"
