"""Aggregation: input order, continuous sequence numbers, DTMF merging, loss, jitter."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from stream_helpers import make_batch, same

from commex.stream.aggregation import (
    aggregate,
    jitter_ms,
    lost_packets,
    merge,
    merge_dtmf,
    renumber,
)
from commex.stream.dispersal import SegmentFailed
from commex.stream.packets import concat
from commex.stream.steps.base import DtmfEvent


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


def test_renumber_closes_gaps_of_dropped_packets_per_stream() -> None:
    batch = make_batch(20, streams=2)
    kept = batch.take(np.flatnonzero(~np.isin(batch.index, [2, 4, 5])))  # stream 0 loses 2, 4
    out = renumber(batch, kept)
    for s in (0, 1):
        seq = out.seq[out.stream == s].astype(int)
        assert np.all(np.diff(seq) == 1)
        assert seq[0] == batch.seq[batch.stream == s][0]
    assert np.array_equal(out.timestamp, kept.timestamp)
    assert np.array_equal(out.ssrc, kept.ssrc)


def test_renumber_keeps_loss_that_was_already_in_the_input() -> None:
    batch = make_batch(10, streams=1)
    batch = replace(batch, seq=np.array([1, 2, 3, 5, 6, 7, 8, 9, 10, 11], dtype=np.uint16))
    out = renumber(batch, batch.take(np.flatnonzero(batch.index != 1)))
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


@pytest.mark.parametrize(
    ("seq", "lost"),
    [
        ([1, 2, 3, 4], 0),
        ([1, 2, 5, 6], 2),
        ([65534, 65535, 0, 2], 1),
        ([10, 12, 11, 13], 0),  # reordered, nothing missing
        ([7], 0),
    ],
)
def test_lost_packets_counts_sequence_gaps(seq, lost) -> None:
    assert lost_packets(np.array(seq, dtype=np.uint16)) == lost


def _rfc3550_jitter(arrival_us, timestamp) -> float:
    j = 0.0
    for i in range(1, len(arrival_us)):
        d = (arrival_us[i] - arrival_us[i - 1]) * 8000 / 1e6 - (timestamp[i] - timestamp[i - 1])
        j += (abs(d) - j) / 16
    return j / 8


def test_jitter_is_zero_for_perfectly_spaced_packets() -> None:
    n = np.arange(100)
    assert jitter_ms(n * 20_000, n * 160) == 0.0


def test_jitter_matches_the_rfc_3550_recurrence() -> None:
    rng = np.random.default_rng(3)
    n = np.arange(400)
    arrival = n * 20_000 + rng.integers(-3000, 3000, 400)
    ts = n * 160
    assert jitter_ms(arrival, ts) == pytest.approx(_rfc3550_jitter(arrival, ts), rel=1e-9)


def test_aggregate_reports_what_the_run_did() -> None:
    batch = make_batch(40, streams=2)
    kept = batch.take(batch.index % 4 != 1)
    transcoded = replace(kept, payload_type=np.zeros(len(kept), dtype=np.uint8))
    events = [DtmfEvent("9", 0x1000, 0, 40, "inband"), DtmfEvent("9", 0x1000, 40, 40, "inband")]
    sub = [{"step": "vad", "provider": "b", "segments": 1, "packets": 40}]
    result = aggregate(
        batch,
        pieces(transcoded, [10, 20]),
        events,
        segments=4,
        subcontracted=sub,
        elapsed_s=2.0,
        skipped=3,
    )
    r = result.report
    assert (r["packets_in"], r["packets_out"], r["segments"], r["skipped"]) == (40, 30, 4, 3)
    assert r["subcontracted"] == sub
    assert r["dtmf"] == [
        {"digit": "9", "ssrc": 0x1000, "start_ms": 0, "duration_ms": 80, "source": "inband"}
    ]
    assert [s["ssrc"] for s in r["streams"]] == [0x1000, 0x1001]
    assert [(s["packets"], s["packets_out"]) for s in r["streams"]] == [(20, 20), (20, 10)]
    for s in r["streams"]:
        assert s["lost"] == 0
        assert (s["payload_type_in"], s["payload_type_out"]) == (8, 0)
        assert s["jitter_ms"] == 0.0
    assert r["rate_pps"] == 15.0
    out = result.batch
    assert np.all(np.diff(out.index) > 0)
    for s in (0, 1):
        assert np.all(np.diff(out.seq[out.stream == s].astype(int)) == 1)


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
