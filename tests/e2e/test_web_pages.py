"""The web pages through HTTP, as a browser without JavaScript sees them: what renders, who may
see and do what, escaping, CSRF, and forms that name the field at fault."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from commex.adapters.memory import FixedReputations
from commex.domain.accounts import Role
from commex.domain.errors import Unauthenticated
from commex.domain.reputation import Reputation
from commex.services.commands import Login, Register
from commex.services.queries import AuctionState, Authenticate
from support.engine import auctions, close_due, open_auction
from support.pages import csrf_of as page_csrf
from support.worlds import PASSWORD, START
from support.worlds import WebWorld as WorldBase
from support.worlds import web_world as make_world


class PageWorld(WorldBase):
    """The web world with reputations set by hand, and auctions opened and closed directly."""

    reputations: FixedReputations

    def auction(self, owner_id: str, **fields: Any) -> str:
        request: dict[str, Any] = {
            "direction": "forward",
            "format": "english",
            "title": "Voice minutes",
            "terms": {"service": "voice", "duration_s": 3600},
            "currency": "EUR",
            "closes_at": "2026-03-01T13:00:00Z",
        }
        request.update(fields)
        return open_auction(self.bus, owner_id, request).id

    def close_all(self) -> None:
        self.clock.advance(2 * 86400)
        close_due(self.bus)
        self.log_in_again()  # two days on, every session has ended


WebWorld = PageWorld


@pytest.fixture
def web_world() -> Iterator[PageWorld]:
    base = make_world(START, FixedReputations())
    world = PageWorld(base.services, base.clock, base.app, base.reputations)
    yield world
    world.close()


def csrf_of(client: TestClient) -> str:
    return page_csrf(client, "/account")


def bid(client: TestClient, auction_id: str, amount: str, **extra: str) -> Any:
    data = {"amount": amount, "csrf": csrf_of(client), **extra}
    return client.post(f"/auctions/{auction_id}/bids", data=data)


def test_home_lists_open_auctions_with_kind_bids_time_left_and_owner_reputation(
    web_world: WebWorld,
) -> None:
    _, owner = web_world.person("Northwind Carrier", "provider")
    web_world.auction(owner, title="Fibre for a month")

    page = web_world.browser().get("/")

    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "Fibre for a month" in page.text
    assert "Selling · english" in page.text
    assert "0 bids" in page.text
    assert "1 h 0 min" in page.text  # server-computed time left, from the exchange's clock
    assert 'data-seconds-left="3600"' in page.text  # what the countdown script counts down
    assert "Northwind Carrier" in page.text
    assert "no ratings yet" in page.text
    assert "Log in" in page.text


def test_reputation_is_shown_wherever_a_party_appears(web_world: WebWorld) -> None:
    seller, owner = web_world.person("Northwind Carrier", "provider")
    buyer, bidder = web_world.person("Harbour Family", "recipient")
    web_world.reputations.set(owner, Role.PROVIDER, Reputation(48.0, 2.0, 50))
    web_world.reputations.set(bidder, Role.RECIPIENT, Reputation(3.0, 0.0, 3))
    auction_id = web_world.auction(owner, title="Voice block")
    assert bid(buyer, auction_id, "30.00").status_code == 303
    seller_rep, buyer_rep = "96% positive, 50 ratings", "100% positive, 3 ratings"

    assert seller_rep in web_world.browser().get("/").text
    page = web_world.browser().get(f"/auctions/{auction_id}").text
    assert seller_rep in page
    assert page.count(buyer_rep) == 2  # next to the leader and next to the bid
    account = seller.get("/account").text
    assert seller_rep in account
    assert "no ratings yet" in account  # as a recipient
    web_world.close_all()
    assert buyer_rep in web_world.browser().get(f"/auctions/{auction_id}").text  # the winner
    assert seller_rep in buyer.get("/contracts").text
    assert buyer_rep in seller.get("/contracts").text


def test_titles_and_names_are_shown_as_text_never_as_markup(web_world: WebWorld) -> None:
    _, owner = web_world.person("<b>Mallory</b>", "provider")
    auction_id = web_world.auction(owner, title="<script>alert(1)</script>")
    browser = web_world.browser()

    for path in ("/", f"/auctions/{auction_id}"):
        page = browser.get(path)
        assert page.status_code == 200
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert "<b>Mallory</b>" not in page.text
        assert "&lt;b&gt;Mallory&lt;/b&gt;" in page.text


def test_login_sets_a_private_session_cookie_and_the_layout_names_the_user(
    web_world: WebWorld,
) -> None:
    web_world.services.bus.handle(Register("Harbour Family", ("recipient",), PASSWORD))
    browser = web_world.browser()

    answer = browser.post(
        "/login", data={"name": "Harbour Family", "password": PASSWORD, "next": "/contracts"}
    )

    assert answer.status_code == 303
    assert answer.headers["location"] == "/contracts"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("commex_session=")
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie
    home = browser.get("/")
    assert "Harbour Family" in home.text
    assert "Log out" in home.text


def test_login_over_https_marks_the_cookie_secure(web_world: WebWorld) -> None:
    web_world.services.bus.handle(Register("Harbour Family", ("recipient",), PASSWORD))
    answer = web_world.browser(https=True).post(
        "/login", data={"name": "Harbour Family", "password": PASSWORD}
    )
    assert answer.status_code == 303
    assert "Secure" in answer.headers["set-cookie"]


def test_a_wrong_password_is_refused_on_the_form_and_next_never_leaves_the_site(
    web_world: WebWorld,
) -> None:
    web_world.services.bus.handle(Register("Harbour Family", ("recipient",), PASSWORD))
    browser = web_world.browser()

    wrong = browser.post("/login", data={"name": "Harbour Family", "password": "x" * 12})
    assert wrong.status_code == 401
    assert "wrong name or password" in wrong.text
    assert "set-cookie" not in wrong.headers

    away = browser.post(
        "/login",
        data={"name": "Harbour Family", "password": PASSWORD, "next": "//evil.example/"},
    )
    assert away.headers["location"] == "/"


def test_login_and_signup_posted_from_another_site_are_refused(web_world: WebWorld) -> None:
    web_world.services.bus.handle(Register("Harbour Family", ("recipient",), PASSWORD))
    browser = web_world.browser()
    forged = {"Origin": "https://evil.example"}

    login = browser.post(
        "/login", data={"name": "Harbour Family", "password": PASSWORD}, headers=forged
    )
    signup = browser.post(
        "/signup",
        data={"name": "Eve", "roles": ["recipient"], "password": PASSWORD},
        headers=forged,
    )

    assert login.status_code == 403
    assert "set-cookie" not in login.headers
    assert signup.status_code == 403
    with pytest.raises(Unauthenticated):
        web_world.services.bus.handle(Login("Eve", PASSWORD))  # no account was opened
    same = browser.post(
        "/login",
        data={"name": "Harbour Family", "password": PASSWORD},
        headers={"Origin": "http://testserver"},
    )
    assert same.status_code == 303


def test_logout_needs_the_csrf_token_and_then_ends_the_session(web_world: WebWorld) -> None:
    browser, _ = web_world.person("Harbour Family", "recipient")

    refused = browser.post("/logout")
    assert refused.status_code == 403
    assert "Harbour Family" in browser.get("/").text  # still logged in

    done = browser.post("/logout", data={"csrf": csrf_of(browser)})
    assert done.status_code == 303
    assert "Harbour Family" not in browser.get("/").text
    assert browser.get("/account").status_code == 303  # to the login page


def test_signup_shows_the_api_token_once_and_logs_in(web_world: WebWorld) -> None:
    browser = web_world.browser()

    form = browser.get("/signup")
    assert form.status_code == 200
    done = browser.post(
        "/signup",
        data={"name": "Summit ISP", "roles": ["provider", "recipient"], "password": PASSWORD},
    )

    assert done.status_code == 201
    token = re.search(r"cx_[A-Za-z0-9_-]{20,}", done.text)
    assert token
    assert web_world.services.bus.handle(Authenticate(token.group(0))).name == "Summit ISP"
    account = browser.get("/account")
    assert account.status_code == 200
    assert "Summit ISP" in account.text
    assert "provider, recipient" in account.text
    assert token.group(0) not in account.text  # shown once, never again


def test_signup_errors_name_the_field(web_world: WebWorld) -> None:
    browser = web_world.browser()
    short = browser.post(
        "/signup", data={"name": "Summit ISP", "roles": ["provider"], "password": "short"}
    )
    assert short.status_code == 422
    assert 'id="password-error"' in short.text
    no_role = browser.post("/signup", data={"name": "Summit ISP", "password": PASSWORD})
    assert no_role.status_code == 422
    assert 'id="roles-error"' in no_role.text


def test_visitors_are_sent_to_log_in_before_they_create_or_bid(web_world: WebWorld) -> None:
    _, owner = web_world.person("Northwind Carrier", "provider")
    auction_id = web_world.auction(owner)
    visitor = web_world.browser()

    for path in ("/auctions/new", "/account", "/contracts"):
        answer = visitor.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/login?next={path}"

    page = visitor.get(f"/auctions/{auction_id}")
    assert "Log in to bid" in page.text
    assert 'name="amount"' not in page.text
    tried = visitor.post(f"/auctions/{auction_id}/bids", data={"amount": "10.00"})
    assert tried.status_code == 303
    assert tried.headers["location"].startswith("/login")
    created = visitor.post("/auctions/new", data={"title": "x"})
    assert created.status_code == 303
    assert created.headers["location"].startswith("/login")
    assert web_world.services.bus.handle(AuctionState(auction_id)).bid_count == 0


def test_posts_without_the_csrf_token_are_refused(web_world: WebWorld) -> None:
    _, owner = web_world.person("Northwind Carrier", "provider")
    auction_id = web_world.auction(owner)
    bidder, _ = web_world.person("Harbour Family", "recipient")

    for data in ({"amount": "10.00"}, {"amount": "10.00", "csrf": "forged"}):
        answer = bidder.post(f"/auctions/{auction_id}/bids", data=data)
        assert answer.status_code == 403
        assert "text/html" in answer.headers["content-type"]
    created = bidder.post("/auctions/new", data={"title": "Sneaky", "direction": "reverse"})
    assert created.status_code == 403
    assert web_world.services.bus.handle(AuctionState(auction_id)).bid_count == 0
    assert len(auctions(web_world.services.bus)) == 1


def test_a_bid_through_the_form_shows_on_the_page_with_name_and_reputation(
    web_world: WebWorld,
) -> None:
    _, owner = web_world.person("Summit ISP", "provider")
    auction_id = web_world.auction(owner, min_increment="5.00")
    bidder, _ = web_world.person("Harbour Family", "recipient")

    answer = bid(bidder, auction_id, "20.00", max_amount="40.00")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/auctions/{auction_id}?placed=20.00&limit=40.00"

    mine = bidder.get(answer.headers["location"])
    assert "Your bid of 20.00 EUR is in. The exchange bids for you up to 40.00 EUR." in mine.text
    assert "your limit 40.00" in mine.text
    assert "Standing price" in mine.text
    stranger = web_world.browser().get(f"/auctions/{auction_id}")
    assert "1 bid" in stranger.text
    assert "Harbour Family" in stranger.text
    assert "no ratings yet" in stranger.text
    assert "20.00" in stranger.text
    assert "40.00" not in stranger.text  # a proxy limit is its bidder's secret


def test_a_refused_bid_re_renders_the_page_with_the_reason(web_world: WebWorld) -> None:
    _, owner = web_world.person("Summit ISP", "provider")
    auction_id = web_world.auction(owner)
    bidder, _ = web_world.person("Harbour Family", "recipient")

    answer = bid(bidder, auction_id, "twelve")

    assert answer.status_code == 422
    assert 'role="alert"' in answer.text
    assert "amount must be a decimal" in answer.text
    assert 'value="twelve"' in answer.text
    assert web_world.services.bus.handle(AuctionState(auction_id)).bid_count == 0


def test_htmx_bids_send_csrf_in_a_header_and_get_the_bid_area_back(web_world: WebWorld) -> None:
    _, owner = web_world.person("Summit ISP", "provider")
    auction_id = web_world.auction(owner)
    bidder, _ = web_world.person("Harbour Family", "recipient")
    headers = {"HX-Request": "true", "X-CSRF-Token": csrf_of(bidder)}

    answer = bidder.post(f"/auctions/{auction_id}/bids", data={"amount": "9.00"}, headers=headers)

    assert answer.status_code == 200
    assert "Your bid of 9.00 EUR is in" in answer.text
    assert "<html" not in answer.text
    live = bidder.get(f"/auctions/{auction_id}/live")
    assert live.status_code == 200
    assert "9.00" in live.text


def test_sealed_bids_stay_private_until_the_close_then_the_outcome_is_public(
    web_world: WebWorld,
) -> None:
    owner_browser, owner = web_world.person("Northwind Carrier", "provider")
    auction_id = web_world.auction(owner, format="first-price", title="Sealed minutes")
    bidder, _ = web_world.person("Harbour Family", "recipient")
    stranger, _ = web_world.person("Riverside Centre", "recipient")
    assert bid(bidder, auction_id, "57.25").status_code == 303

    path = f"/auctions/{auction_id}"
    assert "57.25" in bidder.get(path).text
    assert "57.25" in bidder.get(f"{path}/live").text
    for viewer in (stranger, owner_browser, web_world.browser()):
        page = viewer.get(path)
        assert page.status_code == 200
        assert "57.25" not in page.text
        assert "Harbour Family" not in page.text
        assert "1 bid" in page.text
        assert "sealed until the close" in page.text
        live = viewer.get(f"{path}/live")  # what the live panel fetches: the same privacy
        assert live.status_code == 200
        assert "57.25" not in live.text
        assert "Harbour Family" not in live.text

    web_world.close_all()

    for viewer in (stranger, owner_browser, web_world.browser()):
        page = viewer.get(path)
        assert "Outcome" in page.text
        assert "Harbour Family" in page.text
        assert "57.25" in page.text
        assert "Bidding has ended" in page.text


def test_parties_see_their_contract_and_others_do_not(web_world: WebWorld) -> None:
    seller, owner = web_world.person("Northwind Carrier", "provider")
    auction_id = web_world.auction(owner, title="Voice block")
    buyer, _ = web_world.person("Harbour Family", "recipient")
    stranger, _ = web_world.person("Riverside Centre", "recipient")
    assert bid(buyer, auction_id, "30.00").status_code == 303
    web_world.close_all()

    outcome = buyer.get(f"/auctions/{auction_id}").text
    link = re.search(r'href="/contracts/(con_[^"]+)"', outcome)
    assert link
    contract_path = f"/contracts/{link.group(1)}"
    assert "/contracts/" not in stranger.get(f"/auctions/{auction_id}").text

    listed = buyer.get("/contracts")
    assert "Northwind Carrier" in listed.text
    assert "30.00 EUR" in listed.text
    assert "active" in listed.text  # no usage window: delivery starts at the award
    assert "Harbour Family" in seller.get("/contracts").text
    for party in (buyer, seller):
        page = party.get(contract_path)
        assert page.status_code == 200
        assert "30.00 EUR" in page.text
    hidden = stranger.get(contract_path)
    assert hidden.status_code == 404
    assert "text/html" in hidden.headers["content-type"]
    assert "30.00" not in hidden.text


def test_the_create_form_opens_an_auction_and_redirects_to_it(web_world: WebWorld) -> None:
    seller, _ = web_world.person("Summit ISP", "provider")
    form = seller.get("/auctions/new")
    assert form.status_code == 200
    data = {
        "csrf": csrf_of(seller),
        "title": "Data for a month",
        "direction": "forward",
        "format": "english",
        "terms.service": "data",
        "duration": "30",
        "duration_unit": "days",
        "terms.min_rate_bps": "20000000",
        "terms.max_members": "40",
        "closes_in": "2",
        "closes_in_unit": "hours",
        "currency": "eur",
        "min_increment": "5.00",
        "soft_close_s": "120",
        "reserve": "100.00",
    }

    made = seller.post("/auctions/new", data=data)

    assert made.status_code == 303, re.findall(r'class="error"[^>]*>([^<]*)', made.text)
    page = seller.get(made.headers["location"])
    assert page.status_code == 200
    assert "Data for a month" in page.text
    assert "30 days" in page.text
    assert "20 Mbit/s" in page.text
    assert "100.00 EUR" in page.text  # the owner sees its own reserve
    assert "2 h 0 min" in page.text
    assert "This is your auction" in page.text
    assert "100.00" not in web_world.browser().get(made.headers["location"]).text


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"title": ""}, "title", "title must be"),
        ({"reserve": "lots"}, "reserve", "reserve must be a decimal"),
        ({"closes_in": ""}, "closes_in", "closes"),
        ({"closes_in": "999999999999999", "closes_in_unit": "days"}, "closes_in", "too far"),
        ({"closes_in": "3000", "closes_in_unit": "days"}, "closes_in", "within 366 days"),
        ({"duration": "ten"}, "duration", "a number with a unit, such as 500 min"),
        ({"duration": "5 fortnights"}, "duration", "not a unit of time"),
        ({"terms.min_rate_bps": "fast"}, "terms.min_rate_bps", "such as 20 Mbit/s"),
        ({"quantity": "3"}, "quantity", "english auctions sell one block"),
        ({"terms.max_members": "0"}, "terms.max_members", "max_members"),
        ({"direction": "reverse"}, "", "reverse auction is opened by a recipient"),
    ],
)
def test_create_form_errors_are_shown_next_to_their_field(
    web_world: WebWorld, change: dict[str, str], field: str, words: str
) -> None:
    seller, _ = web_world.person("Summit ISP", "provider")
    data = {
        "csrf": csrf_of(seller),
        "title": "Voice <minutes>",
        "direction": "forward",
        "format": "english",
        "terms.service": "voice",
        "duration": "1000",
        "duration_unit": "minutes",
        "closes_in": "1",
        "closes_in_unit": "hours",
        "currency": "EUR",
        "quantity": "1",
    }
    data.update(change)

    answer = seller.post("/auctions/new", data=data)

    assert answer.status_code in (403, 422)
    assert words in answer.text
    if field:
        assert f'id="{field}-error"' in answer.text
        assert 'aria-invalid="true"' in answer.text
    if change.get("title") != "":
        assert 'value="Voice &lt;minutes&gt;"' in answer.text  # what was typed is kept
    assert auctions(web_world.services.bus) == []


def test_missing_pages_are_friendly_html_with_the_right_status(web_world: WebWorld) -> None:
    browser = web_world.browser()
    for path in ("/auctions/auc_nope", "/auctions/auc_nope/live", "/auctions/auc_nope/events"):
        answer = browser.get(path)
        assert answer.status_code == 404
        assert "text/html" in answer.headers["content-type"]
        assert "Not found" in answer.text
        assert "auction auc_nope not found" in answer.text


def test_pages_load_their_scripts_from_this_server_only(web_world: WebWorld) -> None:
    page = web_world.browser().get("/")
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    assert scripts
    assert all(s.startswith("/static/") for s in scripts)
    assert "<script>" not in page.text
    for path in [*scripts, "/static/commex.css"]:
        assert web_world.browser().get(path).status_code == 200


def test_the_event_stream_signals_a_change_and_the_end_to_a_page_rendered_before_them(
    web_world: WebWorld,
) -> None:
    _, owner = web_world.person("Summit ISP", "provider")
    auction_id = web_world.auction(owner)
    bidder, _ = web_world.person("Harbour Family", "recipient")
    page = web_world.browser().get(f"/auctions/{auction_id}")
    connect = re.search(r'sse-connect="([^"]+)"', page.text)
    assert connect
    assert bid(bidder, auction_id, "10.00").status_code == 303
    web_world.close_all()

    stream = web_world.browser().get(connect.group(1).replace("&amp;", "&"))

    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert "event: changed" in stream.text
    assert "event: ended\r\ndata: closed" in stream.text
    closed = web_world.browser().get(f"/auctions/{auction_id}")
    assert "sse-connect" not in closed.text  # a closed auction's page has nothing to follow


CREATE_FIELDS = (
    "title",
    "direction",
    "format",
    "terms.service",
    "duration",
    "duration_unit",
    "terms.min_rate_bps",
    "terms.max_rate_bps",
    "terms.max_members",
    "terms.steps",
    "closes_in",
    "closes_in_unit",
    "currency",
    "quantity",
    "reserve",
    "min_increment",
    "soft_close_s",
    "reputation_weight",
)


@pytest.mark.parametrize("junk", ["", "-1", "0", "1e9999", "NaN", "\x00", "٣", "9" * 40, "a,b"])
def test_no_value_in_any_create_field_breaks_the_server(web_world: WebWorld, junk: str) -> None:
    seller, _ = web_world.person("Summit ISP", "provider", "recipient")
    csrf = csrf_of(seller)
    base = {"csrf": csrf, "title": "t", "terms.service": "voice", "duration": "1"}
    base |= {"closes_in": "1", "currency": "EUR", "direction": "reverse", "format": "english"}
    for name in CREATE_FIELDS:
        answer = seller.post("/auctions/new", data={**base, name: junk})
        assert answer.status_code in (303, 403, 422), (name, answer.status_code)
        assert "text/html" in answer.headers.get("content-type", "text/html")


@pytest.mark.parametrize("junk", ["", "-1", "0", "1e9999", "NaN", "\x00", "٣", "9" * 40, "1.001"])
def test_no_amount_breaks_the_bid_form(web_world: WebWorld, junk: str) -> None:
    _, owner = web_world.person("Summit ISP", "provider")
    auction_id = web_world.auction(owner)
    bidder, _ = web_world.person("Harbour Family", "recipient")
    for fields in ({"amount": junk}, {"amount": "5.00", "max_amount": junk}):
        answer = bidder.post(
            f"/auctions/{auction_id}/bids", data={**fields, "csrf": csrf_of(bidder)}
        )
        assert answer.status_code in (303, 403, 409, 422), (fields, answer.status_code)
