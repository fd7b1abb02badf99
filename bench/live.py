"""The live relay's added latency and loss for concurrent G.711 calls, beside a plain relay.

Each call is a PCMA stream of 20 ms packets (50 a second) from a socket of its own, the calls
spread evenly over the 20 ms. One loop on this machine sends every packet at its time and reads
what comes back, stamping both with the kernel's clock, so a packet's latency is its departure
from the generator to its arrival at the receiver, through everything in between. The same
packets go through:

- a plain Python UDP relay (``recvfrom``, ``sendto``, nothing else, with the real-time
  scheduling commex asks for when it may): the baseline, and
- ``commex stream process udp://... --out udp://... --step transcode:pcmu``.

Both run as processes of their own. Printed per run: packets sent and received, loss,
latency p50/p99/max, and for commex its playout delay and what its report says.

Run: ``python -m bench live`` (or ``python -m bench.live --calls 1,100,500 --seconds 10``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from commex.stream.rtp import build_rtp

COMMEX = str(Path(sys.executable).with_name("commex"))
PTIME_NS = 20_000_000
_SO_TIMESTAMPNS = 35
_SO_RCVBUFFORCE, _SO_SNDBUFFORCE = 33, 32

RELAY = """
import os, socket, sys
try:  # the same scheduling as commex asks for, so the baseline is a fair floor
    os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(10))
except (AttributeError, OSError):
    pass
src = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
src.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)
src.bind(("127.0.0.1", 0))
out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
out.setsockopt(socket.SOL_SOCKET, 32, 8 << 20)
target = ("127.0.0.1", int(sys.argv[1]))
print(src.getsockname()[1], flush=True)
recv, send = src.recv, out.sendto
while True:
    send(recv(2048), target)
"""


def _socket(bind: bool = False) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for force, plain in ((_SO_RCVBUFFORCE, socket.SO_RCVBUF), (_SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, 8 << 20)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, plain, 8 << 20)
    if bind:
        sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class Calls:
    """Every packet of ``n`` calls, in send order: its call, sequence number and time (ns
    after the start), and its datagram."""

    n: int
    call: np.ndarray
    seq: np.ndarray
    due_ns: np.ndarray
    datagrams: list[bytes]

    @classmethod
    def make(cls, n: int, seconds: float) -> Calls:
        per_call = int(seconds * 1e9 // PTIME_NS)
        call = np.tile(np.arange(n), per_call)
        k = np.repeat(np.arange(per_call), n)
        due = k * PTIME_NS + call * (PTIME_NS // n)
        order = np.argsort(due, kind="stable")
        call, k, due = call[order], k[order], due[order]
        rng = np.random.default_rng(7)
        audio = rng.integers(0, 256, (64, 160), dtype=np.uint8)
        datagrams = [
            build_rtp(payload_type=8, sequence_number=int(s) % 65536, timestamp=int(s) * 160,
                      ssrc=0x10000 + int(c), payload=audio[int(s) % 64].tobytes())
            for c, s in zip(call.tolist(), k.tolist(), strict=True)
        ]  # fmt: skip
        return cls(n, call, k, due, datagrams)


def drive(calls: Calls, target: int, receiver: socket.socket) -> tuple[np.ndarray, np.ndarray]:
    """Send every packet at its time to ``target`` (one socket per call) and read what
    arrives on ``receiver``; each packet's send time and arrival time (Unix ns, -1 when
    lost)."""
    senders = [_socket() for _ in range(calls.n)]
    total = len(calls.datagrams)
    sent_ns = np.full(total, -1, dtype=np.int64)
    got_ns = np.full(total, -1, dtype=np.int64)
    slot = {}  # (ssrc, seq) -> row
    for row, (c, s) in enumerate(zip(calls.call.tolist(), calls.seq.tolist(), strict=True)):
        slot[(0x10000 + c, s % 65536)] = row
    receiver.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(receiver, selectors.EVENT_READ)
    start = time.time_ns() + 50_000_000
    i, address, last_packet = 0, ("127.0.0.1", target), None
    while True:
        now = time.time_ns()
        while i < total and calls.due_ns[i] + start <= now:
            sent_ns[i] = time.time_ns()
            senders[calls.call[i]].sendto(calls.datagrams[i], address)
            i += 1
        last_packet = _receive(receiver, slot, got_ns) or last_packet
        if i >= total and (
            bool((got_ns >= 0).all()) or time.time_ns() - (last_packet or now) > 2e9
        ):
            break
        wait = (calls.due_ns[i] + start - time.time_ns()) / 1e9 if i < total else 0.1
        selector.select(max(0.0, min(wait, 0.1)))
    for sock in senders:
        sock.close()
    return sent_ns, got_ns


def _receive(sock: socket.socket, slot: dict[tuple[int, int], int], got: np.ndarray) -> int | None:
    last = None
    while True:
        try:
            data, anc, _, _ = sock.recvmsg(2048, 64)
        except BlockingIOError:
            return last
        sec, nsec = struct.unpack("qq", anc[0][2]) if anc else divmod(time.time_ns(), 10**9)
        arrived = sec * 1_000_000_000 + nsec
        seq, ssrc = struct.unpack_from("!H", data, 2)[0], struct.unpack_from("!I", data, 8)[0]
        row = slot.get((ssrc, seq))
        if row is not None and got[row] < 0:
            got[row] = arrived
        last = arrived


def figures(sent_ns: np.ndarray, got_ns: np.ndarray) -> str:
    ok = got_ns >= 0
    lost = int((~ok).sum())
    lat = (got_ns[ok] - sent_ns[ok]) / 1e6
    if not lat.shape[0]:
        return f"{len(sent_ns)} sent, all lost"
    p50, p99 = np.percentile(lat, [50, 99])
    return (f"{len(sent_ns):7d} sent, {lost:5d} lost ({100 * lost / len(sent_ns):.2f}%), "
            f"latency p50 {p50:6.2f} ms, p99 {p99:6.2f} ms, max {lat.max():7.2f} ms")  # fmt: skip


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def relay(calls: Calls) -> str:
    before = _cpu()
    receiver = _socket(bind=True)
    receiver.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    proc = subprocess.Popen(
        [sys.executable, "-c", RELAY, str(receiver.getsockname()[1])],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        result = figures(*drive(calls, port, receiver))
    finally:
        proc.terminate()
        proc.wait()
        receiver.close()
    return f"{result}, cpu {_cpu() - before:.2f} s"


def plane(calls: Calls, extra: list[str]) -> str:
    before = _cpu()
    receiver = _socket(bind=True)
    receiver.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [COMMEX, "stream", "process", "udp://127.0.0.1:0", "--out",
                   f"udp://127.0.0.1:{receiver.getsockname()[1]}", "--step", "transcode:pcmu",
                   "--quiet", "--idle-timeout", "2", "--rtcp", "off", "--report", str(report),
                   *extra]  # fmt: skip
        env = os.environ | {"COLUMNS": "200"}
        proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                text=True, env=env)  # fmt: skip
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            port = int(line.rsplit(":", 1)[1])
            ours = figures(*drive(calls, port, receiver))
            proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            receiver.close()
        r = json.loads(report.read_text())
    lat = r["latency_ms"] or {}
    return (f"{ours}, cpu {_cpu() - before:.2f} s\n{'':34s}(its report: playout delay "
            f"{r['playout_delay_ms']:g} ms, {r['late']} late, added p50 {lat.get('p50')} ms, "
            f"p99 {lat.get('p99')} ms, max {lat.get('max')} ms)")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", default="1,100,500")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--executor", default="inline")
    parser.add_argument("--extra", default="", help="more options for commex, space separated")
    args = parser.parse_args(argv or [])
    extra = ["--executor", args.executor, *args.extra.split()]
    for n in (int(c) for c in args.calls.split(",")):
        calls = Calls.make(n, args.seconds)
        print(f"{n} concurrent G.711 calls, 50 packets/s each, {args.seconds:g} s:")
        print(f"  plain Python UDP relay (baseline): {relay(calls)}")
        print(f"  commex transcode:pcmu ({args.executor:6s}) : {plane(calls, extra)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
