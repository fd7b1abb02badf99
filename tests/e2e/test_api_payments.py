"""B1 over HTTP: a recipient saves, lists, removes and picks its default card; nobody else can
see or touch them, and a card number is never answered back."""

from __future__ import annotations

import pytest

VISA = "4242 4242 4242 4242"
MASTERCARD = "5555555555554444"


def card(number: str = VISA, month: int = 12, year: int = 2030, cvc: str = "123") -> dict:
    return {"number": number, "exp_month": month, "exp_year": year, "cvc": cvc}


def test_a_recipient_saves_lists_and_removes_cards(api_any_world):
    w = api_any_world
    ann = w.account("Ann", "recipient")
    r = w.post("/v1/payment-methods", ann, json=card())
    assert r.status_code == 201, r.text
    first = r.json()
    assert set(first) == {"id", "brand", "last4", "exp_month", "exp_year", "default"}
    assert (first["brand"], first["last4"], first["exp_month"], first["exp_year"]) == (
        "visa",
        "4242",
        12,
        2030,
    )
    assert first["default"] is True
    assert "424242" not in r.text
    w.clock.advance(1)  # cards are listed in the order they were saved
    second = w.post("/v1/payment-methods", ann, json=card(MASTERCARD, 1, 2031, "4321")).json()
    assert second["brand"] == "mastercard" and second["default"] is False

    listed = w.get("/v1/payment-methods", ann).json()["items"]
    assert [(c["id"], c["default"]) for c in listed] == [(first["id"], True), (second["id"], False)]

    r = w.post(f"/v1/payment-methods/{second['id']}/default", ann)
    assert r.status_code == 200 and r.json()["default"] is True
    listed = w.get("/v1/payment-methods", ann).json()["items"]
    assert [c["default"] for c in listed] == [False, True]

    r = w.client.delete(f"/v1/payment-methods/{second['id']}", headers=ann.headers)
    assert r.status_code == 200
    assert [(c["id"], c["default"]) for c in r.json()["items"]] == [(first["id"], True)]


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        (card("4242 4242 4242 4241"), "card.number", "card.number has a wrong check digit"),
        (card("4242"), "card.number", "12 to 19 digits, not 4"),
        (card("0000 0000 0000 0000"), "card.number", "card.number cannot start with 0"),
        (card("4444 4444 4444 4444"), "card.number", "cannot be one digit repeated"),
        (card(month=13), "card.exp_month", "card.exp_month must be from 1 to 12"),
        (card(month=4242424242424242), "card.exp_month", "card.exp_month must be from 1 to 12"),
        (card(year=4242424242424242), "card.exp_year", "a four-digit year from 2026 to 2046"),
        (card(month=2, year=2026), "card.exp_month", "the card has expired"),
        (card(cvc="12"), "card.cvc", "3 or 4 digits"),
        ({**card(), "exp_month": "12"}, "exp_month", "valid integer"),
        ({**card(), "number": "4" * 41}, "number", "at most 40 characters"),
        ({**card(), "brand": "visa"}, "brand", "Extra inputs"),
    ],
)
def test_a_bad_card_is_refused_naming_the_field_and_never_echoing_the_number(
    api_world, body, field, says
):
    ann = api_world.account("Ann", "recipient")
    r = api_world.post("/v1/payment-methods", ann, json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == field
    assert says in error["message"]
    digits = body["number"].replace(" ", "")
    assert digits[:8] not in r.text
    assert "42424242" not in r.text  # not even a number pasted into the expiry
    assert api_world.get("/v1/payment-methods", ann).json()["items"] == []


def test_a_provider_saves_a_card_to_pay_for_its_subcontracts(api_world):
    carrier = api_world.account("Northwind", "provider")
    r = api_world.post("/v1/payment-methods", carrier, json=card())
    assert r.status_code == 201, r.text
    assert r.json()["default"] is True


def test_a_device_token_and_no_token_are_refused(api_world):
    ann = api_world.account("Ann", "recipient")
    device = api_world.post(
        "/v1/devices", ann, json={"name": "Kitchen phone", "user": "Ann"}
    ).json()
    as_device = {"Authorization": f"Bearer {device['token']}"}
    for method, path in [
        ("POST", "/v1/payment-methods"),
        ("GET", "/v1/payment-methods"),
    ]:
        r = api_world.client.request(method, path, headers=as_device, json=card())
        assert r.status_code == 403, r.text
        assert api_world.client.request(method, path, json=card()).status_code == 401
    assert api_world.get("/v1/payment-methods", ann).json()["items"] == []


def test_another_account_cannot_see_or_touch_my_cards(api_world):
    ann = api_world.account("Ann", "recipient")
    bob = api_world.account("Bob", "recipient")
    mine = api_world.post("/v1/payment-methods", ann, json=card()).json()
    assert api_world.get("/v1/payment-methods", bob).json()["items"] == []
    r = api_world.client.delete(f"/v1/payment-methods/{mine['id']}", headers=bob.headers)
    assert r.status_code == 404
    assert r.json()["error"]["message"] == f"payment method {mine['id']} not found"
    assert api_world.post(f"/v1/payment-methods/{mine['id']}/default", bob).status_code == 404
    assert api_world.post("/v1/payment-methods/card_nonexistent/default", ann).status_code == 404
    assert api_world.get("/v1/payment-methods", ann).json()["items"] == [mine]


def test_a_sixth_card_is_a_conflict(api_world):
    ann = api_world.account("Ann", "recipient")
    for _ in range(5):
        assert api_world.post("/v1/payment-methods", ann, json=card()).status_code == 201
    r = api_world.post("/v1/payment-methods", ann, json=card(MASTERCARD))
    assert r.status_code == 409
    assert "at most 5 cards" in r.json()["error"]["message"]


def test_the_routes_are_in_the_openapi_document(api_world):
    paths = api_world.client.get("/openapi.json").json()["paths"]
    assert set(paths["/v1/payment-methods"]) == {"get", "post"}
    assert "delete" in paths["/v1/payment-methods/{method_id}"]
    assert "post" in paths["/v1/payment-methods/{method_id}/default"]
