"""Live RTP over UDP on the loopback interface: bursts in, datagrams out."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from commex.domain.errors import InvalidInput
from commex.stream.ingest import Burst, UdpIngest
from commex.stream.rtp import build_rtp
from commex.stream.udp import UdpSink


def _drain_until(ingest: UdpIngest, count: int, timeout: float = 5.0) -> list[Burst]:
    """Read bursts until ``count`` datagrams (packets, RTCP and skipped) came, or fail."""
    got: list[Burst] = []
    deadline = time.monotonic() + timeout
    while sum(len(b.batch) + len(b.rtcp) + b.skipped + b.refused for b in got) < count:
        assert time.monotonic() < deadline, "the datagrams did not arrive"
        burst = ingest.drain(time.monotonic())
        if len(burst.batch) or burst.rtcp or burst.skipped or burst.refused:
            got.append(burst)
    return got


def test_a_batch_sent_is_a_burst_received(media) -> None:
    rng = np.random.default_rng(2)
    batch = media.audio_batch(rng.normal(0, 2000, 160 * 40).astype(np.int16), ssrc=0xABCD)
    ingest = UdpIngest("127.0.0.1", 0, offset=time.time() - time.monotonic())
    try:
        with UdpSink(*ingest.address) as sink:
            assert sink.send(batch) == 40
        bursts = _drain_until(ingest, 40)
    finally:
        ingest.close()
    got = bursts[0].batch if len(bursts) == 1 else None
    assert got is not None and len(got) == 40
    assert got.payload.tobytes() == batch.payload.tobytes()
    assert got.seq.tolist() == batch.seq.tolist()
    assert got.timestamp.tolist() == batch.timestamp.tolist()
    assert got.index.tolist() == list(range(40))
    (key,) = got.streams
    assert (key.dst, key.dst_port, key.ssrc) == ("127.0.0.1", ingest.address[1], 0xABCD)
    assert np.all(np.diff(got.arrival_us) >= 0)
    assert abs(got.arrival_us[0] / 1e6 - time.time()) < 5  # wall-clock arrival times


def test_streams_not_admitted_are_refused_and_each_ssrc_is_asked_about_once() -> None:
    asked: list[int] = []

    def admit(ssrc: int) -> bool:
        asked.append(ssrc)
        return ssrc == 7

    ingest = UdpIngest("127.0.0.1", 0, offset=time.time() - time.monotonic(), admit=admit)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
            for k in range(6):
                ssrc = (7, 9)[k % 2]
                raw.sendto(build_rtp(payload_type=0, sequence_number=k, timestamp=160 * k,
                                     ssrc=ssrc, payload=b"x" * 160), ingest.address)  # fmt: skip
        bursts = _drain_until(ingest, 6)
    finally:
        ingest.close()
    assert [s for b in bursts for s in b.batch.ssrc.tolist()] == [7, 7, 7]
    assert sum(b.refused for b in bursts) == 3 and sum(b.skipped for b in bursts) == 0
    assert sorted(asked) == [7, 9]
    assert {k.ssrc for b in bursts for k in b.batch.streams} <= {7}  # no stream for the refused


def test_rtcp_is_set_aside_and_other_datagrams_are_skipped() -> None:
    ingest = UdpIngest("127.0.0.1", 0, offset=time.time() - time.monotonic())
    report = b"\x81\xc9\x00\x07" + bytes(28)  # a receiver report, RFC 5761 type 201
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
            for datagram in (
                build_rtp(payload_type=0, sequence_number=1, timestamp=0, ssrc=1, payload=b"a"),
                report,
                b"INVITE sip:x SIP/2.0\r\n",
                build_rtp(payload_type=0, sequence_number=2, timestamp=160, ssrc=1, payload=b"b"),
            ):
                raw.sendto(datagram, ingest.address)
        bursts = _drain_until(ingest, 4)
    finally:
        ingest.close()
    assert [s for b in bursts for s in b.batch.seq.tolist()] == [1, 2]
    assert [r for b in bursts for r in b.rtcp] == [report]
    assert sum(b.skipped for b in bursts) == 1


def test_streams_are_told_apart_by_source_and_ssrc_and_ids_are_used_again() -> None:
    ingest = UdpIngest("127.0.0.1", 0, offset=0.0)
    try:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b,
        ):
            for sock, ssrc in ((a, 7), (b, 7), (a, 8)):
                sock.sendto(
                    build_rtp(payload_type=0, sequence_number=1, timestamp=0, ssrc=ssrc),
                    ingest.address,
                )
            bursts = _drain_until(ingest, 3)
        ids = np.concatenate([b.batch.stream for b in bursts])
        assert sorted(set(ids.tolist())) == [0, 1, 2]
        registry = ingest.registry
        assert sorted(registry.keys[s].ssrc for s in registry.streams()) == [7, 7, 8]
        gone = registry.release(1)
        assert gone.ssrc in (7, 8) and registry.streams() == [0, 2]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.sendto(build_rtp(payload_type=0, sequence_number=1, timestamp=0, ssrc=9),
                     ingest.address)  # fmt: skip
            (burst,) = _drain_until(ingest, 1)
        assert burst.batch.stream.tolist() == [1]  # the freed id numbers the new stream
        assert burst.batch.streams[1].ssrc == 9
    finally:
        ingest.close()


def test_port_in_use_is_a_clear_error() -> None:
    first = UdpIngest("127.0.0.1", 0, offset=0.0)
    try:
        with pytest.raises(InvalidInput, match="cannot listen"):
            UdpIngest("127.0.0.1", first.address[1], offset=0.0)
    finally:
        first.close()
