"""RTP parse and write, one packet at a time and in bulk."""

from __future__ import annotations

import ipaddress

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commex.domain.errors import InvalidInput
from commex.stream.packets import StreamKey
from commex.stream.rtp import (
    MalformedPacket,
    batch_from_datagrams,
    build_rtp,
    columns_to_batch,
    datagrams,
    decode_columns,
    parse_rtp,
    serialize,
)
from commex.stream.streamtable import StreamTable, key_rows


def _bulk(packets: list[bytes]):
    sizes = np.array([len(p) for p in packets], dtype=np.int64)
    starts = np.zeros(len(packets), dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    buf = np.frombuffer(b"".join(packets), dtype=np.uint8)
    return buf, starts, sizes


def test_build_then_parse_keeps_every_field() -> None:
    raw = build_rtp(
        payload_type=96,
        sequence_number=65535,
        timestamp=0xFFFFFFFF,
        ssrc=0xDEADBEEF,
        payload=b"\x01\x02\x03",
        marker=True,
        csrcs=(1, 2, 3),
        extension_profile=0xBEDE,
        extension_data=b"\x10\xaa\x00\x00",
        padding=5,
    )
    p = parse_rtp(raw)
    assert (p.version, p.padding, p.extension, p.marker) == (2, True, True, True)
    assert (p.payload_type, p.sequence_number, p.timestamp, p.ssrc) == (
        96,
        65535,
        0xFFFFFFFF,
        0xDEADBEEF,
    )
    assert p.csrcs == (1, 2, 3) and p.csrc_count == 3
    assert p.extension_profile == 0xBEDE and p.extension_data == b"\x10\xaa\x00\x00"
    assert p.payload == b"\x01\x02\x03" and p.padding_bytes == 5
    assert len(raw) == 12 + 12 + 8 + 3 + 5


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "too short"),
        (b"\x80\x00" + bytes(9), "too short"),
        (b"\x40\x00" + bytes(10), "version 1"),
        (b"\x81\xc8" + bytes(10), "RTCP"),
        (b"\x83\x00" + bytes(10) + bytes(8), "CSRC"),
        (b"\x90\x00" + bytes(10) + b"\xbe\xde", "extension"),
        (b"\x90\x00" + bytes(10) + b"\xbe\xde\x00\x02" + bytes(4), "extension"),
        (b"\xa0\x00" + bytes(10), "padding"),
        (b"\xa0\x00" + bytes(10) + b"\x01\x02\x00", "padding"),
        (b"\xa0\x00" + bytes(10) + b"\x01\x05", "padding"),
    ],
)
def test_malformed_packets_get_a_clear_error(data: bytes, words: str) -> None:
    with pytest.raises(MalformedPacket, match=words):
        parse_rtp(data)


def test_malformed_packet_is_invalid_input() -> None:
    assert issubclass(MalformedPacket, InvalidInput)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"payload_type": 128},
        {"sequence_number": 65536},
        {"timestamp": -1},
        {"ssrc": 1 << 32},
        {"csrcs": tuple(range(16))},
        {"extension_profile": 1, "extension_data": b"\x00"},
        {"payload_type": 72, "marker": True},
    ],
)
def test_build_refuses_fields_out_of_range(kwargs: dict) -> None:
    args = {"payload_type": 0, "sequence_number": 1, "timestamp": 2, "ssrc": 3, **kwargs}
    with pytest.raises(InvalidInput):
        build_rtp(**args)


def test_bulk_decode_agrees_with_the_single_parser() -> None:
    packets = [
        build_rtp(payload_type=0, sequence_number=i, timestamp=160 * i, ssrc=7, payload=b"x" * i)
        for i in range(5)
    ]
    packets += [
        b"\x81\xc9" + bytes(30),  # RTCP receiver report
        b"\x00" * 20,  # not version 2
        build_rtp(payload_type=8, sequence_number=9, timestamp=1, ssrc=2, csrcs=(5,))[:14],
        build_rtp(payload_type=8, sequence_number=9, timestamp=1, ssrc=2, padding=3),
    ]
    buf, starts, sizes = _bulk(packets)
    cols = decode_columns(buf, starts, sizes)
    assert cols.ok.tolist() == [True] * 5 + [False, False, False, True]
    for i in np.flatnonzero(cols.ok):
        p = parse_rtp(packets[i])
        assert int(cols.seq[i]) == p.sequence_number
        assert int(cols.timestamp[i]) == p.timestamp
        assert int(cols.payload_type[i]) == p.payload_type
        assert buf[cols.header_end[i] : cols.payload_end[i]].tobytes() == p.payload


def test_serialize_writes_back_the_same_datagrams() -> None:
    packets = [
        build_rtp(payload_type=0, sequence_number=1, timestamp=160, ssrc=7, payload=b"ab"),
        build_rtp(
            payload_type=101,
            sequence_number=2,
            timestamp=320,
            ssrc=7,
            marker=True,
            csrcs=(9, 10),
            extension_profile=0xBEDE,
            extension_data=b"\x22\x33\x44\x00",
            payload=b"\x01\x8a\x03\xc0",
        ),
        build_rtp(payload_type=8, sequence_number=3, timestamp=480, ssrc=7),
    ]
    buf, starts, sizes = _bulk(packets)
    cols = decode_columns(buf, starts, sizes)
    rows = np.arange(3, dtype=np.int64)
    batch = columns_to_batch(
        buf,
        starts,
        cols,
        rows,
        index=rows,
        stream=np.zeros(3, dtype=np.int32),
        arrival_us=rows * 20_000,
        streams=(StreamKey("a", 1, "b", 2, 7),),
    )
    assert datagrams(batch) == packets
    out, offsets = serialize(batch)
    assert out.tobytes() == b"".join(packets)
    assert offsets.tolist() == [0, *np.cumsum(sizes).tolist()]


def test_padding_is_dropped_when_written_again() -> None:
    raw = build_rtp(
        payload_type=0, sequence_number=1, timestamp=2, ssrc=3, payload=b"ab", padding=4
    )
    buf, starts, sizes = _bulk([raw])
    cols = decode_columns(buf, starts, sizes)
    rows = np.zeros(1, dtype=np.int64)
    batch = columns_to_batch(
        buf,
        starts,
        cols,
        rows,
        index=rows,
        stream=rows.astype(np.int32),
        arrival_us=rows,
        streams=(),
    )
    again = parse_rtp(datagrams(batch)[0])
    assert again.payload == b"ab" and not again.padding


def test_stream_table_needs_enough_packets_and_keeps_ids() -> None:
    def rows(ssrcs: list[int]) -> np.ndarray:
        n = len(ssrcs)
        addr = np.zeros((n, 16), dtype=np.uint8)
        addr[:, 12:] = [10, 0, 0, 1]
        return key_rows(
            addr,
            addr,
            is_v6=np.zeros(n, dtype=np.bool_),
            sport=np.full(n, 4000),
            dport=np.full(n, 5000),
            ssrc=np.array(ssrcs, dtype=np.int64),
        )

    table = StreamTable(min_packets=3)
    first = rows([1, 2, 1, 3, 1])
    table.count(first)
    assert table.assign(first).tolist() == [0, -1, 0, -1, 0]
    second = rows([2, 2, 1])
    table.count(second)
    assert table.assign(second).tolist() == [1, 1, 0]
    assert [k.ssrc for k in table.streams] == [1, 2]
    assert table.streams[0] == StreamKey("10.0.0.1", 4000, "10.0.0.1", 5000, 1)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_random_bytes_never_crash_the_parsers(data: bytes) -> None:
    try:
        parse_rtp(data)
        parsed = True
    except MalformedPacket:
        parsed = False
    buf, starts, sizes = _bulk([data])
    assert bool(decode_columns(buf, starts, sizes).ok[0]) == parsed


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 15),
    st.binary(max_size=40),
    st.integers(0, 20),
    st.integers(0, 200),
    st.booleans(),
)
def test_truncated_packets_are_refused_cleanly(
    csrcs: int, payload: bytes, padding: int, cut: int, ext: bool
) -> None:
    raw = build_rtp(
        payload_type=0,
        sequence_number=1,
        timestamp=2,
        ssrc=3,
        csrcs=tuple(range(csrcs)),
        payload=payload,
        padding=padding,
        extension_profile=1 if ext else None,
        extension_data=b"\x00" * 8 if ext else b"",
    )
    data = raw[: max(len(raw) - cut, 0)]
    try:
        p = parse_rtp(data)
    except MalformedPacket:
        buf, starts, sizes = _bulk([data])
        assert not decode_columns(buf, starts, sizes).ok[0]
        return
    if data == raw:
        assert p.payload == payload and p.csrc_count == csrcs


def test_batch_from_datagrams_numbers_streams_across_calls() -> None:
    table = StreamTable()
    first = [
        build_rtp(payload_type=0, sequence_number=1, timestamp=0, ssrc=10, payload=b"a"),
        b"\x81\xc8" + bytes(26),  # RTCP
        build_rtp(payload_type=8, sequence_number=7, timestamp=0, ssrc=20, payload=b"bb"),
        b"junk",
    ]
    sources = [("10.0.0.1", 4000), ("10.0.0.1", 4001), ("2001:db8::9", 6000), ("10.0.0.3", 1)]
    batch, skipped = batch_from_datagrams(
        first, sources, ("10.0.0.2", 5000), arrival_us=[5, 6, 7, 8], first_index=100, table=table
    )
    assert skipped == 2
    assert batch.index.tolist() == [100, 102] and batch.arrival_us.tolist() == [5, 7]
    assert batch.stream.tolist() == [0, 1]
    assert batch.streams == (
        StreamKey("10.0.0.1", 4000, "10.0.0.2", 5000, 10),
        # A dual-stack socket: the IPv4 destination is written as IPv4-mapped IPv6.
        StreamKey("2001:db8::9", 6000, str(ipaddress.ip_address("::ffff:10.0.0.2")), 5000, 20),
    )
    later, skipped = batch_from_datagrams(
        [build_rtp(payload_type=8, sequence_number=8, timestamp=160, ssrc=20, payload=b"cc")],
        [("2001:db8::9", 6000)],
        [("10.0.0.2", 5000)],
        table=table,
    )
    assert skipped == 0 and later.stream.tolist() == [1] and later.payload_of(0) == b"cc"
