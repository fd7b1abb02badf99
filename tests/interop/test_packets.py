"""The RTP parser against real packets from another implementation (aiortc's test data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from commex.stream.rtp import MalformedPacket, batch_from_datagrams, decode_columns, parse_rtp
from commex.stream.steps.base import StepSpec
from commex.stream.steps.registry import build_step

PACKETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata" / "packets"
MANIFEST = json.loads((PACKETS / "rtp-manifest.json").read_text())
RTCP_OR_BROKEN = sorted(
    p.name
    for p in PACKETS.glob("*.bin")
    if p.name.startswith("rtcp") or p.stem.endswith(("_invalid", "_truncated"))
)


def test_every_rtp_file_is_in_the_manifest() -> None:
    rtp_files = {p.name for p in PACKETS.glob("rtp*.bin")}
    assert rtp_files == set(MANIFEST)
    assert len(RTCP_OR_BROKEN) >= 10


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_rtp_packet_matches_manifest(name: str) -> None:
    expected = MANIFEST[name]
    data = (PACKETS / name).read_bytes()
    assert len(data) == expected["bytes"]
    p = parse_rtp(data)
    assert p.version == expected["version"]
    assert int(p.padding) == expected["padding"]
    assert int(p.extension) == expected["extension"]
    assert p.csrc_count == expected["csrc_count"] == len(p.csrcs)
    assert int(p.marker) == expected["marker"]
    assert p.payload_type == expected["payload_type"]
    assert p.sequence_number == expected["sequence_number"]
    assert p.timestamp == expected["timestamp"]
    assert p.ssrc == expected["ssrc"]
    assert len(p.payload) == expected["payload_bytes"]
    assert p.padding_bytes == expected["padding_bytes"]


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_bulk_decoder_agrees_on_real_packets(name: str) -> None:
    data = (PACKETS / name).read_bytes()
    cols = decode_columns(
        np.frombuffer(data, dtype=np.uint8), np.zeros(1, np.int64), np.array([len(data)])
    )
    expected = MANIFEST[name]
    assert cols.ok[0]
    assert int(cols.seq[0]) == expected["sequence_number"]
    assert int(cols.ssrc[0]) == expected["ssrc"]
    assert int(cols.payload_end[0] - cols.header_end[0]) == expected["payload_bytes"]


@pytest.mark.parametrize("name", RTCP_OR_BROKEN)
def test_rtcp_and_broken_packets_are_refused(name: str) -> None:
    data = (PACKETS / name).read_bytes()
    with pytest.raises(MalformedPacket):
        parse_rtp(data)
    cols = decode_columns(
        np.frombuffer(data, dtype=np.uint8), np.zeros(1, np.int64), np.array([len(data)])
    )
    assert not cols.ok[0]


def test_sdes_mid_extension_is_kept_verbatim() -> None:
    p = parse_rtp((PACKETS / "rtp_with_sdes_mid.bin").read_bytes())
    assert p.extension_profile == 0xBEDE
    assert len(p.extension_data) % 4 == 0 and p.extension_data


def test_dtmf_packet_reads_as_key_one_ended() -> None:
    p = parse_rtp((PACKETS / "rtp_dtmf.bin").read_bytes())
    event, flags, duration = p.payload[0], p.payload[1], int.from_bytes(p.payload[2:], "big")
    assert (event, flags & 0x80, flags & 0x3F, duration) == (1, 0x80, 10, 960)


def test_dtmf_packet_and_its_retransmissions_are_one_key_press() -> None:
    raw = (PACKETS / "rtp_dtmf.bin").read_bytes()
    source = [("192.0.2.1", 5004)] * 3
    batch, skipped = batch_from_datagrams(
        [raw, raw, raw], source, ("192.0.2.2", 5006), arrival_us=[0, 20_000, 40_000]
    )
    assert skipped == 0 and len(batch) == 3
    events = build_step(StepSpec("dtmf")).apply(batch).dtmf
    assert [(e.digit, e.duration_ms, e.source, e.ssrc) for e in events] == [
        ("1", 120, "rfc4733", MANIFEST["rtp_dtmf.bin"]["ssrc"])
    ]
