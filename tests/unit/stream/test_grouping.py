"""Rows grouped by stream: the shortcuts for rows already grouped or in input order give the
order a two-key sort gives, and per-stream counts are the same by either way of counting."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from commex.stream.grouping import Groups
from commex.stream.streamstats import counts_into

_rows = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 40)), max_size=60)


@settings(max_examples=200, deadline=None)
@given(rows=_rows, arrange=st.sampled_from(["as drawn", "by stream", "by index"]))
def test_groups_sort_rows_by_stream_then_index(rows: list[tuple[int, int]], arrange: str) -> None:
    if arrange == "by stream":
        rows = sorted(rows)
    elif arrange == "by index":
        rows = sorted(rows, key=lambda r: r[1])
    stream = np.array([r[0] for r in rows], dtype=np.int32)
    index = np.array([r[1] for r in rows], dtype=np.int64)
    g = Groups.of(stream, index)
    assert g.order.tolist() == np.lexsort((index, stream)).tolist()
    assert g.stream.tolist() == stream[g.order].tolist()
    pos, total = g.position(np.ones(len(rows), dtype=np.bool_))
    for stream_id in set(stream.tolist()):
        mine = g.stream == stream_id
        assert pos[mine].tolist() == list(range(int(mine.sum())))
        assert set(total[mine].tolist()) == {int(mine.sum())}


def test_counts_add_up_by_either_way_of_counting() -> None:
    rng = np.random.default_rng(4)
    stream = rng.integers(0, 3, 500)
    values = rng.integers(0, 128, 500)
    small = np.zeros((3, 128), dtype=np.int64)  # counted cell by cell
    counts_into(small, stream, values)
    large = np.zeros((300, 128), dtype=np.int64)  # counted over the distinct keys
    counts_into(large, stream, values)
    expected = np.zeros((3, 128), dtype=np.int64)
    np.add.at(expected, (stream, values), 1)
    assert np.array_equal(small, expected) and np.array_equal(large[:3], expected)
    assert not large[3:].any()
