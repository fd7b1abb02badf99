"""Metering (S7): stream-seconds of what went out, and a live run cut into deliveries."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from stream_helpers import make_batch

from commex.domain.receiver import receiver_report
from commex.metering_client import delivery_of
from commex.stream.metering import (
    Delivery,
    IntervalMeter,
    ReceiverSummary,
    stream_durations,
    stream_seconds,
)
from commex.stream.report import RunReport, StreamReport
from commex.stream.rtcpsession import ReceiverFigures, RoundTrip
from commex.stream.rtp import rtp_sizes


def test_fifty_packets_twenty_ms_apart_are_one_second() -> None:
    batch = make_batch(50, streams=1)
    assert stream_seconds(batch) == pytest.approx(1.0)


def test_the_run_counts_each_streams_duration() -> None:
    batch = make_batch(300, streams=3)  # 100 packets per stream, 20 ms apart
    assert stream_durations(batch) == pytest.approx({0: 2.0, 1: 2.0, 2: 2.0})
    assert stream_seconds(batch) == pytest.approx(6.0)
    assert stream_seconds(batch.take(np.arange(0))) == 0.0


def test_a_live_run_is_reported_every_interval_and_the_rest_at_the_end() -> None:
    batch = make_batch(1000, streams=2)  # 500 packets per stream: 10 s each, 20 s in all
    emitted: list[Delivery] = []
    meter = IntervalMeter(emitted.append, every_s=6.0)
    order = np.arange(1000)
    pieces = [order[i : i + 100] for i in range(0, 1000, 100)]
    for piece in reversed(pieces[:3]):  # workers may finish out of order
        meter.add(batch.take(piece))
    for piece in pieces[3:]:
        meter.add(batch.take(piece))
    # Each piece is one second of both streams: a report after 6, 12 and 18 stream-seconds.
    assert [d.seconds for d in emitted] == pytest.approx([6.0, 6.0, 6.0])
    assert [d.packets for d in emitted] == [300, 300, 300]
    sizes = rtp_sizes(batch)
    total = Delivery(stream_seconds(batch), int(sizes.sum()), 1000, 68_800)
    rest = meter.rest(total)
    assert (rest.seconds, rest.packets) == (pytest.approx(2.0), 100)
    assert sum(d.seconds for d in emitted) + rest.seconds == pytest.approx(20.0)
    assert sum(d.bytes for d in emitted) + rest.bytes == total.bytes
    assert sum(d.packets for d in emitted) + rest.packets == 1000
    # Two streams of 172-byte packets at 50 packets/s each: 137,600 bit/s.
    assert emitted[-1].achieved_rate_bps == pytest.approx(137_600, rel=0.01)


def test_a_delivery_body_names_its_run() -> None:
    body = Delivery(1.5, 1000, 10, 8000).body("run-1")
    assert body == {
        "run_id": "run-1",
        "seconds": 1.5,
        "bytes": 1000,
        "packets": 10,
        "achieved_rate_bps": 8000,
    }


def _stream(ssrc: int, receiver=None) -> StreamReport:
    return StreamReport(ssrc, "192.0.2.1", 4000, "192.0.2.2", 5000, 100, 100, 0, 1.0, 8, 0,
                        2.0, receiver=receiver)  # fmt: skip


def test_a_delivery_carries_what_the_receivers_reported() -> None:
    heard = ReceiverFigures(
        ssrc=7, reports=3, reporters=(9,), fraction_lost=0.0, max_fraction_lost=0.25,
        cumulative_lost=3, jitter_ms=1.5, max_jitter_ms=4.0,
        round_trip=RoundTrip(2, 31.0, 29.0, 30.0, 31.0),
    )  # fmt: skip
    quiet = ReceiverFigures(ssrc=8)  # a receiver that never reported
    report = RunReport(
        packets_in=300, packets_out=300, skipped=0, segments=3, subcontracted=(), dtmf=(),
        streams=(_stream(7, heard), _stream(8, quiet), _stream(9)), bytes_out=51_600,
        elapsed_s=6.0, duration_s=6.0, achieved_rate_bps=68_800, shaped_to_bps=None,
    )  # fmt: skip
    delivery = delivery_of(report)
    assert delivery.receiver == ReceiverSummary(1, 0.25, 3, 4.0, 31.0)
    assert delivery.body("run")["receiver"] == {
        "streams": 1, "fraction_lost": 0.25, "cumulative_lost": 3, "jitter_ms": 4.0,
        "round_trip_ms": 31.0,
    }  # fmt: skip
    assert "receiver" not in replace(delivery, receiver=None).body("run")


def test_a_far_ends_wild_figures_are_held_within_what_the_exchange_takes() -> None:
    # A receiver report may carry a signed loss (duplicates) and a jitter of hours.
    wild = ReceiverSummary(1, 1.5, -4, 9e9, 1e12)
    assert wild.to_json() == {
        "streams": 1, "fraction_lost": 1.0, "cumulative_lost": 0, "jitter_ms": 3_600_000.0,
        "round_trip_ms": 3_600_000.0,
    }  # fmt: skip
    assert receiver_report(wild.to_json()) is not None  # the exchange's own reading takes it
