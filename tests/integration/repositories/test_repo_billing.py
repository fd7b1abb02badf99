"""The charge repository (a contract's charges with their payouts) and saved cards, on every
store."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from commex.domain.charges import Charge, ChargeStatus, Payout
from commex.domain.contracts import ContractStatus
from commex.domain.errors import Conflict
from commex.domain.money import Money
from commex.domain.payment_methods import PaymentMethod
from commex.services.ports import UnitOfWorkFactory
from support.rows import T0, contract, put_accounts, put_auction_world


def card(n: int, account_id: str = "acc_ann", default: bool = False) -> PaymentMethod:
    return PaymentMethod(
        id=f"card_{n}",
        account_id=account_id,
        gateway="test",
        token=f"tok_test_ok_{n:032x}",
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=2030 + n,
        is_default=default,
        created_at=T0 + timedelta(seconds=n),
    )


def charge(i: int, payer: str = "acc_r", contract_id: str = "con_1", **kw: object) -> Charge:
    base = Charge(
        f"chg_{i}",
        contract_id,
        payer,
        "acc_p",
        Money(Decimal(1000), "JPY"),
        ChargeStatus.PENDING,
        T0 + timedelta(seconds=i),
        T0 + timedelta(minutes=i),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_cards_round_trip_in_order_with_one_default(store: UnitOfWorkFactory) -> None:
    put_accounts(store, "acc_ann", "acc_bob")
    with store() as w:
        for m in (card(2), card(1, default=True), card(3, "acc_bob", default=True)):
            w.payment_methods.add(m)
        w.commit()
    with store(write=False) as r:
        assert r.payment_methods.of_account("acc_ann") == [card(1, default=True), card(2)]
        assert r.payment_methods.get("card_2") == card(2)
        assert r.payment_methods.get("card_9") is None
        assert r.payment_methods.default_of("acc_ann") == card(1, default=True)
    with store() as w:
        w.payment_methods.set_default("acc_ann", "card_2")
        w.commit()
    with store(write=False) as r:
        assert [m.is_default for m in r.payment_methods.of_account("acc_ann")] == [False, True]
        assert r.payment_methods.default_of("acc_bob") == card(3, "acc_bob", default=True)
    with store() as w:
        w.payment_methods.remove("card_2")
        w.payment_methods.set_default("acc_ann", None)
        w.commit()
    with store(write=False) as r:
        assert r.payment_methods.of_account("acc_ann") == [card(1)]
        assert r.payment_methods.default_of("acc_ann") is None


def test_a_rolled_back_card_is_not_kept(store: UnitOfWorkFactory) -> None:
    put_accounts(store, "acc_ann")
    with store() as w:
        w.payment_methods.add(card(1))
    with store(write=False) as r:
        assert r.payment_methods.of_account("acc_ann") == []


def test_charges_are_kept_once_per_payer_and_swapped_by_version(store: UnitOfWorkFactory) -> None:
    put_auction_world(store, contract())
    first, second = charge(1), charge(2, payer="acc_s")
    with store() as u:
        u.charges.add_many([second, first])
        u.commit()
    with pytest.raises(Conflict) as twice, store() as u:
        u.charges.add_many([charge(3)])
        u.commit()
    assert twice.value.message == "contract con_1 is charged to acc_r already"
    claimed = replace(first, attempts=1, claimed_until=T0 + timedelta(minutes=5))
    with store() as u:
        assert u.charges.get("chg_1") == first
        assert u.charges.get("chg_9") is None
        assert u.charges.swap(first, claimed)
        assert not u.charges.swap(first, claimed)  # the stored charge is no longer ``first``
        u.commit()
    with store(write=False) as u:
        assert u.charges.get("chg_1") == replace(claimed, version=1)
        assert u.charges.for_contract("con_1") == [replace(claimed, version=1), second]
        assert u.charges.of_payer("acc_r", 10) == [replace(claimed, version=1)]
        assert u.charges.of_payer("acc_p", 10) == []


def test_contracts_waiting_for_their_charges(store: UnitOfWorkFactory) -> None:
    rows = [
        contract("con_1"),
        contract(
            "con_2", bid_id="bid_2", status=ContractStatus.ACTIVE, created_at=T0 + timedelta(1)
        ),
        contract("con_3", bid_id="bid_1", status=ContractStatus.COMPLETED),
    ]
    put_auction_world(store, *rows)
    with store() as u:
        assert [c.id for c in u.charges.uncharged_contracts(10)] == ["con_1", "con_2"]
        u.charges.add_many([charge(1)])
        u.commit()
    with store(write=False) as u:
        assert u.charges.uncharged_contracts(10) == [rows[1]]


def test_the_charges_an_attempt_is_due_for(store: UnitOfWorkFactory) -> None:
    put_auction_world(store, contract(), contract("con_2", bid_id="bid_2"))
    put_accounts(store, "acc_t", "acc_u")
    now = T0 + timedelta(hours=1)
    rows = [
        charge(1, next_attempt_at=now - timedelta(minutes=1)),  # its time has come
        charge(2, payer="acc_s", next_attempt_at=now + timedelta(hours=1)),  # not yet
        charge(
            3,
            payer="acc_t",
            next_attempt_at=now + timedelta(hours=1),
            claimed_until=now - timedelta(seconds=1),
        ),
        charge(
            4,
            payer="acc_u",
            next_attempt_at=now + timedelta(hours=2),
            attempts=1,
            last_card_id="card_1",
        ),
        charge(5, contract_id="con_2", next_attempt_at=now, status=ChargeStatus.SUCCEEDED),
    ]
    with store() as u:
        u.charges.add_many(rows)
        u.payment_methods.add(card(1, "acc_u"))
        u.payment_methods.add(card(2, "acc_u", default=True))
        u.commit()
    with store(write=False) as u:
        assert u.charges.due(now, 10) == ["chg_1", "chg_3", "chg_4"]
        assert u.charges.due(now, 1) == ["chg_1"]
    with store() as u:
        u.payment_methods.set_default("acc_u", "card_1")  # the card already tried
        u.commit()
    with store(write=False) as u:
        assert u.charges.due(now, 10) == ["chg_1", "chg_3"]


def test_payouts_follow_their_contracts_charges(store: UnitOfWorkFactory) -> None:
    put_auction_world(store, contract(), contract("con_2", bid_id="bid_2"))
    payout = Payout("pay_1", "chg_1", "acc_p", Money(Decimal(1000), "JPY"), T0)
    with store() as u:
        u.charges.add_many([charge(1), charge(2, contract_id="con_2")])
        u.charges.add_payout(payout)
        u.commit()
    with store(write=False) as u:
        assert u.charges.payouts_for_contract("con_1") == [payout]
        assert u.charges.payouts_for_contract("con_2") == []
