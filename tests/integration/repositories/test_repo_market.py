"""The marketplace's stores on every store: finding auctions (filters, orders, key paging),
watchlists and their reminders, notification centres with the webhook outbox they fill, and
webhooks' claims, which two processes never share."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from commex.domain.auctions import Direction, EnglishState, Format, Status
from commex.domain.finding import AuctionFilter, Sort, parse_filter, sort_key
from commex.domain.money import Money
from commex.domain.notices import EventType, Fanout, Notice
from commex.domain.terms import ServiceTerms
from commex.domain.time import to_micros
from commex.domain.webhooks import Attempt, DeliveryStatus, Webhook, after_attempt
from commex.services.ports import UnitOfWorkFactory
from support.rows import T0, auction, bid, put_accounts, put_auction_world


def _three(store: UnitOfWorkFactory) -> None:
    put_accounts(store, "acc_p", "acc_q")
    eur = lambda v: Money(Decimal(v), "EUR")  # noqa: E731
    rows = [
        auction(id="auc_a", title="Voice minutes, Lisbon", currency="EUR",
                reserve=eur("50.00"), min_increment=eur("1.00"),
                english=EnglishState("acc_q", "bid_x", eur("20.00"), None),
                created_at=T0, closes_at=T0 + timedelta(hours=3)),
        auction(id="auc_b", owner_id="acc_q", direction=Direction.REVERSE,
                format=Format.FIRST_PRICE, title="DATA for the harbour", currency="EUR",
                reserve=eur("80.00"), min_increment=eur("1.00"), english=EnglishState(),
                terms=ServiceTerms("data", 600, min_rate_bps=20_000_000),
                created_at=T0 + timedelta(seconds=1), closes_at=T0 + timedelta(hours=1)),
        auction(id="auc_c", format=Format.SECOND_PRICE, title="Sealed voice", currency="EUR",
                reserve=eur("10.00"), min_increment=eur("1.00"), english=EnglishState(),
                terms=ServiceTerms("voice", 600), status=Status.CLOSED,
                created_at=T0 + timedelta(seconds=2), closes_at=T0 + timedelta(hours=2)),
    ]  # fmt: skip
    with store() as u:
        for a in rows:
            u.auctions.add(a)
        u.commit()


def ids(store: UnitOfWorkFactory, f: AuctionFilter, sort: Sort, limit: int = 10) -> list[str]:
    with store(write=False) as u:
        return [a.id for a in u.auctions.find(f, sort, None, limit)]


def test_filters_find_what_they_say(store: UnitOfWorkFactory) -> None:
    _three(store)
    every = AuctionFilter()
    assert ids(store, every, Sort.NEWEST) == ["auc_c", "auc_b", "auc_a"]
    assert ids(store, every, Sort.CLOSING) == ["auc_b", "auc_c", "auc_a"]
    # listed prices: auc_a its standing 20.00, auc_b its public ceiling 80.00, auc_c none
    # (a forward auction's reserve is its owner's secret, never searchable)
    assert ids(store, every, Sort.PRICE) == ["auc_a", "auc_b", "auc_c"]
    assert ids(store, every, Sort.PRICE_DESC) == ["auc_b", "auc_a", "auc_c"]
    cases = {
        "service=data": parse_filter(service="data"),
        "text": parse_filter(text="voice"),
        "owner": parse_filter(owner="acc_q"),
        "status": parse_filter(status="closed"),
        "direction": parse_filter(direction="forward", format="english"),
        "price": parse_filter(min_price="15", max_price="20.00"),
        "not the reserve": parse_filter(min_price="9", max_price="11"),
        "rate": parse_filter(min_rate_bps="10000000"),
        "max rate": parse_filter(max_rate_bps="2000000"),
        "window": parse_filter(window_from=(T0 + timedelta(days=40)).isoformat()),
        "currency": parse_filter(currency="JPY"),
    }
    found = {name: ids(store, f, Sort.NEWEST) for name, f in cases.items()}
    assert found == {
        "service=data": ["auc_b"],
        "text": ["auc_c", "auc_a"],  # any case
        "owner": ["auc_b"],
        "status": ["auc_c"],
        "direction": ["auc_a"],
        "price": ["auc_a"],
        "not the reserve": [],
        "rate": ["auc_b"],
        "max rate": ["auc_a"],  # the only one whose rate is capped at 2 Mbit/s or less
        "window": ["auc_c", "auc_b"],  # auc_a's window ends on day 31; the others have none
        "currency": [],
    }


@pytest.mark.parametrize("sort", list(Sort))
def test_pages_follow_their_keys(store: UnitOfWorkFactory, sort: Sort) -> None:
    _three(store)
    with store(write=False) as u:
        everything = u.auctions.find(AuctionFilter(), sort, None, 10)
        first = u.auctions.find(AuctionFilter(), sort, None, 1)
        second = u.auctions.find(AuctionFilter(), sort, sort_key(first[0], sort), 1)
        rest = u.auctions.find(AuctionFilter(), sort, sort_key(second[0], sort), 5)
    assert [a.id for a in first + second + rest] == [a.id for a in everything]


def test_a_watchlist_and_its_reminders(store: UnitOfWorkFactory) -> None:
    _three(store)
    with store() as u:
        assert u.watches.add("acc_p", "auc_b", T0)
        assert not u.watches.add("acc_p", "auc_b", T0 + timedelta(seconds=5))
        assert u.watches.add("acc_p", "auc_a", T0 + timedelta(seconds=1))
        assert u.watches.add("acc_q", "auc_b", T0 + timedelta(seconds=2))
        u.commit()
    with store() as u:
        assert u.watches.watching("acc_p", ["auc_a", "auc_c"]) == {"auc_a"}
        page = u.watches.page("acc_p", None, 1)
        assert [(w.auction.id, w.since) for w in page] == [("auc_a", T0 + timedelta(seconds=1))]
        assert [w.auction.id for w in u.watches.page("acc_p", (0, "x"), 5)] == []
        due = u.watches.claim_reminders(T0, T0 + timedelta(minutes=61), 10)
        assert due == {"auc_b": ["acc_p", "acc_q"]}  # auc_a closes later, auc_c is closed
        assert u.watches.claim_reminders(T0, T0 + timedelta(hours=9), 10) == {"auc_a": ["acc_p"]}
        assert u.watches.claim_reminders(T0, T0 + timedelta(hours=9), 10) == {}
        assert u.watches.remove("acc_p", "auc_b") and not u.watches.remove("acc_p", "auc_b")
        u.commit()


def _notice(nid: str, who: str, seconds: int, kind: EventType = EventType.BID_OUTBID) -> Notice:
    return Notice(nid, who, kind, "auc_1", {"price": "12.00", "n": 1, "ok": True, "x": None},
                  T0 + timedelta(seconds=seconds))  # fmt: skip


def _hook(hid: str, who: str, *kinds: EventType, active: bool = True) -> Webhook:
    return Webhook(hid, who, f"https://{hid}.example.net/in", frozenset(kinds), "whsec_s", T0,
                   active)  # fmt: skip


def test_notices_page_count_and_are_marked_read_and_queue_their_webhooks(
    store: UnitOfWorkFactory,
) -> None:
    put_auction_world(store)  # bidders acc_r (twice) and acc_s
    with store() as u:
        u.webhooks.add(_hook("whk_r", "acc_r", EventType.BID_OUTBID, EventType.AUCTION_LOST))
        u.webhooks.add(_hook("whk_s", "acc_s", EventType.AUCTION_WON))
        u.webhooks.add(_hook("whk_off", "acc_r", EventType.BID_OUTBID, active=False))
        u.notifications.add_many([_notice("evt_1", "acc_r", 1), _notice("evt_2", "acc_s", 2)])
        lost = Fanout(
            _notice("evt_9", "", 3, EventType.AUCTION_LOST), "auc_1", frozenset({"acc_s"})
        )
        u.notifications.add_many(lost.copies(u.auctions.bidders("auc_1", None, 10)))
        u.commit()
    with store() as u:
        page = u.notifications.page("acc_r", None, 10)
        assert [(n.id, n.type.value) for n in page] == [
            ("evt_9-acc_r", "auction.lost"),
            ("evt_1", "bid.outbid"),
        ]
        assert page[1] == _notice("evt_1", "acc_r", 1)  # the data round-trips, types and all
        after_first = (_us(3), "evt_9-acc_r")
        assert [n.id for n in u.notifications.page("acc_r", after_first, 10)] == ["evt_1"]
        assert u.notifications.unread("acc_r") == 2
        assert u.notifications.mark_read("acc_s", ["evt_1"], T0) == 0
        assert u.notifications.mark_read("acc_r", ["evt_1"], T0) == 1
        assert [n.id for n in u.notifications.page("acc_r", None, 9, unread_only=True)] == [
            "evt_9-acc_r"
        ]
        kinds = frozenset({EventType.BID_OUTBID})
        assert [n.id for n in u.notifications.page("acc_r", None, 9, types=kinds)] == ["evt_1"]
        queued = u.webhooks.deliveries("whk_r", None, 10)
        assert [(d.event_id, d.status, d.attempts) for d in queued] == [
            ("evt_9-acc_r", DeliveryStatus.PENDING, 0),
            ("evt_1", DeliveryStatus.PENDING, 0),
        ]
        assert u.webhooks.deliveries("whk_s", None, 10) == []  # acc_s hears auction.won only
        assert u.webhooks.deliveries("whk_off", None, 10) == []
        u.commit()


def _us(seconds: int) -> int:
    return to_micros(T0 + timedelta(seconds=seconds))


def test_a_claim_is_held_until_its_outcome_or_its_lease_runs_out(store: UnitOfWorkFactory) -> None:
    put_auction_world(store)
    with store() as u:
        u.webhooks.add(_hook("whk_r", "acc_r", EventType.BID_OUTBID))
        u.notifications.add_many([_notice("evt_1", "acc_r", 0), _notice("evt_2", "acc_r", 5)])
        u.commit()
    now, lease = T0 + timedelta(seconds=1), T0 + timedelta(seconds=61)
    with store() as u:
        (first,) = u.webhooks.claim(now, lease, 5)  # evt_2 is not due yet
        assert (first.notice.id, first.webhook.id) == ("evt_1", "whk_r")
        assert u.webhooks.claim(now, lease, 5) == []  # held
        u.commit()
    failed = Attempt(first.delivery.id, 1, now, 500, "answered 500", 12)
    later = after_attempt(first.delivery, failed, now)
    with store() as u:
        assert u.webhooks.finish(first, later, failed)
        assert not u.webhooks.finish(first, later, failed)  # the claim is gone
        assert u.webhooks.attempts(first.delivery.id) == [failed]
        stored = u.webhooks.delivery(first.delivery.id)
        assert stored == later and stored is not None and stored.attempts == 1
        after_lease = T0 + timedelta(minutes=5)
        assert [c.notice.id for c in u.webhooks.claim(after_lease, after_lease, 5, ["whk_r"])] == []
        again = u.webhooks.claim(after_lease, after_lease + timedelta(seconds=60), 5)
        assert sorted(c.notice.id for c in again) == ["evt_1", "evt_2"]
        u.commit()
    with store() as u:
        assert u.webhooks.delivery("whd_x") is None and u.webhooks.delivery("nope") is None
        u.webhooks.deactivate("whk_r")
        assert u.webhooks.of_account("acc_r") == []
        hook = u.webhooks.get("whk_r")
        assert hook is not None and not hook.active and hook.events == {EventType.BID_OUTBID}
        u.commit()


def test_auctions_of_every_kind_keep_their_search_columns_through_updates(
    store: UnitOfWorkFactory,
) -> None:
    put_accounts(store, "acc_p", "acc_r")
    a = auction(id="auc_1")
    with store() as u:
        u.auctions.add(a)
        u.auctions.add_bids([bid("bid_1", "acc_r", 950, 1)])
        u.commit()
    higher = replace(a, english=replace(a.english, price=Money(Decimal(2000), "JPY")))
    with store() as u:
        u.auctions.update(higher)
        u.commit()
    f = parse_filter(min_price="1500")
    assert ids(store, f, Sort.PRICE) == ["auc_1"]
    # A batch of bids writes only what bidding changes; the listed price is among it.
    highest = replace(a, english=replace(a.english, price=Money(Decimal(3000), "JPY")))
    with store() as u:
        u.auctions.update_bidding([highest])
        u.commit()
    assert ids(store, parse_filter(min_price="2500"), Sort.PRICE) == ["auc_1"]
    assert ids(store, parse_filter(max_price="2500"), Sort.PRICE) == []


def test_a_fanout_waits_its_turn_and_ends(store: UnitOfWorkFactory) -> None:
    put_auction_world(store)  # bidders acc_r (twice) and acc_s
    later = Fanout(_notice("evt_8", "", 9, EventType.AUCTION_LOST), "auc_1", frozenset())
    first = Fanout(_notice("evt_7", "", 1, EventType.AUCTION_LOST), "auc_1", frozenset(), "acc_a")
    with store() as u:
        assert u.auctions.bidders("auc_1", None, 10) == ["acc_r", "acc_s"]
        assert u.auctions.bidders("auc_1", "acc_r", 10) == ["acc_s"]
        u.notifications.add_fanout(later)
        u.notifications.add_fanout(first)
        u.commit()
    with store() as u:
        assert u.notifications.next_fanout() == first
        u.notifications.advance_fanout("evt_7", "acc_r")
        u.commit()
    with store() as u:
        assert u.notifications.next_fanout() == replace(first, after="acc_r")
        u.notifications.advance_fanout("evt_7", None)
        assert u.notifications.next_fanout() == later
        u.commit()
