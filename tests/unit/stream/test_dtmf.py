"""Key presses: RFC 4733 telephone events and in-band tones (Goertzel)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from commex.domain.errors import InvalidInput
from commex.stream.packets import concat
from commex.stream.steps.base import StepSpec
from commex.stream.steps.dtmf import COL_HZ, KEYS, ROW_HZ, Dtmf, telephone_event_fields
from commex.stream.steps.g711 import L16_PT, PCMA_PT, PCMU_PT

PAD = ("123A", "456B", "789C", "*0#D")


def _freqs(digit: str) -> tuple[float, float]:
    for i, row in enumerate(PAD):
        if digit in row:
            return ROW_HZ[i], COL_HZ[row.index(digit)]
    raise AssertionError(digit)


def _detect(batch):
    out = Dtmf(StepSpec("dtmf")).apply(batch)
    assert out.batch is batch  # packets pass through unchanged
    return list(out.dtmf)


@pytest.mark.parametrize("pt", [PCMU_PT, PCMA_PT])
def test_all_sixteen_keys_in_band(media, pt: int) -> None:
    silence = np.zeros(8 * 60, dtype=np.int16)
    parts, expected = [np.zeros(8 * 100, dtype=np.int16)], []
    t = 100
    for n, digit in enumerate(KEYS):
        length = 60 + 20 * (n % 4)  # 60..120 ms
        parts += [media.tone(_freqs(digit), length, amplitude=5000), silence]
        expected.append((digit, t, length))
        t += length + 60
    batch = media.audio_batch(np.concatenate(parts), pt, ssrc=77)
    events = _detect(batch)
    assert [e.digit for e in events] == list(KEYS)
    for e, (digit, start, length) in zip(events, expected, strict=True):
        assert e.source == "inband" and e.ssrc == 77
        assert abs(e.start_ms - start) <= 20, (digit, e.start_ms, start)
        assert abs(e.duration_ms - length) <= 20, (digit, e.duration_ms, length)


def test_inband_on_l16_and_key_split_across_packets(media) -> None:
    # A 75 ms key starting 5 ms into a packet: start and duration still within one packet.
    signal = np.concatenate(
        [np.zeros(8 * 205, np.int16), media.tone(_freqs("7"), 75), np.zeros(800, np.int16)]
    )
    events = _detect(media.audio_batch(signal, L16_PT))
    assert [
        (e.digit, abs(e.start_ms - 205) <= 20, abs(e.duration_ms - 75) <= 20) for e in events
    ] == [("7", True, True)]


def test_short_blips_and_single_tones_are_not_keys(media) -> None:
    signal = np.concatenate(
        [
            media.tone(_freqs("5"), 30),  # shorter than 40 ms
            np.zeros(800, np.int16),
            media.tone((770.0,), 200),  # one tone only
            np.zeros(800, np.int16),
            media.tone((1000.0, 1400.0), 200),  # two tones off the keypad grid
            np.zeros(800, np.int16),
        ]
    )
    assert _detect(media.audio_batch(signal, PCMU_PT)) == []


def test_excess_twist_is_rejected(media) -> None:
    row, col = _freqs("9")
    weak_row = media.tone((row,), 200, amplitude=600) + media.tone((col,), 200, amplitude=6000)
    events = _detect(media.audio_batch(np.concatenate([weak_row, np.zeros(800, np.int16)]), L16_PT))
    assert events == []


def test_noise_is_not_a_key(media) -> None:
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 3000, 8000 * 2).astype(np.int16)
    assert _detect(media.audio_batch(noise, PCMA_PT)) == []


def _event(event: int, end: bool, duration: int, volume: int = 10) -> bytes:
    return struct.pack("!BBH", event, (0x80 if end else 0) | volume, duration)


def test_rfc4733_key_with_retransmitted_end_is_one_event(media) -> None:
    # Key 5 at timestamp 16000 (1 s after the stream's first packet at 8000), 400 samples long,
    # three end packets; then key # at 24000.
    payloads = [_event(5, False, d) for d in (160, 320)] + [_event(5, True, 400)] * 3
    payloads += [_event(11, False, 160), _event(11, True, 800), _event(11, True, 800)]
    batch = media.build_batch(
        [b"\xff" * 160, *payloads],
        payload_type=[PCMU_PT] + [101] * 8,
        ts_step=[8000, 0, 0, 0, 0, 8000, 0, 0, 0],
        ssrc=9,
    )
    events = _detect(batch)
    assert [(e.digit, e.start_ms, e.duration_ms, e.source, e.ssrc) for e in events] == [
        ("5", 1000, 50, "rfc4733", 9),
        ("#", 2000, 100, "rfc4733", 9),
    ]


def test_rfc4733_fields_are_parsed(media) -> None:
    batch = media.build_batch(
        [_event(1, True, 960, volume=10), _event(200, False, 5, volume=63)], payload_type=101
    )
    f = telephone_event_fields(batch)
    assert f.event.tolist() == [1, 200]
    assert f.end.tolist() == [True, False]
    assert f.volume.tolist() == [10, 63]
    assert f.duration.tolist() == [960, 5]
    # Event 200 is not a key press.
    assert [e.digit for e in _detect(batch)] == ["1"]


def test_rfc4733_event_split_over_two_segments_keeps_its_start(media) -> None:
    payloads = [_event(3, False, d) for d in (160, 320, 480)] + [_event(3, True, 640)] * 3
    batch = media.build_batch(payloads, payload_type=101, ts_step=0, first_ts=5000)
    first, second = batch.take(np.arange(3)), batch.take(np.arange(3, 6))
    whole = _detect(batch)
    assert [(e.digit, e.duration_ms) for e in whole] == [("3", 80)]
    parts = _detect(first) + _detect(second)
    # The first packet already says 20 ms of the key went by: it started 20 ms before it came.
    assert whole[0].start_ms == -20
    assert {e.start_ms for e in parts} == {whole[0].start_ms}
    assert len(_detect(concat([first, second]))) == 1


def test_dtmf_takes_no_argument() -> None:
    with pytest.raises(InvalidInput, match="dtmf"):
        Dtmf(StepSpec("dtmf", "x"))
