"""Provider capacity (T5): the busiest moment of what is already committed during a new
block's window, and the refusal that gives the numbers."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commex.domain.capacity import Commitment, check_capacity, check_capacity_value, peak
from commex.domain.errors import Conflict, InvalidInput

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def h(hours):
    return T0 + timedelta(hours=hours)


def held(label, bps, start=None, end=None):
    return Commitment(
        label, bps, None if start is None else h(start), None if end is None else h(end)
    )


def labels(commitments):
    return sorted(c.label for c in commitments)


# --- peak ---------------------------------------------------------------------------------------


def test_nothing_committed_holds_nothing():
    assert peak([], held("new", 10, 0, 1)) == (0, [])


def test_overlapping_windows_add_up():
    existing = [held("a", 100, 0, 4), held("b", 50, 2, 6)]
    total, at = peak(existing, held("new", 10, 1, 5))
    assert total == 150
    assert labels(at) == ["a", "b"]


def test_adjacent_windows_do_not_overlap():
    # a ends when the new window starts, c starts when it ends: neither holds capacity in it.
    existing = [held("a", 100, 0, 2), held("b", 30, 2, 3), held("c", 100, 4, 6)]
    total, at = peak(existing, held("new", 10, 2, 4))
    assert (total, labels(at)) == (30, ["b"])


def test_disjoint_windows_hold_nothing():
    existing = [held("a", 100, 0, 1), held("b", 100, 10, 11)]
    assert peak(existing, held("new", 10, 2, 3)) == (0, [])


def test_commitments_that_never_meet_are_not_added():
    # a and b both overlap the new window, but one after the other: the busiest is the larger.
    existing = [held("a", 70, 0, 3), held("b", 40, 3, 8)]
    total, at = peak(existing, held("new", 10, 1, 6))
    assert (total, labels(at)) == (70, ["a"])


def test_the_busiest_moment_can_be_inside_the_window_not_at_its_start():
    # At the window's start only a holds (20); from hour 4 to 5 a, b and c hold 20 + 30 + 40.
    existing = [
        held("a", 20, 0, 5),
        held("b", 30, 3, 9),
        held("c", 40, 4, 6),
        held("d", 500, 9, 12),  # after the new window: not counted
    ]
    total, at = peak(existing, held("new", 10, 1, 8))
    assert (total, labels(at)) == (90, ["a", "b", "c"])


def test_unbounded_commitments_hold_at_every_moment():
    existing = [held("always", 25), held("from 5", 15, start=5), held("until 2", 35, end=2)]
    assert peak(existing, held("new", 1, 6, 7))[0] == 40
    assert peak(existing, held("new", 1, 0, 1))[0] == 60
    assert peak(existing, held("new", 1, 2, 5))[0] == 25
    # A new block without a window meets all of them; "until 2" and "from 5" never meet.
    total, at = peak(existing, held("new", 1))
    assert (total, labels(at)) == (60, ["always", "until 2"])


def test_commitments_without_a_rate_hold_nothing():
    total, at = peak([held("free", 0, 0, 9), held("a", 5, 0, 9)], held("new", 1, 1, 2))
    assert (total, labels(at)) == (5, ["a"])


# --- check_capacity ------------------------------------------------------------------------


def test_no_declared_capacity_means_no_limit():
    check_capacity(None, [held("a", 10**12, 0, 9)], held("new", 10**12, 1, 2))


def test_a_block_that_fits_exactly_is_accepted():
    check_capacity(100, [held("a", 60, 0, 9)], held("new", 40, 1, 2))


def test_a_block_without_a_minimum_rate_is_always_accepted():
    check_capacity(100, [held("a", 1000, 0, 9)], held("new", 0, 1, 2))


def test_an_oversubscribing_block_is_refused_with_the_numbers():
    existing = [held("contract con_1", 60, 0, 4), held("auction auc_2", 30, 2, 9)]
    with pytest.raises(Conflict) as e:
        check_capacity(100, existing, held("auction 'Evening voice'", 20, 3, 5))
    assert e.value.message == (
        "capacity exceeded: auction 'Evening voice' needs 20 bit/s at its minimum rate, the "
        "provider declares 100 bit/s; already committed at the busiest moment: 90 bit/s "
        "(contract con_1 60 bit/s, auction auc_2 30 bit/s); 110 bit/s > 100 bit/s"
    )


def test_a_block_larger_than_the_capacity_alone_is_refused():
    with pytest.raises(Conflict) as e:
        check_capacity(100, [], held("auction 'Big'", 101, 0, 1))
    assert e.value.message == (
        "capacity exceeded: auction 'Big' needs 101 bit/s at its minimum rate, the provider "
        "declares 100 bit/s; 101 bit/s > 100 bit/s"
    )


def test_the_refusal_names_three_commitments_and_counts_the_rest():
    existing = [held(f"contract con_{i}", 10, 0, 9) for i in range(5)]
    with pytest.raises(Conflict) as e:
        check_capacity(50, existing, held("new", 1, 1, 2))
    assert "already committed at the busiest moment: 50 bit/s (" in e.value.message
    assert e.value.message.count("contract con_") == 3
    assert " and 2 more); 51 bit/s > 50 bit/s" in e.value.message


def test_a_disjoint_block_is_accepted_where_an_overlapping_one_is_not():
    existing = [held("a", 90, 0, 4)]
    check_capacity(100, existing, held("later", 90, 4, 8))
    with pytest.raises(Conflict):
        check_capacity(100, existing, held("overlapping", 90, 3, 8))


@pytest.mark.parametrize("value", [0, -1, 10**13 + 1, 1.5, "100", True, None])
def test_a_bad_capacity_is_refused_naming_the_field(value):
    with pytest.raises(InvalidInput) as e:
        check_capacity_value(value)
    assert e.value.field == "capacity_bps"
    assert (
        e.value.message == "capacity_bps must be a whole number of bit/s from 1 to 10000000000000"
    )


def test_a_capacity_in_range_is_kept():
    assert check_capacity_value(1) == 1
    assert check_capacity_value(10**13) == 10**13


# --- peak against a brute-force sweep ----------------------------------------------------------

SPAN = 12  # bounds fall on whole hours in [0, SPAN]


@st.composite
def commitments(draw, bounded=False):
    start = draw(st.integers(0, SPAN - 1) if bounded else st.none() | st.integers(0, SPAN - 1))
    end_low = 1 if start is None else start + 1
    end = draw(st.integers(end_low, SPAN) if bounded else st.none() | st.integers(end_low, SPAN))
    return held(f"c{draw(st.integers(0, 99))}", draw(st.integers(0, 1000)), start, end)


def _holds_at(c, moment):
    return (c.start is None or c.start <= moment) and (c.end is None or moment < c.end)


def _sweep(existing, within):
    """The most held at any whole hour of ``within``'s window (or beyond every bound when it is
    unbounded on a side): capacity held is constant between whole hours."""
    lo = -1 if within.start is None else (within.start - T0) // timedelta(hours=1)
    hi = SPAN + 1 if within.end is None else (within.end - T0) // timedelta(hours=1)
    return max(
        (sum(c.bps for c in existing if _holds_at(c, h(k))) for k in range(lo, hi)), default=0
    )


@settings(max_examples=300, deadline=None)
@given(
    existing=st.lists(commitments(), max_size=8),
    within=commitments() | commitments(bounded=True),
)
def test_peak_is_the_busiest_moment_of_a_sweep(existing, within):
    total, at = peak(existing, within)
    assert total == _sweep(existing, within)
    assert sum(c.bps for c in at) == total
    assert all(c in existing for c in at)
