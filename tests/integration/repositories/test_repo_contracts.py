"""The contract repository (a contract with its members, usage sessions and deliveries), on
every store."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from commex.domain.contracts import ContractStatus, EndReason, end
from commex.domain.errors import Conflict
from commex.domain.members import Member, MemberKind
from commex.domain.receiver import ReceiverReport
from commex.domain.service_level import Delivery, ServiceLevel
from commex.domain.terms import ServiceTerms
from commex.domain.usage import MemberUsage, UsageSession
from commex.services.ports import UnitOfWorkFactory
from support.rows import T0, contract, put_auction_world


def test_a_contract_round_trips_and_moves(store: UnitOfWorkFactory) -> None:
    c = contract()
    put_auction_world(store, c)
    with store(write=False) as u:
        assert u.contracts.get("con_1") == c
        assert u.contracts.get("con_9") is None
        assert u.contracts.for_auction("auc_1") == [c]
        assert u.contracts.for_account("acc_r") == [c]
        assert u.contracts.for_account("acc_p") == [c]
        assert u.contracts.for_account("acc_s") == []
    started = replace(c, status=ContractStatus.ACTIVE, started_at=T0 + timedelta(hours=1))
    with store() as u:
        assert u.contracts.get_for_update("con_1") == c
        u.contracts.update(started)
        u.contracts.set_used("con_1", 1500)
        u.commit()
    with store(write=False) as u:
        assert u.contracts.get("con_1") == replace(started, used_ms=1500)


def test_contracts_are_listed_by_provider_status_and_start(store: UnitOfWorkFactory) -> None:
    end = T0 + timedelta(days=9)
    window = ServiceTerms("voice", 60, window_start=T0 + timedelta(hours=1), window_end=end)
    later = ServiceTerms("voice", 60, window_start=T0 + timedelta(hours=2), window_end=end)
    rows = [
        contract("con_1", terms=later),
        contract("con_2", bid_id="bid_2", terms=window, created_at=T0 + timedelta(seconds=1)),
        contract("con_3", bid_id="bid_1", status=ContractStatus.ACTIVE),
    ]
    put_auction_world(store, *rows)
    with store(write=False) as u:
        assert [c.id for c in u.contracts.of_provider("acc_p", None)] == ["con_2", "con_3", "con_1"]
        assert [c.id for c in u.contracts.of_provider("acc_p", "active")] == ["con_3"]
        assert u.contracts.of_provider("acc_r", None) == []
        assert u.contracts.due_to_start(T0 + timedelta(minutes=90), 10) == [rows[1]]
        assert [c.id for c in u.contracts.due_to_start(T0 + timedelta(hours=3), 10)] == [
            "con_2",
            "con_1",
        ]
        assert [c.id for c in u.contracts.due_to_start(T0 + timedelta(hours=3), 1)] == ["con_2"]


def test_members_are_added_removed_restored_and_taken_once(store: UnitOfWorkFactory) -> None:
    put_auction_world(store, contract())
    phone = Member("mem_1", "con_1", MemberKind.PHONE, "+14155550123", T0)
    ann = Member("mem_2", "con_1", MemberKind.ACCOUNT, "acc_s", T0 + timedelta(seconds=1))
    with store() as u:
        u.contracts.add_member(ann)
        u.contracts.add_member(phone)
        u.commit()
    with store(write=False) as u:
        assert u.contracts.members("con_1") == [phone, ann]
        assert u.contracts.member("mem_2") == ann
        assert u.contracts.member("mem_9") is None
        assert [c.id for c in u.contracts.for_account("acc_s")] == ["con_1"]
    with pytest.raises(Conflict) as twice, store() as u:
        u.contracts.add_member(replace(phone, id="mem_3"))
        u.commit()
    assert twice.value.message == "that phone is already a member of this contract"
    later = T0 + timedelta(hours=1)
    with store() as u:
        u.contracts.remove_member("mem_2", later)
        u.commit()
    with store(write=False) as u:
        assert u.contracts.members("con_1") == [phone]
        assert u.contracts.members("con_1", removed=True) == [phone, replace(ann, removed_at=later)]
        assert u.contracts.for_account("acc_s") == []  # a removed member no longer shares it
    with store() as u:
        u.contracts.restore_member("mem_2")
        u.commit()
    with store(write=False) as u:
        assert u.contracts.member("mem_2") == ann


def test_a_batch_reads_its_contracts_and_their_members_at_once(
    store: UnitOfWorkFactory,
) -> None:
    one, two = contract(), contract("con_2", bid_id="bid_2", status=ContractStatus.ACTIVE)
    put_auction_world(store, one, two)
    phone = Member("mem_1", "con_1", MemberKind.PHONE, "+14155550123", T0)
    ann = Member("mem_2", "con_1", MemberKind.ACCOUNT, "acc_s", T0 + timedelta(seconds=1))
    later = T0 + timedelta(hours=1)
    with store() as u:
        u.contracts.add_member(ann)
        u.contracts.add_member(phone)
        u.contracts.remove_member("mem_2", later)
        u.commit()
    with store() as u:
        assert u.contracts.many_for_update(["con_2", "con_9", "con_1"]) == {
            "con_1": one,
            "con_2": two,
        }
        assert u.contracts.many_for_update([]) == {}
        assert u.contracts.many_for_update(["con_2"]) == {"con_2": two}  # one: no IN list
        assert u.contracts.many_for_update(["con_9"]) == {}
        assert u.contracts.members_of(["con_1", "con_2"]) == {
            "con_1": [phone, replace(ann, removed_at=later)],  # removed ones too, in order
            "con_2": [],
        }
        assert u.contracts.members_of([]) == {}
        everyone = [phone, replace(ann, removed_at=later)]
        assert u.contracts.members_of(["con_1"]) == {"con_1": everyone}
        assert u.contracts.members_of(["con_9"]) == {"con_9": []}


def test_usage_sessions_add_up_by_member(store: UnitOfWorkFactory) -> None:
    put_auction_world(store, contract())
    a = Member("mem_a", "con_1", MemberKind.PHONE, "+14155550123", T0)
    b = Member("mem_b", "con_1", MemberKind.PHONE, "+14155550124", T0)
    s1 = UsageSession("ses_1", "con_1", "mem_a", T0, T0, 1000, 10)
    s2 = UsageSession("ses_2", "con_1", "mem_a", T0 + timedelta(seconds=5))
    s3 = UsageSession("ses_3", "con_1", "mem_b", T0, T0, 500, 0)
    with store() as u:
        u.contracts.add_member(a)
        u.contracts.add_member(b)
        u.contracts.add_session(s2)
        u.contracts.add_sessions([s1, s3])  # a batch's sessions, in one statement
        u.contracts.add_sessions([])
        u.commit()
    with store(write=False) as u:
        assert u.contracts.session("ses_2") == s2
        assert (u.contracts.session("ses_1"), u.contracts.session("ses_3")) == (s1, s3)
        assert u.contracts.session("ses_9") is None
        assert u.contracts.open_sessions("mem_a") == [s2]
    ended = replace(s2, ended_at=T0 + timedelta(minutes=1), used_ms=2500, bytes=7)
    with store() as u:
        u.contracts.update_session(ended)
        u.commit()
    with store(write=False) as u:
        assert u.contracts.session("ses_2") == ended
        assert u.contracts.open_sessions("mem_a") == []
        assert u.contracts.usage_by_member("con_1") == [
            MemberUsage("mem_a", 3500, 17, 2),
            MemberUsage("mem_b", 500, 0, 1),
        ]
        assert u.contracts.usage_by_member("con_9") == []


def _delivery(
    i: int, contract_id: str, breach: bool, at: int, min_rate: int | None = 1000
) -> Delivery:
    achieved = 500 if breach else 2000
    created = T0 + timedelta(days=at)
    return Delivery(
        f"dlv_{i}",
        contract_id,
        "acc_p",
        f"run-{i}",
        10_000,
        10_000,
        99,
        9,
        achieved,
        min_rate,
        created,
    )


def test_deliveries_are_counted_once_and_measure_the_service(store: UnitOfWorkFactory) -> None:
    c2 = contract("con_2", bid_id="bid_2")
    put_auction_world(store, contract(), c2)
    rows = [
        _delivery(1, "con_1", False, 0),
        _delivery(2, "con_1", True, 1),
        _delivery(3, "con_2", True, 2),
        _delivery(4, "con_2", False, 3, min_rate=None),  # no minimum: not measured
        _delivery(5, "con_2", True, -30),  # before the window asked for
    ]
    with store() as u:
        for d in rows:
            u.contracts.add_delivery(d)
        u.commit()
    with store(write=False) as u:
        assert u.contracts.delivery_by_run("con_1", "run-2") == rows[1]
        assert u.contracts.delivery_by_run("con_2", "run-2") is None
        assert u.contracts.deliveries("con_2", 2) == [rows[3], rows[2]]
        levels = u.contracts.service_levels(["acc_p", "acc_r"], T0 - timedelta(days=1))
        assert levels == {"acc_p": ServiceLevel(3, 2, 30_000, 20_000)}
    with pytest.raises(Conflict) as twice, store() as u:
        u.contracts.add_delivery(replace(rows[0], id="dlv_9"))
        u.commit()
    assert twice.value.message == "run run-1 of contract con_1 is recorded already"


def test_a_contract_ends_once_and_keeps_how(store: UnitOfWorkFactory) -> None:
    c = contract()
    put_auction_world(store, c)
    ended = end(c, EndReason.OPERATOR, T0 + timedelta(hours=3), "fraud report", "acc_s")
    with store() as u:
        assert u.contracts.end_if_in_force(ended)
        u.commit()
    late = end(c, EndReason.WINDOW_ENDED, T0 + timedelta(hours=4))
    with store() as u:
        assert not u.contracts.end_if_in_force(late)  # another server ended it first
        u.commit()
    with store(write=False) as u:
        stored = u.contracts.get("con_1")
    assert stored == ended
    assert (stored.cancelled_at, stored.end_note, stored.ended_by) == (
        T0 + timedelta(hours=3), "fraud report", "acc_s",
    )  # fmt: skip


def test_contracts_in_force_are_due_to_complete_once_their_window_ends(
    store: UnitOfWorkFactory,
) -> None:
    start = T0 + timedelta(hours=1)
    soon = ServiceTerms("voice", 60, window_start=start, window_end=start + timedelta(hours=1))
    later = ServiceTerms("voice", 60, window_start=start, window_end=start + timedelta(hours=5))
    rows = [
        contract("con_1", terms=later, status=ContractStatus.ACTIVE),
        contract("con_2", bid_id="bid_2", terms=soon),
        contract("con_3", bid_id="bid_1", terms=soon, status=ContractStatus.COMPLETED),
    ]
    put_auction_world(store, *rows)
    with store(write=False) as u:
        assert u.contracts.due_to_complete(start + timedelta(minutes=59), 10) == []
        assert u.contracts.due_to_complete(start + timedelta(hours=1), 10) == [rows[1]]
        due = u.contracts.due_to_complete(start + timedelta(hours=6), 10)
        assert [c.id for c in due] == ["con_2", "con_1"]
        assert [c.id for c in u.contracts.due_to_complete(start + timedelta(hours=6), 1)] == [
            "con_2"
        ]


def test_a_delivery_keeps_its_receivers_figures_and_their_breach(store: UnitOfWorkFactory) -> None:
    put_auction_world(store, contract())
    heard = ReceiverReport(2, 250_000, 12, 20_125, 1_500)  # 2000 bit/s sent, 1500 got
    silent = replace(heard, round_trip_us=None, fraction_lost_ppm=0)
    rows = [
        replace(_delivery(1, "con_1", False, 0), receiver=heard),
        replace(_delivery(2, "con_1", False, 1), receiver=silent),
        replace(_delivery(3, "con_1", False, 2, min_rate=1600), receiver=heard),
    ]
    with store() as u:
        for d in rows:
            u.contracts.add_delivery(d)
        u.commit()
    with store(write=False) as u:
        assert u.contracts.deliveries("con_1", 5) == rows[::-1]
        assert u.contracts.delivery_by_run("con_1", "run-3") == rows[2]
        assert [d.breach_by for d in rows] == [None, None, "receiver"]
        levels = u.contracts.service_levels(["acc_p"], T0 - timedelta(days=1))
        assert levels == {"acc_p": ServiceLevel(3, 1, 30_000, 10_000)}
