"""What the live relay tests share: a receiver that stamps every datagram with the kernel's
arrival time, a sender that keeps a call's own pace, and `commex stream process` on a UDP
port, started as a user starts it."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from serve_support import EXE

from commex.stream.ntptime import compact, compact_units
from commex.stream.packets import PacketBatch, StreamKey
from commex.stream.rtcp import ReportBlock, SenderReport, parse_rtcp
from commex.stream.rtcpbuild import rr_compound
from commex.stream.rtp import parse_rtp, serialize

_SO_TIMESTAMPNS = 35


def _udp(bind: bool = True) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    if bind:
        sock.bind(("127.0.0.1", 0))
    return sock


def _even_pair() -> socket.socket:
    """A UDP socket on an even port whose next port is free (for RTCP beside RTP)."""
    for _ in range(64):
        sock = _udp()
        port = sock.getsockname()[1]
        if port % 2 == 0:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind(("127.0.0.1", port + 1))
                except OSError:
                    sock.close()
                    continue
            return sock
        sock.close()
    raise AssertionError("no even port with a free port above it")


class Receiver:
    """Collects every datagram sent to :attr:`port`, with its arrival (Unix ns). With
    ``pair``, the port is even and the one above it is free (for :class:`RtcpAnswerer`)."""

    def __init__(self, *, pair: bool = False) -> None:
        self.sock = _even_pair() if pair else _udp()
        self.sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.got: list[tuple[int, bytes]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, anc, _, _ = self.sock.recvmsg(2048, 64)
            except (TimeoutError, OSError):
                continue
            self._keep(data, anc)

    def _keep(self, data: bytes, anc: list[tuple[int, int, bytes]]) -> None:
        sec, nsec = struct.unpack("qq", anc[0][2]) if anc else divmod(time.time_ns(), 10**9)
        with self._lock:
            self.got.append((sec * 1_000_000_000 + nsec, data))

    def count(self) -> int:
        with self._lock:
            return len(self.got)

    def wait_for(self, count: int, timeout: float) -> None:
        """Wait until ``count`` datagrams came; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.count() < count:
            assert time.monotonic() < deadline, f"got {self.count()} of {count} datagrams"
            time.sleep(0.05)

    def rtp(self) -> list[tuple[int, Any]]:
        """The RTP datagrams received (RTCP left out), parsed, with their arrival."""
        with self._lock:
            got = list(self.got)
        return [(t, parse_rtp(d)) for t, d in got if not 192 <= d[1] <= 223]

    def close(self) -> None:
        """Stop, keeping what is still waiting on the socket."""
        self._stop.set()
        self._thread.join(5)
        self.sock.setblocking(False)
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(2048, 64)
            except OSError:
                break
            self._keep(data, anc)
        self.sock.close()


class RtcpAnswerer:
    """The receiver's RTCP port: answers every sender report with a receiver report about
    its stream (fixed loss and jitter, and LSR/DLSR for the round trip)."""

    def __init__(self, port: int, *, fraction_lost: int, packets_lost: int, jitter: int) -> None:
        self.sock = _udp(bind=False)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.1)
        self.block = (fraction_lost, packets_lost, jitter)
        self.sender_reports: list[Any] = []
        self.answered = 0  # receiver reports sent back
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(2048)
            except (TimeoutError, OSError):
                continue
            received = time.time_ns()
            for packet in parse_rtcp(data):
                if isinstance(packet, SenderReport):
                    self.sender_reports.append(packet)
                    self._answer(packet, peer, received)

    def _answer(self, sr: Any, peer: Any, received: int) -> None:
        fraction, lost, jitter = self.block
        held = time.time_ns() - received + 10_000_000  # as if it waited 10 ms to answer
        time.sleep(0.01)
        block = ReportBlock(sr.ssrc, fraction, lost, 1000, jitter, compact(sr.ntp_timestamp),
                            compact_units(held))  # fmt: skip
        self.sock.sendto(rr_compound(0xBEEF, [block], "receiver@test"), peer)
        self.answered += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@dataclass
class Sent:
    """When each packet left the sender (Unix ns), by (SSRC, sequence number)."""

    at: dict[tuple[int, int], int] = field(default_factory=dict)


def send_at_pace(batch: PacketBatch, ports: list[int], *, speed: float = 1.0) -> Sent:
    """Send every packet of ``batch`` to each of ``ports`` at its own time in the capture
    (divided by ``speed``), each stream from a socket of its own."""
    data, offsets = serialize(batch)
    bounds = offsets.tolist()
    socks = {int(s): _udp(bind=False) for s in np.unique(batch.stream).tolist()}
    sent = Sent()
    start = time.monotonic() + 0.05
    times = (batch.arrival_us - batch.arrival_us.min()) / 1e6 / speed
    try:
        for i in range(len(batch)):
            wait = start + float(times[i]) - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            datagram = bytes(data[bounds[i] : bounds[i + 1]])
            key = (int(batch.ssrc[i]), int(batch.seq[i]))
            sent.at[key] = time.time_ns()
            for port in ports:
                socks[int(batch.stream[i])].sendto(datagram, ("127.0.0.1", port))
    finally:
        for sock in socks.values():
            sock.close()
    return sent


def quiet_shortened(batch: PacketBatch, *, over_us: int, to_us: int) -> PacketBatch:
    """``batch`` with every wait between one packet and the next longer than ``over_us`` cut to
    ``to_us``: the same packets in the same order, at their own pace wherever media flows."""
    order = np.argsort(batch.arrival_us, kind="stable")
    at = batch.arrival_us[order]
    waits = np.diff(at, prepend=at[0])
    times = np.empty_like(at)
    times[order] = at[0] + np.cumsum(np.where(waits > over_us, to_us, waits))
    return replace(batch, arrival_us=times)


class Plane:
    """`commex stream process udp://127.0.0.1:0 --out udp://127.0.0.1:PORT ...`, started
    and waited on as a user would; :attr:`port` is where it listens."""

    def __init__(
        self, out_port: int, tmp: Path, *args: str, name: str = "plane", **env: str
    ) -> None:
        self.report_path = tmp / f"{name}-report.json"
        out = f"udp://127.0.0.1:{out_port}"
        command = [EXE, "stream", "process", "udp://127.0.0.1:0", "--out", out,
                   "--report", str(self.report_path), *args]  # fmt: skip
        env = os.environ | {"COLUMNS": "200"} | env
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        self.stdout: list[str] = []
        # Each pipe has one reader of its own until it ends (communicate() would race them).
        self._readers = [
            threading.Thread(target=self._drain, daemon=True),
            threading.Thread(target=self._keep_stdout, daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.port = self._listening()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line)

    def _keep_stdout(self) -> None:
        assert self.proc.stdout is not None
        self.stdout.extend(self.proc.stdout)

    def _listening(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the plane never listened: {''.join(self.stderr)}") from None
            if "listening on udp://" in line:
                return int(line.strip().rsplit(":", 1)[1])

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def finish(self, timeout: float = 60.0) -> dict[str, Any]:
        """Wait for the run to end by itself (or after :meth:`stop`); its report."""
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._close_pipes(timeout)
        assert self.proc.returncode == 0, "".join(self.stderr)
        assert "stream processed" in "".join(self.stdout)
        return dict(json.loads(self.report_path.read_text()))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_pipes(10.0)

    def _close_pipes(self, timeout: float) -> None:
        """Once the process has ended: let each reader reach the end, then close its pipe."""
        for reader in self._readers:
            reader.join(timeout)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


def synthetic_calls(calls: int, seconds: float, *, first_ssrc: int = 0x5000) -> PacketBatch:
    """``calls`` PCMA calls of 20 ms packets for ``seconds``, spread over the 20 ms, as one
    batch in send order (times in ``arrival_us``; payloads differ packet to packet)."""
    per_call = int(seconds * 50)
    call = np.tile(np.arange(calls), per_call)
    k = np.repeat(np.arange(per_call), calls)
    at = k * 20_000 + call * (20_000 // calls)
    order = np.argsort(at, kind="stable")
    call, k, at = call[order], k[order], at[order]
    n = call.shape[0]
    rng = np.random.default_rng(calls)
    keys = tuple(
        StreamKey("127.0.0.1", 20_000 + c, "127.0.0.1", 5004, first_ssrc + c) for c in range(calls)
    )
    return PacketBatch(
        index=np.arange(n, dtype=np.int64),
        stream=call.astype(np.int32),
        arrival_us=at.astype(np.int64),
        seq=(k % 65536).astype(np.uint16),
        timestamp=(k * 160).astype(np.uint32),
        ssrc=(first_ssrc + call).astype(np.uint32),
        payload_type=np.full(n, 8, dtype=np.uint8),
        marker=np.zeros(n, dtype=np.bool_),
        csrc_count=np.zeros(n, dtype=np.uint8),
        has_extension=np.zeros(n, dtype=np.bool_),
        payload=rng.integers(0, 256, n * 160, dtype=np.uint8),
        offsets=np.arange(n + 1, dtype=np.int64) * 160,
        extra_offsets=np.zeros(n + 1, dtype=np.int64),
        streams=keys,
    )


def latency_ms(received: list[tuple[int, Any]], sent: Sent) -> np.ndarray:
    """Each received packet's time from the sender to the receiver, in ms."""
    return np.array([(t - sent.at[(h.ssrc, h.sequence_number)]) / 1e6 for t, h in received])
