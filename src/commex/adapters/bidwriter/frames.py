"""The bid writer's wire: how HTTP workers and the writer process talk over their Unix socket.

A frame is a 4-byte big-endian length, then that many bytes: a kind (one byte), a request
number (4 bytes, big-endian, chosen by the worker to match answers to requests, which may come
back in any order) and a payload. Payloads are JSON arrays of plain values, never pickles, so a
frame can only ever become a bid, an answer or an error; a frame longer than
:data:`MAX_FRAME` ends the connection.

- ``HELLO`` (worker -> writer, first frame): the server's per-start secret.
- ``BID`` (worker -> writer): a :class:`~commex.services.commands.PlaceBid` and the id of the
  HTTP request it serves (for the audit trail).
- ``PLACED`` (writer -> worker): the committed bid as its bidder sees it: the HTTP answer's
  JSON body, encoded once by the writer (the worker writes it as it is), then the
  :class:`~commex.services.results.PlacedBid` itself (read only if something asks for it).
- ``REFUSED`` (writer -> worker): the :class:`~commex.domain.errors.CommexError` that refused
  it, rebuilt as the same class (same code, status and message).
- ``FAILED`` (writer -> worker): an unexpected error (the worker answers 500, as it would
  have in one process).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from commex.domain import errors
from commex.domain.accounts import Role
from commex.domain.auctions import Bid
from commex.domain.money import Money
from commex.domain.reputation import Reputation
from commex.domain.service_level import ServiceLevel
from commex.services.commands import PlaceBid
from commex.services.results import BidView, Party, PlacedBid

HELLO, BID, PLACED, REFUSED, FAILED = range(5)
MAX_FRAME = 1 << 20
_HEAD = 9  # length (4), kind (1), request number (4)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class FrameError(Exception):
    """A peer sent something that is not a frame of this wire (too long, or not decodable)."""


def frame(kind: int, number: int, payload: bytes) -> bytes:
    """One frame: its length, kind, request number and payload."""
    return (
        (len(payload) + 5).to_bytes(4, "big") + bytes((kind,)) + number.to_bytes(4, "big") + payload
    )


def frames(buffer: bytearray) -> Iterator[tuple[int, int, bytes]]:
    """The complete frames at the start of ``buffer`` as (kind, number, payload); what they
    took is removed from ``buffer`` once the caller has seen them all."""
    at = 0
    try:
        while len(buffer) - at >= 4:
            size = int.from_bytes(buffer[at : at + 4], "big")
            if size < 5 or size > MAX_FRAME:
                raise FrameError(f"a frame of {size} bytes")
            end = at + 4 + size
            if end > len(buffer):
                break
            yield (
                buffer[at + 4],
                int.from_bytes(buffer[at + 5 : at + _HEAD], "big"),
                bytes(buffer[at + _HEAD : end]),
            )
            at = end
    finally:
        del buffer[:at]


def bid_frame(number: int, cmd: PlaceBid, request_id: str | None) -> bytes:
    values = [
        cmd.auction_id, cmd.bidder_id, cmd.amount, cmd.max_amount, cmd.idempotency_key,
        request_id,
    ]  # fmt: skip
    return frame(BID, number, _dumps(values).encode())


def read_bid(payload: bytes) -> tuple[PlaceBid, str | None]:
    """The command and its request id of a ``BID`` payload."""
    try:
        auction_id, bidder_id, amount, max_amount, key, request_id = json.loads(payload)
    except (ValueError, TypeError) as exc:
        raise FrameError("not a bid") from exc
    texts = (auction_id, bidder_id, amount)
    optional = (max_amount, key, request_id)
    if not all(isinstance(t, str) for t in texts) or not all(
        o is None or isinstance(o, str) for o in optional
    ):
        raise FrameError("not a bid")
    return PlaceBid(auction_id, bidder_id, amount, max_amount, key), request_id


def placed_frame(number: int, placed: PlacedBid, body: bytes) -> bytes:
    """The answer to a bid: ``body`` (its answer's JSON, as the worker will write it), then the
    placed bid's fields; :func:`placed_parts` splits them again. The bidder's fields, the same
    for every bid it places until its reputation moves, are encoded once
    (:func:`_party_fields`)."""
    v, b = placed.view, placed.view.bid
    head = _dumps([
        b.id, b.auction_id, b.bidder_id, _money(b.amount), _money(b.max_amount), b.seq,
        b.created_at.isoformat(), b.proxy, b.active,
    ])  # fmt: skip
    price = None if v.effective_price is None else str(v.effective_price)
    tail = _dumps([price, v.rank, placed.bidder_role.value])
    fields = f"{head[:-1]},{_party_fields(v.bidder)},{tail[1:]}".encode()
    return frame(PLACED, number, len(body).to_bytes(4, "big") + body + fields)


_PARTIES: dict[Party, str] = {}
_MAX_PARTIES = 4096


def _party_fields(p: Party) -> str:
    """A party's fields as a piece of a JSON array, kept by value: a party is frozen, so an
    equal one encodes the same."""
    found = _PARTIES.get(p)
    if found is None:
        r, s = p.reputation, p.reputation.service
        found = _dumps([
            p.id, p.name, p.role.value, r.positive, r.negative, r.count, r.window_days,
            None if s is None else [s.measured, s.breaches, s.measured_ms, s.breached_ms],
            None if p.since is None else p.since.isoformat(), p.payments,
        ])[1:-1]  # fmt: skip
        if len(_PARTIES) >= _MAX_PARTIES:
            _PARTIES.clear()
        _PARTIES[p] = found
    return found


def placed_parts(payload: bytes) -> tuple[bytes, bytes]:
    """A ``PLACED`` payload's answer body and its fields (for :func:`read_placed`)."""
    size = int.from_bytes(payload[:4], "big")
    if len(payload) < 4 or 4 + size > len(payload):
        raise FrameError("not a placed bid")
    return payload[4 : 4 + size], payload[4 + size :]


def read_placed(fields: bytes) -> PlacedBid:
    """The placed bid of a ``PLACED`` payload's fields (see :func:`placed_parts`)."""
    (
        bid_id, auction_id, bidder_id, amount, max_amount, seq, created_at, proxy, active,
        party_id, name, role, positive, negative, count, window_days, service, since, payments,
        effective_price, rank, bidder_role,
    ) = json.loads(fields)  # fmt: skip
    bid = Bid(
        bid_id, auction_id, bidder_id, Money(Decimal(amount[0]), amount[1]),
        _read_money(max_amount), seq,
        datetime.fromisoformat(created_at), proxy, active,
    )  # fmt: skip
    level = None if service is None else ServiceLevel(*service)
    reputation = Reputation(positive, negative, count, window_days, level)
    when = None if since is None else datetime.fromisoformat(since)
    party = Party(party_id, name, Role(role), reputation, when, payments)
    price = None if effective_price is None else Decimal(effective_price)
    return PlacedBid(BidView(bid, party, price, rank), Role(bidder_role))


def refused_frame(number: int, error: errors.CommexError) -> bytes:
    kind = next(c for c in type(error).__mro__ if c in errors.STATUS)
    values = [error.code, kind.__name__, error.message, error.field]
    return frame(REFUSED, number, _dumps(values).encode())


def read_refused(payload: bytes) -> errors.CommexError:
    """The error as the writer raised it: its own class when the domain has it, else its kind
    carrying its code (so the status, code and message answered are the same)."""
    code, kind, message, field = json.loads(payload)
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls(message, field)
    error = _KINDS.get(kind, errors.CommexError)(message, field)
    error.code = code
    return error


def failed_frame(number: int, why: str) -> bytes:
    return frame(FAILED, number, why.encode())


def _money(m: Money | None) -> list[str] | None:
    return None if m is None else [str(m.amount), m.currency]


def _read_money(value: Any) -> Money | None:
    return None if value is None else Money(Decimal(value[0]), value[1])


def _error_classes() -> dict[str, type[errors.CommexError]]:
    found: dict[str, type[errors.CommexError]] = {}
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, errors.CommexError):
            found[value.code] = value
    return found


# Errors whose constructor takes (message, field): the others travel as their kind.
_BY_CODE = {c: cls for c, cls in _error_classes().items() if cls is not errors.Throttled}
_KINDS = {cls.__name__: cls for cls in errors.STATUS if cls is not errors.Throttled}
