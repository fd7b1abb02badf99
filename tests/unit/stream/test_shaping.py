"""Shaping (T4): exact departures, a rate never exceeded over any window, the achieved rate,
and the shaped times written to captures and paced onto UDP."""

from __future__ import annotations

import math
import socket
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stream_helpers import FAX, make_batch

from commex.domain.errors import InvalidInput
from commex.stream.dispersal import InlineExecutor
from commex.stream.outputs import PacedUdpOutput
from commex.stream.outstats import OutStats
from commex.stream.pcap import read_capture
from commex.stream.pipeline import Plan, Services, run
from commex.stream.rtp import rtp_sizes
from commex.stream.shaping import Shaper, achieved_rate_bps, retimed, shape
from commex.stream.udp import UdpSink
from commex.stream.workerpool import ProcessExecutor

HEADER = 12  # the fixed RTP header; the shaper counts it with the payload


def packets(rtp_bytes: list[int], ready_us: list[int]):
    """A one-stream batch whose packets are ``rtp_bytes`` long (header included), ready then."""
    payloads = [b"\x55" * (n - HEADER) for n in rtp_bytes]
    offsets = np.concatenate(([0], np.cumsum([len(p) for p in payloads]))).astype(np.int64)
    base = make_batch(len(rtp_bytes), streams=1)
    return replace(
        base,
        arrival_us=np.asarray(ready_us, dtype=np.int64),
        payload=np.frombuffer(b"".join(payloads), dtype=np.uint8).copy(),
        offsets=offsets,
    )


def reference(ready_us, sizes, rate_bps: float, burst_bytes: int = 0) -> list[float]:
    """The same bucket as a per-packet loop: ITU-T I.371's virtual scheduling (a theoretical
    arrival time), delayed until conforming, first in first out."""
    tat, last, out = -math.inf, -math.inf, []
    for a, size in zip(ready_us, sizes, strict=True):
        bits = 8.0 * size
        depth = max(8.0 * burst_bytes, bits)
        d = max(float(a), last, tat - (depth - bits) * 1e6 / rate_bps)
        tat = max(tat, d) + bits * 1e6 / rate_bps
        last = d
        out.append(d)
    return out


def test_back_to_back_packets_leave_one_transmission_time_apart() -> None:
    # 100-byte packets (800 bits) at 8,000 bit/s take 100 ms each.
    schedule = shape(packets([100, 100, 100], [0, 0, 0]), 8000)
    assert schedule.departure_us().tolist() == [0, 100_000, 200_000]


def test_a_packet_never_leaves_before_its_own_time() -> None:
    schedule = shape(packets([100, 50, 100], [0, 0, 300_000]), 8000)
    # The second waits for the first's 100 ms; the third is ready later than the bucket allows.
    assert schedule.departure_us().tolist() == [0, 100_000, 300_000]
    idle = shape(packets([100, 100], [0, 1_000_000]), 8000)
    assert idle.departure_us().tolist() == [0, 1_000_000]


def test_variable_sizes_each_wait_for_the_bits_before_them() -> None:
    schedule = shape(packets([100, 20, 100, 60], [0, 0, 0, 0]), 8000)
    # 800 bits, then 160 bits, then 800 bits: 100 ms, 20 ms, 100 ms of transmission.
    assert schedule.departure_us().tolist() == [0, 100_000, 120_000, 220_000]


def test_a_burst_lets_that_many_bytes_go_at_once() -> None:
    schedule = shape(packets([100] * 4, [0] * 4), 8000, burst_bytes=200)
    assert schedule.departure_us().tolist() == [0, 0, 100_000, 200_000]


def test_packets_keep_their_order_even_when_times_go_back() -> None:
    schedule = shape(packets([100, 100], [50_000, 10_000]), 8000)
    assert schedule.departure_us().tolist() == [50_000, 150_000]


def test_an_unshaped_stream_keeps_its_own_times() -> None:
    batch = make_batch(40)
    schedule = shape(batch)
    assert schedule.rate_bps is None
    assert np.array_equal(schedule.departure_us(), batch.arrival_us)
    assert retimed(batch, schedule) is batch


def test_a_rate_or_burst_that_cannot_be_is_refused() -> None:
    with pytest.raises(InvalidInput, match="positive number of bit/s, not 0"):
        Shaper(0)
    with pytest.raises(InvalidInput, match="burst must be zero or more bytes, not -5"):
        Shaper(8000, -5)


sizes_st = st.lists(st.integers(12, 1500), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(
    sizes=sizes_st,
    gaps=st.lists(st.integers(-5_000, 80_000), min_size=60, max_size=60),
    rate=st.integers(1_000, 5_000_000),
    burst=st.sampled_from([0, 0, 200, 3000]),
)
def test_the_bucket_is_the_per_packet_reference_and_never_exceeds_the_rate(
    sizes, gaps, rate, burst
) -> None:
    ready = np.cumsum(np.maximum(gaps[: len(sizes)], 0)) + np.asarray(gaps[: len(sizes)]) % 7
    batch = packets(sizes, ready.tolist())
    schedule = shape(batch, rate, burst_bytes=burst)
    d = schedule.offset_us + schedule.origin_us
    assert np.allclose(d, reference(ready, sizes, rate, burst), rtol=0, atol=1e-3)
    assert np.all(np.diff(d) >= 0)
    assert np.all(d >= np.maximum.accumulate(ready) - 1e-6)
    # Over any window [d_k, d_i], packets k..i carry at most one burst above the rate.
    bits = np.asarray(sizes, dtype=np.float64) * 8
    allowance = max(8.0 * burst, float(bits.max()))
    cum = np.concatenate(([0.0], np.cumsum(bits)))
    window_bits = cum[1:][None, :] - cum[:-1][:, None]  # [k, i] = bits of packets k..i
    window_s = (d[None, :] - d[:, None]) / 1e6
    upper = np.triu(np.ones_like(window_bits, dtype=bool))
    assert np.all((window_bits <= allowance + rate * window_s + 1e-6)[upper])


@settings(max_examples=60, deadline=None)
@given(sizes=sizes_st, cut=st.integers(0, 60), rate=st.integers(1_000, 500_000))
def test_chunks_fed_one_after_another_give_the_same_departures(sizes, cut, rate) -> None:
    ready = np.arange(len(sizes), dtype=np.int64) * 20_000 + 1_700_000_000_000_000
    whole = Shaper(rate).schedule(ready, np.asarray(sizes, dtype=np.int64))
    shaper = Shaper(rate)
    cut = min(cut, len(sizes))
    first = shaper.schedule(ready[:cut], np.asarray(sizes[:cut], dtype=np.int64))
    second = shaper.schedule(ready[cut:], np.asarray(sizes[cut:], dtype=np.int64))
    joined = np.concatenate((first.departure_us(), second.departure_us()))
    assert np.array_equal(joined, whole.departure_us())


def test_the_achieved_rate_counts_the_last_packets_transmission_time() -> None:
    # Four 100-byte packets 100 ms apart: 3,200 bits over 0.3 s plus the last one's 0.1 s.
    assert achieved_rate_bps(np.array([0, 1e5, 2e5, 3e5]), np.full(4, 100)) == 8000.0
    assert achieved_rate_bps(np.array([0.0]), np.array([100])) == 0.0
    assert achieved_rate_bps(np.array([5.0, 5.0]), np.array([100, 100])) == 0.0


def test_the_fax_stream_shaped_below_its_own_rate_achieves_the_shaping_rate() -> None:
    batch = read_capture(FAX).batch
    natural = shape(batch).achieved_rate_bps()
    assert 20_000 < natural < 30_000  # one 10 ms A-law stream, one mostly silent
    for rate in (8_000, 16_000):
        schedule = shape(batch, rate)
        # A bucket kept busy from the first packet on measures exactly its rate, to rounding.
        assert schedule.achieved_rate_bps() == pytest.approx(rate, rel=1e-4)
    above = shape(batch, 10 * natural)
    assert above.achieved_rate_bps() == pytest.approx(natural, rel=0.02)


def _plan(out, **kw) -> Plan:
    return Plan.build(str(FAX), str(out), steps=["transcode:pcmu"], segment="packets:100", **kw)


@pytest.mark.parametrize("pool", [False, True], ids=["inline", "process"])
def test_a_shaped_run_writes_the_departures_as_the_capture_times(tmp_path, pool) -> None:
    out = tmp_path / "out.pcap"
    executor = ProcessExecutor(2) if pool else InlineExecutor()
    with executor:
        report = run(_plan(out, max_rate_bps=16_000), Services(executor=executor)).to_json()
    written = read_capture(out).batch
    expected = shape(read_capture(FAX).batch, 16_000).departure_us()
    assert np.array_equal(written.arrival_us, expected)
    assert report["shaped_to_bps"] == 16_000
    assert report["achieved_rate_bps"] == pytest.approx(16_000, rel=1e-4)
    sizes = rtp_sizes(written)
    assert achieved_rate_bps(written.arrival_us, sizes) <= 16_000 * 1.0001
    assert report["duration_s"] == pytest.approx(
        sum(s["duration_s"] for s in report["streams"]), abs=0.002
    )


def test_an_unshaped_run_keeps_the_capture_times_and_reports_the_streams_own_rate(
    tmp_path,
) -> None:
    out = tmp_path / "out.pcap"
    report = run(_plan(out), Services(executor=InlineExecutor())).to_json()
    source = read_capture(FAX).batch
    assert np.array_equal(read_capture(out).batch.arrival_us, source.arrival_us)
    assert report["shaped_to_bps"] is None
    assert report["achieved_rate_bps"] == shape(source).achieved_rate_bps() > 20_000
    # Two streams of the call, each its own media duration (35 to 38 s of the capture).
    assert len(report["streams"]) == 2
    assert all(35 < s["duration_s"] < 38 for s in report["streams"])
    assert report["duration_s"] == pytest.approx(72.745, abs=0.01)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


def test_udp_output_is_sent_on_the_shaped_schedule(monkeypatch) -> None:
    batch = packets([100] * 6, [0] * 6)
    clock = FakeClock()
    sent_at: list[float] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(5)
        original = UdpSink.send

        def send(self, b):
            sent_at.extend([clock.now] * len(b))
            return original(self, b)

        monkeypatch.setattr(UdpSink, "send", send)
        output = PacedUdpOutput(
            UdpSink("127.0.0.1", sink.getsockname()[1]), Shaper(8000), OutStats(),
            clock=clock, sleep=clock.sleep,
        )  # fmt: skip
        output.put(batch, 0)
        output.finish()
        output.close()
        received = [sink.recv(2048) for _ in range(6)]
    assert sent_at == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert [len(d) for d in received] == [100] * 6
