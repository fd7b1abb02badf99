"""G.711 against the standard library's reference implementation, and the transcode step."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from commex.domain.errors import InvalidInput
from commex.stream.steps.base import StepSpec
from commex.stream.steps.g711 import (
    L16_PT,
    PCMA_PT,
    PCMU_PT,
    Transcode,
    alaw_decode,
    alaw_encode,
    decode_audio,
    ulaw_decode,
    ulaw_encode,
)
from commex.stream.steps.registry import CAPABILITIES, build_step

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

ALL_CODES = np.arange(256, dtype=np.uint8)
ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)


def _ref(fn, data: bytes, *args) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return fn(data, *args)


def test_alaw_decode_matches_reference_for_every_code() -> None:
    ref = np.frombuffer(_ref(audioop.alaw2lin, ALL_CODES.tobytes(), 2), dtype=np.int16)
    assert np.array_equal(alaw_decode(ALL_CODES), ref)


def test_ulaw_decode_matches_reference_for_every_code() -> None:
    ref = np.frombuffer(_ref(audioop.ulaw2lin, ALL_CODES.tobytes(), 2), dtype=np.int16)
    assert np.array_equal(ulaw_decode(ALL_CODES), ref)


def test_alaw_encode_matches_reference_for_every_sample() -> None:
    ref = np.frombuffer(_ref(audioop.lin2alaw, ALL_SAMPLES.tobytes(), 2), dtype=np.uint8)
    assert np.array_equal(alaw_encode(ALL_SAMPLES), ref)


def test_ulaw_encode_matches_reference_for_every_sample() -> None:
    ref = np.frombuffer(_ref(audioop.lin2ulaw, ALL_SAMPLES.tobytes(), 2), dtype=np.uint8)
    assert np.array_equal(ulaw_encode(ALL_SAMPLES), ref)


def _transcode(batch, target: str):
    return Transcode(StepSpec("transcode", target)).apply(batch).batch


def test_alaw_to_ulaw_equals_reference_decode_then_encode(media) -> None:
    payloads = [bytes(range(i, i + 160)) if i + 160 <= 256 else bytes(160) for i in (0, 96)]
    payloads.append(bytes(range(256))[::-1][:160])
    batch = media.build_batch(payloads, payload_type=PCMA_PT)
    out = _transcode(batch, "pcmu")
    for i, p in enumerate(payloads):
        expected = _ref(audioop.lin2ulaw, _ref(audioop.alaw2lin, p, 2), 2)
        assert out.payload_of(i) == expected
    assert out.payload_type.tolist() == [PCMU_PT] * 3
    assert np.array_equal(out.timestamp, batch.timestamp)
    assert np.array_equal(out.seq, batch.seq)


def test_ulaw_to_alaw_equals_reference_decode_then_encode(media) -> None:
    payload = bytes(range(256))
    batch = media.build_batch([payload[:160], payload[160:]], payload_type=PCMU_PT)
    out = _transcode(batch, "pcma")
    expected = _ref(audioop.lin2alaw, _ref(audioop.ulaw2lin, payload, 2), 2)
    assert out.payload_of(0) + out.payload_of(1) == expected
    assert out.payload_type.tolist() == [PCMA_PT, PCMA_PT]


def test_to_l16_doubles_the_payload_big_endian(media) -> None:
    codes = bytes(range(160))
    batch = media.build_batch([codes], payload_type=PCMA_PT)
    out = _transcode(batch, "l16")
    linear = _ref(audioop.alaw2lin, codes, 2)
    assert out.payload_of(0) == _ref(audioop.byteswap, linear, 2)
    assert out.payload_type.tolist() == [L16_PT]
    assert out.timestamp.tolist() == batch.timestamp.tolist()


def test_l16_round_trip_is_exact_for_g711_values(media) -> None:
    # Every mu-law code survives except 0x7F, the "negative zero" that encodes back as 0xFF.
    codes = bytes(c for c in range(256) if c != 0x7F)
    batch = media.build_batch([codes[:160], codes[160:]], payload_type=PCMU_PT)
    back = _transcode(_transcode(batch, "l16"), "pcmu")
    assert back.payload.tobytes() == codes


def test_non_audio_packets_pass_unchanged(media) -> None:
    batch = media.build_batch(
        [bytes(160), b"\x40", b"\x01\x0a\x00\xa0", bytes(160)],
        payload_type=[PCMA_PT, 13, 101, 34],
    )
    for target in ("pcmu", "l16"):
        out = _transcode(batch, target)
        assert out.payload_type.tolist()[1:] == [13, 101, 34]
        for i in (1, 2, 3):
            assert out.payload_of(i) == batch.payload_of(i)
        assert out.payload_type[0] != PCMA_PT


def test_mixed_codecs_all_end_in_target(media) -> None:
    batch = media.build_batch(
        [bytes(range(160)), bytes(range(160)), bytes(range(96, 256)) * 2],
        payload_type=[PCMA_PT, PCMU_PT, L16_PT],
    )
    out = _transcode(batch, "pcma")
    assert out.payload_type.tolist() == [PCMA_PT] * 3
    audio = decode_audio(batch)
    expected = _ref(audioop.lin2alaw, audio.samples.tobytes(), 2)
    assert out.payload.tobytes() == expected


def test_input_batch_is_not_mutated(media) -> None:
    batch = media.build_batch([bytes(range(160))], payload_type=PCMA_PT)
    before = batch.payload.copy()
    _transcode(batch, "pcmu")
    assert np.array_equal(batch.payload, before)
    assert batch.payload_type.tolist() == [PCMA_PT]


@pytest.mark.parametrize("arg", [None, "g729", "opus"])
def test_unknown_codec_is_refused(arg: str | None) -> None:
    with pytest.raises(InvalidInput, match="transcode"):
        Transcode(StepSpec("transcode", arg))


def test_registry_offers_the_four_capabilities() -> None:
    assert {"transcode", "gain", "dtmf", "vad"} == CAPABILITIES
    for text in ("transcode:pcmu", "gain:-3", "dtmf", "vad", "vad:cn"):
        assert str(build_step(StepSpec.parse(text)).spec) == text


@pytest.mark.parametrize(
    ("text", "named"), [("echo", "echo"), ("gain:loud", "gain"), ("transcode:opus", "transcode")]
)
def test_registry_refuses_unknown_steps_by_name(text: str, named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        build_step(StepSpec.parse(text))
