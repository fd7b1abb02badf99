"""Live RTP over UDP on the loopback interface."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from commex.domain.errors import InvalidInput
from commex.stream.rtp import build_rtp
from commex.stream.udp import UdpSink, UdpSource


def test_a_batch_sent_is_a_batch_received(media) -> None:
    rng = np.random.default_rng(2)
    batch = media.audio_batch(rng.normal(0, 2000, 160 * 40).astype(np.int16), ssrc=0xABCD)
    with UdpSource("127.0.0.1", 0, idle_timeout=1.0) as source:
        with UdpSink(*source.address) as sink:
            assert sink.send(batch) == 40
        got = source.read_all()
    assert len(got) == 40 and source.packets == 40 and source.skipped == 0
    assert got.payload.tobytes() == batch.payload.tobytes()
    assert got.seq.tolist() == batch.seq.tolist()
    assert got.timestamp.tolist() == batch.timestamp.tolist()
    assert got.index.tolist() == list(range(40))
    (key,) = got.streams
    assert (key.dst, key.dst_port, key.ssrc) == ("127.0.0.1", source.address[1], 0xABCD)
    assert np.all(np.diff(got.arrival_us) >= 0)


def test_max_packets_stops_and_non_rtp_is_counted() -> None:
    with UdpSource("127.0.0.1", 0, idle_timeout=5.0, max_packets=4) as source:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
            for datagram in (
                build_rtp(payload_type=0, sequence_number=1, timestamp=0, ssrc=1, payload=b"a"),
                b"\x81\xc8\x00\x06" + bytes(24),  # RTCP sender report
                b"INVITE sip:x SIP/2.0\r\n",
                build_rtp(payload_type=0, sequence_number=2, timestamp=160, ssrc=1, payload=b"b"),
                build_rtp(payload_type=0, sequence_number=3, timestamp=320, ssrc=1, payload=b"c"),
            ):
                raw.sendto(datagram, source.address)
        started = time.monotonic()
        got = source.read_all()
    assert time.monotonic() - started < 4.0  # stopped on the count, not the idle timeout
    assert source.received == 4 and source.skipped == 2
    assert got.seq.tolist() == [1, 2] and got.index.tolist() == [0, 3]


def test_idle_timeout_stops_an_empty_source() -> None:
    with UdpSource("127.0.0.1", 0, idle_timeout=0.2) as source:
        started = time.monotonic()
        got = source.read_all()
    assert len(got) == 0 and time.monotonic() - started < 2.0


def test_batches_flow_while_receiving(media) -> None:
    batch = media.build_batch([b"x" * 20] * 10, ssrc=5)
    with UdpSource("127.0.0.1", 0, idle_timeout=0.5, batch_size=4) as source:
        with UdpSink(*source.address) as sink:
            sink.send(batch)
        sizes = [len(b) for b in source.batches()]
    assert sum(sizes) == 10 and max(sizes) <= 4


def test_a_source_needs_a_way_to_stop() -> None:
    with pytest.raises(InvalidInput):
        UdpSource("127.0.0.1", 0, idle_timeout=None, max_packets=None)


def test_port_in_use_is_a_clear_error() -> None:
    with (
        UdpSource("127.0.0.1", 0, idle_timeout=0.1) as first,
        pytest.raises(InvalidInput, match="cannot listen"),
    ):
        UdpSource("127.0.0.1", first.address[1], idle_timeout=0.1)
