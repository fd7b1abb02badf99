"""The pipeline: the same plan gives the same bytes on every executor, subcontracts what is
missing, and keeps every output stream's headers continuous."""

from __future__ import annotations

import functools
import logging
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from stream_helpers import (
    FAX,
    TOKEN,
    fake_step_factory,
    make_batch,
    serve_in_thread,
)

from commex.domain.errors import InvalidInput, NotFound
from commex.stream import rtp
from commex.stream.cluster import DaskExecutor
from commex.stream.dispersal import InlineExecutor
from commex.stream.node import create_node_app
from commex.stream.nodeexecutor import NodeExecutor
from commex.stream.pcap import read_capture, write_pcap
from commex.stream.pipeline import Plan, Services, run
from commex.stream.steps.base import StepOutput, StepSpec
from commex.stream.steps.registry import CAPABILITIES
from commex.stream.subcontracting import StepUnavailable
from commex.stream.tasks import SegmentTask
from commex.stream.workerpool import ProcessExecutor

STEPS = ["transcode:pcmu", "gain:-6", "dtmf"]
TIMING = ("elapsed_s", "rate_pps", "rate_bps", "executor")


def fax_plan(out: Path, **kw) -> Plan:
    return Plan.build(str(FAX), str(out), steps=kw.pop("steps", STEPS), segment="packets:100", **kw)


def stable(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in TIMING}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[bytes, dict]:
    out = tmp_path_factory.mktemp("ref") / "out.pcap"
    result = run(fax_plan(out), Services(executor=InlineExecutor()))
    return out.read_bytes(), result.to_json()


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # no fixed port: another cluster may hold 8787
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def node_url():
    with serve_in_thread(create_node_app(CAPABILITIES, TOKEN)) as url:
        yield url


@pytest.mark.parametrize("kind", ["inline", "process", "dask", "node"])
def test_every_executor_gives_byte_identical_output(kind, reference, request, tmp_path) -> None:
    if kind == "inline":
        executor = InlineExecutor()
    elif kind == "process":
        executor = ProcessExecutor(2)
    elif kind == "dask":
        executor = DaskExecutor(client=request.getfixturevalue("dask_client"))
    else:
        executor = NodeExecutor([request.getfixturevalue("node_url")], token=TOKEN)
    out = tmp_path / "out.pcap"
    try:
        report = run(fax_plan(out), Services(executor=executor)).to_json()
    finally:
        executor.close()
    ref_bytes, ref_report = reference
    assert out.read_bytes() == ref_bytes
    assert stable(report) == stable(ref_report)
    assert report["segments"] > 10


def test_the_reference_run_transcodes_every_audio_packet(reference) -> None:
    _, report = reference
    assert report["packets_in"] == report["packets_out"] == 1330
    assert {(s["payload_type_in"], s["payload_type_out"]) for s in report["streams"]} == {(8, 0)}


def test_a_killed_dask_worker_loses_and_duplicates_nothing(dask_client, tmp_path) -> None:
    factory = functools.partial(fake_step_factory, marker=str(tmp_path / "killed"))
    batch = make_batch(200)
    tasks = [
        SegmentTask(i, batch.take(np.arange(i * 20, (i + 1) * 20)), (StepSpec("killer", "95"),))
        for i in range(10)
    ]
    executor = DaskExecutor(client=dask_client, step_factory=factory)
    results = list(executor.map_segments(tasks))
    executor.close()
    assert (tmp_path / "killed").exists()
    assert sorted(r.id for r in results) == list(range(10))
    for r in results:
        assert np.array_equal(r.batch.index, tasks[r.id].batch.index)


def test_progress_is_reported_up_to_the_whole_input(tmp_path) -> None:
    seen = []
    run(fax_plan(tmp_path / "o.pcap"), Services(progress=seen.append))
    last = seen[-1]
    assert last.bytes_read == last.total_bytes == FAX.stat().st_size
    assert last.packets_done == last.packets_in == 1330


def _liar(spec: StepSpec):
    class Liar:
        def apply(self, batch):
            return StepOutput(batch.take(np.arange(len(batch) - 1)))

    return Liar()


def test_a_missing_step_is_subcontracted_and_the_output_matches(tmp_path, reference) -> None:
    liar = create_node_app({"gain", "dtmf"}, TOKEN, step_factory=_liar)
    good = create_node_app({"gain", "dtmf"}, TOKEN)
    with serve_in_thread(liar) as liar_url, serve_in_thread(good) as good_url:
        out = tmp_path / "out.pcap"
        plan = fax_plan(
            out,
            capabilities={"transcode"},
            subcontractors=[f"first={liar_url}", f"second={good_url}"],
        )
        result = run(plan, Services(token=TOKEN)).to_json()
    assert out.read_bytes() == reference[0]
    audio = int(np.isin(read_capture(FAX).batch.payload_type, [0, 8]).sum())
    assert audio == 1163  # gain goes to audio only, not to comfort noise or events
    assert result["subcontracted"] == [
        {"step": "gain:-6", "provider": "second", "segments": 1, "packets": audio},
        {"step": "dtmf", "provider": "second", "segments": 1, "packets": 1330},
    ]
    assert result["dtmf"] == reference[1]["dtmf"]


def test_a_step_no_provider_offers_stops_the_run_before_any_output(tmp_path) -> None:
    out = tmp_path / "out.pcap"
    with pytest.raises(StepUnavailable, match="no provider offers step vad"):
        run(fax_plan(out, steps=["transcode:pcmu", "vad"], capabilities={"transcode"}))
    assert not out.exists()


def test_dropped_packets_leave_continuous_sequence_numbers(tmp_path) -> None:
    source = tmp_path / "in.pcap"
    write_pcap(source, make_batch(300, streams=3))
    out = tmp_path / "out.pcap"
    plan = Plan.build(
        str(source), str(out), steps=["vad"], segment="packets:40", capabilities={"vad"}
    )
    pool = ProcessExecutor(1, step_factory=fake_step_factory)
    with pool:
        result = run(plan, Services(step_factory=fake_step_factory, executor=pool))
    written = read_capture(out).batch
    assert len(written) == result.packets_out == 150
    for s in np.unique(written.stream):
        assert np.all(np.diff(written.seq[written.stream == s].astype(int)) == 1)


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        ({"input": "/no/such.pcap"}, NotFound, "does not exist"),
        ({"executor": "threads"}, InvalidInput, "invalid executor"),
        ({"segment": "bytes:9"}, InvalidInput, "invalid segment policy"),
        ({"steps": ["Not A Step"]}, InvalidInput, "invalid step"),
        ({"subcontractors": ["nourl"]}, InvalidInput, "invalid subcontractor"),
        ({"output": "udp://host"}, InvalidInput, "udp://HOST:PORT"),
        ({"max_rate_bps": 0}, InvalidInput, "max-rate"),
        ({"burst_bytes": -1}, InvalidInput, "burst"),
    ],
)
def test_a_bad_plan_is_refused_naming_what_is_wrong(kw, error, match) -> None:
    args = {"input": str(FAX), "output": "out.pcap"} | kw
    with pytest.raises(error, match=match):
        Plan.build(args.pop("input"), args.pop("output"), **args)


def test_udp_in_and_out(tmp_path) -> None:
    packets = read_capture(FAX).batch
    packets = packets.take(np.flatnonzero(packets.payload_type == 8)[:120])
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(5)
    received: list[bytes] = []

    def receive() -> None:
        while len(received) < len(packets):
            received.append(sink.recv(2048))

    receiver = threading.Thread(target=receive)
    receiver.start()

    def send(where) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for datagram in rtp.datagrams(packets):
                s.sendto(datagram, (where.host, where.port))

    plan = Plan.build(
        "udp://127.0.0.1:0",
        f"udp://127.0.0.1:{sink.getsockname()[1]}",
        steps=["transcode:pcmu"],
        idle_timeout_s=0.3,
    )
    result = run(plan, Services(on_ready=send))
    receiver.join(10)
    sink.close()
    assert result.packets_in == result.packets_out == len(packets)
    assert len(received) == len(packets)
    headers = [rtp.parse_rtp(d) for d in received]
    assert {h.payload_type for h in headers} == {0}
    assert [h.sequence_number for h in headers] == packets.seq.tolist()


def test_packets_are_handed_on_as_they_come_out(tmp_path) -> None:
    seen: list[int] = []
    pool = ProcessExecutor(2)
    with pool:
        result = run(
            fax_plan(tmp_path / "o.pcap"),
            Services(executor=pool, on_result=lambda b: seen.append(len(b))),
        )
    assert len(seen) > 1  # bundle by bundle, not once at the end
    assert sum(seen) == result.packets_out == 1330


@pytest.mark.parametrize(
    ("source", "steps", "segment"),
    [
        (str(FAX), ["transcode:pcmu"], "packets:1000"),
        ("udp://127.0.0.1:0", ["transcode:pcmu", "gain:-3"], "ms:20"),
        ("udp://127.0.0.1:0", ["transcode:pcmu", "dtmf"], "ms:60"),
        ("udp://127.0.0.1:0", ["vad"], "ms:60"),
    ],
)
def test_the_default_segment_fits_the_input_and_the_steps(source, steps, segment) -> None:
    assert Plan.build(source, "out.pcap", steps=steps).segment == segment
