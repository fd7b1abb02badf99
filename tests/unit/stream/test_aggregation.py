"""Aggregation: input order, continuous sequence numbers bundle after bundle, DTMF merging."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from stream_helpers import make_batch, same

from commex.stream.aggregation import Aggregator, merge, merge_dtmf
from commex.stream.packets import concat
from commex.stream.steps.base import DtmfEvent
from commex.stream.tasks import SegmentFailed


def pieces(batch, sizes):
    out, start = [], 0
    for size in sizes:
        out.append(batch.take(np.arange(start, start + size)))
        start += size
    return out


def test_merge_restores_input_order_from_results_in_any_order() -> None:
    batch = make_batch(30)
    parts = pieces(batch, [7, 11, 12])
    assert same(merge([parts[2], parts[0], parts[1]]), batch)


def test_merge_refuses_a_packet_that_came_back_twice() -> None:
    batch = make_batch(10)
    with pytest.raises(SegmentFailed, match="two segments"):
        merge([batch, batch.take([3])])


def renumber(batch, kept, cuts=()):
    """``kept`` (rows of ``batch``) through an aggregator, bundle by bundle at ``cuts``."""
    agg = Aggregator()
    bounds = [0, *cuts, len(batch)]
    out = []
    for lo, hi in itertools.pairwise(bounds):
        sent = batch.take(np.arange(lo, hi))
        got = kept.take(np.flatnonzero((kept.index >= lo) & (kept.index < hi)))
        out.append(agg.take(got, sent.index, sent.stream))
    return concat(out)


@pytest.mark.parametrize("cuts", [(), (3,), (1, 7, 12)])
def test_renumber_closes_gaps_of_dropped_packets_per_stream(cuts) -> None:
    batch = make_batch(20, streams=2)
    kept = batch.take(np.flatnonzero(~np.isin(batch.index, [2, 4, 5])))  # stream 0 loses 2, 4
    out = renumber(batch, kept, cuts)
    for s in (0, 1):
        seq = out.seq[out.stream == s].astype(int)
        assert np.all(np.diff(seq) == 1)
        assert seq[0] == batch.seq[batch.stream == s][0]
    assert np.array_equal(out.timestamp, kept.timestamp)
    assert np.array_equal(out.ssrc, kept.ssrc)


def test_renumber_keeps_loss_that_was_already_in_the_input() -> None:
    batch = make_batch(10, streams=1)
    batch = replace(batch, seq=np.array([1, 2, 3, 5, 6, 7, 8, 9, 10, 11], dtype=np.uint16))
    out = renumber(batch, batch.take(np.flatnonzero(batch.index != 1)), (4,))
    assert out.seq.tolist() == [1, 2, 4, 5, 6, 7, 8, 9, 10]


def test_renumber_wraps_around_65535() -> None:
    batch = make_batch(4, streams=1)
    batch = replace(batch, seq=np.array([65534, 65535, 0, 1], dtype=np.uint16))
    assert renumber(batch, batch.take([0, 2, 3])).seq.tolist() == [65534, 65535, 0]


def test_merge_dtmf_joins_a_key_press_cut_by_a_segment_boundary() -> None:
    events = [
        DtmfEvent("5", 1, 1000, 100, "inband"),
        DtmfEvent("5", 1, 1100, 60, "inband"),  # same press, next segment
        DtmfEvent("5", 1, 1500, 80, "inband"),  # a second press after a pause
        DtmfEvent("5", 2, 1100, 60, "inband"),  # another stream
        DtmfEvent("1", 1, 0, 200, "rfc4733"),
        DtmfEvent("1", 1, 0, 320, "rfc4733"),  # RFC 4733 updates carry the same start
    ]
    assert merge_dtmf(events) == [
        DtmfEvent("1", 1, 0, 320, "rfc4733"),
        DtmfEvent("5", 1, 1000, 160, "inband"),
        DtmfEvent("5", 2, 1100, 60, "inband"),
        DtmfEvent("5", 1, 1500, 80, "inband"),
    ]


def test_take_moves_every_row_whole_for_mixed_payload_sizes_and_header_extras() -> None:
    rng = np.random.default_rng(5)
    batch = make_batch(60, streams=3)
    sizes = rng.choice([0, 4, 13, 160], 60)
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    extra_sizes = rng.choice([0, 4, 8], 60)
    extra_offsets = np.concatenate(([0], np.cumsum(extra_sizes)))
    batch = replace(
        batch,
        payload=rng.integers(0, 256, int(offsets[-1]), dtype=np.uint8),
        offsets=offsets,
        header_extra=rng.integers(0, 256, int(extra_offsets[-1]), dtype=np.uint8),
        extra_offsets=extra_offsets,
    )
    order = rng.permutation(60)
    taken = batch.take(order)
    assert [taken.payload_of(i) for i in range(60)] == [batch.payload_of(i) for i in order]
    extras = [bytes(batch.header_extra[extra_offsets[i] : extra_offsets[i + 1]]) for i in order]
    got = [bytes(taken.header_extra[taken.extra_offsets[i] : taken.extra_offsets[i + 1]])
           for i in range(60)]  # fmt: skip
    assert got == extras
    assert taken.index.tolist() == batch.index[order].tolist()


def test_concat_in_a_given_order_places_every_row_whole() -> None:
    rng = np.random.default_rng(9)
    parts = []
    for k, n in enumerate((7, 1, 12)):
        b = make_batch(n, streams=2, seed=k)
        sizes = rng.choice([0, 4, 13, 160], n)
        offsets = np.concatenate(([0], np.cumsum(sizes)))
        parts.append(
            replace(
                b,
                index=b.index + 100 * k,
                payload=rng.integers(0, 256, int(offsets[-1]), dtype=np.uint8),
                offsets=offsets,
            )
        )
    order = rng.permutation(20)
    ordered = concat(parts, order)
    plain = concat(parts)
    assert [ordered.payload_of(i) for i in range(20)] == [plain.payload_of(i) for i in order]
    assert ordered.index.tolist() == plain.index[order].tolist()
