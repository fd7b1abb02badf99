"""pcap/pcapng reading on every supported link type, and the pcap writer."""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

import dpkt
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stream_helpers import FAX

from commex.domain.errors import InvalidInput
from commex.stream import endpoints
from commex.stream.packets import StreamKey, concat
from commex.stream.pcap import (
    MalformedCapture,
    UnsupportedCapture,
    iter_capture,
    iter_chunks,
    read_capture,
    with_streams,
    write_pcap,
)
from commex.stream.records import _walk_pcap
from commex.stream.rtp import build_rtp


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ip_udp(src: str, dst: str, sport: int, dport: int, payload: bytes, *, frag: int = 0) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if a.version == 6:
        return struct.pack("!IHBB", 0x60000000, len(udp), 17, 64) + a.packed + b.packed + udp
    head = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, frag, 64, 17, 0, a.packed, b.packed
    )
    return head + udp


def _ether(l3: bytes, *, v6: bool = False, vlans: int = 0) -> bytes:
    tags = b"".join(struct.pack("!HH", 0x8100, 10 + i) for i in range(vlans))
    return b"\x02" * 6 + b"\x04" * 6 + tags + (b"\x86\xdd" if v6 else b"\x08\x00") + l3


def _pcap(frames: list[bytes], link: int = 1, *, order: str = "<", nano: bool = False) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, link)]
    for i, frame in enumerate(frames):
        frac = (i * 20_000_000 if nano else i * 20_000) % (10**9 if nano else 10**6)
        sec = 1_700_000_000 + (i * 20_000) // 1_000_000
        out.append(struct.pack(order + "IIII", sec, frac, len(frame), len(frame)) + frame)
    return b"".join(out)


def _rtp(seq: int, ssrc: int = 0x1111, pt: int = 8, size: int = 160) -> bytes:
    return build_rtp(
        payload_type=pt,
        sequence_number=seq,
        timestamp=seq * 160,
        ssrc=ssrc,
        payload=bytes([seq % 256]) * size,
    )


def _rtp_frames(n: int = 5, **kw) -> list[bytes]:
    return [_ether(_ip_udp("10.0.0.1", "10.0.0.2", 4000, 5000, _rtp(i)), **kw) for i in range(n)]


def _write(tmp_path: Path, data: bytes, name: str = "c.pcap") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_reads_rtp_stream_from_ethernet(tmp_path: Path) -> None:
    cap = read_capture(_write(tmp_path, _pcap(_rtp_frames(5))))
    b = cap.batch
    assert len(b) == 5 and cap.skipped == 0 and cap.datagrams == 5
    assert b.seq.tolist() == [0, 1, 2, 3, 4]
    assert b.streams == (StreamKey("10.0.0.1", 4000, "10.0.0.2", 5000, 0x1111),)
    assert b.arrival_us.tolist() == [1_700_000_000_000_000 + 20_000 * i for i in range(5)]
    assert b.payload_of(3) == bytes([3]) * 160


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_both_byte_orders_and_resolutions(tmp_path: Path, order: str, nano: bool) -> None:
    cap = read_capture(_write(tmp_path, _pcap(_rtp_frames(4), order=order, nano=nano)))
    assert cap.batch.arrival_us.tolist() == [1_700_000_000_000_000 + 20_000 * i for i in range(4)]


_WRAPS = {
    "ethernet-vlan": (1, lambda l3, v6: _ether(l3, v6=v6, vlans=1)),
    "ethernet-qinq": (1, lambda l3, v6: _ether(l3, v6=v6, vlans=2)),
    "sll": (
        113,
        lambda l3, v6: struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 8, 0x86DD if v6 else 0x0800) + l3,
    ),
    "sll2": (
        276,
        lambda l3, v6: (
            struct.pack("!HHIHBB8s", 0x86DD if v6 else 0x0800, 0, 2, 1, 0, 6, b"\x02" * 8) + l3
        ),
    ),
    "raw": (101, lambda l3, v6: l3),
    "ipv4": (228, lambda l3, v6: l3),
    "ipv6": (229, lambda l3, v6: l3),
    "loopback": (0, lambda l3, v6: struct.pack("<I", 30 if v6 else 2) + l3),
}
_CASES = [
    (name, v6)
    for name in _WRAPS
    for v6 in (False, True)
    if not (name == "ipv4" and v6) and not (name == "ipv6" and not v6)
]


@pytest.mark.parametrize(("name", "v6"), _CASES)
def test_link_types_and_ip_versions(tmp_path: Path, name: str, v6: bool) -> None:
    link, wrap = _WRAPS[name]
    src, dst = ("2001:db8::1", "2001:db8::2") if v6 else ("10.1.1.1", "10.1.1.2")
    frames = [wrap(_ip_udp(src, dst, 7000, 7002, _rtp(i, ssrc=42)), v6) for i in range(4)]
    cap = read_capture(_write(tmp_path, _pcap(frames, link)))
    assert len(cap.batch) == 4, cap.skip_reasons
    assert cap.batch.streams == (StreamKey(src, 7000, dst, 7002, 42),)


def test_other_traffic_is_counted_by_reason(tmp_path: Path) -> None:
    rtp = _rtp_frames(3)
    tcp = _ether(_ip_udp("10.0.0.1", "10.0.0.2", 1, 2, b"x")[:9] + b"\x06" + bytes(30))
    arp = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + bytes(28)
    frag = _ether(_ip_udp("10.0.0.1", "10.0.0.2", 4000, 5000, _rtp(9), frag=0x2000))
    sip = _ether(_ip_udp("10.0.0.1", "10.0.0.2", 5060, 5060, b"INVITE sip:x SIP/2.0\r\n"))
    rtcp = _ether(_ip_udp("10.0.0.1", "10.0.0.2", 4001, 5001, b"\x81\xc9\x00\x07" + bytes(28)))
    short = _rtp_frames(1)[0][:40]
    cap = read_capture(_write(tmp_path, _pcap([*rtp, tcp, arp, frag, sip, rtcp, short])))
    assert len(cap.batch) == 3
    assert cap.skip_reasons == {"not-udp": 2, "fragment": 1, "not-rtp": 2, "truncated": 1}
    assert cap.skipped == 6 and cap.records == 9


def test_udptl_like_traffic_never_forms_a_stream(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    # UDPTL sequence numbers from 0x8000 start with RTP's version bits; the rest is random.
    udptl = [
        _ether(
            _ip_udp(
                "10.0.0.3", "10.0.0.4", 6000, 6002, struct.pack("!H", 0x8000 + i) + rng.bytes(40)
            )
        )
        for i in range(50)
    ]
    cap = read_capture(_write(tmp_path, _pcap(udptl + _rtp_frames(3))))
    assert len(cap.batch) == 3 and len(cap.batch.streams) == 1
    assert cap.skip_reasons.get("not-rtp-stream", 0) + cap.skip_reasons.get("not-rtp", 0) == 50


def test_a_stream_needs_three_packets_by_default(tmp_path: Path) -> None:
    path = _write(tmp_path, _pcap(_rtp_frames(2)))
    assert len(read_capture(path).batch) == 0
    assert read_capture(path).skip_reasons == {"not-rtp-stream": 2}
    assert len(read_capture(path, min_packets=1).batch) == 2


def test_unsupported_link_type_names_it(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedCapture, match="105"):
        read_capture(_write(tmp_path, _pcap(_rtp_frames(1), link=105)))


@pytest.mark.parametrize("data", [b"", b"hello world, not a capture at all", b"\xd4\xc3\xb2\xa1"])
def test_not_a_capture_is_a_clear_error(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(MalformedCapture, match=r"capture|pcap"):
        read_capture(_write(tmp_path, data))


def test_truncated_last_record_is_counted(tmp_path: Path) -> None:
    data = _pcap(_rtp_frames(4))
    cap = read_capture(_write(tmp_path, data[:-30]))
    assert len(cap.batch) == 3 and cap.skip_reasons == {"truncated": 1}


def _pcapng(frames: list[bytes], *, tsresol: int = 9) -> bytes:
    def block(kind: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        return struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))

    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    opts = struct.pack("<HHB3x", 9, 1, tsresol) + struct.pack("<HH", 0, 0)
    out.append(block(1, struct.pack("<HHI", 1, 0, 0) + opts))
    for i, frame in enumerate(frames):
        ts = (1_700_000_000 * 10**6 + 20_000 * i) * 10 ** (tsresol - 6)
        if i == len(frames) - 1:  # the last one as a simple packet block
            out.append(block(3, struct.pack("<I", len(frame)) + frame))
        else:
            out.append(
                block(
                    6,
                    struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame))
                    + frame,
                )
            )
    return b"".join(out)


def test_pcapng_with_nanosecond_interface(tmp_path: Path) -> None:
    cap = read_capture(_write(tmp_path, _pcapng(_rtp_frames(5)), "c.pcapng"))
    assert cap.batch.seq.tolist() == [0, 1, 2, 3, 4]
    assert cap.batch.arrival_us[:4].tolist() == [
        1_700_000_000_000_000 + 20_000 * i for i in range(4)
    ]


def test_round_trip_through_the_writer(tmp_path: Path) -> None:
    frames = [
        _ether(_ip_udp("10.0.0.1", "10.0.0.2", 4000, 5000, _rtp(i, ssrc=1))) for i in range(6)
    ] + [
        _ether(
            _ip_udp("2001:db8::5", "2001:db8::6", 4002, 5002, _rtp(i, ssrc=2, pt=0, size=33)),
            v6=True,
        )
        for i in range(6)
    ]
    first = read_capture(_write(tmp_path, _pcap(frames))).batch
    out = tmp_path / "out.pcap"
    write_pcap(out, first)
    again = read_capture(out).batch
    for name in (
        "seq",
        "timestamp",
        "ssrc",
        "payload_type",
        "marker",
        "stream",
        "arrival_us",
        "index",
    ):
        assert np.array_equal(getattr(first, name), getattr(again, name)), name
    assert again.payload.tobytes() == first.payload.tobytes()
    assert again.streams == first.streams


def test_written_frames_have_valid_checksums_and_lengths(tmp_path: Path) -> None:
    frames = [
        _ether(_ip_udp("10.9.8.7", "10.9.8.6", 4000, 5000, _rtp(i, size=21))) for i in range(3)
    ]
    frames += [
        _ether(_ip_udp("2001:db8::1", "2001:db8::2", 4, 6, _rtp(i, ssrc=5, size=21)), v6=True)
        for i in range(3)
    ]
    batch = read_capture(_write(tmp_path, _pcap(frames))).batch
    out = tmp_path / "out.pcap"
    write_pcap(out, batch)
    with out.open("rb") as f:
        records = list(dpkt.pcap.Reader(f))
    assert len(records) == 6
    for _, buf in records:
        eth = dpkt.ethernet.Ethernet(buf)
        ip = eth.data
        udp = ip.data
        assert udp.ulen == len(bytes(udp)) == 8 + 12 + 21
        if isinstance(ip, dpkt.ip.IP):
            assert _checksum(bytes(ip)[:20]) == 0 and ip.len == 20 + udp.ulen
        else:
            pseudo = ip.src + ip.dst + struct.pack("!IxxxB", udp.ulen, 17)
            assert udp.sum != 0 and _checksum(pseudo + bytes(udp)) == 0


def test_chunks_add_up_to_the_whole_capture(tmp_path: Path) -> None:
    frames = []
    for i in range(400):
        frames.append(_ether(_ip_udp("10.0.0.1", "10.0.0.2", 4000, 5000, _rtp(i, ssrc=1))))
        if i % 50 == 10:  # streams appear late, one packet at a time in different chunks
            for k in range(3):
                frames.append(
                    _ether(_ip_udp("10.0.0.9", "10.0.0.2", 4100 + i, 5000, _rtp(k, ssrc=i)))
                )
    path = _write(tmp_path, _pcap(frames))
    whole = read_capture(path).batch
    parts = list(iter_capture(path, chunk=1 << 16))
    assert len(parts) > 1
    assert [p[1] for p in parts] == sorted(p[1] for p in parts) and parts[-1][1] == parts[-1][2]
    batches = [p[0] for p in parts]
    indices = np.concatenate([b.index for b in batches])
    assert np.all(np.diff(indices) > 0)
    for earlier in batches:  # every table is a prefix of the final one
        assert batches[-1].streams[: len(earlier.streams)] == earlier.streams
    joined = concat(with_streams(batches))
    assert np.array_equal(joined.index, whole.index)
    assert joined.streams == whole.streams
    assert joined.payload.tobytes() == whole.payload.tobytes()
    chunk_reasons = sum(sum(c.skip_reasons.values()) for c in iter_chunks(path, chunk=1 << 16))
    assert chunk_reasons == read_capture(path).skipped == 0


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(min_size=0, max_size=400), st.sampled_from([1, 101, 113, 276, 0]))
def test_random_records_never_crash(tmp_path: Path, body: bytes, link: int) -> None:
    data = _pcap([body, body[::-1], body[: len(body) // 2]], link)
    try:
        cap = read_capture(_write(tmp_path, data))
    except InvalidInput:
        return
    assert cap.records == 3 and len(cap.batch) + cap.skipped == 3
    assert int(cap.batch.offsets[-1]) == cap.batch.payload.shape[0]


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(0, 2000), st.binary(max_size=64), st.booleans())
def test_corrupted_files_fail_cleanly(tmp_path: Path, cut: int, junk: bytes, ng: bool) -> None:
    data = (_pcapng if ng else _pcap)(_rtp_frames(6))
    data = data[: max(len(data) - cut, 0)] + junk
    try:
        cap = read_capture(_write(tmp_path, data))
    except InvalidInput:
        return
    assert len(cap.batch) <= 6


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.sampled_from([1, 2, 3, 6, 0x0A0D0D0A, 5]), st.binary(max_size=60)),
        max_size=6,
    ),
    st.integers(0, 12),
)
def test_random_pcapng_blocks_never_crash(tmp_path: Path, blocks, cut: int) -> None:
    out = [struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)]
    for kind, raw in blocks:
        body = raw + b"\x00" * (-len(raw) % 4)
        out.append(
            struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
        )
    data = b"".join(out)
    data = data[: len(data) - cut]
    try:
        cap = read_capture(_write(tmp_path, data, "f.pcapng"))
    except InvalidInput:
        return
    assert len(cap.batch) + cap.skipped == cap.records


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.integers(0, 255),
    st.integers(0, 300),
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 2**32 - 1), st.binary(max_size=80)), max_size=5
    ),
)
def test_pcapng_with_odd_interfaces_never_crashes(
    tmp_path: Path, tsresol: int, link: int, packets
) -> None:
    def block(kind: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        return struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))

    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    out.append(
        block(1, struct.pack("<HHI", link, 0, 0) + struct.pack("<HHB3xHH", 9, 1, tsresol, 0, 0))
    )
    for iface, ts, frame in packets:
        out.append(
            block(6, struct.pack("<IIIII", iface, ts, ts, len(frame) + 7, len(frame)) + frame)
        )
    try:
        cap = read_capture(_write(tmp_path, b"".join(out), "g.pcapng"))
    except InvalidInput:
        return
    assert cap.records == len(packets)


def test_writer_handles_odd_stream_tables(tmp_path: Path, media) -> None:
    mixed = (StreamKey("10.0.0.1", 4000, "2001:db8::2", 5000, 7),)
    batch = media.build_batch([b"\x01" * 20] * 3, streams=mixed, ssrc=7)
    write_pcap(tmp_path / "mixed.pcap", batch)
    (key,) = read_capture(tmp_path / "mixed.pcap").batch.streams
    assert ipaddress.ip_address(key.src).ipv4_mapped == ipaddress.ip_address("10.0.0.1")
    assert key.dst == "2001:db8::2"
    fake = media.build_batch([b"\x01"], streams=(StreamKey("caller", 1, "callee", 2, 7),))
    with pytest.raises(InvalidInput, match="caller"):
        write_pcap(tmp_path / "fake.pcap", fake)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(1, 80)), max_size=12),
    st.integers(0, 30),
    st.sampled_from(["<", ">"]),
)
def test_record_walk_finds_every_record(runs, cut: int, order: str) -> None:
    # Runs of equal-length records (as media produce) mixed with odd ones; the leaping walk
    # must find exactly what a plain record-by-record walk finds.
    lengths = [length for length, repeat in runs for _ in range(repeat)]
    data = b"".join(
        struct.pack(order + "IIII", i, 0, length, length) + bytes([i % 256]) * length
        for i, length in enumerate(lengths)
    )
    data = data[: max(len(data) - cut, 0)]
    expected, pos = [], 0
    while pos + 16 <= len(data):
        end = pos + 16 + struct.unpack_from(order + "I", data, pos + 8)[0]
        if end > len(data):
            break
        expected.append(pos)
        pos = end
    at, rest = _walk_pcap(data, order)
    assert at.tolist() == expected and rest == pos


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.lists(st.integers(1, 200), min_size=1, max_size=5), st.integers(1, 400)),
        max_size=6,
    ),
    st.integers(0, 30),
    st.sampled_from(["<", ">"]),
)
def test_record_walk_follows_repeating_patterns(runs, cut: int, order: str) -> None:
    # Calls taking turns repeat a pattern of lengths (160, 80, 80, ...); a leap that guesses
    # the pattern goes on must stop exactly where it breaks, however the data ends.
    lengths = [length for cycle, repeat in runs for _ in range(repeat) for length in cycle]
    data = b"".join(
        struct.pack(order + "IIII", i, 0, length, length) + bytes([i % 256]) * length
        for i, length in enumerate(lengths)
    )
    data = data[: max(len(data) - cut, 0)]
    expected, pos = [], 0
    while pos + 16 <= len(data):
        end = pos + 16 + struct.unpack_from(order + "I", data, pos + 8)[0]
        if end > len(data):
            break
        expected.append(pos)
        pos = end
    at, rest = _walk_pcap(data, order)
    assert at.tolist() == expected and rest == pos


def test_reading_ahead_gives_the_same_chunks_and_stops_when_left(tmp_path) -> None:
    where = endpoints.Endpoint.parse(str(FAX), field="input")
    plain = [c.batch.index.tolist() for c in endpoints.read(where, chunk_bytes=1 << 16)]
    indexes = lambda c: c.batch.index.tolist()  # noqa: E731
    ahead = list(endpoints.read_ahead(where, indexes, chunk_bytes=1 << 16))
    assert ahead == plain and len(plain) > 2
    chunks = endpoints.read_ahead(where, indexes, chunk_bytes=1 << 16)
    next(chunks)
    chunks.close()  # a reader that stops early leaves no thread behind
    missing = endpoints.Endpoint.parse(str(tmp_path / "gone.pcap"), field="input")
    with pytest.raises(FileNotFoundError):
        list(endpoints.read_ahead(missing, indexes))
