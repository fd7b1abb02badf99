"""A contract's lifecycle on SQLite and PostgreSQL: a winner whose charge is declined for the
last time loses its contract for non-payment, its provider's capacity is freed, and the block
goes to the next qualifying bid (or is reported unsold); a group's other payers get their money
back; contracts complete when their window ends, once, however many servers run the
scheduler."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from commex.adapters.clock import ManualClock
from commex.adapters.passwords import Argon2Hasher
from commex.adapters.payments.testgateway import TestGateway
from commex.bootstrap import Services, build_services
from commex.domain.charges import MAX_DECLINES, RETRY_AFTER
from commex.services import trust_messages as m
from commex.services.commands import (
    AddCard,
    AnswerGroup,
    ChargeDue,
    CompleteDue,
    CreateGroup,
    InviteToGroup,
    Register,
    SetCapacity,
)
from commex.services.queries import ShowAuction, ShowAudit, ShowCapacity, ShowContractCharges
from commex.settings import Settings
from support.engine import close_due, contract, open_auction, open_group_auction, place_bid

T0 = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
GOOD = "4242424242424242"
DECLINES_AT_CHARGE = "4000000000000341"  # saved fine, declined at every charge
RATE = 2_000_000


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def _services(url: str, clock: ManualClock) -> Services:
    hasher = Argon2Hasher(time_cost=1, memory_kib=1024)
    gateway = TestGateway(clock)
    return build_services(Settings(Path("."), url), clock=clock, hasher=hasher, gateway=gateway)


@pytest.fixture
def services(migrated_database_url: str, clock: ManualClock) -> Iterator[Services]:
    s = _services(migrated_database_url, clock)
    try:
        yield s
    finally:
        s.shutdown()


def _person(s: Services, name: str, card: str | None = GOOD, owner: str | None = None) -> Any:
    account = s.bus.handle(Register(name, ("recipient",), owner_id=owner)).account
    if card is not None:
        s.bus.handle(AddCard(account.id, card, 12, 2031, "123"))
    return account


def _sale(s: Services, clock: ManualClock, fmt: str, **extra: Any) -> tuple[Any, Any]:
    """A provider with 1.5 blocks' capacity sells one block at ``fmt`` (reserve 20.00)."""
    seller = s.bus.handle(Register("Northwind", ("provider",))).account
    s.bus.handle(SetCapacity(seller.id, RATE + RATE // 2))
    body = {
        "direction": "forward", "format": fmt, "title": "Voice", "currency": "EUR",
        "terms": {"service": "voice", "duration_s": 600, "min_rate_bps": RATE},
        "closes_at": (clock.now() + timedelta(hours=1)).isoformat(), "reserve": "20.00",
    } | extra  # fmt: skip
    return seller, open_auction(s.bus, seller.id, body)


def _decline_to_the_end(s: Services, clock: ManualClock) -> None:
    for _ in range(MAX_DECLINES):
        s.bus.handle(ChargeDue())
        clock.advance(RETRY_AFTER.total_seconds())


def test_a_winner_that_never_pays_loses_the_block_to_the_next_qualifying_bid(
    services: Services, clock: ManualClock
) -> None:
    s = services
    seller, auction = _sale(s, clock, "second-price")
    cheat = _person(s, "Mallory", DECLINES_AT_CHARGE)
    sock = _person(s, "Mallory's other", owner=cheat.id)  # the same owner: never next
    gone = _person(s, "Gone")  # suspended after the close
    honest = _person(s, "Harbour")
    low = _person(s, "Lowball")
    for who, amount in ((cheat, "50.00"), (gone, "48.00"), (sock, "45.00"), (honest, "30.00")):
        place_bid(s.bus, auction.id, who.id, amount)
    place_bid(s.bus, auction.id, low.id, "10.00")  # below the reserve
    clock.advance(3601)
    (closed,) = close_due(s.bus)
    (first,) = closed.outcome.winners
    assert (first.bidder_id, str(first.price)) == (cheat.id, "48.00")
    operator = s.bus.handle(Register("Op", ("operator",), operator=True)).account
    s.bus.handle(m.SuspendAccount(gone.id, operator.id, "chargebacks elsewhere"))

    _decline_to_the_end(s, clock)

    lost = contract(s.bus, first.contract_id, seller.id)
    assert (lost.status.value, lost.end_reason.value) == ("cancelled", "non_payment")
    assert "declined" in (lost.end_note or "") and lost.cancelled_at is not None
    trail = s.bus.handle(ShowAudit(operator.id, subject_id=lost.id, limit=100)).entries
    (cancelled,) = [e for e in trail if e.action == "contract.cancelled"]
    assert cancelled.actor_id is None and (cancelled.reason or "").startswith("non_payment: ")
    assert {cheat.id, seller.id} <= set(cancelled.accounts)  # each reads why it ended
    view = s.bus.handle(ShowAuction(auction.id, seller.id)).auction
    (now_winner,) = view.outcome.winners
    assert (now_winner.bidder_id, str(now_winner.price)) == (honest.id, "30.00")
    assert [(d.bidder_id, d.reason.value) for d in view.outcome.defaulted] == [
        (cheat.id, "non_payment")
    ]
    assert view.outcome.unsold == 0
    taken = contract(s.bus, now_winner.contract_id, seller.id)
    assert (taken.status.value, taken.recipient_id, str(taken.price)) == (
        "active", honest.id, "30.00",
    )  # fmt: skip
    # The block is held once: by the new contract, not by the cancelled one too.
    assert s.bus.handle(ShowCapacity(seller.id)).committed_bps == RATE
    s.bus.handle(ChargeDue())  # the new winner is charged like any other
    paid = s.bus.handle(ShowContractCharges(taken.id, honest.id)).charges
    assert [x.status.value for x in paid] == ["succeeded"]


def test_with_no_qualifying_bid_the_block_is_unsold_and_the_capacity_free(
    services: Services, clock: ManualClock
) -> None:
    s = services
    seller, auction = _sale(s, clock, "english", min_increment="1.00")
    cheat = _person(s, "Mallory", DECLINES_AT_CHARGE)
    place_bid(s.bus, auction.id, _person(s, "Harbour").id, "25.00")
    place_bid(s.bus, auction.id, cheat.id, "30.00")
    clock.advance(3601)
    (closed,) = close_due(s.bus)
    assert s.bus.handle(ShowCapacity(seller.id)).committed_bps == RATE

    _decline_to_the_end(s, clock)

    (cid,) = [d.contract_id for d in closed.outcome.winners]
    assert contract(s.bus, cid, seller.id).status.value == "cancelled"
    outcome = s.bus.handle(ShowAuction(auction.id, seller.id)).auction.outcome
    assert (outcome.winners, outcome.unsold) == ((), 1)  # english: not awarded again
    assert s.bus.handle(ShowCapacity(seller.id)).committed_bps == 0


def test_a_groups_contract_cancelled_for_non_payment_refunds_the_payer_who_paid(
    services: Services, clock: ManualClock
) -> None:
    s = services
    ann, bob = _person(s, "Ann"), _person(s, "Bob", DECLINES_AT_CHARGE)
    seller = s.bus.handle(Register("Northwind", ("provider",))).account
    group = s.bus.handle(CreateGroup(ann.id, "Flats", "EUR", None, "60.00")).group
    s.bus.handle(InviteToGroup(group.id, ann.id, bob.id))
    s.bus.handle(AnswerGroup(group.id, bob.id, "payer", "40.00"))
    body = {
        "format": "first-price", "title": "Voice", "terms": {"service": "voice", "duration_s": 60},
        "closes_at": (clock.now() + timedelta(hours=1)).isoformat(),
    }  # fmt: skip
    auction = open_group_auction(s.bus, group.id, ann.id, body)
    place_bid(s.bus, auction.id, seller.id, "50.00")
    clock.advance(3601)
    (closed,) = close_due(s.bus)
    cid = closed.outcome.winners[0].contract_id

    _decline_to_the_end(s, clock)

    assert contract(s.bus, cid, seller.id).end_reason.value == "non_payment"
    found = s.bus.handle(ShowContractCharges(cid, ann.id))
    status = {x.payer_id: x.status.value for x in found.charges}
    assert status == {ann.id: "succeeded", bob.id: "declined"}
    # Ann's 30.00 went back through the gateway, by the exchange itself: a negative payout.
    assert sorted(str(p.amount) for p in found.payouts) == ["-30.00", "30.00"]
    (paid,) = [x for x in found.charges if x.payer_id == ann.id]
    refunds = s.bus.handle(ShowAudit(ann.id, subject_id=paid.id, limit=100)).entries
    assert [(e.action, e.actor_id) for e in refunds if e.action == "charge.refunded"] == [
        ("charge.refunded", None)
    ]
    outcome = s.bus.handle(ShowAuction(auction.id, seller.id)).auction.outcome
    assert outcome.unsold == 1  # a reverse auction's buyer did not pay: no other bid helps


def test_contracts_complete_once_when_their_window_ends_whoever_runs_the_scheduler(
    services: Services, clock: ManualClock, migrated_database_url: str
) -> None:
    s = services
    start = clock.now() + timedelta(hours=2)
    window = {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=1)).isoformat(),
    }
    seller, auction = _sale(s, clock, "first-price", quantity=4,
                            terms={"service": "voice", "duration_s": 600} | window)  # fmt: skip
    for n in range(4):
        place_bid(s.bus, auction.id, _person(s, f"Buyer {n}").id, "25.00")
    clock.advance(3601)
    (closed,) = close_due(s.bus)
    ids = sorted(w.contract_id for w in closed.outcome.winners)
    assert s.bus.handle(CompleteDue()) == []  # not before the window ends
    clock.set(start + timedelta(hours=1))

    others = [_services(migrated_database_url, clock) for _ in range(2)]
    done: list[str] = []
    go = threading.Barrier(3)

    def run(bus: Any) -> None:
        go.wait(10)
        done.extend(x.id for x in bus.handle(CompleteDue()))

    try:
        threads = [threading.Thread(target=run, args=(x.bus,)) for x in (s, *others)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        for x in others:
            x.shutdown()
    assert sorted(done) == ids  # each completed once, by one of the three
    for cid in ids:
        ended = contract(s.bus, cid, seller.id)
        assert (ended.status.value, ended.end_reason.value) == ("completed", "window_ended")
        assert ended.completed_at == start + timedelta(hours=1)
