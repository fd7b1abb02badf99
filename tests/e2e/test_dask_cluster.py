"""The packet plane on a real Dask cluster (D2): a scheduler and two workers started as separate
processes by Dask's own command line (`dask scheduler`, `dask worker`), driven through
`commex stream process --executor dask:tcp://HOST:PORT`. The output is byte for byte the inline
run's, also when a worker is killed while the run is under way; and `--executor dask` builds a
cluster of its own."""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import dpkt
import pytest
from distributed import Client
from serve_support import EXE, wait_until

DASK = str(Path(sys.executable).with_name("dask"))
START_TIMEOUT = 60.0
STREAMS, PACKETS = 4, 120_000  # 30 s of four G.711 calls, 600 segments of 200 packets

pytestmark = pytest.mark.slow


def _write_capture(path: Path, packets: int) -> None:
    """``packets`` RTP packets of A-law (PT 8), 160 bytes each, round-robin over four calls
    20 ms apart, as Ethernet/IPv4/UDP frames in a pcap file."""
    payload = bytes(range(160))
    with path.open("wb") as f:
        writer = dpkt.pcap.Writer(f)
        heads = []
        for s in range(STREAMS):
            udp = dpkt.udp.UDP(sport=4000 + 2 * s, dport=5000 + 2 * s, data=bytes(12) + payload)
            udp.ulen = len(udp)
            ip = dpkt.ip.IP(src=bytes([10, 0, 0, 1]), dst=bytes([10, 0, 0, 2]), p=17, data=udp)
            frame = bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, data=ip))
            heads.append(frame[:40] + b"\x00\x00")  # the IP header checked; UDP's sum 0: none
        for i in range(packets):
            s, k = i % STREAMS, i // STREAMS
            rtp = struct.pack("!BBHII", 0x80, 8, k & 0xFFFF, k * 160, 0x1000 + s)
            writer.writepkt(heads[s] + rtp + payload, ts=1_700_000_000 + k * 0.02 + s * 1e-5)


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("capture") / "calls.pcap"
    _write_capture(path, PACKETS)
    return path


def process(capture: Path, out: Path, *extra: str, **env: str) -> subprocess.Popen[str]:
    """`commex stream process CAPTURE --out OUT --step transcode:pcmu` with ``extra`` options,
    started as a user would; its report is written beside ``out``."""
    full = dict(os.environ, COLUMNS="120", **env)
    return subprocess.Popen(
        [EXE, "stream", "process", str(capture), "--out", str(out), "--step", "transcode:pcmu",
         "--segment", "packets:200", "--report", str(out.with_suffix(".json")), *extra],
        env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finish(proc: subprocess.Popen[str], timeout: float = 240) -> str:
    _, stderr = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, stderr
    return stderr


@pytest.fixture(scope="module")
def inline_run(capture: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output of the inline run (its report beside it), which every other run must match."""
    out = tmp_path_factory.mktemp("inline") / "inline.pcap"
    finish(process(capture, out, "--quiet"))
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["packets_in"] == report["packets_out"] == PACKETS
    return out


@pytest.fixture(scope="module")
def inline_output(inline_run: Path) -> bytes:
    return inline_run.read_bytes()


@dataclass
class Cluster:
    """A scheduler and its workers, each a `dask` process of its own."""

    address: str
    client: Client
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def executed(self) -> dict[str, int]:
        """Tasks each live worker has run, by worker name."""
        counts = self.client.run(lambda dask_worker: dask_worker.state.executed_count)
        names = {a: w["name"] for a, w in self.client.scheduler_info()["workers"].items()}
        return {str(names[a]): int(n) for a, n in counts.items() if a in names}

    def busy_worker(self) -> str | None:
        """The name of a worker processing a segment right now, if any."""
        names = {a: w["name"] for a, w in self.client.scheduler_info()["workers"].items()}
        for address, keys in self.client.processing().items():
            if any(str(k).startswith("commex-segment") for k in keys):
                return str(names[address])
        return None


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop the workers (``procs[1:]``), then the scheduler (``procs[0]``): a worker whose
    scheduler went first keeps trying to reach it before it exits."""
    for group in (procs[1:], procs[:1]):
        for proc in group:
            if proc.poll() is None:
                proc.terminate()
        _wait(group)


def _wait(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """`dask scheduler` on a free port (the system picks it; the scheduler file says which)
    and two `dask worker` processes, one thread each, without nannies: a killed worker stays
    dead. Everything started here is stopped at teardown."""
    procs: list[subprocess.Popen[bytes]] = []
    log = (tmp_path / "dask.log").open("wb")
    scheduler_file = tmp_path / "scheduler.json"
    try:
        scheduler = [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(scheduler_file)]  # fmt: skip
        procs.append(subprocess.Popen(scheduler, cwd=tmp_path, stdout=log, stderr=log))
        wait_until(
            lambda: procs[0].poll() is not None or scheduler_file.exists(),
            "the scheduler",
            START_TIMEOUT,
        )
        assert procs[0].poll() is None, (tmp_path / "dask.log").read_text()
        wait_until(lambda: "address" in scheduler_file.read_text(), "the scheduler file", 10)
        address = json.loads(scheduler_file.read_text())["address"]
        workers = {}
        for name in ("w1", "w2"):
            workers[name] = subprocess.Popen(
                [DASK, "worker", address, "--name", name, "--nthreads", "1", "--no-nanny",
                 "--no-dashboard", "--local-directory", str(tmp_path / name)],
                cwd=tmp_path, stdout=log, stderr=log,
            )  # fmt: skip
            procs.append(workers[name])
        with Client(address, timeout=START_TIMEOUT) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT)
            yield Cluster(address, client, workers)
    finally:
        _stop(procs)
        log.close()


def test_a_scheduler_and_workers_of_dasks_command_line_give_the_inline_output(
    cluster: Cluster, capture: Path, inline_run: Path, tmp_path: Path
) -> None:
    before = cluster.executed()
    out = tmp_path / "dask.pcap"
    finish(process(capture, out, "--quiet", "--executor", f"dask:{cluster.address}"))
    assert out.read_bytes() == inline_run.read_bytes()
    report = json.loads(out.with_suffix(".json").read_text())
    inline = json.loads(inline_run.with_suffix(".json").read_text())
    assert (report["packets_out"], report["segments"]) == (PACKETS, inline["segments"])
    ran = {name: n - before[name] for name, n in cluster.executed().items()}
    # Segments that close together travel as one task (a bundle): both workers took some.
    assert len(ran) == 2 and all(n > 0 for n in ran.values()), ran


class Progress:
    """What the command's progress display shows on stderr, read as it is drawn."""

    _DONE = re.compile(r"(\d+) packets in, (\d+) \w+")

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.text = ""
        self._lock = threading.Lock()
        assert proc.stderr is not None
        self._thread = threading.Thread(target=self._read, args=(proc.stderr,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for chunk in iter(lambda: stream.read(256), ""):
            with self._lock:
                self.text += chunk

    def done(self) -> int:
        """Packets processed so far, by the latest figure drawn."""
        with self._lock:
            found = self._DONE.findall(self.text)
        return int(found[-1][1]) if found else 0

    def join(self, proc: subprocess.Popen[str]) -> str:
        self._thread.join(timeout=60)
        assert proc.stderr is not None
        proc.stderr.close()
        return self.text


def test_a_worker_killed_mid_run_still_gives_the_whole_identical_output(
    cluster: Cluster, capture: Path, inline_output: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "dask.pcap"
    # Rich draws its progress bar on a pipe too when told the pipe is a terminal.
    proc = process(capture, out, "--executor", f"dask:{cluster.address}", TTY_COMPATIBLE="1")
    progress = Progress(proc)
    victim: list[str] = []

    def kill_a_busy_worker_once_progress_shows() -> bool:
        assert proc.poll() is None, "the run ended before a worker could be killed"
        if progress.done() == 0:
            return False
        busy = cluster.busy_worker()
        if busy is None:
            return False
        cluster.workers[busy].send_signal(signal.SIGKILL)
        victim.append(busy)
        return True

    try:
        wait_until(kill_a_busy_worker_once_progress_shows, "a worker busy with a segment", 120)
        killed_at = progress.done()
        proc.wait(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = progress.join(proc)
    assert proc.returncode == 0, stderr[-2000:]
    assert 0 < killed_at < PACKETS
    assert cluster.workers[victim[0]].wait(timeout=30) == -signal.SIGKILL
    assert list(cluster.executed()) == [n for n in ("w1", "w2") if n != victim[0]]
    assert out.read_bytes() == inline_output  # nothing lost, nothing twice, in order
    report = json.loads(out.with_suffix(".json").read_text())
    assert (report["packets_in"], report["packets_out"]) == (PACKETS, PACKETS)


def test_dask_without_an_address_runs_on_a_local_cluster_of_its_own(
    capture: Path, inline_output: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "local.pcap"
    finish(process(capture, out, "--quiet", "--executor", "dask"))
    assert out.read_bytes() == inline_output
