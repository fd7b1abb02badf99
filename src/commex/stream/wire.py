"""The wire form of a segment: a versioned, length-checked binary frame around a PacketBatch.

Remote processing nodes receive untrusted bytes, so the frame is plain columns (no pickle) with
a small JSON header, and decoding checks every length, offset and limit before building a
batch. The same frame carries a request (segment id and steps) and a result (segment id and
the events found); what the header's ``meta`` holds is up to the caller.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from commex.domain.errors import InvalidInput
from commex.stream.packets import PacketBatch, StreamKey
from commex.stream.steps.base import DtmfEvent

MAGIC = b"CXSG"
VERSION = 1
MEDIA_TYPE = "application/x-commex-segment"
_PREFIX = struct.Struct("<4sBxxxI")  # magic, version, padding, header length

# The row columns in wire order with their fixed little-endian types; never read from the wire.
_ROW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("index", "<i8"),
    ("stream", "<i4"),
    ("arrival_us", "<i8"),
    ("seq", "<u2"),
    ("timestamp", "<u4"),
    ("ssrc", "<u4"),
    ("payload_type", "u1"),
    ("marker", "u1"),
    ("csrc_count", "u1"),
    ("has_extension", "u1"),
)
_NATIVE = {
    "index": np.int64,
    "stream": np.int32,
    "arrival_us": np.int64,
    "seq": np.uint16,
    "timestamp": np.uint32,
    "ssrc": np.uint32,
    "payload_type": np.uint8,
    "csrc_count": np.uint8,
}
_ROW_BYTES = sum(np.dtype(t).itemsize for _, t in _ROW_COLUMNS) + 16  # plus two offsets


class WireError(InvalidInput):
    """Raised when a segment frame is malformed, of another version, or beyond the limits."""

    code = "bad_segment"


@dataclass(frozen=True, slots=True)
class Limits:
    """What a decoder accepts: bounds that keep a hostile frame from exhausting memory."""

    max_packets: int = 200_000
    max_bytes: int = 64 * 1024 * 1024
    max_header: int = 1024 * 1024
    max_streams: int = 4096


DEFAULT_LIMITS = Limits()


def encode(batch: PacketBatch, meta: dict[str, Any] | None = None) -> bytes:
    """The frame of ``batch`` with the JSON-serializable ``meta`` in its header."""
    n = len(batch)
    header = {
        "n": n,
        "payload": int(batch.offsets[-1]),
        "extra": int(batch.extra_offsets[-1]),
        "streams": [[k.src, k.src_port, k.dst, k.dst_port, k.ssrc] for k in batch.streams],
        "meta": meta or {},
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    parts = [_PREFIX.pack(MAGIC, VERSION, len(head)), head]
    for name, dtype in _ROW_COLUMNS:
        parts.append(np.ascontiguousarray(getattr(batch, name), dtype=dtype).tobytes())
    parts.append(_rebased(batch.offsets).tobytes())
    parts.append(_rebased(batch.extra_offsets).tobytes())
    parts.append(batch.payload[int(batch.offsets[0]) : int(batch.offsets[-1])].tobytes())
    parts.append(
        batch.header_extra[int(batch.extra_offsets[0]) : int(batch.extra_offsets[-1])].tobytes()
    )
    return b"".join(parts)


def _rebased(offsets: Any) -> Any:
    arr = np.asarray(offsets, dtype="<i8")
    return arr - arr[0] if arr.shape[0] and arr[0] else arr


def decode(
    data: bytes | bytearray | memoryview, limits: Limits = DEFAULT_LIMITS
) -> tuple[PacketBatch, dict[str, Any]]:
    """The batch and ``meta`` of a frame; any inconsistency is a :class:`WireError`."""
    if len(data) > limits.max_bytes:
        raise WireError(f"segment frame of {len(data)} bytes exceeds {limits.max_bytes}")
    if len(data) < _PREFIX.size:
        raise WireError("segment frame is truncated")
    magic, version, head_len = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise WireError("not a commex segment frame")
    if version != VERSION:
        raise WireError(f"segment frame version {version} is not supported (expected {VERSION})")
    if head_len > limits.max_header or _PREFIX.size + head_len > len(data):
        raise WireError("segment frame header is too long or truncated")
    header = _header(bytes(data[_PREFIX.size : _PREFIX.size + head_len]), limits)
    n, payload_len, extra_len = header["n"], header["payload"], header["extra"]
    body = bytearray(memoryview(data)[_PREFIX.size + head_len :])  # one copy, writable
    expected = n * _ROW_BYTES + 16 + payload_len + extra_len
    if len(body) != expected:
        raise WireError(f"segment frame body is {len(body)} bytes, expected {expected}")
    cols: dict[str, Any] = {}
    pos = 0
    for name, dtype in _ROW_COLUMNS:
        size = n * np.dtype(dtype).itemsize
        cols[name] = np.frombuffer(body, dtype=dtype, count=n, offset=pos)
        pos += size
    offsets = np.frombuffer(body, dtype="<i8", count=n + 1, offset=pos)
    pos += (n + 1) * 8
    extra_offsets = np.frombuffer(body, dtype="<i8", count=n + 1, offset=pos)
    pos += (n + 1) * 8
    payload = np.frombuffer(body, dtype=np.uint8, count=payload_len, offset=pos)
    header_extra = np.frombuffer(body, dtype=np.uint8, count=extra_len, offset=pos + payload_len)
    _check_offsets(offsets, payload_len, "payload")
    _check_offsets(extra_offsets, extra_len, "header extra")
    streams = header["streams"]
    if n and (cols["stream"].min() < 0 or cols["stream"].max() >= len(streams)):
        raise WireError("segment frame names a stream outside its stream table")
    for flag in ("marker", "has_extension"):
        if n and cols[flag].max() > 1:
            raise WireError(f"segment frame has a non-boolean {flag}")
    batch = PacketBatch(
        **{name: cols[name].astype(_NATIVE[name], copy=False) for name in _NATIVE},
        marker=cols["marker"].view(np.bool_),
        has_extension=cols["has_extension"].view(np.bool_),
        payload=payload,
        offsets=offsets.astype(np.int64, copy=False),
        header_extra=header_extra,
        extra_offsets=extra_offsets.astype(np.int64, copy=False),
        streams=streams,
    )
    return batch, header["meta"]


def _header(raw: bytes, limits: Limits) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError("segment frame header is not JSON") from exc
    if not isinstance(header, dict):
        raise WireError("segment frame header is not an object")
    for key in ("n", "payload", "extra"):
        value = header.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise WireError(f"segment frame header field {key!r} is not a count")
    if header["n"] > limits.max_packets:
        raise WireError(f"segment of {header['n']} packets exceeds {limits.max_packets}")
    if not isinstance(header.get("meta", {}), dict):
        raise WireError("segment frame meta is not an object")
    header.setdefault("meta", {})
    header["streams"] = _streams(header.get("streams"), limits)
    return header


def _streams(raw: object, limits: Limits) -> tuple[StreamKey, ...]:
    if not isinstance(raw, list) or len(raw) > limits.max_streams:
        raise WireError("segment frame stream table is missing or too long")
    keys = []
    for item in raw:
        if not (
            isinstance(item, list)
            and len(item) == 5
            and isinstance(item[0], str)
            and isinstance(item[2], str)
            and all(isinstance(item[i], int) for i in (1, 3, 4))
        ):
            raise WireError("segment frame stream table entry is malformed")
        keys.append(StreamKey(item[0], item[1], item[2], item[3], item[4]))
    return tuple(keys)


def _check_offsets(offsets: Any, total: int, what: str) -> None:
    if offsets[0] != 0 or offsets[-1] != total or bool(np.any(np.diff(offsets) < 0)):
        raise WireError(f"segment frame {what} offsets are inconsistent")


def events_to_meta(events: Iterable[DtmfEvent]) -> list[dict[str, Any]]:
    """DTMF events as JSON objects for a result frame's meta."""
    return [
        {
            "digit": e.digit,
            "ssrc": e.ssrc,
            "start_ms": e.start_ms,
            "duration_ms": e.duration_ms,
            "source": e.source,
        }
        for e in events
    ]


def events_from_meta(raw: object) -> tuple[DtmfEvent, ...]:
    """DTMF events read back from a result frame's meta, each field checked."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise WireError("segment result events are not a list")
    events = []
    for item in raw:
        if not isinstance(item, dict):
            raise WireError("segment result event is not an object")
        digit, source = item.get("digit"), item.get("source")
        numbers = [item.get(k) for k in ("ssrc", "start_ms", "duration_ms")]
        if not (
            isinstance(digit, str)
            and len(digit) == 1
            and source in ("rfc4733", "inband")
            and all(isinstance(v, int) and not isinstance(v, bool) for v in numbers)
        ):
            raise WireError("segment result event is malformed")
        events.append(
            DtmfEvent(
                digit,
                int(item["ssrc"]),
                int(item["start_ms"]),
                int(item["duration_ms"]),
                "rfc4733" if source == "rfc4733" else "inband",
            )
        )
    return tuple(events)
