"""Metering a block of time (T3): what a report consumes, what is cut and why, and what is
refused, on the rules alone."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commex.domain.contracts import Contract, ContractStatus
from commex.domain.errors import Conflict, InvalidInput
from commex.domain.members import Member, MemberKind
from commex.domain.money import Money
from commex.domain.terms import ServiceTerms
from commex.domain.usage import MAX_REPORT_S, Metered, meter, open_session, seconds_to_ms

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
OPENS = T0 + timedelta(hours=1)
CLOSES = OPENS + timedelta(hours=2)
BLOCK_S = 600


def contract(block_s=BLOCK_S, *, window=False, status=ContractStatus.ACTIVE, used_ms=0):
    terms = (
        ServiceTerms("voice", block_s, OPENS, CLOSES, max_members=5)
        if window
        else ServiceTerms("voice", block_s, max_members=5)
    )
    return Contract(
        "con_1", "auc_1", "bid_1", "prov", "reci", Money(Decimal("10.00"), "EUR"), terms,
        status, T0, T0, used_ms,
    )  # fmt: skip


NOW = OPENS + timedelta(minutes=30)  # inside the window


# --- meter: the block -------------------------------------------------------------------------


def test_a_report_inside_the_block_is_accepted_whole():
    m = meter(contract(), 100_000, 90_500, NOW)
    assert m == Metered(requested_ms=90_500, accepted_ms=90_500, remaining_ms=409_500, cut=None)


def test_a_report_of_exactly_what_remains_is_accepted_and_leaves_nothing():
    m = meter(contract(), 599_000, 1_000, NOW)
    assert (m.accepted_ms, m.remaining_ms, m.cut) == (1_000, 0, None)


def test_a_report_passing_the_block_is_cut_at_it_and_says_so():
    m = meter(contract(), 598_500, 5_000, NOW)
    assert (m.requested_ms, m.accepted_ms, m.remaining_ms) == (5_000, 1_500, 0)
    assert m.cut == "the block of 600 s had 1.5 s left; the rest is cut"


def test_once_the_block_is_used_up_a_report_is_refused():
    for used in (600_000, 700_000):  # never more than the block, but refuse all the same
        with pytest.raises(Conflict) as e:
            meter(contract(), used, 1, NOW)
        assert e.value.message == "contract con_1: the block of 600 s is used up"


# --- meter: the window ------------------------------------------------------------------------


def test_a_report_inside_the_window_is_accepted_whole():
    m = meter(contract(window=True), 0, 60_000, OPENS + timedelta(minutes=1))
    assert (m.accepted_ms, m.remaining_ms, m.cut) == (60_000, 540_000, None)


def test_a_report_across_the_windows_end_counts_only_the_part_inside():
    # 100 s reported 40 s after the window closed: 60 s of it were inside.
    now = CLOSES + timedelta(seconds=40)
    m = meter(contract(window=True), 0, 100_000, now)
    assert (m.requested_ms, m.accepted_ms, m.remaining_ms) == (100_000, 60_000, 540_000)
    assert m.cut == (
        "only 60 s of the 100 s reported fall inside the window "
        f"{OPENS.isoformat()} to {CLOSES.isoformat()}"
    )


def test_a_report_across_the_windows_start_counts_only_the_part_inside():
    now = OPENS + timedelta(seconds=2.25)
    m = meter(contract(window=True), 0, 10_000, now)
    assert m.accepted_ms == 2_250
    assert m.cut is not None and m.cut.startswith("only 2.25 s of the 10 s reported fall inside")


def test_the_block_cut_wins_over_the_window_cut_when_it_is_smaller():
    now = CLOSES + timedelta(seconds=40)
    m = meter(contract(window=True), 590_000, 100_000, now)
    assert (m.accepted_ms, m.remaining_ms) == (10_000, 0)
    assert m.cut == "the block of 600 s had 10 s left; the rest is cut"


def test_a_report_wholly_after_the_window_is_refused():
    # 10 s reported 10 s after the close lie wholly after it; so do 5 s an hour later.
    for now, seconds in ((CLOSES + timedelta(seconds=10), 10), (CLOSES + timedelta(hours=1), 5)):
        with pytest.raises(Conflict) as e:
            meter(contract(window=True), 0, seconds * 1000, now)
        assert e.value.message == (
            f"contract con_1: its window ended at {CLOSES.isoformat()}; "
            "usage after it is not accepted"
        )


@pytest.mark.parametrize(
    "status", [ContractStatus.AWARDED, ContractStatus.COMPLETED, ContractStatus.CANCELLED]
)
def test_a_contract_not_in_service_refuses_usage_naming_its_status(status):
    with pytest.raises(Conflict) as e:
        meter(contract(status=status), 0, 1_000, NOW)
    assert e.value.message == f"contract con_1 is {status.value}, not in service"
    with pytest.raises(Conflict) as e:
        meter(contract(window=True, status=status), 0, 1_000, NOW)
    assert e.value.message == (
        f"contract con_1 is {status.value}, not in service; its window opens at {OPENS.isoformat()}"
    )


# --- meter: the packet plane's stream-seconds (elapsed=False) ---------------------------------


def test_stream_seconds_count_whole_while_inside_the_window():
    # 3000 s of streams processed one minute after the window opened: not lived through, so
    # the window's start does not cut them.
    m = meter(contract(window=True), 0, 300_000, OPENS + timedelta(minutes=1), elapsed=False)
    assert (m.accepted_ms, m.remaining_ms, m.cut) == (300_000, 300_000, None)


def test_stream_seconds_are_still_cut_at_the_block():
    m = meter(contract(), 500_000, 300_000, NOW, elapsed=False)
    assert (m.accepted_ms, m.remaining_ms) == (100_000, 0)
    assert m.cut == "the block of 600 s had 100 s left; the rest is cut"


def test_stream_seconds_after_the_window_are_refused():
    with pytest.raises(Conflict, match="its window ended at"):
        meter(contract(window=True), 0, 1_000, CLOSES, elapsed=False)
    with pytest.raises(Conflict, match="is awarded, not in service"):
        meter(contract(status=ContractStatus.AWARDED), 0, 1_000, NOW, elapsed=False)


# --- open_session -----------------------------------------------------------------------------


MEMBER = Member("mem_1", "con_1", MemberKind.PHONE, "+14155550123", T0)


def test_a_session_opens_for_a_member_while_something_remains():
    s = open_session(contract(used_ms=599_999), MEMBER, 599_999, "ses_1", NOW)
    assert (s.id, s.contract_id, s.member_id, s.started_at, s.open) == (
        "ses_1", "con_1", "mem_1", NOW, True,
    )  # fmt: skip


def test_a_session_is_refused_when_used_up_after_the_window_or_not_in_service():
    with pytest.raises(Conflict, match="the block of 600 s is used up"):
        open_session(contract(), MEMBER, 600_000, "ses_1", NOW)
    with pytest.raises(Conflict, match="its window ended at"):
        open_session(contract(window=True), MEMBER, 0, "ses_1", CLOSES)
    with pytest.raises(Conflict, match="is awarded, not in service"):
        open_session(contract(status=ContractStatus.AWARDED), MEMBER, 0, "ses_1", NOW)
    with pytest.raises(InvalidInput, match="not a member of contract con_1"):
        open_session(contract(), replace(MEMBER, contract_id="con_2"), 0, "ses_1", NOW)


# --- seconds_to_ms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        (90, 90_000),
        (1, 1_000),
        (1.5, 1_500),
        (0.001, 1),
        (0.1, 100),  # a float's shortest repr, not its binary expansion
        ("2.25", 2_250),
        ("7", 7_000),
        ("0.125", 125),
        ("1.5000", 1_500),  # trailing zeros are still whole milliseconds
        (MAX_REPORT_S, MAX_REPORT_S * 1000),
        (str(MAX_REPORT_S), MAX_REPORT_S * 1000),
    ],
)
def test_seconds_become_whole_milliseconds(value, ms):
    assert seconds_to_ms(value) == ms
    assert isinstance(seconds_to_ms(value), int)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "more than 0 and at most"),
        (0.0, "more than 0 and at most"),
        ("0", "more than 0 and at most"),
        (-1, "more than 0 and at most"),
        (-0.5, "more than 0 and at most"),
        ("-3", "more than 0 and at most"),
        (MAX_REPORT_S + 1, "more than 0 and at most"),
        (10**30, "more than 0 and at most"),
        (1e300, "more than 0 and at most"),
        (float("nan"), "more than 0 and at most"),
        (float("inf"), "more than 0 and at most"),
        (float("-inf"), "more than 0 and at most"),
        ("NaN", "must be a number of seconds, not 'NaN'"),
        ("Infinity", "must be a number of seconds, not 'Infinity'"),
        ("sNaN", "must be a number of seconds, not 'sNaN'"),
        ("1e2", "must be a number of seconds, not '1e2'"),
        ("1_000", "must be a number of seconds, not '1_000'"),
        (" 5 ", "must be a number of seconds, not ' 5 '"),
        ("+3", "must be a number of seconds, not '+3'"),
        (0.0005, "at most 3 decimal places"),
        ("1.0001", "at most 3 decimal places"),
        (1e-9, "at most 3 decimal places"),
        ("ninety", "must be a number of seconds, not 'ninety'"),
        ("", "must be a number of seconds, not ''"),
        (True, "must be a number of seconds such as 90 or 1.5"),
        (False, "must be a number of seconds such as 90 or 1.5"),
        (None, "must be a number of seconds such as 90 or 1.5"),
        ([1], "must be a number of seconds such as 90 or 1.5"),
        (Decimal("1.5"), "must be a number of seconds such as 90 or 1.5"),
    ],
)
def test_bad_seconds_are_refused_naming_the_field(value, message):
    with pytest.raises(InvalidInput) as e:
        seconds_to_ms(value, "usage.seconds")
    assert e.value.field == "usage.seconds"
    assert e.value.message.startswith("usage.seconds ")
    assert message in e.value.message


def test_the_limit_is_named_in_the_refusal():
    with pytest.raises(InvalidInput) as e:
        seconds_to_ms(-1)
    assert e.value.message == f"seconds must be more than 0 and at most {MAX_REPORT_S}"
    assert e.value.field == "seconds"


# --- never more than the block ----------------------------------------------------------------


def _consume(c, reports, start, step):
    """Apply ``reports`` (ms) one after another, ``step`` apart from ``start``, as the services
    do: the block's used total grows by what each accepts; a refusal accepts nothing."""
    used, answers = 0, []
    now = start
    for ms in reports:
        now += step
        try:
            m = meter(c, used, ms, now)
        except Conflict:
            answers.append(0)
            continue
        assert 0 <= m.accepted_ms <= ms
        assert m.remaining_ms == c.terms.duration_s * 1000 - used - m.accepted_ms
        assert (m.cut is None) == (m.accepted_ms == ms)
        used += m.accepted_ms
        answers.append(m.accepted_ms)
    return used, answers


REPORTS = st.lists(st.integers(1, 400_000), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(block_s=st.integers(1, 3_600), reports=REPORTS)
def test_reports_inside_the_window_accept_exactly_the_smaller_of_block_and_sum(block_s, reports):
    c = contract(block_s)
    used, answers = _consume(c, reports, NOW, timedelta(seconds=1))
    assert used == sum(answers) == min(block_s * 1000, sum(reports))


@settings(max_examples=200, deadline=None)
@given(
    block_s=st.integers(1, 3_600),
    reports=REPORTS,
    start_min=st.integers(-90, 200),
    step_s=st.integers(0, 900),
)
def test_reports_anywhere_never_accept_more_than_the_block(block_s, reports, start_min, step_s):
    c = contract(block_s, window=True)
    start = OPENS + timedelta(minutes=start_min)
    used, answers = _consume(c, reports, start, timedelta(seconds=step_s))
    assert used == sum(answers) <= block_s * 1000
