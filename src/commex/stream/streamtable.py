"""The stream table: which datagrams form an RTP stream, numbered in order of appearance."""

from __future__ import annotations

import ipaddress

import numpy as np

from commex.stream.packets import I32, I64, U8, Bools, StreamKey

KEY_SIZE = 41  # v6 flag, source and destination address (16 each), ports (2 each), SSRC (4)


def key_rows(src: U8, dst: U8, *, is_v6: Bools, sport: I64, dport: I64, ssrc: I64) -> U8:
    """Pack per-datagram stream identities into rows of :data:`KEY_SIZE` bytes.

    ``src`` and ``dst`` are ``(n, 16)`` address bytes; an IPv4 address sits in the last four.
    """
    n = src.shape[0]
    rows = np.empty((n, KEY_SIZE), dtype=np.uint8)
    rows[:, 0] = is_v6
    rows[:, 1:17] = src
    rows[:, 17:33] = dst
    # Ports and SSRC stored big-endian through views: one strided store per field.
    rows[:, 33:35].view(">u2")[:, 0] = sport & 0xFFFF
    rows[:, 35:37].view(">u2")[:, 0] = dport & 0xFFFF
    rows[:, 37:41].view(">u4")[:, 0] = ssrc & 0xFFFFFFFF
    return rows


def address_bytes(host: str) -> tuple[bytes, bool]:
    """An IP address as 16 bytes (IPv4 in the last four) and whether it is IPv6."""
    addr = ipaddress.ip_address(host)
    if addr.version == 4:
        return bytes(12) + addr.packed, False
    return addr.packed, True


def _key_of(raw: bytes) -> StreamKey:
    v6 = raw[0] == 1

    def host(b: bytes) -> str:
        return str(ipaddress.IPv6Address(b) if v6 else ipaddress.IPv4Address(b[12:]))

    return StreamKey(
        src=host(raw[1:17]),
        src_port=int.from_bytes(raw[33:35], "big"),
        dst=host(raw[17:33]),
        dst_port=int.from_bytes(raw[35:37], "big"),
        ssrc=int.from_bytes(raw[37:41], "big"),
    )


def _group(rows: U8) -> tuple[list[bytes], I64, I64]:
    """Distinct key rows (in sorted order), the first row of each, and each row's group.

    Grouping by ports and SSRC as one integer is far cheaper than comparing 41-byte rows; it
    is exact when every group also agrees on the addresses, which is checked, else the rows
    are compared whole.
    """
    short = np.ascontiguousarray(rows[:, 33:]).view(">u8").ravel()
    _, first, inverse = np.unique(short, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    if not bool((rows[:, :33] == rows[first[inverse], :33]).all()):
        void = np.ascontiguousarray(rows).view(f"V{KEY_SIZE}").ravel()
        _, first, inverse = np.unique(void, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
    keys = [rows[i].tobytes() for i in first.tolist()]
    return keys, first.astype(np.int64), inverse.astype(np.int64)


class StreamTable:
    """Numbers RTP streams in order of appearance; the table only ever grows.

    A stream is a UDP 5-tuple with one SSRC. It is accepted once ``min_packets`` valid RTP
    datagrams of it were counted (:meth:`count`), which keeps other UDP traffic that happens to
    look like RTP version 2 (UDPTL/T.38, whose "SSRC" bytes change every packet) out.
    """

    def __init__(self, min_packets: int = 1) -> None:
        self.min_packets = min_packets
        self._ids: dict[bytes, int] = {}
        self._seen: dict[bytes, int] = {}
        self.keys: list[StreamKey] = []
        # count() and assign() see the same rows of a chunk: group them once.
        self._memo: list[tuple[U8, tuple[list[bytes], I64, I64]]] = []

    def _unique(self, rows: U8) -> tuple[list[bytes], I64, I64]:
        for seen, groups in self._memo:
            if seen is rows:
                return groups
        groups = _group(rows)
        self._memo = [*self._memo[-1:], (rows, groups)]
        return groups

    def count(self, rows: U8) -> None:
        """Count candidate datagrams (rows of :func:`key_rows`) towards their stream's quota."""
        if rows.shape[0] == 0:
            return
        keys, _, inverse = self._unique(rows)
        counts = np.bincount(inverse, minlength=len(keys))
        for key, c in zip(keys, counts.tolist(), strict=True):
            self._seen[key] = self._seen.get(key, 0) + c

    def assign(self, rows: U8) -> I32:
        """Stream ids of the rows; ``-1`` where the stream has not (yet) enough packets.

        New streams get ids in order of their first row, so ids follow the input order.
        """
        if rows.shape[0] == 0:
            return np.zeros(0, dtype=np.int32)
        keys, first, inverse = self._unique(rows)
        ids = np.full(len(keys), -1, dtype=np.int32)
        for j in np.argsort(first, kind="stable").tolist():
            key = keys[j]
            known = self._ids.get(key)
            if known is None and self._seen.get(key, 0) >= self.min_packets:
                known = self._ids[key] = len(self.keys)
                self.keys.append(_key_of(key))
            if known is not None:
                ids[j] = known
        return ids[inverse]

    @property
    def streams(self) -> tuple[StreamKey, ...]:
        """The table as known so far; earlier ids never change."""
        return tuple(self.keys)
