"""Walk the records of pcap and pcapng files: where each frame starts, its length, its time.

A tight loop finds the record boundaries (one ``struct`` read per record, the only per-record
Python work); everything else about a record is read with numpy over all records at once.
Both pcap byte orders, micro- and nanosecond pcap, and pcapng (section headers, interface
descriptions with their time resolution, enhanced and simple packet blocks) are read.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from commex.domain.errors import InvalidInput
from commex.stream.frames import SUPPORTED_LINK_TYPES
from commex.stream.packets import I64, U8
from commex.stream.ragged import be32, byte_at

_MAX_RECORD = 1 << 24
_PCAPNG_SHB = 0x0A0D0D0A


class UnsupportedCapture(InvalidInput):
    """Raised when a capture uses a link type or format variant commex cannot read."""

    code = "unsupported_capture"


class MalformedCapture(InvalidInput):
    """Raised when a file is not a pcap/pcapng capture or its record structure is corrupt."""

    code = "malformed_capture"


@dataclass
class Records:
    """Raw records of one chunk: frame bytes at ``starts`` and the per-record metadata."""

    buf: U8
    starts: I64
    caplen: I64
    arrival_us: I64
    link: I64
    unsupported_blocks: int = 0
    truncated_tail: int = 0


def read_records(f: BinaryIO, chunk: int) -> Iterator[tuple[Records, int]]:
    """Yield the records of an open capture about every ``chunk`` bytes, with bytes read."""
    head = f.read(24)
    if head[:4] == b"\x0a\x0d\x0d\x0a":
        yield from _PcapngReader(f, head, chunk).chunks()
        return
    formats = {
        b"\xd4\xc3\xb2\xa1": ("<", 1),
        b"\xa1\xb2\xc3\xd4": (">", 1),
        b"\x4d\x3c\xb2\xa1": ("<", 1000),
        b"\xa1\xb2\x3c\x4d": (">", 1000),
    }
    if head[:4] not in formats or len(head) < 24:
        raise MalformedCapture(
            f"not a pcap or pcapng file (starts with {head[:4].hex() or 'nothing'})"
        )
    order, per_us = formats[head[:4]]
    link = struct.unpack_from(order + "I", head, 20)[0] & 0xFFFF
    _check_links(np.array([link]))
    length_at = struct.Struct(order + "I").unpack_from
    read, rest = 24, b""
    while True:
        block = f.read(chunk)
        read += len(block)
        data = rest + block if rest else block
        buf = np.frombuffer(data, dtype=np.uint8)
        at, pos = _walk_pcap(data, order)
        rest = data[pos:]
        if block and len(rest) >= 16 and length_at(rest, 8)[0] > _MAX_RECORD:
            raise MalformedCapture(f"corrupt pcap record header at byte {read - len(data) + pos}")
        if at.shape[0] or (not block and rest):
            # Every byte offset read as a 32-bit field: a record header's fields are gathers.
            words = np.ndarray((max(len(data) - 3, 0),), order + "u4", data, strides=(1,))
            seconds = words[at].astype(np.int64)
            arrival = seconds * 1_000_000 + words[at + 4].astype(np.int64) // per_us
            caplen = words[at + 8].astype(np.int64)
            records = Records(buf, at + 16, caplen, arrival, np.full(at.shape, link))
            records.truncated_tail = int(not block and bool(rest))
            yield records, read
        if not block:
            return


_SAME_BEFORE_LEAP = 16  # equal record lengths in a row before trying to leap over a run
_FIRST_LEAP = 256
_MAX_LEAP = 8192
_STEPS = np.arange(_MAX_LEAP, dtype=np.int64)


def _walk_pcap(data: bytes, order: str) -> tuple[I64, int]:
    """Offsets of the whole pcap records in ``data`` and where the first incomplete one starts.

    Records follow each other, so finding them is sequential: one ``struct`` read per record.
    But captured media come in long runs of frames of one size (a codec's packets), so once
    a few records in a row had the same length, a leap guesses that the next hundreds do too
    and checks all the guesses at once with numpy; the run ends at the first guess that fails,
    which is itself a record start.
    """
    length_at = struct.Struct(order + "I").unpack_from
    # Every byte offset read as a 32-bit length: a leap's guesses are then one gather.
    lengths = np.ndarray((max(len(data) - 3, 0),), order + "u4", data, strides=(1,))
    pieces: list[I64] = []
    offs: list[int] = []
    append = offs.append
    pos, n = 0, len(data)
    limit = n - 16
    leap = _FIRST_LEAP
    previous, same = -1, 0
    while pos <= limit:
        length = length_at(data, pos + 8)[0]
        if length != previous:
            previous, same = length, 0
        elif same < _SAME_BEFORE_LEAP:
            same += 1
        else:
            step = 16 + length
            count = min(leap, (n - pos) // step)
            if count > 1:
                guesses = _STEPS[:count] * step + pos
                found = lengths[guesses + 8] != length
                run = int(found.argmax()) if found.any() else count
                if offs:
                    pieces.append(np.asarray(offs, dtype=np.int64))
                    offs = []
                    append = offs.append
                pieces.append(guesses[:run])
                pos += step * run
                leap = min(leap * 2, _MAX_LEAP) if run == count else _FIRST_LEAP
                previous, same = -1, 0
                continue
        append(pos)
        pos += 16 + length
    if pos > n:  # the last record runs past the data read so far
        pos = offs.pop()
    if offs:
        pieces.append(np.asarray(offs, dtype=np.int64))
    at = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
    return at, pos


def _le32(buf: U8, at: I64) -> I64:
    b = [byte_at(buf, at + k) for k in range(4)]
    return b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)


def _check_links(links: I64) -> None:
    for link in np.unique(links).tolist():
        if link >= 0 and link not in SUPPORTED_LINK_TYPES:
            raise UnsupportedCapture(
                f"unsupported capture link type {link}; commex reads "
                + ", ".join(str(k) for k in sorted(SUPPORTED_LINK_TYPES)),
                field="link_type",
            )


class _PcapngReader:
    """Walks pcapng blocks: section headers, interface descriptions, enhanced/simple packets."""

    def __init__(self, f: BinaryIO, head: bytes, chunk: int) -> None:
        self.f, self.rest, self.chunk, self.read = f, head, chunk, len(head)
        self.order: str | None = None
        self.interfaces: list[tuple[int, int, int]] = []  # link type, tsresol byte, snaplen
        self.section_base = 0

    def chunks(self) -> Iterator[tuple[Records, int]]:
        while True:
            block = self.f.read(self.chunk)
            self.read += len(block)
            data = self.rest + block if self.rest else block
            if not data:
                return
            records, pos = self._walk(data)
            self.rest = data[pos:]
            if not block:
                records.truncated_tail = int(bool(self.rest))
            yield records, self.read
            if not block:
                return

    def _walk(self, data: bytes) -> tuple[Records, int]:
        epb: list[int] = []
        spb: list[int] = []
        sections: list[tuple[int, int]] = [(0, self.section_base)]
        unsupported = 0
        pos, n = 0, len(data)
        head = struct.Struct((self.order or "<") + "II").unpack_from
        while pos + 12 <= n:
            btype, blen = head(data, pos)
            if btype == _PCAPNG_SHB:
                order = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}.get(
                    data[pos + 8 : pos + 12]
                )
                if order is None:
                    raise MalformedCapture(f"corrupt pcapng section header at byte {pos}")
                if self.order is not None and order != self.order:
                    raise UnsupportedCapture("pcapng sections of different byte orders")
                self.order = order
                head = struct.Struct(order + "II").unpack_from
                btype, blen = head(data, pos)
                self.section_base = len(self.interfaces)
                sections.append((pos, self.section_base))
            if blen < 12 or blen % 4 or blen > _MAX_RECORD:
                raise MalformedCapture(f"corrupt pcapng block of length {blen} at byte {pos}")
            if pos + blen > n:
                break
            if btype == 6:
                epb.append(pos)
            elif btype == 3:
                spb.append(pos)
            elif btype == 1:
                self._interface(data, pos, blen)
            elif btype == 2:
                unsupported += 1
            pos += blen
        records = self._records(data, epb, spb, sections)
        records.unsupported_blocks = unsupported
        return records, pos

    def _interface(self, data: bytes, pos: int, blen: int) -> None:
        order = self.order or "<"
        if blen < 20:
            raise MalformedCapture(f"pcapng interface block too short ({blen} bytes) at byte {pos}")
        link, _, snaplen = struct.unpack_from(order + "HHI", data, pos + 8)
        tsresol, opt, end = 6, pos + 16, pos + blen - 4
        while opt + 4 <= end:
            code, size = struct.unpack_from(order + "HH", data, opt)
            if code == 0:
                break
            if code == 9 and size >= 1 and opt + 5 <= end:
                tsresol = data[opt + 4]
            opt += 4 + (size + 3) // 4 * 4
        self.interfaces.append((link, tsresol, snaplen))

    def _records(
        self, data: bytes, epb: list[int], spb: list[int], sections: list[tuple[int, int]]
    ) -> Records:
        buf = np.frombuffer(data, dtype=np.uint8)
        get32 = _le32 if self.order != ">" else be32
        e = np.asarray(epb, dtype=np.int64)
        s = np.asarray(spb, dtype=np.int64)
        sec_pos = np.array([p for p, _ in sections], dtype=np.int64)
        sec_base = np.array([b for _, b in sections], dtype=np.int64)
        at = np.concatenate([e, s])
        base = sec_base[np.searchsorted(sec_pos, at, side="right") - 1]
        iface = base + np.concatenate([get32(buf, e + 8), np.zeros(s.shape, np.int64)])
        room = get32(buf, at + 4) - np.concatenate([np.full(e.shape, 32), np.full(s.shape, 16)])
        caplen = np.minimum(np.concatenate([get32(buf, e + 20), get32(buf, s + 8)]), room)
        ts = np.concatenate(
            [(get32(buf, e + 12) << 32) | get32(buf, e + 16), np.zeros(s.shape, np.int64)]
        )
        starts = np.concatenate([e + 28, s + 12])
        order = np.argsort(at, kind="stable")
        iface, caplen, ts, starts = iface[order], caplen[order], ts[order], starts[order]
        known = iface < len(self.interfaces)
        link = np.full(at.shape, -1, dtype=np.int64)
        arrival = np.zeros(at.shape, dtype=np.int64)
        for i in np.unique(iface[known]).tolist():
            rows = iface == i
            lt, resol, _ = self.interfaces[i]
            link[rows] = lt
            arrival[rows] = _to_us(ts[rows], resol)
        _check_links(link)
        return Records(buf, starts, np.maximum(caplen, 0), arrival, link)


def _to_us(ts: I64, resol: int) -> I64:
    if resol & 0x80:
        shift = min(resol & 0x7F, 62)
        whole: I64 = (ts >> shift) * 1_000_000
        return whole + (((ts & ((1 << shift) - 1)) * 1_000_000) >> shift)
    resol = min(resol, 18)  # beyond nanoseconds of nanoseconds the file is corrupt anyway
    scaled: I64 = ts // 10 ** (resol - 6) if resol >= 6 else ts * 10 ** (6 - resol)
    return scaled
