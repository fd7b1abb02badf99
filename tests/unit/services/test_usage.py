"""Blocks of time in use through the bus over the in-memory store: usage is cut at the block's
end and then refused, sessions, and the packet plane's deliveries counted once per run."""

import threading

import pytest

from commex.domain.contracts import ContractStatus
from commex.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from commex.domain.events import ContractCompleted
from commex.services import desks
from commex.services.commands import (
    AddMember,
    Caller,
    EndSession,
    RecordDelivery,
    ReportUsage,
    StartSession,
)
from commex.services.queries import ShowUsage
from commex.services.usage import report_many
from support.worlds import award


@pytest.fixture
def won(ex, clock):  # type: ignore[no-untyped-def]
    terms = {"service": "voice", "duration_s": 100, "min_rate_bps": 1000, "max_members": 2}
    return award(ex, clock, direction="forward", terms=terms)


def test_usage_is_cut_at_the_end_of_the_block_and_then_refused(ex, won) -> None:  # type: ignore[no-untyped-def]
    cid, me = won.contract_id, Caller(won.buyer.id)
    member = ex.handle(AddMember(cid, won.buyer.id, phone_number="+14155550123"))
    first = ex.handle(ReportUsage(cid, me, member.id, "60"))
    assert (first.metered.accepted_ms, first.metered.remaining_ms) == (60_000, 40_000)
    cut = ex.handle(ReportUsage(cid, me, member.id, "55.5"))
    assert cut.metered.accepted_ms == 40_000 and cut.metered.cut
    with pytest.raises(Conflict):
        ex.handle(ReportUsage(cid, me, member.id, "1"))
    view = ex.handle(ShowUsage(cid, me))
    assert (view.contract.used_ms, view.remaining_ms) == (100_000, 0)


def test_a_session_gathers_reports_until_it_ends(ex, clock, won) -> None:  # type: ignore[no-untyped-def]
    cid, me = won.contract_id, Caller(won.buyer.id)
    member = ex.handle(AddMember(cid, won.buyer.id, phone_number="+14155550123"))
    opened = ex.handle(StartSession(cid, me, member.id)).session
    clock.advance(15)  # a session reports no more than the time it has been open
    ex.handle(ReportUsage(cid, me, member.id, "10", session_id=opened.id))
    ended = ex.handle(EndSession(cid, me, opened.id))
    assert (ended.used_ms, ended.ended_at is not None) == (10_000, True)


def test_a_delivery_is_counted_once_and_a_slow_one_is_a_breach(ex, won) -> None:  # type: ignore[no-untyped-def]
    cid, seller = won.contract_id, won.seller.id
    slow = RecordDelivery(cid, seller, "run-1", "20", 1000, 10, 500)
    first = ex.handle(slow)
    again = ex.handle(slow)
    assert again.delivery == first.delivery and first.delivery.breach
    assert ex.handle(ShowUsage(cid, Caller(seller))).contract.used_ms == 20_000
    with pytest.raises(Forbidden, match="only the contract's provider reports deliveries"):
        ex.handle(RecordDelivery(cid, won.buyer.id, "run-2", "1", 0, 0, 2000))


def test_reports_that_arrive_together_share_one_transaction_and_never_pass_the_block(
    ex, won, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    cid, me = won.contract_id, Caller(won.buyer.id)
    member = ex.handle(AddMember(cid, won.buyer.id, phone_number="+14155550123"))
    first_in, release = threading.Event(), threading.Event()
    units: list[tuple[object, int]] = []  # each batch's unit of work (kept alive) and size
    real = desks.report_many

    def held(cmds, uow, deps):  # type: ignore[no-untyped-def]
        units.append((uow, len(cmds)))
        if len(units) == 1:
            first_in.set()
            assert release.wait(10)
        return real(cmds, uow, deps)

    monkeypatch.setattr(desks, "report_many", held)
    leading = ex.submit(ReportUsage(cid, me, member.id, "30"))
    assert first_in.wait(10)
    queued = [ex.submit(ReportUsage(cid, me, member.id, s)) for s in ("50", "40", "5")]
    release.set()
    answers = [f.result(10) for f in (leading, *queued[:2])]
    assert [a.metered.accepted_ms for a in answers] == [30_000, 50_000, 20_000]
    assert answers[2].metered.cut  # the block held 100 s: the third report was cut
    with pytest.raises(Conflict):
        queued[2].result(10)  # nothing remained for the last, which alone is refused
    assert [n for _, n in units] == [1, 3]  # the leader's, then one for the three queued
    assert len({id(u) for u, _ in units}) == 2
    view = ex.handle(ShowUsage(cid, me))
    assert (view.contract.used_ms, view.remaining_ms) == (100_000, 0)


def test_a_delivery_keeps_what_its_receivers_reported(ex, won) -> None:  # type: ignore[no-untyped-def]
    cid, seller = won.contract_id, won.seller.id
    figures = {"streams": 1, "fraction_lost": 0.5, "cumulative_lost": 40, "jitter_ms": 12.5}
    # Sent at 1500 bit/s over a 1000 bit/s minimum, but the receiver lost half of it.
    got = ex.handle(RecordDelivery(cid, seller, "run-rx", "5", 1000, 10, 1500, figures)).delivery
    assert (got.breach, got.breach_by) == (True, "receiver")
    assert got.receiver is not None and got.receiver.to_dict()["cumulative_lost"] == 40
    (shown,) = ex.handle(ShowUsage(cid, Caller(won.buyer.id))).deliveries
    assert shown == got
    with pytest.raises(InvalidInput) as bad:
        ex.handle(
            RecordDelivery(cid, seller, "run-bad", "5", 1, 1, 1500, {**figures, "streams": -1})
        )
    assert bad.value.field == "receiver.streams"


def test_a_batch_meters_each_report_as_the_ones_before_it_left_the_block(ex, clock, won) -> None:  # type: ignore[no-untyped-def]
    cid, me = won.contract_id, Caller(won.buyer.id)
    member = ex.handle(AddMember(cid, won.buyer.id, phone_number="+14155550123"))
    opened = ex.handle(StartSession(cid, me, member.id)).session
    clock.advance(100)
    stranger = Caller(won.seller.id)  # the provider reports no member's usage
    batch = [
        ReportUsage(cid, me, member.id, "30", 5, session_id=opened.id),
        ReportUsage(cid, stranger, member.id, "10"),
        ReportUsage(cid, me, member.id, "40", 7, session_id=opened.id),
        ReportUsage("con_missing", me, member.id, "1"),
        ReportUsage(cid, me, member.id, "45"),  # 30 s remain: cut, and the block is used up
        ReportUsage(cid, me, member.id, "1"),
    ]
    seen: list[object] = []
    with ex.unit_of_work() as uow:
        uow.watch(seen.extend)
        answers = report_many(batch, uow, ex.deps)
        uow.commit()
    assert isinstance(answers[1], Forbidden) and isinstance(answers[3], NotFound)
    assert isinstance(answers[5], Conflict)  # nothing remained for the last
    first, second, last = answers[0], answers[2], answers[4]
    assert (first.session.used_ms, second.session.used_ms) == (30_000, 70_000)
    assert (second.session.id, second.session.bytes) == (opened.id, 12)
    assert last.metered.accepted_ms == 30_000 and "had 30 s left" in str(last.metered.cut)
    completed = [e for e in seen if isinstance(e, ContractCompleted)]
    assert [(e.contract_id, e.reason) for e in completed] == [(cid, "used_up")]  # said once
    view = ex.handle(ShowUsage(cid, me))
    assert (view.contract.used_ms, view.contract.status) == (100_000, ContractStatus.COMPLETED)
    (share,) = view.members
    assert (share.usage.used_ms, share.usage.bytes, share.usage.sessions) == (100_000, 12, 2)
