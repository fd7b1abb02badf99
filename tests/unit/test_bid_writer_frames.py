"""The bid writer's wire: a bid, its answer and its refusal cross it unchanged, frames split
anywhere are read whole, and what is not a frame ends the talk."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from commex.adapters.bidwriter import frames as f
from commex.adapters.bidwriter.client import WrittenBid
from commex.api.wire.auctions import placed_bid_json
from commex.domain.accounts import Role
from commex.domain.auctions import Bid
from commex.domain.errors import (
    AuctionNotOpen,
    BidRejected,
    CommexError,
    Conflict,
    InvalidInput,
    status_of,
)
from commex.domain.money import Money
from commex.domain.reputation import Reputation
from commex.domain.service_level import ServiceLevel
from commex.services.commands import PlaceBid
from commex.services.results import BidView, Party, PlacedBid


def _read_one(data: bytes) -> tuple[int, int, bytes]:
    buffer = bytearray(data)
    (found,) = list(f.frames(buffer))
    assert buffer == b""
    return found


def _placed(**changes: object) -> PlacedBid:
    bid = Bid(
        "bid_1", "auc_1", "acc_1", Money(Decimal("12.50"), "EUR"),
        Money(Decimal("20.00"), "EUR"), 7, datetime(2026, 1, 2, 3, 4, 5, 678901, UTC),
        proxy=True, active=False,
    )  # fmt: skip
    rep = Reputation(3.25, 0.5, 4, 365, ServiceLevel(5, 1, 60_000, 1_500))
    party = Party(
        "acc_1", "Ann & Bo \u00e9", Role.PROVIDER, rep, datetime(2025, 5, 1, tzinfo=UTC), 3
    )
    view = BidView(bid, party, Decimal("12.5000"), None)
    placed = PlacedBid(view, Role.PROVIDER)
    for name, value in changes.items():
        placed = _replace(placed, name, value)
    return placed


def _replace(placed: PlacedBid, name: str, value: object) -> PlacedBid:
    if name == "reputation":
        party = replace(placed.view.bidder, reputation=value)
        return replace(placed, view=replace(placed.view, bidder=party))
    if name == "max_amount":
        return replace(placed, view=replace(placed.view, bid=replace(placed.bid, max_amount=value)))
    return replace(placed, view=replace(placed.view, **{name: value}))


@pytest.mark.parametrize(
    "placed",
    [
        _placed(),
        _placed(reputation=Reputation(), max_amount=None, effective_price=None, rank=2),
    ],
)
def test_a_placed_bid_crosses_unchanged_with_its_answer(placed: PlacedBid) -> None:
    kind, number, payload = _read_one(f.placed_frame(41, placed, b'{"id":"bid_1"}'))
    assert (kind, number) == (f.PLACED, 41)
    body, fields = f.placed_parts(payload)
    assert body == b'{"id":"bid_1"}'
    assert f.read_placed(fields) == placed


def test_a_placed_bid_read_by_a_worker_answers_what_the_writer_encoded() -> None:
    placed = _placed()
    _, _, payload = _read_one(f.placed_frame(1, placed, placed_bid_json(placed)))
    written = WrittenBid(payload)
    assert placed_bid_json(written) == placed_bid_json(placed)
    assert (written.view, written.bidder_role, written.bid) == (
        placed.view, placed.bidder_role, placed.bid
    )  # fmt: skip


@pytest.mark.parametrize("payload", [b"", b"\x00\x00\x00", b"\x00\x00\x00\x09{}"])
def test_a_placed_answer_shorter_than_it_says_is_not_a_frame(payload: bytes) -> None:
    with pytest.raises(f.FrameError):
        f.placed_parts(payload)


def test_a_bid_crosses_with_its_request_id() -> None:
    cmd = PlaceBid("auc_1", "acc_1", "12.50", None, "key \u2603")
    kind, number, payload = _read_one(f.bid_frame(2**32 - 1, cmd, "req-1"))
    assert (kind, number) == (f.BID, 2**32 - 1)
    assert f.read_bid(payload) == (cmd, "req-1")


@pytest.mark.parametrize(
    "error",
    [
        BidRejected("too low", "amount"),
        AuctionNotOpen("the auction is closed"),
        Conflict("this Idempotency-Key was used for a different bid", "Idempotency-Key"),
        InvalidInput("amount must be a decimal", "amount"),
    ],
)
def test_a_refusal_crosses_as_the_same_error(error: CommexError) -> None:
    _, _, payload = _read_one(f.refused_frame(3, error))
    back = f.read_refused(payload)
    assert type(back) is type(error)
    assert (back.code, back.message, back.field) == (error.code, error.message, error.field)


def test_an_error_the_domain_does_not_name_keeps_its_code_and_status() -> None:
    class GoneAway(Conflict):
        code = "gone_away"

    back = f.read_refused(_read_one(f.refused_frame(3, GoneAway("gone")))[2])
    assert (back.code, back.message, status_of(back)) == ("gone_away", "gone", (409, 6))


def test_frames_split_anywhere_are_read_whole_and_in_order() -> None:
    cmds = [PlaceBid("auc_1", f"acc_{i}", f"{i}.00") for i in range(5)]
    data = b"".join(f.bid_frame(i, c, None) for i, c in enumerate(cmds))
    buffer = bytearray()
    read = []
    for start in range(0, len(data), 7):  # seven bytes at a time
        buffer += data[start : start + 7]
        read += [f.read_bid(payload)[0] for _, _, payload in f.frames(buffer)]
    assert read == cmds
    assert buffer == b""


@pytest.mark.parametrize(
    "data",
    [
        (f.MAX_FRAME + 1).to_bytes(4, "big") + b"\x01",  # longer than any bid
        (3).to_bytes(4, "big") + b"\x01\x00\x00",  # shorter than a frame's head
    ],
)
def test_what_is_not_a_frame_is_refused(data: bytes) -> None:
    with pytest.raises(f.FrameError):
        list(f.frames(bytearray(data)))


@pytest.mark.parametrize("payload", [b"[1,2]", b"not json", b'["a","b",3,null,null,null]'])
def test_a_bid_that_is_not_one_is_refused(payload: bytes) -> None:
    with pytest.raises(f.FrameError):
        f.read_bid(payload)
