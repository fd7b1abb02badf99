"""Voice activity detection: drop or replace silence, keep speech and its hangover."""

from __future__ import annotations

import numpy as np
import pytest

from commex.domain.errors import InvalidInput
from commex.stream.packets import StreamKey, concat
from commex.stream.steps.base import StepSpec
from commex.stream.steps.g711 import PCMA_PT, PCMU_PT
from commex.stream.steps.vad import CN_PT, HANGOVER_PACKETS, Vad, levels_dbov, voice_activity


def _talk(media, pt: int = PCMU_PT):
    """10 silent packets, 10 speech packets, 20 silent packets (20 ms each)."""
    rng = np.random.default_rng(7)
    quiet = rng.normal(0, 3, 8 * 200)
    loud = rng.normal(0, 4000, 8 * 200)
    tail = rng.normal(0, 3, 8 * 400)
    return media.audio_batch(np.concatenate([quiet, loud, tail]).astype(np.int16), pt)


def test_levels_are_in_dbov(media) -> None:
    full = media.tone((1000.0,), 20, amplitude=32767)
    batch = media.audio_batch(np.concatenate([full, np.zeros(160, np.int16)]), PCMA_PT)
    levels = levels_dbov(batch)
    assert levels[0] == pytest.approx(-3.0, abs=0.2)  # a full-scale sine is -3 dBov
    assert levels[1] < -60


def test_speech_is_kept_with_hangover(media) -> None:
    batch = _talk(media)
    active = voice_activity(batch)
    assert active.tolist() == [False] * 10 + [True] * (10 + HANGOVER_PACKETS) + [False] * (
        20 - HANGOVER_PACKETS
    )


def test_vad_drops_silent_packets(media) -> None:
    batch = _talk(media, PCMA_PT)
    out = Vad(StepSpec("vad")).apply(batch).batch
    assert out.index.tolist() == list(range(10, 20 + HANGOVER_PACKETS))
    assert out.payload.tobytes() == batch.take(np.arange(10, 25)).payload.tobytes()


def test_vad_cn_replaces_silence_by_comfort_noise(media) -> None:
    batch = _talk(media)
    out = Vad(StepSpec("vad", "cn")).apply(batch).batch
    assert len(out) == len(batch)
    silent = [i for i in range(len(batch)) if not 10 <= i < 25]
    assert all(out.payload_type[i] == CN_PT for i in silent)
    assert all(out.payload_type[i] == PCMU_PT for i in range(10, 25))
    for i in silent:
        noise = out.payload_of(i)
        assert len(noise) == 1 and 60 <= noise[0] <= 127  # level in -dBov
    assert np.array_equal(out.timestamp, batch.timestamp)


def test_non_audio_packets_are_never_dropped(media) -> None:
    batch = media.build_batch(
        [bytes([0xFF]) * 160, b"\x50", b"\x01\x0a\x00\xa0"], payload_type=[PCMU_PT, CN_PT, 101]
    )
    out = Vad(StepSpec("vad")).apply(batch).batch
    assert out.payload_type.tolist() == [CN_PT, 101]


def test_hangover_runs_per_stream(media) -> None:
    keys = (StreamKey("a", 1, "b", 2, 1), StreamKey("a", 3, "b", 4, 2))
    loud = media.audio_batch(media.tone((440.0,), 40, 8000), streams=keys, ssrc=1)
    quiet = media.audio_batch(
        np.zeros(320, np.int16), streams=keys, ssrc=2, stream=1, first_index=2
    )
    active = voice_activity(concat([loud, quiet]))
    assert active.tolist() == [True, True, False, False]


def test_bad_argument_is_refused() -> None:
    with pytest.raises(InvalidInput, match="vad"):
        Vad(StepSpec("vad", "loud"))
