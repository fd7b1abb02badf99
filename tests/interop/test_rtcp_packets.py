"""RTCP against other implementations: aiortc's packets, a FreeSWITCH capture, and tshark."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import dpkt
import pytest

from commex.stream.frames import UDP, decode_frames
from commex.stream.ntptime import COMPACT_HZ, compact, round_trip_units
from commex.stream.records import read_records
from commex.stream.rtcp import (
    PSFB,
    RTPFB,
    Bye,
    Feedback,
    ReceiverReport,
    ReportBlock,
    RtcpError,
    SenderReport,
    SourceDescription,
    parse_rtcp,
)
from commex.stream.rtcpbuild import rr_compound
from commex.stream.rtcpsession import SenderSession

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata"
PACKETS = TESTDATA / "packets"
MANIFEST = json.loads((PACKETS / "rtcp-manifest.json").read_text())
COMPOUND = TESTDATA / "captures" / "rtcp_multiple_pkts_in_the_same_datagram.pcap"
BROKEN = sorted(
    p.name for p in PACKETS.glob("rtcp*.bin") if p.stem.endswith(("_invalid", "_truncated"))
)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_reports_match_the_manifest(name: str) -> None:
    expected = MANIFEST[name]
    packets = parse_rtcp((PACKETS / name).read_bytes())
    assert len(packets) == expected["packets"]
    (report,) = packets
    assert isinstance(report, SenderReport | ReceiverReport)
    assert {SenderReport: 200, ReceiverReport: 201}[type(report)] == expected["type"]
    assert report.ssrc == expected["ssrc"]
    if isinstance(report, SenderReport):
        assert report.ntp_timestamp == expected["ntp_timestamp"]
        assert report.rtp_timestamp == expected["rtp_timestamp"]
        assert report.packet_count == expected["packet_count"]
        assert report.octet_count == expected["octet_count"]
    assert [
        {
            "ssrc": b.ssrc,
            "fraction_lost": b.fraction_lost,
            "packets_lost": b.packets_lost,
            "highest_sequence": b.highest_sequence,
            "jitter": b.jitter,
            "lsr": b.lsr,
            "dlsr": b.dlsr,
        }
        for b in report.reports
    ] == expected["reports"]


def test_the_other_packets_read_as_their_types() -> None:
    def one(name: str):
        (packet,) = parse_rtcp((PACKETS / name).read_bytes())
        return packet

    assert one("rtcp_bye.bin") == Bye((0xAE528B43,))
    assert one("rtcp_bye_no_sources.bin") == Bye()
    assert one("rtcp_bye_padding.bin") == Bye()  # four bytes of padding, nothing else
    pli = one("rtcp_psfb_pli.bin")
    assert pli == Feedback(PSFB, 1, 0x54506265, 0x23013FB9)  # a picture loss indication
    nack = one("rtcp_rtpfb.bin")
    assert isinstance(nack, Feedback) and (nack.packet_type, nack.fmt) == (RTPFB, 1)
    assert (nack.sender_ssrc, nack.media_ssrc) == (0x8B4477BB, 0xF71DEEE4)
    assert nack.nack_sequences() == [
        12,
        32,
        39,
        54,
        76,
        110,
        123,
        142,
        183,
        187,
        223,
        236,
        271,
        292,
    ]
    sdes = one("rtcp_sdes.bin")
    assert isinstance(sdes, SourceDescription) and len(sdes.chunks) == 1
    assert sdes.chunks[0].ssrc == 0x6D2453EA
    assert sdes.chunks[0].cname == "{63f459ea-41fe-4474-9d33-9707c9ee79d1}"
    named = {p.name for p in PACKETS.glob("rtcp*.bin")} - set(BROKEN) - set(MANIFEST)
    assert named == {
        "rtcp_bye.bin",
        "rtcp_bye_no_sources.bin",
        "rtcp_bye_padding.bin",
        "rtcp_psfb_pli.bin",
        "rtcp_rtpfb.bin",
        "rtcp_sdes.bin",
    }


@pytest.mark.parametrize("name", BROKEN)
def test_invalid_and_truncated_packets_raise_the_rtcp_error(name: str) -> None:
    with pytest.raises(RtcpError) as caught:
        parse_rtcp((PACKETS / name).read_bytes())
    assert caught.value.message.startswith("RTCP ")


def test_broken_files_are_all_there() -> None:
    assert len(BROKEN) == 7


def _udp_datagrams(path: Path) -> list[tuple[float, bytes]]:
    """(arrival in s, UDP payload) of every record, read with commex's own frame decoder."""
    out = []
    with open(path, "rb") as f:
        for records, _ in read_records(f, 1 << 16):
            frames = decode_frames(records.buf, records.starts, records.caplen, records.link)
            assert (frames.reason == UDP).all()
            for i in range(records.starts.shape[0]):
                start = int(frames.udp_start[i])
                payload = records.buf[start : start + int(frames.udp_len[i])].tobytes()
                out.append((int(records.arrival_us[i]) / 1e6, payload))
    return out


def test_compound_packets_in_a_real_capture() -> None:
    datagrams = _udp_datagrams(COMPOUND)  # Linux cooked capture (link type 113)
    assert len(datagrams) == 5
    compounds = [parse_rtcp(d) for _, d in datagrams]
    kinds = [[type(p).__name__ for p in c] for c in compounds]
    assert kinds == [
        ["SenderReport", "SourceDescription"],
        ["ReceiverReport", "SourceDescription"],
    ] * 2 + [["SenderReport", "SourceDescription"]]
    first_sr = compounds[0][0]
    assert isinstance(first_sr, SenderReport) and first_sr.ssrc == 0x5D931534
    assert (first_sr.packet_count, first_sr.octet_count) == (200, 32000)
    sdes = compounds[0][1]
    assert isinstance(sdes, SourceDescription) and sdes.chunks[0].cname == "5d931534"
    assert sdes.chunks[0].items[1].text == "FreeSWITCH.org -- Come to ClueCon.com"
    # The second receiver report answers the first sender report: LSR echoes its NTP time,
    # and A - LSR - DLSR gives the 8 ms that the capture shows between report and answer.
    rr = compounds[3][0]
    assert isinstance(rr, ReceiverReport) and rr.ssrc == 0x01932DB4
    block = rr.reports[0]
    assert block.ssrc == first_sr.ssrc and block.lsr == compact(first_sr.ntp_timestamp)
    elapsed = datagrams[3][0] - datagrams[0][0]
    arrival = compact(first_sr.ntp_timestamp) + round(elapsed * COMPACT_HZ)
    units = round_trip_units(arrival, block.lsr, block.dlsr)
    answer = datagrams[1][0] - datagrams[0][0]
    assert units is not None and units / COMPACT_HZ == pytest.approx(answer, abs=0.001)


# --- tshark ----------------------------------------------------------------------------------

PORT = 5005


def _write_udp_pcap(path: Path, payloads: list[bytes]) -> None:
    with open(path, "wb") as f:
        writer = dpkt.pcap.Writer(f)
        for i, payload in enumerate(payloads):
            udp = dpkt.udp.UDP(sport=PORT, dport=PORT, data=payload)
            udp.ulen = len(udp)
            ip = dpkt.ip.IP(
                src=bytes([192, 0, 2, 1]), dst=bytes([192, 0, 2, 2]), p=17, ttl=64, data=udp
            )
            ip.len = len(ip)
            eth = dpkt.ethernet.Ethernet(
                src=b"\x02\x00\x00\x00\x00\x01", dst=b"\x02\x00\x00\x00\x00\x02", data=ip
            )
            writer.writepkt(bytes(eth), ts=1_900_000_000 + i)


def _tshark_fields(tshark: str, path: Path, *fields: str, where: str = "") -> list[list[str]]:
    args = [tshark, "-r", str(path), "-d", f"udp.port=={PORT},rtcp", "-T", "fields"]
    args += ["-E", "occurrence=a", "-Y", where or "frame"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def test_tshark_reads_what_a_session_sends_without_complaint(tmp_path: Path, tshark: str) -> None:
    t0 = 1_900_000_000 * 10**9
    session = SenderSession(0x5EED, 8000, "out-1@commex", interval_s=1.0)
    session.sent(250, 40_000, 160 * 249, t0)
    sr = session.sender_report(t0 + 7_000_000)
    rr = rr_compound(0xFA, [ReportBlock(0x5EED, 26, 12, 65_800, 40, 0x1234_5678, 4242)], "phone")
    bye = session.goodbye(t0 + 2_000_000_000, "call over")
    pcap = tmp_path / "rtcp.pcap"
    _write_udp_pcap(pcap, [sr, rr, bye])
    complaints = "_ws.malformed || _ws.expert || rtcp.length_check.bad"
    assert _tshark_fields(tshark, pcap, "frame.number", where=complaints) == []
    checked = _tshark_fields(tshark, pcap, "rtcp.length_check", where="rtcp")
    assert checked == [["1"], ["1"], ["1"]]  # every compound's lengths add up
    rows = _tshark_fields(
        tshark,
        pcap,
        "rtcp.pt",
        "rtcp.senderssrc",
        "rtcp.timestamp.rtp",
        "rtcp.sender.packetcount",
        "rtcp.sender.octetcount",
        "rtcp.sdes.text",
    )
    assert rows[0] == ["200,202", "0x00005eed", str(160 * 249 + 56), "250", "40000", "out-1@commex"]
    assert rows[2][0] == "200,202,203"
    blocks = _tshark_fields(
        tshark,
        pcap,
        "rtcp.ssrc.identifier",
        "rtcp.ssrc.fraction",
        "rtcp.ssrc.cum_nr",
        "rtcp.ssrc.ext_high",
        "rtcp.ssrc.jitter",
        "rtcp.ssrc.lsr",
        "rtcp.ssrc.dlsr",
    )
    # the block is about our stream; the second identifier is the SDES chunk of the reporter
    assert blocks[1] == ["0x00005eed,0x000000fa", "26", "12", "65800", "40", "305419896", "4242"]
