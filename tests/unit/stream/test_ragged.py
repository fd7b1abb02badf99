"""The ragged-byte primitives under the packet codecs, against plain Python slicing.

Each primitive has several paths (one span size, a few sizes, many sizes, spans past the end
of a buffer); every path must move the same bytes as a slice-by-slice loop would.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commex.stream.ragged import (
    col16,
    col32,
    gather_spans,
    interleave,
    scatter_spans,
    take_rows,
    windows,
)


def _buffer(size: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)


def _sizes(rng: np.random.Generator, n: int, kinds: int) -> np.ndarray:
    """``n`` span sizes drawn from ``kinds`` distinct values (0 included when ``kinds`` > 2)."""
    choices = rng.choice(np.arange(1, 200), size=kinds, replace=False)
    if kinds > 2:
        choices[0] = 0
    return rng.choice(choices, size=n).astype(np.int64)


@pytest.mark.parametrize("kinds", [1, 3, 40])
def test_gather_spans_matches_slicing(kinds: int) -> None:
    rng = np.random.default_rng(kinds)
    buf = _buffer(50_000)
    sizes = _sizes(rng, 300, kinds)
    starts = rng.integers(0, buf.shape[0] - 200, 300).astype(np.int64)
    data, offsets = gather_spans(buf, starts, sizes)
    expected = b"".join(bytes(buf[s : s + k]) for s, k in zip(starts, sizes, strict=True))
    assert data.tobytes() == expected
    assert offsets.tolist() == [0, *np.cumsum(sizes).tolist()]


def test_gather_spans_of_consecutive_spans_and_a_strided_buffer() -> None:
    """Spans in order without overlap (the mask path) and a buffer that is a strided view."""
    whole = _buffer(20_000)
    buf = whole[::2]
    sizes = np.tile(np.arange(1, 30, dtype=np.int64), 10)
    starts = np.cumsum(sizes + 3) - sizes
    data, _ = gather_spans(buf, starts, sizes)
    expected = b"".join(bytes(buf[s : s + k]) for s, k in zip(starts, sizes, strict=True))
    assert data.tobytes() == expected


@pytest.mark.parametrize("kinds", [1, 3, 40])
def test_scatter_spans_writes_each_row_at_its_place(kinds: int) -> None:
    rng = np.random.default_rng(10 + kinds)
    sizes = _sizes(rng, 200, kinds)
    data = _buffer(int(sizes.sum()) + 7, seed=2)[7:]  # rows that do not start at 0
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    order = rng.permutation(200)  # rows laid out in another order, with gaps, no overlap
    placed = sizes[order]
    dest = np.empty(200, dtype=np.int64)
    dest[order] = np.cumsum(rng.integers(0, 5, 200) + placed) - placed
    out = np.zeros(int(dest.max() + sizes.max()) + 1, dtype=np.uint8)
    scatter_spans(out, dest, data, offsets)
    expected = np.zeros_like(out)
    for i in range(200):
        expected[dest[i] : dest[i] + sizes[i]] = data[offsets[i] : offsets[i + 1]]
    assert out.tobytes() == expected.tobytes()


def test_interleave_lays_rows_side_by_side() -> None:
    rng = np.random.default_rng(5)
    heads = np.full(50, 12, dtype=np.int64)
    bodies = _sizes(rng, 50, 3)
    head_data, body_data = _buffer(600, seed=3), _buffer(int(bodies.sum()), seed=4)
    out = interleave([(head_data, heads), (body_data, bodies)])
    body_at = np.concatenate([[0], np.cumsum(bodies)])
    expected = b"".join(
        bytes(head_data[12 * i : 12 * i + 12]) + bytes(body_data[body_at[i] : body_at[i + 1]])
        for i in range(50)
    )
    assert out.tobytes() == expected


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(0, 120),
    at=st.lists(st.integers(-80, 200), max_size=20),
    width=st.sampled_from([1, 12, 40, 64]),
)
def test_windows_pad_with_zeros_past_either_end(size: int, at: list[int], width: int) -> None:
    buf = _buffer(size, seed=size)
    got = windows(buf, np.asarray(at, dtype=np.int64), width)
    assert got.shape == (len(at), width)
    for row, start in zip(got, at, strict=True):
        if 0 <= start <= size - width:
            assert row.tobytes() == buf[start : start + width].tobytes()
        elif 0 <= start < size:  # a short tail, then zeros
            tail = buf[start:].tobytes()
            assert row.tobytes() == tail + bytes(width - len(tail))
        else:
            assert not row.any()


def test_columns_read_big_endian_fields_of_every_row() -> None:
    win = _buffer(64 * 30, seed=9).reshape(30, 64)
    for view in (win, win[:, 3:40], win[:, ::2]):  # contiguous rows, a slice, strided columns
        for col in (0, 5, 14):
            rows = [bytes(r) for r in view]
            assert col16(view, col).tolist() == [int.from_bytes(r[col : col + 2]) for r in rows]
            assert col32(view, col).tolist() == [int.from_bytes(r[col : col + 4]) for r in rows]


def test_take_rows_is_numpy_row_indexing() -> None:
    matrix = _buffer(40 * 50, seed=11).reshape(50, 40)
    rows = np.array([3, 3, 0, 49, 17], dtype=np.int64)
    for m in (matrix, matrix[:, 5:30], matrix[::2]):  # contiguous, and two views that are not
        picked = rows[rows < m.shape[0]]
        assert take_rows(m, picked).tolist() == m[picked].tolist()
