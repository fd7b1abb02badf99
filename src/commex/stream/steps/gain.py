"""The ``gain:DB`` step: amplify or attenuate G.711 and L16 audio, saturating at full scale.

Each sample is decoded, multiplied by ``10 ** (DB / 20)``, rounded, clipped to 16 bits and
re-encoded with the packet's own codec, so the result is exactly what a reference decoder and
encoder would give. Packets that are not audio pass through unchanged.
"""

from __future__ import annotations

import math

import numpy as np

from commex.domain.errors import InvalidInput
from commex.stream.packets import PacketBatch
from commex.stream.steps.base import StepOutput, StepSpec
from commex.stream.steps.g711 import audio_rows, decode_audio, encode_audio, replace_payloads

MIN_DB = -60.0
MAX_DB = 40.0


class Gain:
    """``gain:DB`` with DB from -60 to +40."""

    def __init__(self, spec: StepSpec) -> None:
        try:
            db = float(spec.arg) if spec.arg is not None else math.nan
        except ValueError:
            db = math.nan
        if not MIN_DB <= db <= MAX_DB:
            raise InvalidInput(
                f"step {spec}: gain needs a number of dB from {MIN_DB:g} to {MAX_DB:g}",
                field="step",
            )
        self._spec = spec
        self.db = db
        self.factor = 10.0 ** (db / 20.0)

    @property
    def spec(self) -> StepSpec:
        return self._spec

    def apply(self, batch: PacketBatch) -> StepOutput:
        """Scale every audio packet's samples; codec and payload type stay the same."""
        rows = audio_rows(batch)
        if rows.shape[0] == 0 or self.db == 0:
            return StepOutput(batch)
        audio = decode_audio(batch, rows)
        scaled = np.clip(np.rint(audio.samples * self.factor), -32768, 32767).astype(np.int16)
        data, offsets = encode_audio(scaled, audio.offsets, audio.payload_type)
        return StepOutput(replace_payloads(batch, rows, data, offsets))
