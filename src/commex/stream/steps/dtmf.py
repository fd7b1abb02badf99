"""The ``dtmf`` step: key presses as RFC 4733 telephone events and as in-band tone pairs.

Telephone events: without SDP the payload type is not known, so a packet is read as an event
when its payload type is dynamic (96-127, except L16's 96) and its payload is exactly one
4-byte event (event code, end bit, volume 0-63, duration). All packets of one key press share
the RTP timestamp, and the end packet is sent up to three times: one :class:`DtmfEvent` is
reported per (stream, timestamp, event), with the longest duration seen. Event codes 0-15 are
the keys; other events (fax tones, line events) are not key presses and are ignored.

In-band: the G.711/L16 audio of each stream is cut into 205-sample Goertzel windows every 80
samples (10 ms). A window holds a key when one row and one column tone carry most of its
energy, each clearly above the other tones of its group, with a twist between -4 dB (column
louder) and +8 dB (row louder) and a level above -40 dBov. A key held for 40 ms or more is an
event.

Times: ``start_ms`` is on the clock of ``PacketBatch.arrival_us``, in milliseconds: the arrival
of the stream's first packet in the batch plus the RTP-timestamp distance (8 kHz) from the
media time of that packet to the key's start (for an event packet, its timestamp plus the
duration it reports), so every segment of a call gives a key the same start. Subtract the
stream's first arrival to get the offset into the call.
The packets pass through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from commex.domain.errors import InvalidInput
from commex.stream.packets import I64, Bools, PacketBatch
from commex.stream.steps.base import DtmfEvent, StepOutput, StepSpec
from commex.stream.steps.g711 import L16_PT, audio_rows, decode_audio

F64 = npt.NDArray[np.float64]

KEYS = "0123456789*#ABCD"
ROW_HZ = (697.0, 770.0, 852.0, 941.0)
COL_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
_PAD = ("123A", "456B", "789C", "*0#D")
RATE_HZ = 8000
WINDOW = 205
HOP = 80
MIN_DURATION_MS = 40
_MIN_LEVEL_DBOV = -40.0
_MIN_TONE_SHARE = 0.7
_PEAK_RATIO = 4.0  # 6 dB over the other tones of the same group
_MAX_NORMAL_TWIST_DB = 8.0
_MAX_REVERSE_TWIST_DB = 4.0


@dataclass(frozen=True, slots=True)
class EventFields:
    """RFC 4733 fields of the telephone-event rows of a batch."""

    rows: I64
    event: I64
    end: Bools
    volume: I64
    duration: I64


def is_telephone_event(batch: PacketBatch) -> Bools:
    """Which packets read as RFC 4733 telephone events (see the module notes)."""
    pts = batch.payload_type
    sizes = batch.payload_sizes()
    starts = np.minimum(batch.offsets[:-1], max(batch.payload.shape[0] - 1, 0))
    volume_ok = np.zeros(len(batch), dtype=np.bool_)
    if batch.payload.shape[0]:
        volume_ok = (batch.payload[np.minimum(starts + 1, batch.payload.shape[0] - 1)] & 0x40) == 0
    mask: Bools = (pts >= 96) & (pts != L16_PT) & (sizes == 4) & volume_ok
    return mask


def telephone_event_fields(batch: PacketBatch) -> EventFields:
    """Parse the event, end bit, volume and duration of every telephone-event packet."""
    rows = np.flatnonzero(is_telephone_event(batch))
    at = batch.offsets[:-1][rows]
    p = batch.payload.astype(np.int64)
    second = p[at + 1] if rows.shape[0] else np.zeros(0, dtype=np.int64)
    return EventFields(
        rows=rows,
        event=p[at] if rows.shape[0] else np.zeros(0, dtype=np.int64),
        end=(second & 0x80) != 0,
        volume=second & 0x3F,
        duration=(p[at + 2] << 8 | p[at + 3]) if rows.shape[0] else np.zeros(0, np.int64),
    )


def _anchors(batch: PacketBatch) -> dict[int, tuple[int, int]]:
    """Per stream: the arrival (µs) of its first packet in the batch and the media time (RTP
    timestamp) it carried then. An event packet's timestamp is its key's start, so its media
    time is that plus the duration it reports; any packet then anchors the same clock."""
    media_ts = batch.timestamp.astype(np.int64)
    f = telephone_event_fields(batch)
    media_ts[f.rows] += f.duration
    out: dict[int, tuple[int, int]] = {}
    order = np.argsort(batch.index, kind="stable")
    streams, first = np.unique(batch.stream[order], return_index=True)
    for s, i in zip(streams.tolist(), order[first].tolist(), strict=True):
        out[s] = (int(batch.arrival_us[i]), int(media_ts[i]) % (1 << 32))
    return out


def _clock_ms(anchor: tuple[int, int], timestamp: int) -> int:
    delta = (timestamp - anchor[1] + (1 << 31)) % (1 << 32) - (1 << 31)
    return anchor[0] // 1000 + delta * 1000 // RATE_HZ


def rfc4733_events(batch: PacketBatch) -> list[DtmfEvent]:
    """One event per key press signalled with RFC 4733 packets, retransmissions merged."""
    f = telephone_event_fields(batch)
    keys = f.event < len(KEYS)
    if not keys.any():
        return []
    anchors = _anchors(batch)
    found: dict[tuple[int, int, int], int] = {}
    for row, event, duration in zip(
        f.rows[keys].tolist(), f.event[keys].tolist(), f.duration[keys].tolist(), strict=True
    ):
        key = (int(batch.stream[row]), int(batch.timestamp[row]), event)
        found[key] = max(found.get(key, 0), duration)
    events = []
    for (stream, ts, event), duration in found.items():
        ssrc = int(batch.ssrc[batch.stream == stream][0])
        start = _clock_ms(anchors[stream], ts)
        events.append(DtmfEvent(KEYS[event], ssrc, start, duration * 1000 // RATE_HZ, "rfc4733"))
    return events


_N = np.arange(WINDOW)
_FREQS = np.array(ROW_HZ + COL_HZ)
_COS = np.cos(2 * np.pi * np.outer(_N, _FREQS) / RATE_HZ)
_SIN = np.sin(2 * np.pi * np.outer(_N, _FREQS) / RATE_HZ)
_BLOCK = 2048  # windows per matrix product, to bound memory on long calls


def _window_shares(x: F64) -> tuple[F64, F64]:
    """Per Goertzel window: the share of its energy at each of the 8 DTMF frequencies, and its
    mean power."""
    frames = np.lib.stride_tricks.sliding_window_view(x, WINDOW)[::HOP]
    shares = np.empty((frames.shape[0], 8))
    energy = np.empty(frames.shape[0])
    for lo in range(0, frames.shape[0], _BLOCK):
        block = np.ascontiguousarray(frames[lo : lo + _BLOCK])
        power = (block @ _COS) ** 2 + (block @ _SIN) ** 2
        e = np.maximum(np.einsum("ij,ij->i", block, block), 1e-9)
        shares[lo : lo + _BLOCK] = 2.0 * power / (WINDOW * e[:, None])
        energy[lo : lo + _BLOCK] = e
    return shares, energy / WINDOW


def _window_keys(x: F64) -> I64:
    """The key index (or -1) of every Goertzel window of ``x``."""
    share, power = _window_shares(x)
    rows, cols = share[:, :4], share[:, 4:]
    r, c = rows.argmax(axis=1), cols.argmax(axis=1)
    idx = np.arange(share.shape[0])
    pr, pc = rows[idx, r], cols[idx, c]
    rows_other = np.sort(rows, axis=1)[:, -2]
    cols_other = np.sort(cols, axis=1)[:, -2]
    level = 10 * np.log10(power / 32768.0**2)
    twist = 10 * np.log10(np.maximum(pr, 1e-12) / np.maximum(pc, 1e-12))
    ok = (
        (pr + pc > _MIN_TONE_SHARE)
        & (pr > _PEAK_RATIO * rows_other)
        & (pc > _PEAK_RATIO * cols_other)
        & (twist <= _MAX_NORMAL_TWIST_DB)
        & (twist >= -_MAX_REVERSE_TWIST_DB)
        & (level > _MIN_LEVEL_DBOV)
    )
    keymap = np.array([KEYS.index(_PAD[i][j]) for i in range(4) for j in range(4)])
    result: I64 = np.where(ok, keymap[r * 4 + c], -1)
    return result


def inband_events(batch: PacketBatch) -> list[DtmfEvent]:
    """Key presses found as tone pairs in the decoded audio of each stream."""
    rows = audio_rows(batch)
    if rows.shape[0] == 0:
        return []
    anchors = _anchors(batch)
    events: list[DtmfEvent] = []
    for s in np.unique(batch.stream[rows]).tolist():
        mine = rows[batch.stream[rows] == s]
        mine = mine[np.argsort(batch.index[mine], kind="stable")]
        audio = decode_audio(batch, mine)
        if audio.samples.shape[0] < WINDOW:
            continue
        keys = _window_keys(audio.samples.astype(np.float64))
        change = np.flatnonzero(np.diff(keys) != 0) + 1
        bounds = np.concatenate([[0], change, [keys.shape[0]]])
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            if keys[a] < 0:
                continue
            first, last = a * HOP, (b - 1) * HOP + WINDOW
            duration = (last - first) * 1000 // RATE_HZ
            if duration < MIN_DURATION_MS:
                continue
            pkt = int(np.searchsorted(audio.offsets, first, side="right")) - 1
            into = first - int(audio.offsets[pkt])
            ts = int(batch.timestamp[mine[pkt]]) + into
            events.append(
                DtmfEvent(
                    digit=KEYS[int(keys[a])],
                    ssrc=int(batch.ssrc[mine[0]]),
                    start_ms=_clock_ms(anchors[s], ts),
                    duration_ms=duration,
                    source="inband",
                )
            )
    return events


class Dtmf:
    """``dtmf``: report key presses; the packets pass through unchanged."""

    def __init__(self, spec: StepSpec) -> None:
        if spec.arg is not None:
            raise InvalidInput(f"step {spec}: dtmf takes no argument", field="step")
        self._spec = spec

    @property
    def spec(self) -> StepSpec:
        return self._spec

    def apply(self, batch: PacketBatch) -> StepOutput:
        """Detect key presses in ``batch`` (both kinds), ordered by start time and SSRC."""
        events = rfc4733_events(batch) + inband_events(batch)
        events.sort(key=lambda e: (e.start_ms, e.ssrc, e.source))
        return StepOutput(batch, tuple(events))
