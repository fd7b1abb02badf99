"""Real captures in, pcap out, checked against Wireshark's own RTP analysis (tshark)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from commex.stream.pcap import UnsupportedCapture, read_capture, write_pcap
from commex.stream.steps.base import StepSpec
from commex.stream.steps.g711 import PCMA_PT, PCMU_PT
from commex.stream.steps.registry import build_step

CAPTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata" / "captures"
FAX = CAPTURES / "FAX-Call-t38-CA-TDM-SIP-FB-1.pcap"


def _fields(tshark: str, path: Path, display: str, *fields: str) -> list[list[str]]:
    args = [tshark, "-r", str(path), "-o", "rtp.heuristic_rtp:TRUE", "-Y", display, "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def _rtp_streams(tshark: str, path: Path) -> list[dict[str, str]]:
    """The rows of tshark's RTP stream table: SSRC, payload names, packets and lost count."""
    args = [tshark, "-r", str(path), "-o", "rtp.heuristic_rtp:TRUE", "-q", "-z", "rtp,streams"]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout
    rows = []
    for line in out.splitlines():
        m = re.search(r"(0x[0-9A-Fa-f]{8})\s+(.+?)\s+(\d+)\s+(-?\d+) \(", line)
        if m:
            rows.append({"ssrc": m[1], "payload": m[2], "packets": m[3], "lost": m[4]})
    return rows


def test_fax_call_has_two_pcma_streams_and_no_signalling(tshark: str) -> None:
    cap = read_capture(FAX)
    b = cap.batch
    assert cap.records == 1552
    assert {(k.ssrc, k.src, k.dst) for k in b.streams} == {
        (0x0EAF0EAF, "10.35.60.100", "10.23.1.52"),
        (0x17D90134, "10.23.1.52", "10.35.60.100"),
    }
    assert set(b.payload_type.tolist()) >= {PCMA_PT, 13}
    ours = set((b.index + 1).tolist())  # frame numbers
    rtp = {int(r[0]) for r in _fields(tshark, FAX, "rtp", "frame.number")}
    t38 = {int(r[0]) for r in _fields(tshark, FAX, "t38", "frame.number")}
    signalling = {int(r[0]) for r in _fields(tshark, FAX, "sip || megaco", "frame.number")}
    assert rtp <= ours
    assert not ours & signalling
    # Wireshark decodes the last 27 frames of one stream as T.38 because the SDP announced T.38
    # on that port, and flags every one of them malformed: their bytes are RTP version 2, PCMA,
    # with the stream's SSRC and continuing sequence numbers. commex reads bytes, not SDP.
    assert ours - rtp == t38 and len(t38) == 27
    late = b.take(np.isin(b.index + 1, sorted(t38)))
    assert set(late.ssrc.tolist()) == {0x0EAF0EAF} and set(late.payload_type.tolist()) == {8}
    assert np.all(np.diff(late.seq.astype(int)) == 1)
    assert cap.skip_reasons == {"not-rtp": len(signalling)}


def test_pcapng_streams_match_wireshark(tshark: str) -> None:
    path = CAPTURES / "rtp.pcapng"
    cap = read_capture(path)
    theirs = {int(r["ssrc"], 16): int(r["packets"]) for r in _rtp_streams(tshark, path)}
    ssrcs, counts = np.unique(cap.batch.ssrc, return_counts=True)
    assert dict(zip(ssrcs.tolist(), counts.tolist(), strict=True)) == theirs
    assert cap.skip_reasons.get("not-udp", 0) > 0  # the TCP traffic


def test_sip_capture_has_its_short_pcma_stream() -> None:
    cap = read_capture(CAPTURES / "sip.pcap")
    assert len(cap.batch.streams) == 1 and len(cap.batch) == 9
    assert set(cap.batch.payload_type.tolist()) == {PCMA_PT}


def test_cooked_capture_of_rtcp_is_read_and_skipped() -> None:
    # Linux cooked capture (link type 113) is read; its datagrams are RTCP, counted, not RTP.
    cap = read_capture(CAPTURES / "rtcp_multiple_pkts_in_the_same_datagram.pcap")
    assert len(cap.batch) == 0
    assert cap.records == 5 and cap.datagrams == 5 and cap.skip_reasons == {"not-rtp": 5}


def test_unreadable_link_type_is_named(tmp_path: Path) -> None:
    data = bytearray((CAPTURES / "sip.pcap").read_bytes())
    data[20:24] = (147).to_bytes(4, "little")  # a user-defined link type
    path = tmp_path / "user.pcap"
    path.write_bytes(bytes(data))
    with pytest.raises(UnsupportedCapture, match="link type 147"):
        read_capture(path)


@pytest.mark.parametrize("name", ["FAX-Call-t38-CA-TDM-SIP-FB-1.pcap", "rtp.pcapng", "sip.pcap"])
def test_round_trip_keeps_every_packet(tmp_path: Path, name: str, tshark: str) -> None:
    first = read_capture(CAPTURES / name).batch
    out = tmp_path / "out.pcap"
    write_pcap(out, first)
    again = read_capture(out).batch
    for field in ("seq", "timestamp", "ssrc", "payload_type", "marker", "stream", "arrival_us"):
        assert np.array_equal(getattr(first, field), getattr(again, field)), field
    assert np.array_equal(again.index, np.arange(len(first)))
    assert again.payload.tobytes() == first.payload.tobytes()
    assert again.header_extra.tobytes() == first.header_extra.tobytes()
    assert again.streams == first.streams
    assert len(_fields(tshark, out, "rtp && !_ws.malformed", "frame.number")) == len(first)
    assert _fields(tshark, out, "_ws.expert.severity == error", "frame.number") == []


def test_fax_call_transcoded_to_mulaw_reads_clean_in_wireshark(tmp_path: Path, tshark: str) -> None:
    batch = read_capture(FAX).batch
    alaw = int(np.count_nonzero(batch.payload_type == PCMA_PT))
    out_batch = build_step(StepSpec.parse("transcode:pcmu")).apply(batch).batch
    # Renumber each stream's sequence numbers, as the aggregator does for the output stream
    # (the capture itself misses packets of one stream).
    seq = out_batch.seq.copy()
    for s in range(len(out_batch.streams)):
        rows = np.flatnonzero(out_batch.stream == s)
        seq[rows] = (int(seq[rows[0]]) + np.arange(rows.shape[0])) % 65536
    out_batch = replace(out_batch, seq=seq)
    out = tmp_path / "mulaw.pcap"
    write_pcap(out, out_batch)

    streams = _rtp_streams(tshark, out)
    assert sorted(int(r["packets"]) for r in streams) == sorted(
        np.bincount(out_batch.stream).tolist()
    )
    assert sum(int(r["packets"]) for r in streams) == len(batch) == 1330
    assert all(r["lost"] == "0" for r in streams)  # no sequence gaps or errors
    assert all("g711U" in r["payload"] and "g711A" not in r["payload"] for r in streams)
    pts = [int(r[0]) for r in _fields(tshark, out, "rtp", "rtp.p_type")]
    assert pts.count(PCMU_PT) == alaw and PCMA_PT not in pts
