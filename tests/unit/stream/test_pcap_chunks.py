"""A capture read stream by stream, cut into segments and written back out of order gives
the same packets and the same file as the capture read, cut and written in order."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np

from commex.stream.aggregation import merge_order
from commex.stream.packets import PacketBatch, concat
from commex.stream.pcap import PcapWriter, iter_chunks, with_streams
from commex.stream.rtp import build_rtp
from commex.stream.segmenting import SegmentPolicy, segment

COLUMNS = ("index", "stream", "arrival_us", "seq", "timestamp", "ssrc", "payload_type", "marker")


def _frame(src: str, dst: str, port: int, rtp: bytes) -> bytes:
    udp = struct.pack("!HHHH", port, port + 1, 8 + len(rtp), 0) + rtp
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if a.version == 6:
        l3 = struct.pack("!IHBB", 0x60000000, len(udp), 17, 64) + a.packed + b.packed + udp
        return b"\x02" * 12 + b"\x86\xdd" + l3
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, a.packed, b.packed)
    return b"\x02" * 12 + b"\x08\x00" + head + udp


def _capture(path: Path, packets: int = 900) -> Path:
    """Three calls interleaved: IPv4 G.711 of two sizes, IPv6 with CSRCs and a header
    extension, and an IPv4 one that starts late."""
    frames = []
    for i in range(packets):
        k = i % 3
        if k == 0:
            rtp = build_rtp(payload_type=8, sequence_number=i // 3, timestamp=i * 53, ssrc=7,
                            payload=bytes([i % 251]) * (160 if i % 7 else 1))  # fmt: skip
            frames.append(_frame("10.0.0.1", "10.0.0.2", 4000, rtp))
        elif k == 1:
            rtp = build_rtp(payload_type=0, sequence_number=i // 3, timestamp=i * 80, ssrc=9,
                            payload=bytes([i % 241]) * 80, csrcs=(1, 2),
                            extension_profile=0xBEDE, extension_data=bytes(4))  # fmt: skip
            frames.append(_frame("2001:db8::1", "2001:db8::2", 6000, rtp))
        elif i > packets // 2:
            rtp = build_rtp(payload_type=8, sequence_number=i, timestamp=i, ssrc=11,
                            payload=bytes([i % 239]) * 40)  # fmt: skip
            frames.append(_frame("10.0.0.3", "10.0.0.2", 8000, rtp))
    records = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i, frame in enumerate(frames):
        records.append(struct.pack("<IIII", 1_700_000_000 + i // 50, (i % 50) * 20_000,
                                   len(frame), len(frame)) + frame)  # fmt: skip
    path.write_bytes(b"".join(records))
    return path


def _same(a: PacketBatch, b: PacketBatch) -> None:
    for name in COLUMNS:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.payload.tobytes() == b.payload.tobytes()
    assert a.header_extra.tobytes() == b.header_extra.tobytes()
    assert np.array_equal(a.offsets, b.offsets) and a.streams == b.streams


def test_a_chunk_read_by_stream_holds_its_packets_stream_by_stream(tmp_path: Path) -> None:
    path = _capture(tmp_path / "calls.pcap")
    plain = list(iter_chunks(path, chunk=1 << 16))
    grouped = list(iter_chunks(path, chunk=1 << 16, by_stream=True))
    assert len(plain) == len(grouped) > 2
    for a, b in zip(plain, grouped, strict=True):
        s = b.batch.stream.astype(np.int64)
        assert np.all(np.diff(s) >= 0) and len(np.unique(s)) > 1
        assert np.all((np.diff(b.batch.index) > 0) | (np.diff(s) > 0))
        _same(a.batch.take(np.lexsort((a.batch.index, a.batch.stream))), b.batch)
        assert (a.records, a.datagrams, a.skip_reasons) == (b.records, b.datagrams, b.skip_reasons)


def test_segments_of_a_chunk_read_by_stream_are_the_same(tmp_path: Path) -> None:
    path = _capture(tmp_path / "calls.pcap")
    policy = SegmentPolicy.parse("packets:40")
    for a, b in zip(iter_chunks(path, chunk=1 << 16),
                    iter_chunks(path, chunk=1 << 16, by_stream=True), strict=True):  # fmt: skip
        plain, grouped = segment(a.batch, policy), segment(b.batch, policy)
        assert [s.id for s in plain] == [s.id for s in grouped]
        for x, y in zip(plain, grouped, strict=True):
            _same(x.batch, y.batch)


def test_writing_rows_out_of_order_gives_the_file_of_the_merged_rows(tmp_path: Path) -> None:
    path = _capture(tmp_path / "calls.pcap")
    batches = [c.batch for c in iter_chunks(path, chunk=1 << 16, by_stream=True)]
    batch = concat(with_streams(batches))
    parts = [s.batch for s in segment(batch, SegmentPolicy.parse("packets:25"))]
    order = merge_order(parts)
    assert order is not None
    merged = concat(parts, order)
    assert np.all(np.diff(merged.index) > 0)
    departures = merged.arrival_us + np.arange(len(merged)) * 7  # a shaper's later times
    for times in (None, departures):
        with PcapWriter(tmp_path / "merged.pcap") as writer:
            writer.write_merged(parts, order, times)
        expected = merged if times is None else replace(merged, arrival_us=times)
        with PcapWriter(tmp_path / "plain.pcap") as writer:
            writer.write(expected)
        written = (tmp_path / "merged.pcap").read_bytes()
        assert written == (tmp_path / "plain.pcap").read_bytes()
        assert len(written) > 24 + len(merged) * 70
