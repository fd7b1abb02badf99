"""Builders of synthetic RTP batches for the packet-plane unit tests."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from commex.stream.packets import PacketBatch, StreamKey
from commex.stream.steps.g711 import L16_PT, PCMA_PT, PCMU_PT, alaw_encode, ulaw_encode

TESTDATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "testdata"


def encode(samples: np.ndarray, pt: int) -> np.ndarray:
    """Payload bytes of 16-bit samples in the codec of payload type ``pt``."""
    s = samples.astype(np.int16)
    if pt == PCMA_PT:
        return alaw_encode(s)
    if pt == PCMU_PT:
        return ulaw_encode(s)
    assert pt == L16_PT
    return s.astype(">i2").view(np.uint8)


def build_batch(
    payloads: list[bytes],
    *,
    payload_type: int | list[int] = PCMU_PT,
    ssrc: int = 0x1234,
    first_index: int = 0,
    first_seq: int = 100,
    first_ts: int = 8000,
    ts_step: int | list[int] = 160,
    ptime_us: int = 20_000,
    stream: int = 0,
    streams: tuple[StreamKey, ...] | None = None,
    marker: list[bool] | None = None,
) -> PacketBatch:
    """A batch of one stream with the given payloads, consecutive seq and timestamps."""
    n = len(payloads)
    pts = payload_type if isinstance(payload_type, list) else [payload_type] * n
    steps = ts_step if isinstance(ts_step, list) else [ts_step] * n
    ts = (first_ts + np.concatenate([[0], np.cumsum(steps[:-1])])) if n else np.zeros(0)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(p) for p in payloads], out=offsets[1:])
    if streams is None:
        streams = (StreamKey("192.0.2.10", 4000, "192.0.2.20", 5000, ssrc),)
    return PacketBatch(
        index=first_index + np.arange(n, dtype=np.int64),
        stream=np.full(n, stream, dtype=np.int32),
        arrival_us=(first_index + np.arange(n, dtype=np.int64)) * ptime_us,
        seq=((first_seq + np.arange(n)) % 65536).astype(np.uint16),
        timestamp=(np.asarray(ts, dtype=np.int64) % (1 << 32)).astype(np.uint32),
        ssrc=np.full(n, ssrc, dtype=np.uint32),
        payload_type=np.asarray(pts, dtype=np.uint8),
        marker=np.asarray(marker if marker is not None else [False] * n, dtype=np.bool_),
        csrc_count=np.zeros(n, dtype=np.uint8),
        has_extension=np.zeros(n, dtype=np.bool_),
        payload=np.frombuffer(b"".join(payloads), dtype=np.uint8).copy(),
        offsets=offsets,
        header_extra=np.zeros(0, dtype=np.uint8),
        extra_offsets=np.zeros(n + 1, dtype=np.int64),
        streams=streams,
    )


def audio_batch(
    samples: np.ndarray, pt: int = PCMU_PT, *, samples_per_packet: int = 160, **kw: object
) -> PacketBatch:
    """Cut 16-bit samples into 20 ms packets coded with payload type ``pt``."""
    usable = len(samples) // samples_per_packet * samples_per_packet
    coded = encode(np.asarray(samples[:usable]), pt).tobytes()
    width = samples_per_packet * (2 if pt == L16_PT else 1)
    payloads = [coded[i : i + width] for i in range(0, len(coded), width)]
    return build_batch(payloads, payload_type=pt, ts_step=samples_per_packet, **kw)  # type: ignore[arg-type]


def tone(freqs: tuple[float, ...], ms: int, amplitude: float = 6000.0) -> np.ndarray:
    """A sum of sine waves at 8 kHz, ``ms`` long, as int16 samples."""
    t = np.arange(ms * 8) / 8000.0
    wave = sum(amplitude * np.sin(2 * np.pi * f * t) for f in freqs)
    return np.clip(np.rint(wave), -32768, 32767).astype(np.int16)


@pytest.fixture
def testdata() -> Path:
    """The shared real-world packet material."""
    return TESTDATA


@pytest.fixture
def media() -> SimpleNamespace:
    """The batch builders above, for tests (test modules cannot import a conftest)."""
    return SimpleNamespace(
        build_batch=build_batch, audio_batch=audio_batch, tone=tone, encode=encode
    )
