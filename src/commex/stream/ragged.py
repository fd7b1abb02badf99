"""Ragged byte arrays and header windows: the bulk primitives under the packet codecs.

Payloads of many packets live in one byte buffer cut at offsets. These helpers move such spans
around (gather, scatter, interleave) and read header fields of many datagrams at once, all
with a few numpy operations whatever the number of packets, and never raise on bad offsets.
"""

from __future__ import annotations

import numpy as np

from commex.stream.types import I64, U8, Bools


def be16(buf: U8, at: I64) -> I64:
    """Big-endian 16-bit values at byte offsets ``at`` (clipped to the buffer, never raising)."""
    if buf.shape[0] == 0:
        return np.zeros(at.shape, dtype=np.int64)
    hi = np.take(buf, at, mode="clip").astype(np.int64)
    lo = np.take(buf, at + 1, mode="clip")
    value: I64 = (hi << 8) | lo
    return value


def be32(buf: U8, at: I64) -> I64:
    """Big-endian 32-bit values at byte offsets ``at`` (clipped, never raising)."""
    return (be16(buf, at) << 16) | be16(buf, at + 2)


def byte_at(buf: U8, at: I64) -> I64:
    """The bytes at offsets ``at`` as int64 (clipped, never raising)."""
    if buf.shape[0] == 0:
        return np.zeros(at.shape, dtype=np.int64)
    return np.take(buf, at, mode="clip").astype(np.int64)


_MAX_ROW_SIZES = 16
_LOOKUP_BLOCK = 1 << 16  # keys per block: the block's index and its table stay in cache


def lookup(table: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``table[keys]`` for small unsigned ``keys`` (a byte or a 16-bit sample), a block at a
    time: numpy widens every key to a 64-bit index before a lookup, and doing that for a
    block into one reused buffer keeps the index in cache instead of streaming 8 bytes per
    key through memory."""
    if keys.ndim != 1:
        return np.asarray(table[keys])
    n = keys.shape[0]
    out = np.empty(n, dtype=table.dtype)
    index = np.empty(min(n, _LOOKUP_BLOCK), dtype=np.intp)
    for lo in range(0, n, _LOOKUP_BLOCK):
        hi = min(lo + _LOOKUP_BLOCK, n)
        block = index[: hi - lo]
        block[...] = keys[lo:hi]
        np.take(table, block, out=out[lo:hi])
    return out


def span_index(starts: I64, sizes: I64, total: int) -> I64:
    """Buffer position of every byte of the spans laid end to end (one cumsum, no repeat)."""
    nz = sizes > 0
    st, sz = starts[nz], sizes[nz]
    step = np.ones(total, dtype=np.int64)
    step[0] = st[0]
    step[np.cumsum(sz[:-1])] = st[1:] - (st[:-1] + sz[:-1]) + 1
    index: I64 = np.cumsum(step)
    return index


def _span_mask(length: int, starts: I64, sizes: I64, total: int) -> Bools | None:
    """The mask of bytes covered by the spans when they are in order without overlap and cover
    a good part of the buffer (then a mask beats an index); else None. The mask stops at the
    last span's end. The mask is one
    ``repeat`` of alternating gap/span flags, the fastest way numpy has to mark many ranges."""
    if total * 4 < length:
        return None
    ends = starts + sizes
    gaps = np.empty(starts.shape[0], dtype=np.int64)
    gaps[0] = starts[0]
    np.subtract(starts[1:], ends[:-1], out=gaps[1:])
    if gaps.min() < 0:
        return None
    counts = np.empty(2 * starts.shape[0], dtype=np.int64)
    counts[0::2] = gaps
    counts[1::2] = sizes
    flags = np.zeros(2 * starts.shape[0], dtype=np.bool_)
    flags[1::2] = True
    mask: Bools = np.repeat(flags, counts)  # as long as the last span's end
    return mask


def gather_spans(buf: U8, starts: I64, sizes: I64) -> tuple[U8, I64]:
    """Concatenate ``buf[starts[i]:starts[i] + sizes[i]]`` for every i; returns bytes, offsets."""
    offsets = np.zeros(sizes.shape[0] + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    total = int(offsets[-1])
    if total == 0:
        return np.zeros(0, dtype=np.uint8), offsets
    rows = _rows_by_size(buf, starts, sizes, offsets)
    if rows is not None:
        return rows, offsets
    mask = _span_mask(buf.shape[0], starts, sizes, total)
    if mask is not None:
        return buf[: mask.shape[0]][mask], offsets
    return buf[span_index(starts, sizes, total)], offsets


def _rows_by_size(buf: U8, starts: I64, sizes: I64, offsets: I64) -> U8 | None:
    """Gather spans a whole row at a time, one strided row gather per distinct span size.

    RTP payloads come in very few sizes (one per codec and packet time, plus short comfort
    noise), so this is a handful of row copies instead of an index entry per byte. None when
    there are too many sizes or a span leaves the buffer (the index path handles those).
    """
    if buf.ndim != 1 or buf.strides[0] != 1 or int(starts.min()) < 0:
        return None
    if int((starts + sizes).max()) > buf.shape[0]:
        return None
    distinct = _distinct(sizes)
    if distinct.shape[0] > _MAX_ROW_SIZES:
        return None
    out = np.empty(int(offsets[-1]), dtype=np.uint8)
    for width in distinct.tolist():
        if width == 0:
            continue
        rows = np.flatnonzero(sizes == width) if distinct.shape[0] > 1 else slice(None)
        _rows_view(out, width)[offsets[:-1][rows]] = _rows_view(buf, width)[starts[rows]]
    return out


def _distinct(sizes: I64) -> I64:
    """The distinct values of ``sizes`` (one comparison when, as usual, there is one)."""
    low, high = int(sizes.min()), int(sizes.max())
    if low == high:
        return np.array([low], dtype=np.int64)
    if low >= 0 and high < 1 << 20:  # counting beats sorting for sizes of datagrams
        counted: I64 = np.flatnonzero(np.bincount(sizes - low)) + low
        return counted
    found: I64 = np.unique(sizes)
    return found


def _rows_view(buf: U8, width: int) -> U8:
    """Every ``width`` bytes of ``buf`` from each offset on, as rows of a 2-D view (what
    ``sliding_window_view`` gives, without its checks, which cost more than a small copy)."""
    rows = buf.shape[0] - width + 1
    view: U8 = np.ndarray((max(rows, 0), width), dtype=np.uint8, buffer=buf, strides=(1, 1))
    return view


def scatter_spans(out: U8, dest: I64, data: U8, offsets: I64) -> None:
    """Copy row ``i`` of the ragged ``data``/``offsets`` into ``out`` at ``dest[i]``."""
    sizes = np.diff(offsets)
    total = int(offsets[-1]) - int(offsets[0])
    if total == 0:
        return
    if _scatter_rows_by_size(out, dest, data, offsets, sizes):
        return
    source = data[offsets[0] : offsets[-1]]
    mask = _span_mask(out.shape[0], dest, sizes, total)
    if mask is not None:
        out[: mask.shape[0]][mask] = source
    else:
        out[span_index(dest, sizes, total)] = source


def _scatter_rows_by_size(out: U8, dest: I64, data: U8, offsets: I64, sizes: I64) -> bool:
    """The row-at-a-time counterpart of :func:`_rows_by_size` for writing; False when it does
    not apply (too many sizes, or a span outside either buffer)."""
    if out.strides[0] != 1 or data.strides[0] != 1 or int(dest.min()) < 0:
        return False
    if int((dest + sizes).max()) > out.shape[0] or int(offsets[-1]) > data.shape[0]:
        return False
    distinct = _distinct(sizes)
    if distinct.shape[0] > _MAX_ROW_SIZES:
        return False
    for width in distinct.tolist():
        if width == 0:
            continue
        rows = np.flatnonzero(sizes == width) if distinct.shape[0] > 1 else slice(None)
        _rows_view(out, width)[dest[rows]] = _rows_view(data, width)[offsets[:-1][rows]]
    return True


def windows(buf: U8, at: I64, width: int) -> U8:
    """``buf[at[i]:at[i] + width]`` for every i as an ``(n, width)`` array, zero past the end.

    One row copy per datagram instead of one scattered read per header field: after this,
    header fields at fixed offsets are plain column slices.
    """
    size = buf.shape[0]
    if size < width:
        out = np.zeros((at.shape[0], width), dtype=np.uint8)
        outside = np.ones(at.shape[0], dtype=np.bool_)
    else:
        view = np.lib.stride_tricks.as_strided(
            buf, shape=(size - width + 1, width), strides=(1, 1), writeable=False
        )
        clipped = np.minimum(np.maximum(at, 0), size - width)
        out = np.asarray(view[clipped], dtype=np.uint8)
        outside = at != clipped
        if not outside.any():
            return out
    bad = np.flatnonzero(outside)
    out[bad] = 0
    # Rows that start within the last ``width`` bytes (a handful at most) are copied one by one.
    for i in bad[(at[bad] >= 0) & (at[bad] < size)].tolist():
        tail = buf[int(at[i]) : int(at[i]) + width]
        out[i, : tail.shape[0]] = tail
    return out


def col16(win: U8, col: int) -> I64:
    """Big-endian 16-bit values at column ``col`` of a :func:`windows` array."""
    value: I64 = (win[:, col].astype(np.int64) << 8) | win[:, col + 1]
    return value


def col32(win: U8, col: int) -> I64:
    """Big-endian 32-bit values at column ``col`` of a :func:`windows` array."""
    return (col16(win, col) << 16) | col16(win, col + 2)


def interleave(parts: list[tuple[U8, I64]]) -> U8:
    """Row by row, the concatenation of every part's row: part ``k`` is ragged bytes and its
    per-row sizes. Each part is written with row copies grouped by size (see
    :func:`scatter_spans`), whatever the number of rows."""
    live = [(data, sizes) for data, sizes in parts if data.shape[0]]
    if not live:
        return np.zeros(0, dtype=np.uint8)
    if len(live) == 1:
        return live[0][0].copy()
    n = live[0][1].shape[0]
    row_sizes = np.zeros(n, dtype=np.int64)
    for _, sizes in live:
        row_sizes += sizes
    pos = np.zeros(n, dtype=np.int64)
    np.cumsum(row_sizes[:-1], out=pos[1:])
    out = np.empty(int(row_sizes.sum()), dtype=np.uint8)
    for data, sizes in live:
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        scatter_spans(out, pos, data, offsets)
        pos += sizes
    return out
