"""A receiver's view of one source, packet by packet (RFC 3550 A.1, A.3, A.8)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from commex.domain.errors import InvalidInput
from commex.stream.ntptime import compact, ntp_from_unix_ns
from commex.stream.packets import PacketBatch, StreamKey
from commex.stream.rtcp import SenderReport
from commex.stream.rtcpstats import ReceptionStats
from commex.stream.streamstats import InStats


def _whole_stream(seqs, arrival_us=None, timestamps=None) -> InStats:
    """The run's own figures (:class:`InStats`) for one stream of these packets."""
    n = len(seqs)
    batch = PacketBatch(
        index=np.arange(n, dtype=np.int64),
        stream=np.zeros(n, dtype=np.int32),
        arrival_us=np.zeros(n, dtype=np.int64) if arrival_us is None else arrival_us,
        seq=np.asarray(seqs, dtype=np.uint16),
        timestamp=np.zeros(n, dtype=np.uint32) if timestamps is None else timestamps,
        ssrc=np.ones(n, dtype=np.uint32),
        payload_type=np.zeros(n, dtype=np.uint8),
        marker=np.zeros(n, dtype=np.bool_),
        csrc_count=np.zeros(n, dtype=np.uint8),
        has_extension=np.zeros(n, dtype=np.bool_),
        offsets=np.zeros(n + 1, dtype=np.int64),
        extra_offsets=np.zeros(n + 1, dtype=np.int64),
        streams=(StreamKey("192.0.2.1", 1, "192.0.2.2", 2, 1),),
    )
    stats = InStats()
    stats.add(batch)
    return stats


T0 = 1_900_000_000 * 10**9  # 2030-03-17, Unix ns
PTIME = 20_000_000


def _feed(stats: ReceptionStats, seqs, *, first_seq: int = 0, delays_ns=None) -> None:
    """Packets ``seqs`` (offsets from ``first_seq``) sent every 20 ms, arriving after
    ``delays_ns`` (none by default)."""
    for i, k in enumerate(seqs):
        delay = 0 if delays_ns is None else int(delays_ns[i])
        stats.packet((first_seq + k) % 65536, (1000 + 160 * k) % (1 << 32), T0 + k * PTIME + delay)


def test_a_clean_stream_reports_nothing_lost_and_no_jitter() -> None:
    stats = ReceptionStats(0xABC, 8000)
    _feed(stats, range(100), first_seq=7)
    block = stats.report_block(T0 + 2 * 10**9)
    assert (block.ssrc, block.fraction_lost, block.packets_lost) == (0xABC, 0, 0)
    assert block.highest_sequence == 106 and block.jitter == 0
    assert (block.lsr, block.dlsr) == (0, 0)  # no sender report seen yet


def test_loss_is_cumulative_and_the_fraction_is_per_interval() -> None:
    stats = ReceptionStats(1, 8000)
    _feed(stats, [k for k in range(100) if k % 20 != 3])  # 5 of the first 100 lost
    first = stats.report_block(T0)
    _feed(stats, range(100, 200))  # none of the next 100
    second = stats.report_block(T0)
    _feed(stats, [k for k in range(200, 300) if k % 2])  # half of these
    third = stats.report_block(T0)
    assert (first.packets_lost, first.fraction_lost) == (5, 5 * 256 // 100)
    assert (second.packets_lost, second.fraction_lost) == (5, 0)
    assert third.packets_lost == 55 and third.fraction_lost == 128  # 50 of 100: a half
    assert third.highest_sequence == 299


def test_sequence_numbers_extend_over_the_wrap() -> None:
    stats = ReceptionStats(1, 8000)
    _feed(stats, range(300), first_seq=65400)
    block = stats.report_block(T0)
    assert block.highest_sequence == (1 << 16) + (65400 + 299) % 65536
    assert block.packets_lost == 0 and stats.expected == 300


def test_duplicates_make_the_loss_negative_and_late_packets_count() -> None:
    stats = ReceptionStats(1, 8000)
    _feed(stats, [0, 1, 2, 2, 3, 5, 4, 6, 6, 6])
    assert stats.expected == 7 and stats.received == 10
    assert stats.report_block(T0).packets_lost == -3
    assert stats.extended_highest == 6


def test_a_stray_jump_is_set_aside_but_a_restart_is_followed() -> None:
    stats = ReceptionStats(1, 8000)
    _feed(stats, range(10))
    assert not stats.packet(40_000, 0, T0)  # one stray packet: not counted
    assert stats.received == 10 and stats.extended_highest == 9
    assert stats.packet(10, 1600, T0 + 10 * PTIME)
    assert not stats.packet(50_000, 0, T0)
    assert stats.packet(50_001, 160, T0 + 20_000_000)  # the next in line: a new numbering
    assert stats.received == 1 and stats.expected == 1


@given(
    st.integers(0, 65535),
    st.lists(st.booleans(), min_size=2, max_size=600).filter(lambda keep: keep[0]),
)
def test_loss_agrees_with_the_whole_stream_count(first_seq: int, keep: list[bool]) -> None:
    sent = [k for k, kept in enumerate(keep) if kept]
    stats = ReceptionStats(1, 8000)
    _feed(stats, sent, first_seq=first_seq)
    seqs = (first_seq + np.array(sent)) % 65536
    # the stream ends at the last packet received: what the receiver can know
    assert stats.lost == _whole_stream(seqs).figures(0).lost


def test_jitter_agrees_with_the_whole_stream_estimate() -> None:
    rng = np.random.default_rng(3550)
    delays = rng.integers(0, 8_000_000, size=400)  # up to 8 ms of network jitter
    stats = ReceptionStats(1, 8000)
    _feed(stats, range(400), delays_ns=delays)
    arrival_us = (np.arange(400) * PTIME + delays) // 1000
    timestamps = (1000 + 160 * np.arange(400)).astype(np.uint32)
    whole = _whole_stream(np.arange(400), arrival_us, timestamps)
    assert stats.jitter_ms == pytest.approx(whole.figures(0).jitter_ms, abs=0.01)
    assert 1.0 < stats.jitter_ms < 4.0
    assert stats.report_block(T0).jitter == int(stats.jitter)


def test_the_block_echoes_the_last_sender_report() -> None:
    stats = ReceptionStats(1, 8000)
    _feed(stats, range(5))
    sr_at = T0 + 3 * 10**9
    report = SenderReport(99, ntp_from_unix_ns(sr_at - 30_000_000), 0, 5, 800)
    stats.sender_report(report, arrival_ns=sr_at)
    block = stats.report_block(sr_at + 250_000_000)
    assert block.lsr == compact(report.ntp_timestamp)
    assert block.dlsr == 250 * 65536 // 1000  # 250 ms held, in 1/65536 s


def test_a_clock_rate_must_be_positive() -> None:
    with pytest.raises(InvalidInput):
        ReceptionStats(1, 0)
