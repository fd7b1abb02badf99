"""The gain step: exact decode-scale-encode, saturating, on every audio codec."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from commex.domain.errors import InvalidInput
from commex.stream.steps.base import StepSpec
from commex.stream.steps.g711 import L16_PT, PCMA_PT, PCMU_PT, decode_audio
from commex.stream.steps.gain import Gain

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop


def _gain(batch, db: str):
    return Gain(StepSpec("gain", db)).apply(batch).batch


def _reference(codes: bytes, pt: int, db: float) -> bytes:
    """Decode with audioop, scale and round, clip, encode with audioop."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        decode = audioop.alaw2lin if pt == PCMA_PT else audioop.ulaw2lin
        encode = audioop.lin2alaw if pt == PCMA_PT else audioop.lin2ulaw
        lin = np.frombuffer(decode(codes, 2), dtype=np.int16).astype(np.float64)
        scaled = np.clip(np.rint(lin * 10 ** (db / 20)), -32768, 32767).astype(np.int16)
        return encode(scaled.tobytes(), 2)


@pytest.mark.parametrize("pt", [PCMA_PT, PCMU_PT])
@pytest.mark.parametrize("db", ["-6", "3.5", "-60", "40"])
def test_gain_equals_reference_for_every_code(media, pt: int, db: str) -> None:
    codes = bytes(range(256))
    batch = media.build_batch([codes[:128], codes[128:]], payload_type=pt)
    out = _gain(batch, db)
    assert out.payload.tobytes() == _reference(codes, pt, float(db))
    assert out.payload_type.tolist() == [pt, pt]


def test_gain_saturates_instead_of_wrapping(media) -> None:
    loud = media.tone((1000.0,), 20, amplitude=20000)
    batch = media.audio_batch(loud, L16_PT)
    out = _gain(batch, "12")
    samples = decode_audio(out).samples
    assert samples.max() == 32767 and samples.min() == -32768
    # Where the input was positive the output stays positive: no wrap-around.
    assert np.all(np.sign(samples[loud > 2000]) == 1)


def test_gain_on_l16_scales_linearly(media) -> None:
    samples = np.array([0, 100, -100, 1000, -1000, 16000] * 30, dtype=np.int16)
    out = _gain(media.audio_batch(samples, L16_PT, samples_per_packet=180), "-6.0206")
    assert decode_audio(out).samples.tolist() == np.rint(samples / 2).astype(int).tolist()


def test_zero_db_and_non_audio_leave_packets_alone(media) -> None:
    batch = media.build_batch([bytes(range(160)), b"\x20"], payload_type=[PCMU_PT, 13])
    assert _gain(batch, "0").payload.tobytes() == batch.payload.tobytes()
    out = _gain(batch, "-20")
    assert out.payload_of(1) == b"\x20" and out.payload_type[1] == 13
    assert out.payload_of(0) != batch.payload_of(0)


@pytest.mark.parametrize("arg", [None, "loud", "-61", "40.5", "nan", "inf"])
def test_bad_gain_is_refused_by_name(arg: str | None) -> None:
    with pytest.raises(InvalidInput, match="gain"):
        Gain(StepSpec("gain", arg))
