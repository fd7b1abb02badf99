"""Executors: every segment processed once, on any executor, even when a worker dies."""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
import pytest
from stream_helpers import fake_step_factory, make_batch, same

from commex.domain.errors import InvalidInput
from commex.stream import wire
from commex.stream.dispersal import ExecutorSpec, InlineExecutor
from commex.stream.steps.base import DtmfEvent, StepSpec
from commex.stream.tasks import SegmentFailed, SegmentTask, check_result, run_task
from commex.stream.workerpool import ProcessExecutor
from commex.stream.workers import Changed, Unchanged, expand, run_task_compact

INVERT = (StepSpec("invert"),)


def tasks(n_segments: int, size: int = 20, steps: tuple[StepSpec, ...] = INVERT):
    batch = make_batch(n_segments * size)
    return [
        SegmentTask(i, batch.take(np.arange(i * size, (i + 1) * size)), steps)
        for i in range(n_segments)
    ]


def test_inline_applies_the_steps_to_every_segment() -> None:
    work = tasks(5)
    results = list(InlineExecutor(fake_step_factory).map_segments(work))
    assert [r.id for r in results] == [0, 1, 2, 3, 4]
    for task, result in zip(work, results, strict=True):
        assert np.array_equal(result.batch.payload, task.batch.payload ^ 0xFF)


def test_process_pool_killed_worker_loses_and_duplicates_nothing(tmp_path) -> None:
    work = tasks(12, steps=(StepSpec("killer", "125"), *INVERT))
    factory = functools.partial(fake_step_factory, marker=str(tmp_path / "killed"))
    expected = {t.id: run_task(replace(t, steps=INVERT), fake_step_factory) for t in work}
    with ProcessExecutor(2, window=4, step_factory=factory) as pool:
        results = list(pool.map_segments(work))
        assert pool.restarts >= 1
    assert (tmp_path / "killed").exists()
    ids = [r.id for r in results]
    assert sorted(ids) == list(range(12))  # each segment exactly once
    for r in results:
        assert same(r.batch, expected[r.id].batch)


def test_process_pool_passes_a_step_error_through_instead_of_retrying() -> None:
    with (
        ProcessExecutor(1, step_factory=fake_step_factory) as pool,
        pytest.raises(InvalidInput, match="always fails"),
    ):
        list(pool.map_segments(tasks(3, steps=(StepSpec("fail"),))))


def test_window_bounds_the_segments_taken_from_the_source() -> None:
    pulled = []

    def source():
        for t in tasks(10):
            pulled.append(t.id)
            yield t

    with ProcessExecutor(1, window=3, step_factory=fake_step_factory) as pool:
        stream = pool.map_segments(source())
        next(stream)
        assert len(pulled) <= 4  # the window plus the one that was just refilled
        rest = list(stream)
    assert len(rest) == 9


def test_check_result_refuses_foreign_missing_and_duplicated_packets() -> None:
    task = tasks(1)[0]
    good = run_task(task, fake_step_factory)
    check_result(task, good)
    with pytest.raises(SegmentFailed, match="answers segment"):
        check_result(task, replace(good, id=9))
    with pytest.raises(SegmentFailed, match="got 19 back"):
        check_result(task, replace(good, batch=good.batch.take(np.arange(19))))
    with pytest.raises(SegmentFailed, match="duplicated"):
        check_result(task, replace(good, batch=good.batch.take(np.r_[np.arange(19), 0])))
    foreign = replace(good.batch, index=good.batch.index + 1000)
    with pytest.raises(SegmentFailed, match="not sent"):
        check_result(task, replace(good, batch=foreign))
    moved = replace(good.batch, timestamp=good.batch.timestamp + 1)
    with pytest.raises(SegmentFailed, match="timestamp"):
        check_result(task, replace(good, batch=moved))


def test_check_result_lets_a_dropping_step_leave_packets_out() -> None:
    task = tasks(1, steps=(StepSpec("vad"),))[0]
    result = run_task(task, fake_step_factory)
    assert len(result.batch) == 10
    check_result(task, result)


@pytest.mark.parametrize(
    ("text", "kind", "workers", "address"),
    [
        ("inline", "inline", None, None),
        ("process", "process", None, None),
        ("process:3", "process", 3, None),
        ("dask", "dask", None, None),
        ("dask:tcp://10.0.0.5:8786", "dask", None, "tcp://10.0.0.5:8786"),
        ("node:http://a:1,http://b:2", "node", None, "http://a:1,http://b:2"),
    ],
)
def test_executor_spec_parses_the_command_line_forms(text, kind, workers, address) -> None:
    spec = ExecutorSpec.parse(text)
    assert (spec.kind, spec.workers, spec.address) == (kind, workers, address)
    assert str(spec) == text


@pytest.mark.parametrize("text", ["", "threads", "process:0", "process:x", "inline:2", "node"])
def test_executor_spec_refuses_malformed_forms(text) -> None:
    with pytest.raises(InvalidInput, match="invalid executor"):
        ExecutorSpec.parse(text)


def test_wire_frame_round_trips_a_batch_and_its_meta() -> None:
    batch = make_batch(50, streams=3).take(np.arange(10, 40))
    events = (DtmfEvent("7", 1, 20, 80, "rfc4733"),)
    frame = wire.encode(batch, {"segment": 3, "dtmf": wire.events_to_meta(events)})
    back, meta = wire.decode(frame)
    assert same(back, batch)
    assert meta["segment"] == 3
    assert wire.events_from_meta(meta["dtmf"]) == events


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda f: b"XXXX" + f[4:], "not a commex segment"),
        (lambda f: f[:4] + b"\x09" + f[5:], "version 9"),
        (lambda f: f[:-1], "body is"),
        (lambda f: f[:10], "truncated"),
    ],
)
def test_wire_refuses_malformed_frames(mangle, message) -> None:
    frame = wire.encode(make_batch(4), {"segment": 0})
    with pytest.raises(wire.WireError, match=message):
        wire.decode(mangle(frame))


def test_wire_enforces_its_limits() -> None:
    frame = wire.encode(make_batch(10), {})
    with pytest.raises(wire.WireError, match="exceeds 5"):
        wire.decode(frame, wire.Limits(max_packets=5))
    with pytest.raises(wire.WireError, match="exceeds 100"):
        wire.decode(frame, wire.Limits(max_bytes=100))


def test_wire_refuses_inconsistent_offsets_and_stream_ids() -> None:
    batch = make_batch(4)
    bad_stream = replace(batch, stream=np.array([0, 1, 5, 0], dtype=np.int32))
    with pytest.raises(wire.WireError, match="outside its stream table"):
        wire.decode(wire.encode(bad_stream))
    bad_offsets = replace(batch, offsets=np.array([0, 200, 100, 480, 640], dtype=np.int64))
    with pytest.raises(wire.WireError, match="offsets"):
        wire.decode(wire.encode(bad_offsets))


def test_a_pool_worker_sends_back_only_what_a_step_changed() -> None:
    batch = make_batch(8)
    detect = SegmentTask(0, batch, (StepSpec("dtmf"),))
    answer = run_task_compact(detect)
    assert isinstance(answer, Unchanged)  # nothing to send back but the events
    assert expand(detect, answer).batch is batch
    change = SegmentTask(1, batch, (StepSpec("transcode", "pcmu"),))  # the batch is PCMA
    changed = run_task_compact(change)
    assert isinstance(changed, Changed)
    # Only what the transcode replaced travels back; the rest is the caller's own copy.
    assert set(changed.columns) <= {"payload", "offsets", "payload_type"}
    full = expand(change, changed)
    assert full.batch.payload_type.tolist() == [0] * 8
    assert full.batch.index is batch.index
