"""G.711 A-law and mu-law, and the ``transcode:pcma|pcmu|l16`` step.

The codecs follow the ITU-T G.711 algorithm as 256-entry decode tables and 65536-entry encode
tables indexed by the 16-bit sample, so coding a whole payload buffer is one numpy lookup.
Results match the reference implementation bit for bit (16-bit samples; A-law keeps the top
13 bits, mu-law the top 14).

Payload types: 8 is PCMA, 0 is PCMU (RFC 3551); linear PCM is 16-bit big-endian L16 at
8000 Hz on the dynamic payload type :data:`L16_PT` (96), since the static L16 types 10/11 mean
44.1 kHz. The sample rate never changes, so RTP timestamps stay as they are. Packets of other
payload types (comfort noise, telephone events, video) pass through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from commex.domain.errors import InvalidInput
from commex.stream.packets import I64, U8, PacketBatch
from commex.stream.ragged import gather_spans, lookup, scatter_spans, span_index
from commex.stream.steps.base import StepOutput, StepSpec

I16 = npt.NDArray[np.int16]

PCMU_PT = 0
PCMA_PT = 8
L16_PT = 96
AUDIO_PTS = (PCMU_PT, PCMA_PT, L16_PT)
CODECS = {"pcmu": PCMU_PT, "pcma": PCMA_PT, "l16": L16_PT}


def _alaw_decode_table() -> I16:
    code = np.arange(256, dtype=np.int64) ^ 0x55
    t = (code & 0x0F) << 4
    seg = (code & 0x70) >> 4
    t = np.where(
        seg == 0, t + 8, np.where(seg == 1, t + 0x108, (t + 0x108) << np.maximum(seg - 1, 0))
    )
    return np.where(code & 0x80, t, -t).astype(np.int16)


def _ulaw_decode_table() -> I16:
    code = ~np.arange(256, dtype=np.int64) & 0xFF
    t = (((code & 0x0F) << 3) + 0x84) << ((code & 0x70) >> 4)
    return np.where(code & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _segment(value: I64, ends: tuple[int, ...]) -> I64:
    seg: I64 = np.searchsorted(np.asarray(ends), value, side="left").astype(np.int64)
    return seg


def _alaw_encode_table() -> U8:
    pcm = np.arange(-32768, 32768, dtype=np.int64) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    pcm = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = _segment(pcm, (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF))
    quant = np.where(seg < 2, pcm >> 1, pcm >> np.minimum(seg, 15)) & 0x0F
    code = np.where(seg >= 8, 0x7F, (seg << 4) | quant)
    return np.roll((code ^ mask).astype(np.uint8), -32768)


def _ulaw_encode_table() -> U8:
    pcm = np.arange(-32768, 32768, dtype=np.int64) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    pcm = np.minimum(np.abs(pcm), 8159) + (0x84 >> 2)
    seg = _segment(pcm, (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF))
    code = np.where(seg >= 8, 0x7F, (seg << 4) | ((pcm >> np.minimum(seg + 1, 15)) & 0x0F))
    return np.roll((code ^ mask).astype(np.uint8), -32768)


# Encode tables are indexed by the sample's 16-bit two's complement pattern (uint16 view).
ALAW_DECODE = _alaw_decode_table()
ULAW_DECODE = _ulaw_decode_table()
ALAW_ENCODE = _alaw_encode_table()
ULAW_ENCODE = _ulaw_encode_table()
ALAW_TO_ULAW = ULAW_ENCODE[ALAW_DECODE.view(np.uint16)]
ULAW_TO_ALAW = ALAW_ENCODE[ULAW_DECODE.view(np.uint16)]


def _pair_table(table: U8) -> npt.NDArray[np.uint16]:
    """A byte table applied to two bytes at once (indexed by a native-order uint16)."""
    pair = np.arange(65536, dtype=np.uint32).astype(np.uint16).reshape(-1, 1).view(np.uint8)
    mapped: npt.NDArray[np.uint16] = table[pair].view(np.uint16).ravel()
    return mapped


_PAIRS = {id(ALAW_TO_ULAW): _pair_table(ALAW_TO_ULAW), id(ULAW_TO_ALAW): _pair_table(ULAW_TO_ALAW)}


def map_bytes(table: U8, data: U8) -> U8:
    """``table[data]`` for a 256-entry byte table, two bytes per lookup when a pair table
    exists (half the lookups, in a table that stays in cache)."""
    pairs = _PAIRS.get(id(table))
    if pairs is None or data.shape[0] < 2:
        out: U8 = lookup(table, data)
        return out
    even = data.shape[0] - (data.shape[0] & 1)
    result = np.empty(data.shape[0], dtype=np.uint8)
    result[:even].view(np.uint16)[:] = lookup(
        pairs, np.ascontiguousarray(data[:even]).view(np.uint16)
    )
    if even < data.shape[0]:
        result[-1] = table[data[-1]]
    return result


def alaw_decode(codes: U8) -> I16:
    """16-bit linear samples of A-law codes."""
    out: I16 = lookup(ALAW_DECODE, codes)
    return out


def ulaw_decode(codes: U8) -> I16:
    """16-bit linear samples of mu-law codes."""
    out: I16 = lookup(ULAW_DECODE, codes)
    return out


def alaw_encode(samples: I16) -> U8:
    """A-law codes of 16-bit linear samples."""
    out: U8 = lookup(ALAW_ENCODE, samples.astype(np.int16, copy=False).view(np.uint16))
    return out


def ulaw_encode(samples: I16) -> U8:
    """mu-law codes of 16-bit linear samples."""
    out: U8 = lookup(ULAW_ENCODE, samples.astype(np.int16, copy=False).view(np.uint16))
    return out


# --- payload helpers shared by the audio steps --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Audio:
    """Decoded audio of some rows of a batch: samples of row ``rows[i]`` are
    ``samples[offsets[i]:offsets[i + 1]]`` and it was coded with ``payload_type[i]``."""

    rows: I64
    samples: I16
    offsets: I64
    payload_type: U8


def audio_rows(batch: PacketBatch) -> I64:
    """Rows whose payload is audio this module can decode (PCMU, PCMA, L16)."""
    return np.flatnonzero(np.isin(batch.payload_type, AUDIO_PTS))


def decode_audio(batch: PacketBatch, rows: I64 | None = None) -> Audio:
    """Decode the audio payloads of ``rows`` (default: every audio row) to 16-bit samples."""
    if rows is None:
        rows = audio_rows(batch)
    starts = batch.offsets[:-1][rows]
    sizes = batch.offsets[1:][rows] - starts
    pts = batch.payload_type[rows]
    is_l16 = pts == L16_PT
    counts = np.where(is_l16, sizes // 2, sizes)
    data, _ = gather_spans(batch.payload, starts, np.where(is_l16, counts * 2, sizes))
    offsets = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    single = pts.shape[0] > 0 and bool((pts == pts[0]).all())
    if single and int(pts[0]) in (PCMA_PT, PCMU_PT):  # one G.711 codec: one table lookup
        table = ALAW_DECODE if int(pts[0]) == PCMA_PT else ULAW_DECODE
        return Audio(rows=rows, samples=table[data], offsets=offsets, payload_type=pts)
    samples = np.zeros(int(offsets[-1]), dtype=np.int16)
    byte_pt = np.repeat(pts, np.where(is_l16, counts * 2, sizes))
    sample_pt = np.repeat(pts, counts)
    alaw, ulaw = sample_pt == PCMA_PT, sample_pt == PCMU_PT
    samples[alaw] = ALAW_DECODE[data[byte_pt == PCMA_PT]]
    samples[ulaw] = ULAW_DECODE[data[byte_pt == PCMU_PT]]
    l16 = data[byte_pt == L16_PT]
    if l16.shape[0]:
        samples[sample_pt == L16_PT] = l16.view(">i2").astype(np.int16)
    return Audio(rows=rows, samples=samples, offsets=offsets, payload_type=pts)


def encode_audio(samples: I16, offsets: I64, payload_type: U8) -> tuple[U8, I64]:
    """Encode per-row samples with each row's payload type; returns bytes and byte offsets."""
    counts = np.diff(offsets)
    is_l16 = payload_type == L16_PT
    byte_offsets = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.where(is_l16, counts * 2, counts), out=byte_offsets[1:])
    out = np.zeros(int(byte_offsets[-1]), dtype=np.uint8)
    sample_pt = np.repeat(payload_type, counts)
    byte_pt = np.repeat(payload_type, np.where(is_l16, counts * 2, counts))
    out[byte_pt == PCMA_PT] = alaw_encode(samples[sample_pt == PCMA_PT])
    out[byte_pt == PCMU_PT] = ulaw_encode(samples[sample_pt == PCMU_PT])
    l16 = samples[sample_pt == L16_PT]
    if l16.shape[0]:
        out[byte_pt == L16_PT] = l16.astype(">i2").view(np.uint8)
    return out, byte_offsets


def replace_payloads(
    batch: PacketBatch, rows: I64, data: U8, offsets: I64, payload_type: U8 | None = None
) -> PacketBatch:
    """A copy of ``batch`` where row ``rows[i]`` gets payload ``data[offsets[i]:offsets[i+1]]``
    (and payload type ``payload_type[i]`` if given); other rows keep theirs."""
    sizes = np.diff(batch.offsets)
    new_sizes = sizes.copy()
    new_sizes[rows] = np.diff(offsets)
    new_offsets = np.zeros(len(batch) + 1, dtype=np.int64)
    np.cumsum(new_sizes, out=new_offsets[1:])
    out = np.zeros(int(new_offsets[-1]), dtype=np.uint8)
    keep = np.ones(len(batch), dtype=np.bool_)
    keep[rows] = False
    kept = np.flatnonzero(keep)
    old, old_offsets = gather_spans(batch.payload, batch.offsets[:-1][kept], sizes[kept])
    scatter_spans(out, new_offsets[:-1][kept], old, old_offsets)
    scatter_spans(out, new_offsets[:-1][rows], data, offsets)
    pts = batch.payload_type
    if payload_type is not None:
        pts = pts.copy()
        pts[rows] = payload_type
    return replace(batch, payload=out, offsets=new_offsets, payload_type=pts)


class Transcode:
    """``transcode:pcma|pcmu|l16``: re-code every G.711/L16 packet into the target codec."""

    def __init__(self, spec: StepSpec) -> None:
        if spec.arg is None or spec.arg.lower() not in CODECS:
            raise InvalidInput(
                f"step {spec}: transcode needs one of {', '.join(CODECS)}, got {spec.arg!r}",
                field="step",
            )
        self._spec = spec
        self.target = CODECS[spec.arg.lower()]

    @property
    def spec(self) -> StepSpec:
        return self._spec

    def apply(self, batch: PacketBatch) -> StepOutput:
        """Transcode the audio packets; other packets are returned as they are."""
        pts = batch.payload_type
        if self.target != L16_PT:
            source = PCMU_PT if self.target == PCMA_PT else PCMA_PT
            table = ULAW_TO_ALAW if self.target == PCMA_PT else ALAW_TO_ULAW
            if not np.isin(pts, (source, L16_PT)).any():
                return StepOutput(batch)
            if not (pts == L16_PT).any():  # G.711 to G.711: one byte-wise table lookup
                payload = map_bytes(table, batch.payload)
                others = np.flatnonzero(pts != source)  # put their bytes back (few, usually)
                sizes = np.diff(batch.offsets)[others]
                total = int(sizes.sum())
                if total:
                    keep = span_index(batch.offsets[:-1][others], sizes, total)
                    payload[keep] = batch.payload[keep]
                new_pts = np.where(pts == source, self.target, pts).astype(np.uint8)
                return StepOutput(replace(batch, payload=payload, payload_type=new_pts))
        rows = np.flatnonzero(np.isin(pts, AUDIO_PTS) & (pts != self.target))
        if rows.shape[0] == 0:
            return StepOutput(batch)
        audio = decode_audio(batch, rows)
        target = np.full(rows.shape, self.target, dtype=np.uint8)
        data, offsets = encode_audio(audio.samples, audio.offsets, target)
        return StepOutput(replace_payloads(batch, rows, data, offsets, target))
