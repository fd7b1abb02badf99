"""The account repository (an account with its credentials, devices and capacity), offers, and
the unit of work itself, on every store."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from commex.domain.accounts import Account, Role
from commex.domain.errors import Conflict
from commex.domain.events import AuctionCancelled
from commex.domain.members import Device
from commex.domain.money import Money
from commex.domain.offers import ProcessingOffer
from commex.services.ports import Login, ResetRecord, SessionRecord, UnitOfWorkFactory
from support.rows import T0, account


def test_an_account_round_trips_with_its_token(store: UnitOfWorkFactory) -> None:
    acc = account("acc_1", Role.PROVIDER, Role.RECIPIENT)
    with store() as u:
        u.accounts.add(acc, "hash-1")
        u.accounts.add(Account("acc_2", "B", frozenset({Role.RECIPIENT}), T0, "acc_1"))
        u.commit()
    with store(write=False) as u:
        assert u.accounts.get("acc_1") == acc
        assert u.accounts.get("nobody") is None
        assert u.accounts.get_many(["acc_1", "nobody"]) == {"acc_1": acc}
        assert u.accounts.get_many(["acc_1", "acc_1"]) == {"acc_1": acc}  # one id, read once
        assert u.accounts.get_many(["nobody"]) == {}
        assert u.accounts.get("acc_2").owner == "acc_1"  # type: ignore[union-attr]
        assert u.accounts.count() == 2
        assert u.accounts.by_token_hash("hash-1") == acc
        assert u.accounts.by_token_hash("hash-2") is None
        u.accounts.lock("acc_1")  # holds nothing in a read, and raises nothing


def test_a_new_token_replaces_the_old_one(store: UnitOfWorkFactory) -> None:
    with store() as u:
        u.accounts.add(account("acc_1"), "old")
        u.commit()
    with store() as u:
        u.accounts.set_token_hash("acc_1", "new")
        u.commit()
    with store(write=False) as u:
        assert u.accounts.by_token_hash("old") is None
        assert u.accounts.by_token_hash("new") == account("acc_1")


def test_a_login_name_is_found_and_taken_once(store: UnitOfWorkFactory) -> None:
    ann = account("acc_1", name="Ann")
    with store() as u:
        u.accounts.add(ann, "h1", Login("ann", "argon-hash"))
        u.accounts.add(account("acc_2", name="Bob"), "h2")
        u.commit()
    with pytest.raises(Conflict) as taken, store() as u:
        u.accounts.add(account("acc_3", name="ANN"), "h3", Login("ann", "other-hash"))
        u.commit()
    assert taken.value.message == "the name 'ANN' is taken; please choose another"
    assert taken.value.field == "name"
    with store(write=False) as u:
        assert u.accounts.by_login("ann") == (ann, "argon-hash")
        assert u.accounts.by_login("bob") is None  # no login without a password
        assert u.accounts.get("acc_3") is None  # the refused account left nothing behind
        assert u.accounts.by_token_hash("h3") is None


def test_web_sessions_are_kept_found_and_expire(store: UnitOfWorkFactory) -> None:
    early = SessionRecord("s1", "acc_1", "csrf-1", T0, T0 + timedelta(hours=1))
    late = SessionRecord("s2", "acc_1", "csrf-2", T0, T0 + timedelta(days=7))
    idle = SessionRecord("s3", "acc_1", "csrf-3", T0, T0 + timedelta(days=7))
    with store() as u:
        u.accounts.add(account("acc_1"))
        for s in (early, late, idle):
            u.accounts.add_session(s)
        u.commit()
    with store() as u:
        assert u.accounts.session("s1") == early
        assert u.accounts.session("nope") is None
        u.accounts.touch_session("s2", T0 + timedelta(minutes=30))
        u.commit()
    with store() as u:
        assert u.accounts.session("s2").used_at == T0 + timedelta(minutes=30)  # type: ignore[union-attr]
        # At T0+1h: s1 has reached its end, s3 has been idle since T0, s2 was used at T0+30m.
        now = T0 + timedelta(hours=1)
        assert u.accounts.delete_expired_sessions(now, now - timedelta(minutes=45)) == 2
        u.commit()
    with store() as u:
        assert [u.accounts.session(h) is None for h in ("s1", "s2", "s3")] == [True, False, True]
        u.accounts.delete_session("s2")
        u.commit()
    with store(write=False) as u:
        assert u.accounts.session("s2") is None


def test_other_sessions_end_and_a_reset_link_works_once(store: UnitOfWorkFactory) -> None:
    with store() as u:
        u.accounts.add(account("acc_1"))
        u.accounts.add(account("op"))
        for h in ("mine", "other", "third"):
            u.accounts.add_session(SessionRecord(h, "acc_1", "c", T0, T0 + timedelta(hours=12)))
        u.commit()
    with store() as u:
        assert u.accounts.delete_sessions_of("acc_1", keep="mine") == 2
        first = ResetRecord("r1", "acc_1", "op", T0, T0 + timedelta(hours=24))
        u.accounts.add_reset(first)
        u.accounts.add_reset(ResetRecord("r2", "acc_1", "op", T0, T0 + timedelta(hours=24)))
        u.commit()
    with store() as u:
        assert u.accounts.session("mine") is not None and u.accounts.session("other") is None
        assert u.accounts.reset("r1") is None  # replaced by the newer link
        assert not u.accounts.use_reset("r2", T0 + timedelta(hours=24))  # expired by then
        assert u.accounts.use_reset("r2", T0 + timedelta(hours=1))
        assert not u.accounts.use_reset("r2", T0 + timedelta(hours=2))  # once only
        assert u.accounts.reset("r2").used_at == T0 + timedelta(hours=1)  # type: ignore[union-attr]
        u.commit()


def test_devices_belong_to_their_recipient(store: UnitOfWorkFactory) -> None:
    phone = Device("dev_1", "acc_1", "Kitchen", "Ann", ("+14155550123",), T0)
    soft = Device("dev_2", "acc_1", "Softphone", "Bob", (), T0 + timedelta(seconds=1))
    other = Device("dev_3", "acc_2", "Desk", "Cy", ("+14155550124", "+14155550125"), T0)
    with store() as u:
        u.accounts.add(account("acc_1"))
        u.accounts.add(account("acc_2"))
        for d, h in ((soft, "h2"), (phone, "h1"), (other, "h3")):
            u.accounts.add_device(d, h)
        u.commit()
    with store(write=False) as u:
        assert u.accounts.device("dev_3") == other
        assert u.accounts.device("nope") is None
        assert u.accounts.device_by_token_hash("h1") == phone
        assert u.accounts.device_by_token_hash("h9") is None
        assert u.accounts.devices_of("acc_1") == [phone, soft]


def test_a_capacity_is_declared_and_replaced(store: UnitOfWorkFactory) -> None:
    with store() as u:
        u.accounts.add(account("acc_1"))
        assert u.accounts.capacity("acc_1") is None
        u.accounts.set_capacity("acc_1", 1_000, T0)
        u.accounts.set_capacity("acc_1", 2_000, T0)
        u.commit()
    with store(write=False) as u:
        assert u.accounts.capacity("acc_1") == 2_000


def test_offers_replace_and_are_found_by_step(store: UnitOfWorkFactory) -> None:
    def offer(provider: str, steps: set[str], price: str) -> ProcessingOffer:
        money = Money(Decimal(price), "EUR")
        return ProcessingOffer(provider, f"http://{provider}:1", frozenset(steps), money, T0)

    with store() as u:
        for i in ("acc_b", "acc_a"):
            u.accounts.add(account(i))
        u.offers.put(offer("acc_b", {"dtmf"}, "1.00"))
        u.offers.put(offer("acc_b", {"dtmf", "gain"}, "2.00"))
        u.offers.put(offer("acc_a", {"gain"}, "3.00"))
        u.commit()
    with store(write=False) as u:
        assert u.offers.with_capability("dtmf") == [offer("acc_b", {"dtmf", "gain"}, "2.00")]
        assert [o.provider_id for o in u.offers.with_capability("gain")] == ["acc_a", "acc_b"]
        assert u.offers.with_capability("vad") == []


def test_uncommitted_work_is_rolled_back(store: UnitOfWorkFactory) -> None:
    with store() as u:
        u.accounts.add(account("acc_1"))
    with pytest.raises(RuntimeError), store() as u:
        u.accounts.add(account("acc_2"))
        raise RuntimeError("boom")
    with store(write=False) as u:
        assert u.accounts.get_many(["acc_1", "acc_2"]) == {}


def test_a_constraint_violation_is_a_conflict(store: UnitOfWorkFactory) -> None:
    with store() as u:
        u.accounts.add(account("acc_1"), "h1")
        u.commit()
    with pytest.raises(Conflict) as twice, store() as u:
        u.accounts.add(account("acc_1"), "h2")
        u.commit()
    assert twice.value.message == "the change conflicts with data already stored"


def test_events_are_handed_over_only_after_a_commit(store: UnitOfWorkFactory) -> None:
    event = AuctionCancelled("auc_1", "no bids")
    with store() as u:
        u.record([event])
    assert u.collect_events() == []
    with store() as u:
        u.record([event])
        u.commit()
    assert u.collect_events() == [event]
    assert u.collect_events() == []  # handed over once
