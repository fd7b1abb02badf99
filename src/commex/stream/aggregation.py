"""S6: merge processed segments into the output stream and describe the run.

The aggregator is a pure function of the input packets and the results: it orders the output
by input position, closes the sequence-number gaps that dropped packets (VAD) would leave so
every output stream stays continuous, keeps timestamps and SSRCs, merges DTMF events that a
segment cut split in two, and measures loss, RFC 3550 interarrival jitter and the media
duration per stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from commex.stream.dispersal import SegmentFailed
from commex.stream.metering import stream_durations
from commex.stream.packets import PacketBatch, concat
from commex.stream.pcap import with_streams
from commex.stream.rtp import rtp_sizes
from commex.stream.steps.base import DtmfEvent

CLOCK_HZ = 8000  # the G.711 family's RTP clock, used for jitter
DTMF_GAP_MS = 30
COMFORT_NOISE_PT = 13  # fragments of one key press closer than this are one event


@dataclass(frozen=True)
class Aggregate:
    """The output stream and the run's report (a JSON-ready dict)."""

    batch: PacketBatch
    report: dict[str, Any]


def merge(results: Iterable[PacketBatch]) -> PacketBatch:
    """Every result row in input order; a packet present twice is an error, never output."""
    batches = with_streams([b for b in results if len(b)])
    if not batches:
        return PacketBatch()
    index = np.concatenate([b.index for b in batches])
    order = None if _is_sorted(index) else np.argsort(index, kind="stable")
    merged = concat(batches, order)
    if merged.index.shape[0] > 1 and bool(np.any(np.diff(merged.index) == 0)):
        raise SegmentFailed("a packet came back from two segments")
    return merged


def _is_sorted(values: Any) -> bool:
    return values.shape[0] < 2 or bool(np.all(values[1:] >= values[:-1]))


def renumber(original: PacketBatch, out: PacketBatch) -> PacketBatch:
    """``out`` with each stream's sequence numbers closed over the packets a step dropped.

    A packet's new number is its input number minus the packets of its stream dropped before
    it, so gaps that were already in the input (real loss) stay visible downstream.
    """
    if len(out) == len(original) or not len(out):
        return out
    pos = np.searchsorted(original.index, out.index)
    if bool(np.any(pos >= len(original))) or not np.array_equal(original.index[pos], out.index):
        raise SegmentFailed("the output holds packets that were never input")
    dropped = np.ones(len(original), dtype=np.int64)
    dropped[pos] = 0
    before = np.zeros(len(original), dtype=np.int64)
    for s in np.unique(original.stream):
        mask = original.stream == s
        before[mask] = np.cumsum(dropped[mask])
    seq = (out.seq.astype(np.int64) - before[pos]) % 65536
    return replace(out, seq=seq.astype(np.uint16))


def merge_dtmf(events: Iterable[DtmfEvent], gap_ms: int = DTMF_GAP_MS) -> list[DtmfEvent]:
    """Join the pieces of one key press (same digit, SSRC and source, overlapping or less
    than ``gap_ms`` apart) that segment boundaries cut; the result is in time order."""
    ordered = sorted(events, key=lambda e: (e.ssrc, e.source, e.digit, e.start_ms))
    merged: list[DtmfEvent] = []
    for e in ordered:
        last = merged[-1] if merged else None
        if (
            last is not None
            and (last.ssrc, last.source, last.digit) == (e.ssrc, e.source, e.digit)
            and e.start_ms <= last.start_ms + last.duration_ms + gap_ms
        ):
            end = max(last.start_ms + last.duration_ms, e.start_ms + e.duration_ms)
            merged[-1] = replace(last, duration_ms=end - last.start_ms)
        else:
            merged.append(e)
    return sorted(merged, key=lambda e: (e.start_ms, e.ssrc, e.digit))


def lost_packets(seq: Any) -> int:
    """Packets missing from a stream's sequence numbers (wrap-around aware, RFC 3550 A.3)."""
    if seq.shape[0] < 2:
        return 0
    steps = (np.diff(seq.astype(np.int64)) + 32768) % 65536 - 32768
    extended = np.concatenate(([0], np.cumsum(steps)))
    expected = int(extended.max() - extended.min()) + 1
    return max(0, expected - int(seq.shape[0]))


def jitter_ms(arrival_us: Any, timestamp: Any, clock_hz: int = CLOCK_HZ) -> float:
    """The RFC 3550 interarrival jitter estimate after the last packet, in milliseconds.

    Packets repeating the previous timestamp are not new samples and are left out, and so is
    a step where the timestamp goes back by more than a second: that is the sender restarting
    its clock, not the network. The recurrence J += (|D| - J) / 16 is summed in closed form.
    """
    ts = timestamp.astype(np.int64)
    keep = np.concatenate(([True], ts[1:] != ts[:-1]))
    ts, arrival = ts[keep], arrival_us[keep].astype(np.float64)
    if ts.shape[0] < 2:
        return 0.0
    sent = (np.diff(ts) + (1 << 31)) % (1 << 32) - (1 << 31)
    received = np.diff(arrival) * clock_hz / 1e6
    # Older terms weigh (15/16)^k: beyond the last 1024 they are below 1e-28 and are left out.
    d = np.abs(received - sent)[sent > -clock_hz][-1024:]
    weights = (15.0 / 16.0) ** np.arange(d.shape[0] - 1, -1, -1, dtype=np.float64) / 16.0
    return float(np.dot(weights, d)) * 1000.0 / clock_hz


def _payload_type(values: Any) -> int | None:
    return int(np.bincount(values, minlength=128).argmax()) if values.shape[0] else None


def stream_report(original: PacketBatch, out: PacketBatch) -> list[dict[str, Any]]:
    """Per input stream: SSRC, packets in and out, loss, jitter, payload types and the media
    duration of what went out (seconds)."""
    durations = stream_durations(out)
    rows = []
    for s in np.unique(original.stream):
        mine = original.stream == s
        pts = original.payload_type[mine]
        dst = out.payload_type[out.stream == s]
        main = _payload_type(pts)
        # Jitter is measured on the media clock: the main codec and comfort noise, not events.
        media = np.isin(pts, [main or 0, COMFORT_NOISE_PT])
        rows.append(
            {
                "ssrc": int(original.ssrc[mine][0]),
                "packets": int(pts.shape[0]),
                "packets_out": int(dst.shape[0]),
                "lost": lost_packets(original.seq[mine]),
                "jitter_ms": round(
                    jitter_ms(original.arrival_us[mine][media], original.timestamp[mine][media]), 3
                ),
                "payload_type_in": main,
                "payload_type_out": _payload_type(dst),
                "duration_s": round(durations.get(int(s), 0.0), 3),
            }
        )
    return rows


def aggregate(
    original: PacketBatch,
    results: Iterable[PacketBatch],
    dtmf: Iterable[DtmfEvent] = (),
    *,
    segments: int,
    subcontracted: Sequence[dict[str, Any]] = (),
    elapsed_s: float = 0.0,
    skipped: int = 0,
) -> Aggregate:
    """The output stream of ``results`` and the report of the run that made it."""
    merged = merge(results)
    if len(merged) and merged.streams != original.streams:
        merged = replace(merged, streams=original.streams)  # the input's table is the fullest
    out = renumber(original, merged)
    report: dict[str, Any] = {
        "packets_in": len(original),
        "packets_out": len(out),
        "skipped": skipped,
        "segments": segments,
        "subcontracted": list(subcontracted),
        "dtmf": [
            {
                "digit": e.digit,
                "ssrc": e.ssrc,
                "start_ms": e.start_ms,
                "duration_ms": e.duration_ms,
                "source": e.source,
            }
            for e in merge_dtmf(dtmf)
        ],
        "streams": stream_report(original, out),
        "bytes_out": int(rtp_sizes(out).sum()),
    }
    return Aggregate(out, timed(report, elapsed_s))


def timed(report: dict[str, Any], elapsed_s: float) -> dict[str, Any]:
    """``report`` with the elapsed time and the achieved output rate over it."""
    elapsed = max(elapsed_s, 1e-9)
    report["elapsed_s"] = round(elapsed_s, 6)
    report["rate_pps"] = round(report["packets_out"] / elapsed, 1)
    report["rate_bps"] = round(report["bytes_out"] * 8 / elapsed, 1)
    return report
