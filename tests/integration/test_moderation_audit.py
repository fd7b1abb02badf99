"""Moderation and security actions in the audit trail on memory, SQLite and PostgreSQL: each
(suspend, reinstate, hide a rating, refund, an operator's cancel of a contract, a password
changed, a reset link issued and used, logging out everywhere, a device deregistered, a token
rotated) leaves exactly one entry naming who acted, on what, and why, committed with it; a
refused action leaves none, and a suspended account's token stops working at once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from commex.adapters.clock import ManualClock, SequentialIds
from commex.adapters.memory import MemoryUnitOfWorkFactory
from commex.adapters.passwords import Argon2Hasher
from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.uow import SqlUnitOfWorkFactory
from commex.bootstrap import make_bus
from commex.domain.errors import Forbidden, Unauthenticated
from commex.services import commands as c
from commex.services import queries as q
from commex.services import trust_messages as m
from commex.services.bus import MessageBus
from support.engine import auction_request, open_auction, register
from support.moments import T0

OLD, NEW, NEWER = "old password 1", "new password 2", "newer password 3"


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def bus(request: pytest.FixtureRequest) -> Iterator[MessageBus]:
    hasher = Argon2Hasher(time_cost=1, memory_kib=1024)
    kw: dict[str, Any] = {"clock": ManualClock(T0), "ids": SequentialIds(), "hasher": hasher}
    if request.param == "memory":
        yield make_bus(MemoryUnitOfWorkFactory(), **kw)
        return
    engine = make_engine(request.getfixturevalue("migrated_store")(request.param))
    try:
        yield make_bus(SqlUnitOfWorkFactory(engine), **kw)
    finally:
        engine.dispose()


def _rows(bus: MessageBus, op: str, subject: str) -> list[tuple[str, str | None, str | None]]:
    entries = bus.handle(q.ShowAudit(op, subject_id=subject, limit=500)).entries
    return [(e.action, e.actor_id, e.reason) for e in entries]


def _charged_contract(bus: MessageBus, seller: str, buyer: str, op: str) -> tuple[str, str]:
    """A contract the operator awarded early, in force, rated by its buyer and paid."""
    clock: Any = bus.clock
    window = {
        "service": "voice", "duration_s": 60000,
        "window_start": "2026-03-01T12:30:00Z", "window_end": "2026-04-01T00:00:00Z",
    }  # fmt: skip
    auction = open_auction(bus, seller, auction_request(terms=window)).id
    bus.handle(c.PlaceBid(auction, buyer, "10.00"))
    closed = bus.handle(c.CloseAuction(auction, op, "closed early"))
    assert closed.auction.outcome is not None
    contract = closed.auction.outcome.winners[0].contract_id
    clock.advance(31 * 60)
    bus.handle(c.StartDue())
    rating = bus.handle(c.Rate(contract, False, 1, "rude", account_id=buyer)).id
    bus.handle(c.AddCard(buyer, "4242424242424242", 12, 2031, "123"))
    bus.handle(c.ChargeDue())
    return contract, rating


def test_each_moderation_action_leaves_its_one_entry(bus: MessageBus) -> None:
    seller = register(bus, "Seller", ["provider"]).id
    buyer = register(bus, "Buyer", ["recipient"]).id
    op = register(bus, "Operator", ["operator"], allow_operator=True).id
    contract, rating = _charged_contract(bus, seller, buyer, op)
    (charge,) = bus.handle(q.MyCharges(buyer))
    assert charge.status.value == "succeeded"

    bus.handle(m.HideRating(rating, op, "insults the provider"))
    bus.handle(m.RefundCharge(charge.id, op, "4.00", "calls dropped"))
    with pytest.raises(Forbidden):  # refused: leaves no entry
        bus.handle(m.CancelContract(contract, seller, "mine to cancel?"))
    bus.handle(m.CancelContract(contract, op, "fraudulent listing"))
    bus.handle(m.SuspendAccount(seller, op, "chargebacks elsewhere"))
    bus.handle(m.ReinstateAccount(seller, op, "cleared up"))

    assert _rows(bus, op, rating) == [("rating.hidden", op, "insults the provider")]
    refunded = ("charge.refunded", op, "4.00 EUR refunded: calls dropped")
    assert _rows(bus, op, charge.id) == [refunded]
    cancelled = [r for r in _rows(bus, op, contract) if r[0] == "contract.cancelled"]
    assert cancelled == [("contract.cancelled", op, "operator: fraudulent listing")]
    assert _rows(bus, op, seller) == [
        ("account.opened", seller, None),
        ("account.suspended", op, "chargebacks elsewhere"),
        ("account.reinstated", op, "cleared up"),
    ]
    seller_reads = {e.action for e in bus.handle(q.ShowAudit(seller, limit=500)).entries}
    assert {"account.suspended", "account.reinstated", "contract.cancelled"} <= seller_reads


def test_each_security_action_leaves_its_one_entry(bus: MessageBus) -> None:
    op = register(bus, "Operator", ["operator"], allow_operator=True).id
    ann = register(bus, "Ann", ["recipient"], OLD).id
    bus.handle(m.ChangePassword(ann, OLD, NEW))
    link = bus.handle(m.IssuePasswordReset(ann, op))
    bus.handle(m.ResetPassword(link.token, NEWER))
    bus.handle(m.EndSessions(ann, ann))
    device = bus.handle(c.RegisterDevice(ann, "Kitchen phone", "Ann")).device.id
    bus.handle(m.RevokeDevice(device, ann))
    bus.handle(c.RotateToken(ann))

    rows = [(a, by) for a, by, _ in _rows(bus, op, ann)]
    assert rows == [
        ("account.opened", ann),
        ("password.changed", ann),
        ("sessions.ended", ann),  # a new password ends the other sessions
        ("password.reset_issued", op),
        ("password.reset_used", op),  # the link's holder acts on the issuer's word
        ("sessions.ended", op),
        ("sessions.ended", ann),
        ("token.rotated", ann),  # one entry, not one from each side
    ]
    assert [(a, by) for a, by, _ in _rows(bus, op, device)] == [
        ("device.registered", ann),
        ("device.revoked", ann),
    ]


def test_a_suspended_accounts_token_stops_working_at_once(bus: MessageBus) -> None:
    op = register(bus, "Operator", ["operator"], allow_operator=True).id
    made = bus.handle(c.Register("Spammer", ("recipient",)))
    assert bus.handle(q.Authenticate(made.token)).id == made.account.id  # cached from now on
    bus.handle(m.SuspendAccount(made.account.id, op, "spam"))
    with pytest.raises((Unauthenticated, Forbidden)):
        bus.handle(q.Authenticate(made.token))
