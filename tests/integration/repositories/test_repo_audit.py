"""The audit trail's contract, on memory, SQLite and PostgreSQL: entries come back as written,
in the order written, filtered by subject and by the accounts they concern, a page at a time."""

from __future__ import annotations

from datetime import timedelta

from commex.domain.audit import make_entry
from commex.services.ports import UnitOfWorkFactory
from support.moments import T0


def _entry(i: int, subject: str, accounts: tuple[str, ...], **kw: object):  # type: ignore[no-untyped-def]
    return make_entry(
        T0 + timedelta(microseconds=i), accounts[0] if accounts else None, "bid.placed",
        subject, accounts, kw.get("request_id"), kw.get("reason"), {"n": i},  # type: ignore[arg-type]
    )  # fmt: skip


def test_entries_come_back_in_order_with_every_field(store: UnitOfWorkFactory) -> None:
    written = [
        _entry(1, "auc_1", ("acc_a", "acc_b"), request_id="r-1", reason="why not"),
        _entry(2, "auc_2", ()),
        _entry(3, "auc_1", ("acc_b",)),
    ]
    with store() as uow:
        uow.audit.add(written[:2])
        uow.audit.add(written[2:])
        uow.audit.add([])
        uow.commit()
    with store(write=False) as uow:
        found = uow.audit.read()
    assert [e.seq for e in found] == [1, 2, 3]
    first = found[0]
    assert (first.at, first.actor_id, first.action, first.subject_id, first.accounts) == (
        T0 + timedelta(microseconds=1), "acc_a", "bid.placed", "auc_1", ("acc_a", "acc_b")
    )  # fmt: skip
    assert (first.request_id, first.reason, dict(first.detail)) == ("r-1", "why not", {"n": "1"})
    assert (found[1].actor_id, found[1].accounts, found[1].request_id) == (None, (), None)


def test_filters_and_pages(store: UnitOfWorkFactory) -> None:
    with store() as uow:
        uow.audit.add([_entry(i, f"auc_{i % 2}", (f"acc_{i % 3}",)) for i in range(1, 11)])
        uow.commit()
    with store(write=False) as uow:
        assert [e.seq for e in uow.audit.read(subject_id="auc_1")] == [1, 3, 5, 7, 9]
        assert [e.seq for e in uow.audit.read(account_id="acc_0")] == [3, 6, 9]
        both = uow.audit.read(subject_id="auc_1", account_id="acc_0")
        assert [e.seq for e in both] == [3, 9]
        assert [e.seq for e in uow.audit.read(after=4, limit=3)] == [5, 6, 7]
        assert uow.audit.read(subject_id="auc_9") == []


def test_uncommitted_entries_are_gone(store: UnitOfWorkFactory) -> None:
    with store() as uow:
        uow.audit.add([_entry(1, "auc_1", ("acc_a",))])
    with store() as uow:
        uow.audit.add([_entry(2, "auc_2", ("acc_b",))])
        uow.commit()
    with store(write=False) as uow:
        assert [e.subject_id for e in uow.audit.read()] == ["auc_2"]
