"""Live RTP input: what waits on a UDP socket, read in one burst and parsed as one batch.

Nothing here handles a packet at a time beyond the one system call that reads it: a burst of
datagrams is read into one buffer, with the kernel's arrival time of each (``SO_TIMESTAMPNS``
where the system has it), and decoded column by column (:func:`~commex.stream.rtp.decode_columns`).
Streams are told apart by source address, port and SSRC (the destination is this socket) and
numbered by a :class:`StreamRegistry`; a finished stream's number is used again, so the
tables stay as large as the calls in progress. RTCP on the same port (RFC 5761: packet types
192-223) is set aside for the control, other datagrams are counted as skipped. A run may
``admit`` streams by SSRC (a run under several contracts takes only their streams): the
packets of a stream it does not admit are counted as refused and go no further.
"""

from __future__ import annotations

import socket
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from commex.domain.errors import InvalidInput
from commex.stream.packets import I32, I64, PacketBatch, StreamKey
from commex.stream.rtp import columns_to_batch, decode_columns

MAX_DATAGRAM = 65535
BUFFER_BYTES = 8 << 20  # kernel socket buffers: about 5 s of 500 G.711 calls
_BURST_BYTES = 4 << 20
# Linux option numbers the socket module does not name: set buffers beyond the system's
# maximum (allowed to root), and stamp each datagram with its arrival time.
_SO_SNDBUFFORCE, _SO_RCVBUFFORCE, _SO_TIMESTAMPNS = 32, 33, 35
_TIMESPEC = struct.Struct("qq")
_VOID = StreamKey("0.0.0.0", 0, "0.0.0.0", 0, 0)  # noqa: S104 - a free slot, never an address


def family_of(host: str) -> socket.AddressFamily:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise InvalidInput(f"cannot resolve UDP host {host!r}: {exc}", field="host") from exc
    return infos[0][0]


def udp_socket(host: str, port: int, *, field: str) -> socket.socket:
    """A non-blocking UDP socket bound to ``host:port`` (0: any free port), with large
    buffers; a port in use is an :class:`InvalidInput` on ``field``."""
    sock = socket.socket(family_of(host), socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InvalidInput(f"cannot listen on udp://{host}:{port}: {exc}", field=field) from exc
    enlarge(sock)
    sock.setblocking(False)
    return sock


def enlarge(sock: socket.socket, size: int = BUFFER_BYTES) -> None:
    """Ask for ``size``-byte kernel buffers both ways (beyond the system maximum as root)."""
    for force, plain in ((_SO_RCVBUFFORCE, socket.SO_RCVBUF), (_SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            if sys.platform != "linux":
                raise OSError
            sock.setsockopt(socket.SOL_SOCKET, force, size)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, plain, size)


class StreamRegistry:
    """Live streams numbered by (source address, port, SSRC); see the module notes."""

    def __init__(self, local: tuple[str, int]) -> None:
        self.local = local
        self._peers: dict[tuple[Any, ...], int] = {}
        self._peer_of: list[tuple[Any, ...]] = []
        self._ids: dict[int, int] = {}
        self.keys: list[StreamKey] = []
        self._key64: list[int] = []
        self._free: list[int] = []
        self.last_seen = np.zeros(0, dtype=np.float64)
        self.active = np.zeros(0, dtype=np.bool_)
        self._table: tuple[StreamKey, ...] = ()

    def assign(self, peers: list[tuple[Any, ...]], ssrc: np.ndarray, now: float) -> I32:
        """The stream id of each datagram (from ``peers`` with ``ssrc``), seen at ``now``."""
        get = self._peers.get
        pid = np.fromiter((get(p, -1) for p in peers), dtype=np.int64, count=len(peers))
        for row in np.flatnonzero(pid < 0).tolist():
            pid[row] = self._peer(peers[row])
        key = (pid << 32) | ssrc.astype(np.int64)
        unique, inverse = np.unique(key, return_inverse=True)
        ids = np.array([self._stream(int(k)) for k in unique.tolist()], dtype=np.int32)
        self.last_seen[ids] = now
        out: I32 = ids[inverse.ravel()]
        return out

    def _peer(self, peer: tuple[Any, ...]) -> int:
        number = self._peers.get(peer)
        if number is None:
            number = self._peers[peer] = len(self._peer_of)
            self._peer_of.append(peer)
        return number

    def _stream(self, key64: int) -> int:
        sid = self._ids.get(key64)
        if sid is not None:
            return sid
        peer = self._peer_of[key64 >> 32]
        key = StreamKey(str(peer[0]), int(peer[1]), self.local[0], self.local[1],
                        key64 & 0xFFFFFFFF)  # fmt: skip
        if self._free:
            sid = self._free.pop()
            self.keys[sid], self._key64[sid] = key, key64
        else:
            sid = len(self.keys)
            self.keys.append(key)
            self._key64.append(key64)
            self.last_seen = np.resize(self.last_seen, len(self.keys))
            self.active = np.resize(self.active, len(self.keys))
        self._ids[key64] = sid
        self.active[sid] = True
        self._table = ()
        return sid

    def release(self, sid: int) -> StreamKey:
        """Forget stream ``sid`` (it ended); its id may number a new stream."""
        key = self.keys[sid]
        self._ids.pop(self._key64[sid], None)
        self.keys[sid] = _VOID
        self.active[sid] = False
        self._free.append(sid)
        self._table = ()
        return key

    def table(self) -> tuple[StreamKey, ...]:
        """The keys by id as they stand (free ids hold a placeholder)."""
        if len(self._table) != len(self.keys):
            self._table = tuple(self.keys)
        return self._table

    def streams(self) -> list[int]:
        """The ids of the streams in progress."""
        return np.flatnonzero(self.active).tolist()

    def with_ssrc(self, ssrc: int) -> list[int]:
        """The streams in progress with SSRC ``ssrc``."""
        return [s for s in self.streams() if self.keys[s].ssrc == ssrc]


@dataclass
class Burst:
    """One read: the packets, the RTCP datagrams set aside, how many were skipped, and how
    many were refused (streams the run does not admit)."""

    batch: PacketBatch
    rtcp: list[bytes]
    skipped: int
    refused: int = 0


Admit = Callable[[int], bool]  # whether a run takes the stream of this SSRC


class UdpIngest:
    """The live input socket (see the module notes); ``offset`` turns the monotonic clock
    into epoch seconds, the clock the kernel stamps arrivals with."""

    def __init__(self, host: str, port: int, *, offset: float, admit: Admit | None = None) -> None:
        self.sock = udp_socket(host, port, field="input")
        self.admit = admit
        self._admitted: dict[int, bool] = {}
        host_bound, port_bound = self.sock.getsockname()[:2]
        self.address = (str(host_bound), int(port_bound))
        self.registry = StreamRegistry(self.address)
        self.offset = offset
        self.index = 0
        self._buf = bytearray(_BURST_BYTES)
        self._view = memoryview(self._buf)
        self._stamped = False
        if sys.platform == "linux":
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
                self._stamped = True
            except OSError:
                self._stamped = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def drain(self, now: float) -> Burst:
        """Everything waiting on the socket, read at monotonic time ``now``."""
        sizes, peers, stamps = self._read(now)
        return self._parse(sizes, peers, stamps, now)

    def _read(self, now: float) -> tuple[list[int], list[tuple[Any, ...]], list[int]]:
        sizes: list[int] = []
        peers: list[tuple[Any, ...]] = []
        stamps: list[int] = []
        view, at, limit = self._view, 0, len(self._buf) - MAX_DATAGRAM
        wall_us = int((now + self.offset) * 1e6)
        while at <= limit:
            try:
                if self._stamped:
                    n, anc, _, peer = self.sock.recvmsg_into([view[at:]], 64)
                    stamp = _TIMESPEC.unpack_from(anc[0][2]) if anc else None
                    stamps.append(stamp[0] * 1_000_000 + stamp[1] // 1000 if stamp else wall_us)
                else:
                    n, peer = self.sock.recvfrom_into(view[at:])
                    stamps.append(wall_us)
            except (BlockingIOError, InterruptedError):
                break
            sizes.append(n)
            peers.append(peer)
            at += n
        return sizes, peers, stamps

    def _parse(
        self, sizes: list[int], peers: list[tuple[Any, ...]], stamps: list[int], now: float
    ) -> Burst:
        n = len(sizes)
        size = np.asarray(sizes, dtype=np.int64)
        starts = np.zeros(n, dtype=np.int64)
        np.cumsum(size[:-1], out=starts[1:])
        buf = np.frombuffer(self._buf, dtype=np.uint8, count=int(size.sum()))
        cols = decode_columns(buf, starts, size)
        second = buf[np.minimum(starts + 1, max(buf.shape[0] - 1, 0))] if n else starts
        first = buf[starts] if n else starts
        control = ~cols.ok & (size >= 8) & ((first >> 6) == 2) & (second >= 192) & (second <= 223)
        rtcp = [bytes(self._buf[s : s + k]) for s, k in zip(
            starts[control].tolist(), size[control].tolist(), strict=True)]  # fmt: skip
        ok = cols.ok if self.admit is None else cols.ok & self._admits(cols.ssrc)
        refused = int(np.count_nonzero(cols.ok)) - int(np.count_nonzero(ok))
        rows = np.flatnonzero(ok)
        index: I64 = self.index + np.arange(rows.shape[0], dtype=np.int64)
        self.index += rows.shape[0]
        stream = self.registry.assign([peers[i] for i in rows.tolist()], cols.ssrc[rows], now)
        arrival = np.asarray(stamps, dtype=np.int64)[rows]
        batch = columns_to_batch(
            buf, starts, cols, rows, index=index, stream=stream, arrival_us=arrival,
            streams=self.registry.table(),
        )  # fmt: skip
        return Burst(batch, rtcp, n - rows.shape[0] - refused - len(rtcp), refused)

    def _admits(self, ssrc: np.ndarray) -> np.ndarray:
        """Whether each packet's stream is admitted; each SSRC is asked about once."""
        assert self.admit is not None
        known = self._admitted
        for value in np.unique(ssrc).tolist():
            if value not in known:
                known[value] = self.admit(int(value))
        taken = [s for s, yes in known.items() if yes]
        return np.isin(ssrc, np.asarray(taken, dtype=ssrc.dtype))

    def close(self) -> None:
        self.sock.close()
