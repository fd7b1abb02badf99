"""The audit trail (O1) of a whole story on memory, SQLite and PostgreSQL: every change the
story makes leaves exactly one entry, in order, with its actor, subject, time, request id and
reason; refused commands and uncommitted work leave none; each account reads what concerns it,
the operator reads everything; the SQL stores refuse to change or remove an entry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text

from commex.adapters.clock import ManualClock, SequentialIds
from commex.adapters.memory import MemoryUnitOfWorkFactory
from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.uow import SqlUnitOfWorkFactory
from commex.bootstrap import make_bus
from commex.domain.errors import Forbidden, InvalidInput
from commex.services import commands as c
from commex.services import marketplace as mk
from commex.services import queries as q
from commex.services import subcontract_messages as m
from commex.services.bus import MessageBus
from commex.services.request_context import request_id_bound
from commex.services.subcontract_results import NodeCaller
from support.engine import auction_request, open_auction, register
from support.moments import T0


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def bus(request: pytest.FixtureRequest) -> Iterator[MessageBus]:
    if request.param == "memory":
        yield make_bus(MemoryUnitOfWorkFactory(), clock=ManualClock(T0), ids=SequentialIds())
        return
    engine = make_engine(request.getfixturevalue("migrated_store")(request.param))
    try:
        yield make_bus(SqlUnitOfWorkFactory(engine), clock=ManualClock(T0), ids=SequentialIds())
    finally:
        engine.dispose()


def _trail(bus: MessageBus, viewer: str, **kw: Any) -> list[Any]:
    return list(bus.handle(q.ShowAudit(viewer, **kw)).entries)


def _story(bus: MessageBus) -> SimpleNamespace:
    """Accounts, an auction bid on and closed early by the operator, a cancelled one, a
    contract shared, used, rated and charged, a card, a group, a device, a new token."""
    clock: Any = bus.clock
    s = SimpleNamespace()
    s.seller = register(bus, "Seller", ["provider"]).id
    s.buyer = register(bus, "Buyer", ["recipient"]).id
    s.rival = register(bus, "Rival", ["recipient"]).id
    s.op = register(bus, "Operator", ["operator"], allow_operator=True).id
    window = {
        "service": "voice",
        "duration_s": 60000,
        "window_start": "2026-03-01T12:30:00Z",
        "window_end": "2026-04-01T00:00:00Z",
    }
    s.auction = open_auction(bus, s.seller, auction_request(terms=window)).id
    with request_id_bound("req-buyer-bid"):
        bus.handle(c.PlaceBid(s.auction, s.buyer, "10.00"))
    with pytest.raises(Forbidden):  # refused: leaves no entry
        bus.handle(c.PlaceBid(s.auction, s.seller, "11.00"))
    bus.handle(c.PlaceBid(s.auction, s.rival, "12.00"))
    closed = bus.handle(c.CloseAuction(s.auction, s.op, "closed early: a duplicate listing"))
    assert closed.auction.outcome is not None
    s.contract = closed.auction.outcome.winners[0].contract_id
    s.other = open_auction(bus, s.seller, auction_request(title="Spare block")).id
    bus.handle(c.CancelAuction(s.other, s.seller))
    s.member = bus.handle(c.AddMember(s.contract, s.rival, account_id=s.buyer)).id
    bus.handle(c.RemoveMember(s.contract, s.rival, s.member))
    clock.advance(31 * 60)  # the usage window opens
    bus.handle(c.StartDue())
    bus.handle(c.Rate(s.contract, True, 5, "fine", account_id=s.rival))
    s.card = bus.handle(c.AddCard(s.rival, "4242424242424242", 12, 2031, "123")).id
    bus.handle(c.ChargeDue())
    s.group = bus.handle(c.CreateGroup(s.buyer, "Flats", "EUR", pledge="50.00")).group.id
    bus.handle(c.InviteToGroup(s.group, s.buyer, s.rival))
    bus.handle(c.AnswerGroup(s.group, s.rival, "non-payer"))
    bus.handle(c.Sponsor(s.group, s.buyer, (s.rival,)))
    bus.handle(c.RotateToken(s.buyer))
    s.device = bus.handle(c.RegisterDevice(s.rival, "Kitchen phone", "Ann")).device.id
    bus.handle(c.SetCapacity(s.seller, 100_000_000))
    return s


def test_a_whole_story_leaves_one_entry_per_change_in_order(bus: MessageBus) -> None:
    s = _story(bus)
    rows = [(e.action, e.actor_id, e.subject_id) for e in _trail(bus, s.op, limit=500)]
    assert rows == [
        ("account.opened", s.seller, s.seller),
        ("account.opened", s.buyer, s.buyer),
        ("account.opened", s.rival, s.rival),
        ("account.opened", None, s.op),  # an operator is made by the administrator
        ("auction.opened", s.seller, s.auction),
        ("bid.placed", s.buyer, s.auction),
        ("bid.placed", s.rival, s.auction),
        ("auction.closed", s.op, s.auction),
        ("contract.awarded", s.op, s.contract),
        ("auction.opened", s.seller, s.other),
        ("auction.cancelled", s.seller, s.other),
        ("member.added", s.rival, s.contract),
        ("member.removed", s.rival, s.contract),
        ("contract.started", None, s.contract),
        ("rating.recorded", s.rival, s.contract),
        ("card.added", s.rival, s.card),
        ("charge.created", None, s.contract),
        ("charge.attempted", None, s.contract),
        ("rating.recorded", None, s.contract),  # the payment rating the charge records (R2)
        ("payout.recorded", None, s.contract),
        ("group.created", s.buyer, s.group),
        ("group.invited", s.buyer, s.group),
        ("group.answered", s.rival, s.group),
        ("group.sponsored", s.buyer, s.group),
        ("token.rotated", s.buyer, s.buyer),
        ("device.registered", s.rival, s.device),
        ("capacity.set", s.seller, s.seller),
    ]


def test_entries_carry_time_request_id_reason_and_facts(bus: MessageBus) -> None:
    s = _story(bus)
    entries = _trail(bus, s.op, limit=500)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert all(e.at.tzinfo is not None and e.at >= T0 for e in entries)
    bid = next(e for e in entries if e.action == "bid.placed")
    assert (bid.request_id, dict(bid.detail)["amount"]) == ("req-buyer-bid", "10.00")
    close = next(e for e in entries if e.action == "auction.closed")
    assert close.reason == "closed early: a duplicate listing"
    assert dict(close.detail)["contracts"] == s.contract
    attempt = next(e for e in entries if e.action == "charge.attempted")
    assert dict(attempt.detail)["outcome"] == "succeeded"
    card = next(e for e in entries if e.action == "card.added")
    assert dict(card.detail) == {"brand": "visa", "last4": "4242", "gateway": "test"}
    assert "4242424242424242" not in str(entries)  # never card data


def test_each_account_reads_what_concerns_it_and_the_operator_reads_all(bus: MessageBus) -> None:
    s = _story(bus)
    everything = _trail(bus, s.op, limit=500)
    for who in (s.seller, s.buyer, s.rival):
        mine = _trail(bus, who, limit=500)
        assert mine == [e for e in everything if who in e.accounts]
    buyer_sees = {(e.action, e.actor_id) for e in _trail(bus, s.buyer, limit=500)}
    assert ("bid.placed", s.buyer) in buyer_sees
    assert ("bid.placed", s.rival) not in buyer_sees  # a sealed bid stays its bidder's
    story = [e.action for e in _trail(bus, s.op, subject_id=s.contract)]
    assert story[:3] == ["contract.awarded", "member.added", "member.removed"]
    assert _trail(bus, s.buyer, subject_id=s.rival) == []  # another's account: nothing
    page = bus.handle(q.ShowAudit(s.op, limit=5))
    rest = _trail(bus, s.op, after=page.next_after, limit=500)
    assert [e.seq for e in page.entries + tuple(rest)] == [e.seq for e in everything]
    with pytest.raises(InvalidInput, match="limit"):
        bus.handle(q.ShowAudit(s.op, limit=0))
    with pytest.raises(InvalidInput, match="subject"):
        bus.handle(q.ShowAudit(s.op, subject_id="../etc"))


def test_an_entry_commits_with_its_change_or_not_at_all(bus: MessageBus) -> None:
    seller = register(bus, "Seller", ["provider"]).id
    op = register(bus, "Operator", ["operator"], allow_operator=True).id
    before = _trail(bus, op)
    with bus.unit_of_work() as uow:  # never committed: neither the auction nor its entry
        bus.handle_in(
            uow,
            c.OpenAuction(
                seller,
                "forward",
                "first-price",
                "Gone",
                c.Terms("voice", 60),
                "EUR",
                T0 + timedelta(hours=1),
            ),
        )
    assert _trail(bus, op) == before
    assert bus.handle(q.ListAuctions()) == []
    with pytest.raises(InvalidInput):  # refused half-way: nothing written
        bus.handle(c.SetCapacity(seller, -5))
    assert _trail(bus, op) == before
    opened = open_auction(bus, seller, auction_request())
    (entry,) = _trail(bus, op, after=before[-1].seq)
    assert (entry.action, entry.subject_id) == ("auction.opened", opened.id)


def test_the_database_refuses_to_change_or_remove_an_entry(migrated_database_url: str) -> None:
    engine = make_engine(migrated_database_url)
    try:
        bus = make_bus(SqlUnitOfWorkFactory(engine), clock=ManualClock(T0), ids=SequentialIds())
        register(bus, "Seller", ["provider"])  # concerns its actor: no row of accounts
        register(bus, "Op", ["operator"], allow_operator=True)  # made by the admin: one row
        for statement in (
            "UPDATE audit_log SET reason = 'rewritten'",
            "DELETE FROM audit_log",
            "DELETE FROM audit_accounts",
            "UPDATE audit_accounts SET account_id = 'acc_x'",
        ):
            with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar() == 2
            assert conn.execute(text("SELECT count(*) FROM audit_accounts")).scalar() == 1
    finally:
        engine.dispose()


def test_subcontracts_and_node_keys_are_audited(bus: MessageBus) -> None:
    clock: Any = bus.clock
    recipient = register(bus, "Clinic", ["recipient"]).id
    alpha = register(bus, "Alpha", ["provider"]).id
    bravo = register(bus, "Bravo", ["provider"]).id
    op = register(bus, "Operator", ["operator"], allow_operator=True).id
    auction = open_auction(bus, recipient, auction_request(
        direction="reverse", terms={"service": "stream-processing", "duration_s": 3600},
    )).id  # fmt: skip
    bus.handle(c.PlaceBid(auction, alpha, "40.00"))
    clock.advance(2 * 86400)
    closed = bus.handle(c.CloseAuction(auction, recipient))
    assert closed.auction.outcome is not None
    parent = closed.auction.outcome.winners[0].contract_id
    bus.handle(c.PublishOffer(bravo, "https://93.184.215.14", ("transcode",), "2.50", "EUR"))
    bus.handle(c.AddCard(alpha, "4242424242424242", 12, 2040, "123"))
    key = bus.handle(m.IssueNodeKey(bravo, "rack 4")).key.id
    sid = bus.handle(m.OpenSubcontract(parent, alpha, bravo, "transcode:pcmu")).line.subcontract.id
    bus.handle(m.MeterPackets(sid, NodeCaller(bravo), "run-1", 1330))
    bus.handle(m.CloseSubcontract(sid, alpha, "failed_check", "two segments differ", 1330))
    bus.handle(m.RevokeNodeKey(bravo, key))
    story = [(e.action, e.actor_id) for e in _trail(bus, op, subject_id=sid)]
    assert story == [
        ("subcontract.opened", alpha),
        ("subcontract.closed", alpha),
        ("rating.recorded", alpha),
    ]  # a failed check is charged nothing
    close = next(e for e in _trail(bus, op, subject_id=sid) if e.action == "subcontract.closed")
    assert close.reason == "two segments differ"
    assert dict(close.detail) == {
        "outcome": "failed_check",
        "packets": "1330",
        "metered": "1330",
        "sent": "1330",
    }
    keys = [(e.action, e.actor_id) for e in _trail(bus, op, subject_id=key)]
    assert keys == [("node_key.issued", bravo), ("node_key.revoked", bravo)]
    # the subcontractor reads the subcontract's entries, as an account it concerns
    assert {"subcontract.opened", "subcontract.closed"} <= {e.action for e in _trail(bus, bravo)}


def test_watching_and_webhooks_are_audited_without_their_secret(bus: MessageBus) -> None:
    owner = register(bus, "Seller", ["provider"]).id
    ann, bob = (register(bus, n, ["recipient"]).id for n in ("Ann", "Bob"))
    op = register(bus, "Operator", ["operator"], allow_operator=True).id
    auction = open_auction(bus, owner, auction_request()).id
    assert bus.handle(mk.Watch(ann, auction)) is True
    assert bus.handle(mk.Watch(ann, auction)) is False  # already watched: nothing changed
    assert bus.handle(mk.Unwatch(ann, auction)) is True
    watched = [(e.action, e.actor_id) for e in _trail(bus, op, subject_id=auction)]
    assert watched[-2:] == [("auction.watched", ann), ("auction.unwatched", ann)]
    # a watchlist is private: the auction's owner does not read who watches it
    assert not {"auction.watched", "auction.unwatched"} & {e.action for e in _trail(bus, owner)}
    url = "https://93.184.215.14/in?key=s3cr3tkey"  # a receiver's credential in its URL
    created = bus.handle(mk.CreateWebhook(bob, url, ("group.invited",)))
    hook = created.webhook.id
    group = bus.handle(c.CreateGroup(ann, "Harbour St", "EUR", pledge="50.00")).group
    bus.handle(c.InviteToGroup(group.id, ann, bob))
    (queued,) = bus.handle(mk.WebhookDeliveries(bob, hook)).items
    bus.handle(mk.RetryDelivery(bob, hook, queued.id))
    bus.handle(mk.DeleteWebhook(bob, hook))
    story = [(e.action, e.subject_id) for e in _trail(bus, bob)]
    assert [s for s in story if s[0].startswith("webhook.")] == [
        ("webhook.created", hook),
        ("webhook.delivery_retried", queued.id),
        ("webhook.removed", hook),
    ]
    entries = _trail(bus, op, subject_id=hook)
    assert dict(entries[0].detail) == {"events": "group.invited"}
    written = repr(_trail(bus, op))
    assert created.webhook.secret not in written and "s3cr3tkey" not in written
