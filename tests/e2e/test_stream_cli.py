"""`commex stream process` and `commex node serve` as a user runs them, in subprocesses."""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from commex.stream import rtp
from commex.stream.nodeexecutor import NodeExecutor
from commex.stream.pcap import read_capture
from commex.stream.steps.base import StepSpec
from commex.stream.steps.g711 import ALAW_TO_ULAW
from commex.stream.tasks import SegmentTask, run_task
from support.net import free_port

REPO = Path(__file__).resolve().parents[2]
FAX = REPO.parent / "shared" / "testdata" / "captures" / "FAX-Call-t38-CA-TDM-SIP-FB-1.pcap"
COMMEX = str(Path(sys.executable).with_name("commex"))
TOKEN = "e2e-node-token"


def commex(*args: str, token: str | None = TOKEN, timeout: float = 60, cwd: Path | None = None):
    env = {k: v for k, v in os.environ.items() if k != "COMMEX_NODE_TOKEN"}
    env["COLUMNS"] = "200"
    if token is not None:
        env["COMMEX_NODE_TOKEN"] = token
    return subprocess.run(
        [COMMEX, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )


def test_transcoding_the_fax_capture_writes_the_stream_and_the_report(tmp_path) -> None:
    out, report_path = tmp_path / "out.pcap", tmp_path / "r.json"
    done = commex(
        "stream", "process", str(FAX), "--out", str(out), "--step", "transcode:pcmu",
        "--report", "r.json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "stream processed" in done.stdout
    report = json.loads(report_path.read_text())
    assert report["packets_in"] == report["packets_out"] == 1330
    assert report["segments"] >= 2
    assert report["subcontracted"] == []
    assert isinstance(report["dtmf"], list)
    assert sorted(s["ssrc"] for s in report["streams"]) == [0x0EAF0EAF, 0x17D90134]
    for s in report["streams"]:
        assert set(s) >= {"ssrc", "packets", "lost", "jitter_ms"}
        assert (s["payload_type_in"], s["payload_type_out"]) == (8, 0)
        assert 0 <= s["jitter_ms"] < 50
    assert sum(s["packets"] for s in report["streams"]) == 1330
    source, written = read_capture(FAX).batch, read_capture(out).batch
    assert np.array_equal(written.seq, source.seq)
    assert np.array_equal(written.timestamp, source.timestamp)
    assert np.array_equal(written.ssrc, source.ssrc)
    alaw = source.payload_type == 8
    assert np.array_equal(written.payload_type[alaw], np.zeros(int(alaw.sum()), dtype=np.uint8))
    audio = np.repeat(alaw, source.payload_sizes())
    assert np.array_equal(written.payload[audio], ALAW_TO_ULAW[source.payload[audio]])


def test_bad_input_is_one_clear_line_and_a_nonzero_exit(tmp_path) -> None:
    missing = commex("stream", "process", str(tmp_path / "none.pcap"), "--out", "o.pcap")
    assert missing.returncode == 3
    assert missing.stderr.strip().splitlines() == [
        f"error (input): input capture '{tmp_path / 'none.pcap'}' does not exist"
    ]
    bad = commex("stream", "process", str(FAX), "--out", "o.pcap", "--executor", "gpu")
    assert bad.returncode == 2
    assert "invalid executor 'gpu'" in bad.stderr
    unavailable = commex(
        "stream", "process", str(FAX), "--out", str(tmp_path / "o.pcap"),
        "--step", "vad", "--capabilities", "transcode",
    )  # fmt: skip
    assert unavailable.returncode == 3
    assert "no provider offers step vad" in unavailable.stderr
    assert not (tmp_path / "o.pcap").exists()


def _lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line)


def test_udp_in_and_out_on_loopback() -> None:
    packets = read_capture(FAX).batch
    packets = packets.take(np.flatnonzero(packets.payload_type == 8)[:200])
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(15)
    env = os.environ | {"COLUMNS": "200"}
    proc = subprocess.Popen(
        [COMMEX, "stream", "process", "udp://127.0.0.1:0", "--out",
         f"udp://127.0.0.1:{sink.getsockname()[1]}", "--step", "transcode:pcmu",
         "--idle-timeout", "0.5", "--max-rate", "2000000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True).start()
        deadline = time.monotonic() + 30
        port = None
        while port is None:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            m = re.search(r"listening on udp://127\.0\.0\.1:(\d+)", line)
            port = int(m[1]) if m else None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for datagram in rtp.datagrams(packets):
                sender.sendto(datagram, ("127.0.0.1", port))
        received = [sink.recv(2048) for _ in range(len(packets))]
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sink.close()
    assert proc.returncode == 0
    assert "stream processed" in out
    headers = [rtp.parse_rtp(d) for d in received]
    assert [h.sequence_number for h in headers] == packets.seq.tolist()
    assert {h.payload_type for h in headers} == {0}
    assert (
        headers[0].payload == ALAW_TO_ULAW[np.frombuffer(packets.payload_of(0), np.uint8)].tobytes()
    )


def test_node_serve_refuses_to_start_without_a_token() -> None:
    done = commex("node", "serve", "--capabilities", "gain", token=None, timeout=30)
    assert done.returncode == 5
    assert "COMMEX_NODE_TOKEN" in done.stderr


def _serve_node(port: int, capabilities: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "COMMEX_NODE_TOKEN"}
    env["COMMEX_NODE_TOKEN"] = TOKEN
    return subprocess.Popen(
        [COMMEX, "node", "serve", "--capabilities", capabilities, "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip


def _wait_until_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/v1/node", headers={"Authorization": f"Bearer {TOKEN}"}).is_success:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, "node serve exited"
        assert time.monotonic() < deadline, "node serve did not answer in time"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def node_serve():
    port = free_port()
    proc = _serve_node(port, "gain,dtmf")
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_missing_step_goes_to_the_node_named_by_subcontractor(node_serve, tmp_path) -> None:
    done = commex(
        "stream", "process", str(FAX), "--out", "o.pcap", "--capabilities", "transcode",
        "--step", "transcode:pcmu", "--step", "gain:-3", "--report", "r.json",
        "--subcontractor", f"down=http://127.0.0.1:{free_port()}",
        "--subcontractor", f"peer={node_serve}", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert [(s["step"], s["provider"]) for s in report["subcontracted"]] == [("gain:-3", "peer")]
    assert "subcontracted gain:-3 to peer" in done.stdout


def test_a_node_refuses_a_caller_with_the_wrong_token(node_serve, tmp_path) -> None:
    done = commex(
        "stream", "process", str(FAX), "--out", "o.pcap", "--capabilities", "transcode",
        "--step", "gain:-3", "--subcontractor", f"peer={node_serve}", token="wrong", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0
    assert "peer: node peer answered 401" in done.stderr
    assert not (tmp_path / "o.pcap").exists()


def test_a_node_killed_mid_run_loses_and_duplicates_nothing() -> None:
    batch = read_capture(FAX).batch
    steps = (StepSpec("transcode", "pcmu"), StepSpec("dtmf"))
    tasks = [
        SegmentTask(i, batch.take(np.arange(start, min(start + 50, len(batch)))), steps)
        for i, start in enumerate(range(0, len(batch), 50))
    ]
    ports = [free_port(), free_port()]
    procs = [_serve_node(p, "transcode,dtmf") for p in ports]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        for url, proc in zip(urls, procs, strict=True):
            _wait_until_up(url, proc)
        results = []
        with NodeExecutor(urls, token=TOKEN, window=4) as executor:
            for result in executor.map_segments(tasks):
                if not results:
                    procs[0].kill()  # the first node dies with segments in flight
                    procs[0].wait(10)
                results.append(result)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)
    assert sorted(r.id for r in results) == list(range(len(tasks)))
    assert {r.worker for r in results[5:]} == {urls[1]}
    for r in results:
        expected = run_task(tasks[r.id])
        assert np.array_equal(r.batch.payload, expected.batch.payload)
        assert r.dtmf == expected.dtmf
