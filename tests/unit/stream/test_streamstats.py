"""Per-stream figures kept as a run goes: loss, jitter, repairs and latency, in any cut."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from stream_helpers import make_batch

from commex.stream.outstats import OutStats, latency_of
from commex.stream.packets import concat
from commex.stream.streamstats import InStats


def _in_pieces(batch, cuts, *, live=False) -> tuple[InStats, list]:
    stats = InStats()
    bounds = [0, *cuts, len(batch)]
    kept = [
        stats.add(batch.take(np.arange(lo, hi)), live=live) for lo, hi in itertools.pairwise(bounds)
    ]
    return stats, kept


def _one_stream(seq, arrival_us=None, timestamp=None):
    n = len(seq)
    batch = make_batch(n, streams=1)
    batch = replace(batch, seq=np.array(seq, dtype=np.uint16))
    if arrival_us is not None:
        batch = replace(batch, arrival_us=np.asarray(arrival_us, dtype=np.int64))
    if timestamp is not None:
        batch = replace(batch, timestamp=np.asarray(timestamp, dtype=np.uint32))
    return batch


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
@pytest.mark.parametrize("cuts", [(), (1,), (1, 2)])
def test_loss_counts_sequence_numbers_never_received(seq, lost, cuts) -> None:
    cuts = tuple(c for c in cuts if c < len(seq))
    stats, _ = _in_pieces(_one_stream(seq), cuts)
    assert stats.figures(0).lost == lost
    assert stats.figures(0).packets == len(seq)


def _rfc3550_jitter_ms(arrival_us, timestamp) -> float:
    j = 0.0
    for i in range(1, len(arrival_us)):
        d = (arrival_us[i] - arrival_us[i - 1]) * 8000 / 1e6 - (timestamp[i] - timestamp[i - 1])
        j += (abs(d) - j) / 16
    return j / 8


def test_jitter_is_zero_for_perfectly_spaced_packets() -> None:
    n = np.arange(100)
    stats, _ = _in_pieces(_one_stream(n % 65536, n * 20_000, n * 160), (37,))
    assert stats.figures(0).jitter_ms == 0.0


@pytest.mark.parametrize("cuts", [(), (1,), (5, 123, 124, 300)])
def test_jitter_follows_the_rfc_3550_recurrence_whatever_the_cuts(cuts) -> None:
    rng = np.random.default_rng(3)
    n = np.arange(400)
    arrival = n * 20_000 + rng.integers(-3000, 3000, 400)
    ts = n * 160
    stats, _ = _in_pieces(_one_stream(n, arrival, ts), cuts)
    assert stats.figures(0).jitter_ms == pytest.approx(_rfc3550_jitter_ms(arrival, ts), rel=1e-9)


def test_jitter_of_each_stream_is_its_own() -> None:
    rng = np.random.default_rng(4)
    batch = make_batch(600, streams=3)
    batch = replace(batch, arrival_us=batch.arrival_us + rng.integers(0, 4000, 600))
    stats, _ = _in_pieces(batch, (100, 101, 350))
    for s in range(3):
        mine = batch.stream == s
        expected = _rfc3550_jitter_ms(batch.arrival_us[mine], batch.timestamp[mine].astype(int))
        assert stats.figures(s).jitter_ms == pytest.approx(expected, rel=1e-9)


def test_live_input_drops_duplicates_and_counts_what_came_out_of_order() -> None:
    batch = _one_stream([1, 2, 2, 4, 3, 5, 1, 6])
    stats, kept = _in_pieces(batch, (3, 6), live=True)
    assert concat(kept).seq.tolist() == [1, 2, 4, 3, 5, 6]
    figures = stats.figures(0)
    assert (figures.packets, figures.duplicates, figures.reordered, figures.lost) == (6, 2, 1, 0)


def test_a_reset_stream_starts_again() -> None:
    stats, _ = _in_pieces(_one_stream([1, 2, 5]), ())
    assert stats.figures(0).lost == 2
    stats.reset(0)
    stats.add(_one_stream([900, 901]))
    assert (stats.figures(0).packets, stats.figures(0).lost) == (2, 0)


def test_what_left_is_counted_with_its_media_duration() -> None:
    batch = make_batch(100, streams=2)  # 50 packets 20 ms apart per stream
    out = OutStats()
    out.add(batch.take(np.arange(0, 37)))
    out.add(batch.take(np.arange(37, 100)))
    for s in (0, 1):
        f = out.figures(s)
        assert (f.packets, f.payload_type) == (50, 8)
        assert f.duration_s == pytest.approx(1.0)
    assert out.packets_total == 100


def test_latency_percentiles_come_from_every_packet() -> None:
    out = OutStats(latency=True)
    latency = np.concatenate([np.full(98, 30_000), [45_000, 52_000]])
    stream = np.zeros(100, dtype=np.int64)
    late = latency > 50_000
    out.departed(stream, latency, late)
    f = out.run_latency()
    assert f is not None and f.packets == 100
    assert f.p50_ms == pytest.approx(30.1, abs=0.11)  # the top of its 0.1 ms bin
    assert f.p99_ms == pytest.approx(45.1, abs=0.11)
    assert f.max_ms == 52.0


def test_an_empty_latency_histogram_is_none() -> None:
    assert latency_of(np.zeros(10, dtype=np.int64), 0) is None
