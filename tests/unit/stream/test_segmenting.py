"""Segment policies: by packet count, by duration, by content, and repeat labels."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commex.domain.errors import InvalidInput
from commex.stream.packets import StreamKey, concat
from commex.stream.segmenting import SegmentPolicy, segment
from commex.stream.steps.base import StepSpec
from commex.stream.steps.g711 import PCMU_PT
from commex.stream.steps.registry import build_step

KEYS = (StreamKey("a", 1, "b", 2, 1), StreamKey("c", 3, "d", 4, 2))


def _two_streams(media, n: int = 30):
    """Two interleaved streams of n packets each: indices 0, 2, 4... and 1, 3, 5..."""
    rng = np.random.default_rng(3)
    a = media.audio_batch(rng.normal(0, 3000, 160 * n).astype(np.int16), streams=KEYS, ssrc=1)
    b = media.audio_batch(
        rng.normal(0, 3000, 160 * n).astype(np.int16), streams=KEYS, ssrc=2, stream=1
    )
    a = replace(a, index=a.index * 2, arrival_us=a.index * 20_000)
    b = replace(b, index=b.index * 2 + 1, arrival_us=b.index * 20_000 + 7)
    return concat([a, b])


def _check_partition(batch, segments) -> None:
    seen = np.concatenate([s.batch.index for s in segments])
    assert sorted(seen.tolist()) == sorted(batch.index.tolist())
    assert len(set(seen.tolist())) == len(batch)
    firsts = [int(s.batch.index.min()) for s in segments]
    assert firsts == sorted(firsts)
    assert [s.id for s in segments] == list(range(len(segments)))
    for s in segments:
        assert len(np.unique(s.batch.stream)) == 1
        assert np.all(np.diff(s.batch.index) > 0)


@pytest.mark.parametrize(
    ("text", "kind", "size"),
    [("packets:50", "packets", 50), ("ms:200", "ms", 200), ("content", "content", 0)],
)
def test_policies_parse(text: str, kind: str, size: int) -> None:
    policy = SegmentPolicy.parse(text)
    assert (policy.kind, policy.size) == (kind, size)
    assert str(policy) == text


@pytest.mark.parametrize("text", ["packets", "packets:0", "ms:-5", "bytes:10", "content:3", ""])
def test_bad_policies_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="segment"):
        SegmentPolicy.parse(text)


def test_packet_count_segments_per_stream(media) -> None:
    batch = _two_streams(media, 25)
    segments = segment(batch, SegmentPolicy.parse("packets:10"))
    _check_partition(batch, segments)
    assert sorted(len(s.batch) for s in segments) == [5, 5, 10, 10, 10, 10]


def test_duration_segments(media) -> None:
    batch = _two_streams(media, 25)
    segments = segment(batch, SegmentPolicy.parse("ms:100"))
    _check_partition(batch, segments)
    assert sorted(len(s.batch) for s in segments) == [5] * 10


def test_duration_uses_rtp_time_without_arrival_times(media) -> None:
    batch = media.audio_batch(np.zeros(160 * 12, np.int16))
    batch = replace(batch, arrival_us=np.zeros(len(batch), dtype=np.int64))
    segments = segment(batch, SegmentPolicy.parse("ms:60"))
    assert [len(s.batch) for s in segments] == [3, 3, 3, 3]


def test_content_cuts_where_processing_changes(media) -> None:
    rng = np.random.default_rng(5)
    speech = [media.encode(rng.normal(0, 5000, 160), PCMU_PT).tobytes() for _ in range(6)]
    quiet = [bytes([0xFF]) * 160] * 12
    payloads = speech + quiet + [b"\x40"] * 3 + [b"\x05\x0a\x00\xa0"] * 2 + speech
    pts = [PCMU_PT] * 18 + [13] * 3 + [101] * 2 + [PCMU_PT] * 6
    batch = media.build_batch(payloads, payload_type=pts)
    segments = segment(batch, SegmentPolicy.parse("content"))
    _check_partition(batch, segments)
    assert [(s.kind, len(s.batch)) for s in segments] == [
        ("speech", 11),  # 6 loud packets and the 5-packet hangover
        ("silence", 7),
        ("comfort-noise", 3),
        ("telephone-event", 2),
        ("speech", 6),
    ]


def test_repeated_sequence_shares_a_group(media) -> None:
    rng = np.random.default_rng(11)
    prompt = [media.encode(rng.normal(0, 5000, 160), PCMU_PT).tobytes() for _ in range(5)]
    other = [media.encode(rng.normal(0, 300, 160), PCMU_PT).tobytes() for _ in range(5)]
    batch = media.build_batch(prompt + other + prompt)
    segments = segment(batch, SegmentPolicy.parse("packets:5"), classify=True)
    assert len(segments) == 3
    assert segments[2].group == segments[0].group == 0
    assert segments[1].group == 1


def test_mixed_kinds_in_a_fixed_segment(media) -> None:
    batch = media.build_batch([bytes([0xFF]) * 160, b"\x40"], payload_type=[PCMU_PT, 13])
    assert [s.kind for s in segment(batch, SegmentPolicy.parse("packets:2"), classify=True)] == [
        "mixed"
    ]


def test_count_and_time_policies_skip_classifying_unless_asked(media) -> None:
    batch = media.build_batch([bytes([0xFF]) * 160] * 4)
    segments = segment(batch, SegmentPolicy.parse("packets:2"))
    assert [(s.kind, s.group) for s in segments] == [("unclassified", 0), ("unclassified", 1)]
    assert [s.kind for s in segment(batch, SegmentPolicy.parse("content"))] == ["silence"]


def test_empty_batch_has_no_segments(media) -> None:
    assert segment(media.build_batch([]), SegmentPolicy.parse("content")) == []


# ``media`` only hands out stateless builders, so sharing it across examples is safe.
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.sampled_from([0, 8, 96, 13, 101, 34]), st.binary(max_size=50)),
        max_size=30,
    ),
    st.sampled_from(["packets:3", "ms:20", "content"]),
)
def test_any_packets_go_through_every_step_and_policy(media, packets, policy: str) -> None:
    batch = media.build_batch([p for _, p in packets], payload_type=[pt for pt, _ in packets])
    segments = segment(batch, SegmentPolicy.parse(policy))
    assert sum(len(s.batch) for s in segments) == len(batch)
    for spec in [
        "transcode:pcma",
        "transcode:pcmu",
        "transcode:l16",
        "gain:-6",
        "gain:40",
        "dtmf",
        "vad",
        "vad:cn",
    ]:
        out = build_step(StepSpec.parse(spec)).apply(batch).batch
        assert int(out.offsets[-1]) == out.payload.shape[0]
        assert len(out) <= len(batch)
        if not spec.startswith("vad"):
            assert len(out) == len(batch)
