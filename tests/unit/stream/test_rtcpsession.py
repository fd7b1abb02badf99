"""A sender's RTCP session: the reports it sends, and what the receiver's reports tell it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from commex.domain.errors import Conflict, InvalidInput
from commex.stream.ntptime import compact_units, unix_ns_from_ntp
from commex.stream.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    SenderReport,
    SourceDescription,
    parse_rtcp,
)
from commex.stream.rtcpbuild import encode_rtcp, rr_compound
from commex.stream.rtcpsession import HISTORY, SenderSession, SenderSessions
from commex.stream.rtcpstats import ReceptionStats

T0 = 1_900_000_000 * 10**9
MS = 1_000_000
S = 1000 * MS
OURS = 0x5EED


def _session(**kw) -> SenderSession:
    return SenderSession(OURS, 8000, "out-1@commex", **kw)


def test_nothing_is_due_before_the_first_packet() -> None:
    session = _session()
    assert session.poll(T0 + 60 * S) is None and session.next_report_ns is None
    with pytest.raises(Conflict):
        session.sender_report(T0)


def test_the_sender_report_says_what_was_sent_and_when() -> None:
    session = _session()
    for k in range(50):  # 50 packets of 160 bytes, timestamps 160 apart, every 20 ms
        session.sent(1, 160, 4000 + 160 * k, T0 + k * 20 * MS)
    now = T0 + 49 * 20 * MS + 7 * MS  # 7 ms after the last packet
    sr, sdes = parse_rtcp(session.sender_report(now))
    assert isinstance(sr, SenderReport) and isinstance(sdes, SourceDescription)
    assert (sr.ssrc, sr.packet_count, sr.octet_count) == (OURS, 50, 8000)
    assert unix_ns_from_ntp(sr.ntp_timestamp) == now
    assert sr.rtp_timestamp == 4000 + 160 * 49 + 56  # moved on 7 ms at 8 kHz
    assert sr.reports == ()
    assert sdes.chunks[0].ssrc == OURS and sdes.chunks[0].cname == "out-1@commex"
    (remembered,) = session.sent_reports
    assert (remembered.at_ns, remembered.ntp_timestamp) == (now, sr.ntp_timestamp)


def test_reports_come_half_an_interval_after_the_first_packet_then_every_interval() -> None:
    session = _session(interval_s=0.2)
    session.sent(1, 160, 0, T0)
    assert session.next_report_ns == T0 + 100 * MS
    assert session.poll(T0 + 99 * MS) is None
    assert session.poll(T0 + 100 * MS) is not None
    assert session.poll(T0 + 299 * MS) is None
    assert session.poll(T0 + 301 * MS) is not None
    assert session.next_report_ns == T0 + 501 * MS
    assert _session().interval_ns == 5 * S  # RFC 3550's minimum by default


def test_only_the_last_reports_are_remembered() -> None:
    session = _session(interval_s=0.01)
    session.sent(1, 160, 0, T0)
    for k in range(HISTORY + 10):
        session.sender_report(T0 + k * 10 * MS)
    reports = session.sent_reports
    assert len(reports) == HISTORY and reports[-1].at_ns == T0 + (HISTORY + 9) * 10 * MS


def test_round_trip_from_a_known_lsr_and_dlsr() -> None:
    session = _session()
    session.sent(1, 160, 0, T0)
    sent_at = T0 + 2500 * MS
    (sr, _) = parse_rtcp(session.sender_report(sent_at))
    assert isinstance(sr, SenderReport)
    lsr = sr.ntp_timestamp >> 16 & 0xFFFFFFFF
    # 20 ms out, held 300 ms by the receiver, 20 ms back: 40 ms round trip
    block = ReportBlock(OURS, 0, 0, 0, 0, lsr, compact_units(300 * MS))
    assert session.receive(rr_compound(0xFA, [block], "phone"), sent_at + 340 * MS) == 1
    rtt = session.figures().round_trip
    assert rtt is not None and rtt.samples == 1
    assert rtt.latest_ms == pytest.approx(40.0, abs=0.05)


def test_an_lsr_we_never_sent_gives_no_round_trip() -> None:
    session = _session()
    session.sent(1, 160, 0, T0)
    session.sender_report(T0 + S)
    block = ReportBlock(OURS, 26, 3, 70, 80, 0x12345678, 100)
    session.receive(rr_compound(0xFA, [block], "phone"), T0 + 2 * S)
    f = session.figures()
    assert f.round_trip is None and f.reports == 1 and f.cumulative_lost == 3


def _simulated_call(session: SenderSession, *, lose, delay_ns, until_s: int):
    """Send a 20 ms stream through a lossy, jittery path to a receiver that sends an RR
    every second; deliver each RTCP datagram after the same path delay."""
    receiver = ReceptionStats(OURS, 8000)
    blocks: list[ReportBlock] = []
    events: list[tuple[int, str, bytes | tuple[int, int]]] = []
    for k in range(until_s * 50):
        at = T0 + k * 20 * MS
        session.sent(1, 160, 160 * k, at)
        if k not in lose:
            events.append((at + delay_ns(k), "rtp", (k, 160 * k)))
        if (sr := session.poll(at)) is not None:
            events.append((at + delay_ns(k), "sr", sr))
    for second in range(1, until_s + 1):
        events.append((T0 + second * S + 5 * MS, "rr-due", b""))
    for at, kind, what in sorted(events, key=lambda e: e[0]):
        if kind == "rtp":
            seq, ts = what  # type: ignore[misc]
            receiver.packet(seq, ts, at)
        elif kind == "sr":
            (sr, *_) = parse_rtcp(what)  # type: ignore[arg-type]
            receiver.sender_report(sr, at)  # type: ignore[arg-type]
        else:
            blocks.append(receiver.report_block(at))
            session.receive(rr_compound(0xFA, blocks[-1:], "phone"), at + 25 * MS)
    return blocks


def test_a_receivers_reports_give_its_loss_jitter_and_round_trip_back() -> None:
    session = _session(interval_s=1.0)
    rng = np.random.default_rng(12)
    jitter = rng.integers(0, 6 * MS, size=10_000)
    lose = {k for k in range(250) if k % 10 == 4}  # 10% in the first 5 s, then none
    blocks = _simulated_call(
        session, lose=lose, delay_ns=lambda k: 25 * MS + int(jitter[k]), until_s=8
    )
    f = session.figures()
    assert f.reports == 8 and f.reporters == (0xFA,)
    assert f.cumulative_lost == blocks[-1].packets_lost == 25
    assert f.max_fraction_lost == pytest.approx(0.1, abs=1 / 256)
    assert f.fraction_lost == 0.0  # the last second lost nothing
    assert f.jitter_ms == blocks[-1].jitter / 8  # timestamp units at 8 kHz, in ms
    assert 0.5 < f.jitter_ms < 3.0
    rtt = f.round_trip
    assert rtt is not None and rtt.samples >= 6
    # 25 ms each way plus the SR's own jitter (0-6 ms) on the way out
    assert rtt.min_ms >= 49.9 and rtt.max_ms <= 56.1
    assert json.loads(json.dumps(f.as_dict()))["round_trip_ms"]["samples"] == rtt.samples


def test_a_bye_from_our_receiver_ends_its_reporting() -> None:
    session = _session()
    session.sent(1, 160, 0, T0)
    session.receive(encode_rtcp([Bye((0xFA,), b"left")]), T0)
    assert not session.figures().bye  # not yet a source that reported on us
    rr = ReceiverReport(0xFA, (ReportBlock(OURS, 0, 0, 1, 0, 0, 0),))
    session.receive(encode_rtcp([rr, Bye((0xFA,), b"hung up")]), T0 + S)
    f = session.figures()
    assert f.bye and f.bye_reason == "hung up"


def test_goodbye_sends_a_last_report_and_a_bye_for_our_ssrc() -> None:
    session = _session()
    assert [type(p) for p in parse_rtcp(session.goodbye(T0))] == [
        ReceiverReport,
        SourceDescription,
        Bye,
    ]
    session.sent(3, 480, 320, T0)
    sr, _, bye = parse_rtcp(session.goodbye(T0 + S, "call over"))
    assert isinstance(sr, SenderReport) and sr.packet_count == 3
    assert bye == Bye((OURS,), b"call over")
    assert session.poll(T0 + 60 * S) is None


def test_invalid_datagrams_are_counted_not_raised() -> None:
    session = _session()
    assert session.receive(b"\x80\xc9\x00\x09", T0) == 0
    assert session.invalid == 1


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"ssrc": -1}, "ssrc"),
        ({"clock_rate": 0}, "clock_rate"),
        ({"cname": ""}, "cname"),
        ({"interval_s": 0}, "interval_s"),
    ],
)
def test_a_session_refuses_bad_settings(kw, field) -> None:
    args = {"ssrc": 1, "clock_rate": 8000, "cname": "x", **kw}
    with pytest.raises(InvalidInput) as caught:
        SenderSession(args.pop("ssrc"), args.pop("clock_rate"), args.pop("cname"), **args)
    assert caught.value.field == field


def test_sessions_route_each_block_to_its_stream() -> None:
    sessions = SenderSessions()
    a, b = SenderSession(1, 8000, "a"), SenderSession(2, 48000, "b")
    sessions.add(a)
    sessions.add(b)
    with pytest.raises(Conflict):
        sessions.add(SenderSession(1, 8000, "again"))
    blocks = [ReportBlock(1, 64, 10, 500, 80, 0, 0), ReportBlock(2, 0, 0, 9, 480, 0, 0)]
    stranger = ReportBlock(3, 0, 0, 0, 0, 0, 0)
    got = sessions.receive(rr_compound(0xFA, [*blocks, stranger], "phone"), T0)
    assert got.reports == 2 and got.byes == ()
    assert (a.figures().fraction_lost, a.figures().jitter_ms) == (0.25, 10.0)
    assert (b.figures().cumulative_lost, b.figures().jitter_ms) == (0, 10.0)
    bye = sessions.receive(encode_rtcp([ReceiverReport(0xFB), Bye((0xFA, 0x77))]), T0)
    assert bye.byes == (0xFA, 0x77) and a.figures().bye and b.figures().bye
    assert sessions.receive(b"\x81\xc9\x00\x01\x00\x00\x00\x01", T0).packets == ()
    assert sessions.invalid == 1 and "report count of 1" in (sessions.last_error or "")
    assert sessions.remove(1) is a and sessions.get(1) is None and len(sessions) == 1
    assert list(sessions) == [b]
