"""The notification centre through the bus over the in-memory store: every event type leaves a
notice with the account it concerns, in the change's own transaction (a change that rolls back
leaves none); unread counts, marking read and paging."""

from __future__ import annotations

import pytest

from commex.adapters.clock import ManualClock, SequentialIds
from commex.bootstrap import in_memory_exchange
from commex.domain.errors import Forbidden, InvalidInput
from commex.domain.notices import Notice
from commex.presentation import notice_words
from commex.services import commands as c
from commex.services import notifications
from commex.services import subcontract_messages as sm
from commex.services import trust_messages as tm
from commex.services.bidding import place_bids
from commex.services.bus import MessageBus
from commex.services.marketplace import (
    CreateWebhook,
    MarkRead,
    MyNotifications,
    RemindWatchers,
    SpreadNotices,
    UnreadCount,
    Watch,
    WebhookDeliveries,
)
from commex.services.queries import ListCards
from support.engine import auction_request, open_auction, place_bid, register
from support.moments import T0
from support.worlds import award

GOOD, DECLINED_AT_CHARGE = "4242424242424242", "4000000000000341"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def bus(clock: ManualClock) -> MessageBus:
    return in_memory_exchange(clock=clock, ids=SequentialIds())


def notices(bus: MessageBus, account_id: str, **kw: object) -> list[Notice]:
    return list(bus.handle(MyNotifications(account_id, **kw)).items)  # type: ignore[arg-type]


def kinds(bus: MessageBus, account_id: str) -> list[str]:
    return [n.type.value for n in notices(bus, account_id)]


def test_the_leader_hears_it_was_outbid_on_an_english_auction(bus: MessageBus) -> None:
    seller = register(bus, "Seller", ["provider"])
    ann, bob = (register(bus, n, ["recipient"]) for n in ("Ann", "Bob"))
    a = open_auction(bus, seller.id, auction_request(format="english", title="Fibre month"))
    place_bid(bus, a.id, ann.id, "10.00")
    assert kinds(bus, ann.id) == []
    place_bid(bus, a.id, bob.id, "12.00")
    (told,) = notices(bus, ann.id)
    assert told.type.value == "bid.outbid" and told.subject_id == a.id
    assert (told.data["title"], told.data["price"], told.data["currency"]) == (
        "Fibre month",
        "12.00",
        "EUR",
    )
    assert kinds(bus, bob.id) == []  # the new leader is not told anything


def test_a_proxy_that_defends_the_lead_tells_nobody_and_one_that_loses_it_tells_its_bidder(
    bus: MessageBus,
) -> None:
    seller = register(bus, "Seller", ["provider"])
    ann, bob = (register(bus, n, ["recipient"]) for n in ("Ann", "Bob"))
    a = open_auction(bus, seller.id, auction_request(format="english", min_increment="1.00"))
    place_bid(bus, a.id, ann.id, "10.00", max_amount="30.00")
    place_bid(bus, a.id, bob.id, "20.00")  # Ann's proxy answers at 21.00: she still leads
    assert kinds(bus, ann.id) == []
    place_bid(bus, a.id, bob.id, "40.00")
    assert kinds(bus, ann.id) == ["bid.outbid"]


def test_winners_hear_they_won_and_every_other_bidder_that_it_lost(
    bus: MessageBus, clock: ManualClock
) -> None:
    won = award(bus, clock, "35.00", direction="forward", buyers=2)
    late = register(bus, "Late", ["recipient"])
    assert kinds(bus, late.id) == []
    (w,) = notices(bus, won.buyer.id, types=("auction.won",))
    assert (w.data["price"], w.data["contract_id"]) == ("35.00", won.contract_id)
    assert "auction.lost" not in kinds(bus, won.buyer.id)


def test_losers_of_a_sealed_auction_hear_it_once_each(bus: MessageBus, clock: ManualClock) -> None:
    seller = register(bus, "Seller", ["provider"])
    bidders = [register(bus, f"B{i}", ["recipient"]) for i in range(4)]
    a = open_auction(bus, seller.id, auction_request())
    for i, b in enumerate(bidders):
        place_bid(bus, a.id, b.id, f"{10 + i}.00")
    place_bid(bus, a.id, bidders[0].id, "11.50")  # a replaced bid: still one bidder
    clock.advance(3601)
    bus.handle(c.CloseDue())
    assert sorted(kinds(bus, bidders[3].id)) == ["auction.won", "contract.started"]
    for loser in bidders[:3]:
        (lost,) = notices(bus, loser.id)
        assert (lost.type.value, lost.data["winners"], lost.subject_id) == ("auction.lost", 1, a.id)
    assert kinds(bus, seller.id) == ["contract.started"]  # the owner hears of its contract


def test_the_losers_of_a_crowded_auction_are_told_a_chunk_at_a_time(
    bus: MessageBus, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notifications, "CHUNK", 2)
    seller = register(bus, "Seller", ["provider"])
    bidders = [register(bus, f"B{i}", ["recipient"]) for i in range(6)]
    a = open_auction(bus, seller.id, auction_request())
    for i, b in enumerate(bidders):
        place_bid(bus, a.id, b.id, f"{10 + i}.00")
    clock.advance(3601)
    bus.handle(c.CloseDue())
    told = lambda: sum("auction.lost" in kinds(bus, b.id) for b in bidders)  # noqa: E731
    assert told() == 2  # the first chunk, in the close's own transaction
    assert [bus.handle(SpreadNotices()) for _ in range(4)] == [2, 1, 0, 0]
    assert told() == 5 and kinds(bus, bidders[5].id).count("auction.lost") == 0


def test_both_parties_hear_a_contract_start_and_complete_and_a_breach(
    bus: MessageBus, clock: ManualClock
) -> None:
    terms = {"service": "voice", "duration_s": 100, "min_rate_bps": 1000, "max_members": 2}
    won = award(bus, clock, direction="forward", terms=terms)
    for who in (won.buyer.id, won.seller.id):
        assert "contract.started" in kinds(bus, who)
    clock.advance(1)
    bus.handle(c.RecordDelivery(won.contract_id, won.seller.id, "run-1", "60", 1000, 10, 500))
    clock.advance(1)
    bus.handle(c.RecordDelivery(won.contract_id, won.seller.id, "run-2", "40", 1000, 10, 2000))
    for who in (won.buyer.id, won.seller.id):
        told = notices(bus, who)
        assert [n.type.value for n in told[:2]] == ["contract.completed", "delivery.breach"]
        breach = told[1]
        assert (breach.data["achieved_rate_bps"], breach.data["min_rate_bps"]) == (500, 1000)
        assert breach.data["measured_by"] == "sender"


def test_a_breach_the_receivers_found_is_told_at_the_rate_they_got(
    bus: MessageBus, clock: ManualClock
) -> None:
    terms = {"service": "voice", "duration_s": 100, "min_rate_bps": 1000, "max_members": 2}
    won = award(bus, clock, direction="forward", terms=terms)
    lost_half = {"streams": 1, "fraction_lost": 0.5, "cumulative_lost": 40, "jitter_ms": 12.5}
    sent = c.RecordDelivery(won.contract_id, won.seller.id, "run-rx", "5", 1000, 10, 1500,
                            lost_half)  # fmt: skip
    bus.handle(sent)
    (breach,) = notices(bus, won.buyer.id, types=("delivery.breach",))
    assert (breach.data["achieved_rate_bps"], breach.data["measured_by"]) == (750, "receiver")
    assert "as its receivers reported" in notice_words(breach.type.value, breach.data)[1]


def test_the_payer_hears_a_charge_succeed_or_be_declined_with_what_to_do(
    bus: MessageBus, clock: ManualClock
) -> None:
    won = award(bus, clock, "40.00")
    bus.handle(c.AddCard(won.buyer.id, DECLINED_AT_CHARGE, 12, T0.year + 2, "123"))
    bus.handle(c.ChargeDue())
    (declined,) = notices(bus, won.buyer.id, types=("charge.declined",))
    assert declined.data["decline_code"] == "card_declined"
    assert declined.data["final"] is False and declined.data["next_attempt_at"]
    assert declined.data["pay_now"] == f"/v1/contracts/{won.contract_id}/charges/retry"
    bus.handle(c.AddCard(won.buyer.id, GOOD, 12, T0.year + 2, "123"))
    bus.handle(c.MakeDefaultCard(won.buyer.id, _newest_card(bus, won.buyer.id)))
    bus.handle(c.ChargeDue())
    (paid,) = notices(bus, won.buyer.id, types=("charge.succeeded",))
    assert (paid.data["amount"], paid.data["currency"]) == ("40.00", "EUR")
    assert kinds(bus, won.seller.id).count("charge.succeeded") == 0


def _newest_card(bus: MessageBus, account_id: str) -> str:
    (good,) = [m for m in bus.handle(ListCards(account_id)) if m.last4 == "4242"]
    return good.id


def test_an_invitee_hears_of_the_group_and_a_rated_party_of_its_rating(
    bus: MessageBus, clock: ManualClock
) -> None:
    ann, bob = (register(bus, n, ["recipient"]) for n in ("Ann", "Bob"))
    group = bus.handle(c.CreateGroup(ann.id, "Harbour St", "EUR", pledge="50.00")).group
    bus.handle(c.InviteToGroup(group.id, ann.id, bob.id))
    (invited,) = notices(bus, bob.id)
    assert (invited.data["group_name"], invited.data["invited_by"]) == ("Harbour St", ann.id)
    won = award(bus, clock, "40.00")
    bus.handle(c.Rate(won.contract_id, True, 5, account_id=won.buyer.id))
    (rated,) = notices(bus, won.seller.id, types=("rating.received",))
    assert (rated.data["satisfied"], rated.data["score"], rated.data["role"]) == (
        True,
        5,
        "provider",
    )


def test_a_contract_the_operator_cancels_tells_both_parties_why(
    bus: MessageBus, clock: ManualClock
) -> None:
    won = award(bus, clock, "40.00")
    op = register(bus, "Operator", ["operator"], allow_operator=True)
    bus.handle(tm.CancelContract(won.contract_id, op.id, "fraudulent listing"))
    for party in (won.buyer.id, won.seller.id):
        (told,) = notices(bus, party, types=("contract.cancelled",))
        assert told.subject_id == won.contract_id
        assert (told.data["reason"], told.data["note"]) == ("operator", "fraudulent listing")
        title, text = notice_words(told.type.value, told.data)
        assert title == "A contract was cancelled"
        assert text == "Cancelled by the operator: fraudulent listing."
    assert kinds(bus, op.id) == []


def test_opening_a_subcontract_tells_both_providers_and_nobody_else(clock: ManualClock) -> None:
    bus = in_memory_exchange(clock=clock, ids=SequentialIds(), resolve=lambda _h: ["93.184.215.14"])
    won = award(bus, clock, "40.00", terms={"service": "stream-processing", "duration_s": 3600})
    bravo = register(bus, "Bravo", ["provider"])
    bus.handle(c.PublishOffer(bravo.id, "https://b.example", ("transcode",), "2.50", "EUR"))
    bus.handle(c.AddCard(won.seller.id, GOOD, 12, 2040, "123"))
    hooks = {
        who: bus.handle(
            CreateWebhook(who, f"https://{i}.example/hook", ("subcontract.opened",))
        ).webhook.id
        for i, who in enumerate((won.seller.id, bravo.id, won.buyer.id))
    }
    opened = bus.handle(
        sm.OpenSubcontract(won.contract_id, won.seller.id, bravo.id, "transcode:pcmu")
    )
    sub_id = opened.line.subcontract.contract.id
    for account in (won.seller.id, bravo.id):
        (told,) = notices(bus, account, types=("subcontract.opened",))
        assert told.subject_id == sub_id
        assert told.data == {
            "contract_id": sub_id,
            "parent_contract_id": won.contract_id,
            "step": "transcode:pcmu",
            "provider_id": won.seller.id,
            "subcontractor_id": bravo.id,
        }
        assert "transcode:pcmu" in notice_words(told.type.value, told.data)[1]
        (queued,) = bus.handle(WebhookDeliveries(account, hooks[account])).items
        assert (queued.event_id, queued.event_type.value) == (told.id, "subcontract.opened")
    assert notices(bus, won.buyer.id, types=("subcontract.opened",)) == []
    assert bus.handle(WebhookDeliveries(won.buyer.id, hooks[won.buyer.id])).items == ()


def test_a_watcher_hears_once_that_a_watched_auction_closes_soon(
    bus: MessageBus, clock: ManualClock
) -> None:
    seller = register(bus, "Seller", ["provider"])
    ann = register(bus, "Ann", ["recipient"])
    a = open_auction(bus, seller.id, auction_request())  # closes in an hour
    bus.handle(Watch(ann.id, a.id))
    assert bus.handle(RemindWatchers()) == 0  # not within 15 minutes yet
    clock.advance(50 * 60)
    assert bus.handle(RemindWatchers()) == 1
    assert bus.handle(RemindWatchers()) == 0
    (soon,) = notices(bus, ann.id)
    assert (soon.type.value, soon.data["closes_at"]) == (
        "auction.closing_soon",
        a.closes_at.isoformat(),
    )


def test_a_change_that_fails_leaves_no_notice(bus: MessageBus) -> None:
    seller = register(bus, "Seller", ["provider"])
    ann, bob = (register(bus, n, ["recipient"]) for n in ("Ann", "Bob"))
    a = open_auction(bus, seller.id, auction_request(format="english"))
    place_bid(bus, a.id, ann.id, "10.00")
    with bus.unit_of_work() as uow:  # outbid, but never committed
        place_bids([c.PlaceBid(a.id, bob.id, "15.00")], uow, bus.deps)
    assert kinds(bus, ann.id) == []
    with pytest.raises(Forbidden):
        place_bid(bus, a.id, seller.id, "20.00")
    assert kinds(bus, ann.id) == []


def test_unread_counts_marking_read_and_paging(bus: MessageBus, clock: ManualClock) -> None:
    seller = register(bus, "Seller", ["provider"])
    ann, bob = (register(bus, n, ["recipient"]) for n in ("Ann", "Bob"))
    a = open_auction(bus, seller.id, auction_request(format="english", min_increment="1.00"))
    for i in range(5):
        clock.advance(1)
        place_bid(bus, a.id, ann.id, f"{10 + 4 * i}.00")
        place_bid(bus, a.id, bob.id, f"{12 + 4 * i}.00")
    assert bus.handle(UnreadCount(ann.id)) == 5
    first = bus.handle(MyNotifications(ann.id, limit=2))
    assert len(first.items) == 2 and first.next_key is not None and first.unread == 5
    rest = bus.handle(MyNotifications(ann.id, limit=10, after=first.next_key))
    seen = [n.id for n in first.items + rest.items]
    assert len(seen) == len(set(seen)) == 5 and rest.next_key is None
    assert [n.data["price"] for n in first.items] == ["28.00", "24.00"]  # newest first
    assert bus.handle(MarkRead(bob.id, (seen[0],))) == 0  # another account's: left alone
    assert bus.handle(MarkRead(ann.id, (seen[0],))) == 1
    assert [n.id for n in notices(bus, ann.id, unread_only=True)] == seen[1:]
    assert bus.handle(MarkRead(ann.id)) == 4
    assert bus.handle(UnreadCount(ann.id)) == 0
    with pytest.raises(InvalidInput, match="type"):
        bus.handle(MyNotifications(ann.id, types=("bid.won",)))
