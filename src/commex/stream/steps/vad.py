"""The ``vad`` step: energy-based voice activity detection with a hangover.

A G.711/L16 packet is speech when its RMS level is above :data:`THRESHOLD_DBOV`, or when one
of the :data:`HANGOVER_PACKETS` packets before it in the same stream was, so that word endings
and short pauses are not clipped. ``vad`` drops the silent audio packets; ``vad:cn`` replaces
each by an RFC 3389 comfort-noise packet (payload type 13) whose one payload byte is the noise
level in -dBov. Packets that are not audio (comfort noise, telephone events, video) are never
touched. Sequence numbers are left alone: the aggregator renumbers the output.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt

from commex.domain.errors import InvalidInput
from commex.stream.packets import Bools, PacketBatch
from commex.stream.steps.base import StepOutput, StepSpec
from commex.stream.steps.g711 import (
    ALAW_DECODE,
    AUDIO_PTS,
    L16_PT,
    PCMA_PT,
    PCMU_PT,
    ULAW_DECODE,
    decode_audio,
    replace_payloads,
)

F64 = npt.NDArray[np.float64]

CN_PT = 13
THRESHOLD_DBOV = -45.0
HANGOVER_PACKETS = 5
_SILENT_DBOV = -127.0


_SQUARES = {
    PCMA_PT: ALAW_DECODE.astype(np.float32) ** 2,
    PCMU_PT: ULAW_DECODE.astype(np.float32) ** 2,
}


def levels_dbov(batch: PacketBatch) -> F64:
    """Every packet's RMS level in dBov (audio rows), NaN where the packet is not audio.

    G.711 energy comes from a table of squared decoded values summed per packet, without
    decoding to samples first.
    """
    n = len(batch)
    out = np.full(n, np.nan)
    if n == 0:
        return out
    sizes = np.diff(batch.offsets)
    pts = batch.payload_type
    sums = np.zeros(n)
    counts = np.where(pts == L16_PT, sizes // 2, sizes)
    starts = np.minimum(batch.offsets[:-1], max(batch.payload.shape[0] - 1, 0))
    for pt, squares in _SQUARES.items():
        rows = pts == pt
        if not rows.any() or batch.payload.shape[0] == 0:
            continue
        # Summing over every packet is cheaper than first gathering this codec's payloads.
        per_packet = np.add.reduceat(squares[batch.payload], starts)  # float32 is enough for dB
        sums[rows] = per_packet[rows]
    l16 = np.flatnonzero(pts == L16_PT)
    if l16.shape[0]:
        audio = decode_audio(batch, l16)
        squared = np.concatenate([audio.samples.astype(np.float64) ** 2, [0.0]])
        sums[l16] = np.add.reduceat(squared, np.minimum(audio.offsets[:-1], squared.shape[0] - 1))
    is_audio = np.isin(pts, AUDIO_PTS)
    sums = np.where(counts > 0, sums, 0.0)
    with np.errstate(divide="ignore"):
        level = 10.0 * np.log10(sums / np.maximum(counts, 1) / (32768.0**2))
    out[is_audio] = np.maximum(level[is_audio], _SILENT_DBOV)
    return out


def voice_activity(
    batch: PacketBatch,
    *,
    threshold_dbov: float = THRESHOLD_DBOV,
    hangover: int = HANGOVER_PACKETS,
    levels: F64 | None = None,
) -> Bools:
    """True for audio packets that carry speech (with hangover), False for silent ones.

    Non-audio rows are False. The hangover runs per stream, in ``index`` order.
    """
    if levels is None:
        levels = levels_dbov(batch)
    is_audio = ~np.isnan(levels)
    loud = is_audio & (np.nan_to_num(levels, nan=_SILENT_DBOV) > threshold_dbov)
    active = np.zeros(len(batch), dtype=np.bool_)
    for s in np.unique(batch.stream).tolist():
        rows = np.flatnonzero((batch.stream == s) & is_audio)
        rows = rows[np.argsort(batch.index[rows], kind="stable")]
        pos = np.arange(rows.shape[0])
        last = np.maximum.accumulate(np.where(loud[rows], pos, -(hangover + 1)))
        active[rows] = pos - last <= hangover
    return active


class Vad:
    """``vad`` drops silent audio packets; ``vad:cn`` replaces them by comfort noise."""

    def __init__(self, spec: StepSpec) -> None:
        if spec.arg not in (None, "cn"):
            raise InvalidInput(f"step {spec}: vad takes no argument or 'cn'", field="step")
        self._spec = spec
        self.comfort_noise = spec.arg == "cn"

    @property
    def spec(self) -> StepSpec:
        return self._spec

    def apply(self, batch: PacketBatch) -> StepOutput:
        """Drop or replace the silent audio packets of ``batch``."""
        levels = levels_dbov(batch)
        silent = ~np.isnan(levels) & ~voice_activity(batch, levels=levels)
        if not silent.any():
            return StepOutput(batch)
        if not self.comfort_noise:
            return StepOutput(batch.take(~silent))
        rows = np.flatnonzero(silent)
        noise = np.clip(np.rint(-levels[rows]), 0, 127).astype(np.uint8)
        offsets = np.arange(rows.shape[0] + 1, dtype=np.int64)
        pts = np.full(rows.shape, CN_PT, dtype=np.uint8)
        out = replace_payloads(batch, rows, noise, offsets, pts)
        marker = out.marker.copy()
        marker[rows] = False
        return StepOutput(replace(out, marker=marker))
