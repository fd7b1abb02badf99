"""RTCP packets: write then read gives every field back; broken bytes give one clean error."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commex.domain.errors import InvalidInput
from commex.stream.rtcp import (
    APP,
    BYE,
    PSFB,
    RR,
    RTPFB,
    SDES,
    SDES_CNAME,
    SDES_NOTE,
    SR,
    App,
    Bye,
    Feedback,
    ReceiverReport,
    ReportBlock,
    RtcpError,
    SdesChunk,
    SdesItem,
    SenderReport,
    SourceDescription,
    UnknownRtcp,
    is_rtcp,
    parse_rtcp,
    partition_mux,
)
from commex.stream.rtcpbuild import bye_compound, encode_rtcp, rr_compound, sr_compound
from commex.stream.rtp import build_rtp, parse_rtp

u32 = st.integers(0, 0xFFFFFFFF)
words = st.binary(max_size=64).map(lambda b: b[: len(b) // 4 * 4])

blocks = st.builds(
    ReportBlock,
    ssrc=u32,
    fraction_lost=st.integers(0, 255),
    packets_lost=st.integers(-(1 << 23), (1 << 23) - 1),
    highest_sequence=u32,
    jitter=u32,
    lsr=u32,
    dlsr=u32,
)
report_lists = st.lists(blocks, max_size=31).map(tuple)
sender_reports = st.builds(
    SenderReport,
    ssrc=u32,
    ntp_timestamp=st.integers(0, (1 << 64) - 1),
    rtp_timestamp=u32,
    packet_count=u32,
    octet_count=u32,
    reports=report_lists,
    extension=words,
)
receiver_reports = st.builds(ReceiverReport, ssrc=u32, reports=report_lists, extension=words)
items = st.builds(SdesItem, kind=st.integers(1, 255), value=st.binary(max_size=255))
chunks = st.builds(SdesChunk, ssrc=u32, items=st.lists(items, max_size=4).map(tuple))
descriptions = st.builds(SourceDescription, chunks=st.lists(chunks, max_size=31).map(tuple))
byes = st.builds(
    Bye,
    sources=st.lists(u32, max_size=31).map(tuple),
    reason=st.none() | st.binary(max_size=255),
)
feedback = st.builds(
    Feedback,
    packet_type=st.sampled_from([RTPFB, PSFB]),
    fmt=st.integers(0, 31),
    sender_ssrc=u32,
    media_ssrc=u32,
    fci=words,
)
apps = st.builds(
    App, subtype=st.integers(0, 31), ssrc=u32, name=st.binary(min_size=4, max_size=4), data=words
)
unknown = st.builds(
    UnknownRtcp,
    packet_type=st.integers(192, 223).filter(lambda t: not SR <= t <= PSFB),
    count=st.integers(0, 31),
    body=words,
)
packets = st.one_of(sender_reports, receiver_reports, descriptions, byes, feedback, apps, unknown)


@given(st.lists(packets, min_size=1, max_size=5), st.sampled_from([0, 4, 8, 252]))
@settings(max_examples=300)
def test_any_compound_reads_back_as_written(compound, padding) -> None:
    raw = encode_rtcp(compound, padding=padding)
    assert parse_rtcp(raw) == tuple(compound)
    assert is_rtcp(raw)
    assert len(raw) % 4 == 0


@given(st.binary(max_size=200))
@settings(max_examples=500)
def test_random_bytes_parse_or_raise_the_rtcp_error(data) -> None:
    try:
        parsed = parse_rtcp(data)
    except RtcpError as e:
        assert e.message and e.code == "malformed_rtcp"
    else:
        assert parsed


@given(st.lists(packets, min_size=1, max_size=3), st.data())
def test_a_cut_compound_is_refused_unless_cut_between_packets(compound, data) -> None:
    ends = [len(encode_rtcp(compound[: i + 1])) for i in range(len(compound))]
    raw = encode_rtcp(compound)
    cut = data.draw(st.integers(1, len(raw) - 1) | st.sampled_from(ends))
    if cut in ends:
        assert parse_rtcp(raw[:cut]) == tuple(compound[: ends.index(cut) + 1])
    else:
        with pytest.raises(RtcpError):
            parse_rtcp(raw[:cut])


def test_sender_report_fields_sit_where_rfc3550_puts_them() -> None:
    block = ReportBlock(0x0A0B0C0D, 64, -3, 0x00010005, 42, 0x12345678, 65536)
    sr = SenderReport(0xCAFEBABE, 0x83AA7E80_80000000, 160, 2, 320, (block,))
    raw = encode_rtcp([sr])
    assert raw[:4] == bytes([0x81, SR, 0, 12])
    assert struct.unpack("!IQIII", raw[4:28]) == (0xCAFEBABE, 0x83AA7E80_80000000, 160, 2, 320)
    assert raw[28:32] == bytes.fromhex("0a0b0c0d")
    assert raw[32:36] == bytes([64, 0xFF, 0xFF, 0xFD])  # fraction, then -3 in 24 bits
    assert struct.unpack("!IIII", raw[36:52]) == (0x00010005, 42, 0x12345678, 65536)


def test_sr_compound_carries_the_cname_and_a_bye_ends_the_call() -> None:
    sr = SenderReport(7, 1 << 63, 1, 2, 3)
    first, sdes = parse_rtcp(sr_compound(sr, "call-7@commex"))
    assert first == sr
    assert isinstance(sdes, SourceDescription) and sdes.chunks[0].cname == "call-7@commex"
    *_, bye = parse_rtcp(bye_compound(sr, "call-7@commex", reason="call ended"))
    assert bye == Bye((7,), b"call ended") and bye.reason_text == "call ended"
    rr, _ = parse_rtcp(rr_compound(9, [ReportBlock(7, 0, 0, 100, 0, 0, 0)], "phone"))
    assert isinstance(rr, ReceiverReport) and rr.ssrc == 9 and rr.reports[0].ssrc == 7


def test_sdes_keeps_every_item_and_reads_text() -> None:
    chunk = SdesChunk(5, (SdesItem(SDES_CNAME, b"a@b"), SdesItem(SDES_NOTE, "héllo".encode())))
    (sdes,) = parse_rtcp(encode_rtcp([SourceDescription((chunk,))]))
    assert isinstance(sdes, SourceDescription)
    assert sdes.chunks[0].items[1].text == "héllo" and sdes.chunks[0].cname == "a@b"
    assert SdesChunk(1).cname is None


def test_generic_nack_lists_the_lost_sequence_numbers() -> None:
    fb = Feedback(RTPFB, 1, 1, 2, struct.pack("!HH", 65534, 0b101))
    assert fb.nack_sequences() == [65534, 65535, 1]
    with pytest.raises(InvalidInput):
        Feedback(PSFB, 1, 1, 2).nack_sequences()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "at least a 4-byte header"),
        (b"\x81\xc9\x00", "truncated: 3 bytes"),
        (b"\x41\xc9\x00\x01\x00\x00\x00\x01", "version 1"),
        (b"\x80\x60\x00\x00", "type 96, not an RTCP type"),
        (b"\x80\xc9\x00\x02\x00\x00\x00\x01", "length field says 12 bytes, 8 are left"),
        (b"\xa0\xc9\x00\x01\x00\x00\x00\x00", "invalid padding count 0"),
        (b"\xa0\xcb\x00\x01\x00\x00\x00\x09", "invalid padding count 9"),
        (b"\xa0\xcb\x00\x00", "padding bit set but no padding byte"),
        (b"\x81\xcb\x00\x01\x00\x00\x00\x01\x03\x00\x00\x00", "packet 2 of the datagram"),
        (b"\x80\xcb\x00\x01\x05abc", "reason of 5 bytes"),
        (b"\x81\xca\x00\x03\x00\x00\x00\x01\x01\x02xy\x00\x07\x00\x00", "not ended by null"),
        (b"\x81\xca\x00\x02\x00\x00\x00\x01\x01\x01x\x01", "item is truncated at byte 7"),
        (b"\x80\xca\x00\x01\x00\x00\x00\x00", "4 bytes after its 0 chunks"),
        (
            b"\x80\xcc\x00\x01\x00\x00\x00\x01",
            "APP .packet 1 of the datagram. length is invalid: 4 bytes",
        ),
    ],
)
def test_broken_packets_name_what_is_wrong(data: bytes, words: str) -> None:
    with pytest.raises(RtcpError, match=words):
        parse_rtcp(data)


@pytest.mark.parametrize(
    ("packet", "field"),
    [
        (ReceiverReport(1 << 32), "ssrc"),
        (ReceiverReport(1, (ReportBlock(1, 256, 0, 0, 0, 0, 0),)), "fraction_lost"),
        (ReceiverReport(1, (ReportBlock(1, 0, 1 << 23, 0, 0, 0, 0),)), "packets_lost"),
        (ReceiverReport(1, (ReportBlock(1, 0, 0, 0, -1, 0, 0),)), "jitter"),
        (ReceiverReport(1, (ReportBlock(1, 0, 0, 0, 0, 0, 0),) * 32), "count"),
        (SenderReport(1, 1 << 64, 0, 0, 0), "ntp_timestamp"),
        (SenderReport(1, 0, 0, 0, 0, extension=b"abc"), "extension"),
        (SourceDescription((SdesChunk(1, (SdesItem(0, b""),)),)), "kind"),
        (SourceDescription((SdesChunk(1, (SdesItem(1, bytes(256)),)),)), "sdes"),
        (Bye((1,), bytes(256)), "reason"),
        (Feedback(200, 1, 1, 1), "type"),
        (Feedback(RTPFB, 1, 1, 1, b"\x00"), "fci"),
        (App(0, 1, b"abc"), "name"),
        (UnknownRtcp(RR, 0), "type"),
        (UnknownRtcp(100, 0), "type"),
    ],
)
def test_writing_an_out_of_range_field_names_it(packet, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        encode_rtcp([packet])
    assert caught.value.field == field


def test_writing_nothing_or_odd_padding_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at least one packet"):
        encode_rtcp([])
    with pytest.raises(InvalidInput, match="multiple of 4"):
        encode_rtcp([Bye()], padding=3)


def test_unknown_types_stay_opaque_and_app_is_read() -> None:
    xr = UnknownRtcp(207, 0, b"\x00\x00\x00\x01\x04\x00\x00\x02\x00\x00\x00\x00")
    app = App(3, 9, b"TEST", b"data")
    assert parse_rtcp(encode_rtcp([xr, app])) == (xr, app)
    assert encode_rtcp([app])[1] == APP


def test_rtcp_mux_tells_rtcp_from_rtp() -> None:
    rtp = build_rtp(payload_type=0, sequence_number=1, timestamp=2, ssrc=3, payload=b"x")
    rtp_marked = build_rtp(payload_type=96, sequence_number=1, timestamp=2, ssrc=3, marker=True)
    rtcp = encode_rtcp([ReceiverReport(3)])
    bye = encode_rtcp([Bye((3,))])
    stray = b"\x00\xc9\x00\x00"  # an RTCP type but version 0: neither
    datagrams = [rtp, rtcp, rtp_marked, bye, stray, b"\x80"]
    media, control = partition_mux(datagrams)
    assert control == [1, 3]
    assert media == [0, 2, 4, 5]
    assert parse_rtp(datagrams[2]).marker
    assert [type(p) for i in control for p in parse_rtcp(datagrams[i])] == [ReceiverReport, Bye]
    assert {datagrams[i][1] for i in control} <= {RR, BYE, SDES}
