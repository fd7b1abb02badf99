"""What people and programs hear of: the event types, and the notices an event leaves in the
notification centres of the accounts it concerns (the same notices go out as webhooks).

A notice is a fact with its data, never words: the pages and the command line say it in words
(:mod:`commex.presentation`), programs read the data. Each notice's id is the event id a
webhook carries, so a receiver can drop a repeated delivery.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from commex.domain.auctions import Auction, Status
from commex.domain.errors import InvalidInput
from commex.domain.events import (
    AuctionClosingSoon,
    BidOutbid,
    ChargeSettled,
    ContractCancelled,
    ContractCompleted,
    ContractStarted,
    DeliveryBreached,
    Event,
    GroupInvited,
    RatingReceived,
    SubcontractOpened,
)

Scalar = str | int | bool | None
MAX_TYPES = 13


class EventType(StrEnum):
    """Every kind of event a notification centre shows and a webhook can subscribe to."""

    BID_OUTBID = "bid.outbid"
    AUCTION_CLOSING_SOON = "auction.closing_soon"
    AUCTION_WON = "auction.won"
    AUCTION_LOST = "auction.lost"
    CONTRACT_STARTED = "contract.started"
    CONTRACT_COMPLETED = "contract.completed"
    CONTRACT_CANCELLED = "contract.cancelled"
    CHARGE_SUCCEEDED = "charge.succeeded"
    CHARGE_DECLINED = "charge.declined"
    GROUP_INVITED = "group.invited"
    RATING_RECEIVED = "rating.received"
    DELIVERY_BREACH = "delivery.breach"
    SUBCONTRACT_OPENED = "subcontract.opened"


EVENT_TYPES = tuple(t.value for t in EventType)


def parse_types(values: object, field: str) -> frozenset[EventType]:
    """A set of event types from a list of their names; an unknown or repeated name, or an
    empty list, is refused naming ``field``."""
    if not isinstance(values, list | tuple) or not values or len(values) > MAX_TYPES:
        raise InvalidInput(f"{field} must list 1 to {MAX_TYPES} event types", field)
    found: set[EventType] = set()
    for value in values:
        if not isinstance(value, str) or value not in EVENT_TYPES:
            shown = value if isinstance(value, str) and value.isprintable() else "?"
            raise InvalidInput(
                f"{field}: {shown[:40]!r} is not an event type (one of {', '.join(EVENT_TYPES)})",
                field,
            )
        if EventType(value) in found:
            raise InvalidInput(f"{field} names {value} twice", field)
        found.add(EventType(value))
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Notice:
    """One event as one account hears of it. ``subject_id`` is what it is about (an auction, a
    contract, a group); ``data`` holds plain values (money as strings, times in ISO 8601)."""

    id: str
    account_id: str
    type: EventType
    subject_id: str
    data: Mapping[str, Scalar]
    created_at: datetime
    read_at: datetime | None = None

    @property
    def read(self) -> bool:
        return self.read_at is not None


def fanned_id(event_id: str, account_id: str) -> str:
    """The id of one account's notice of an event told to many at once (everyone who lost an
    auction): unique per account, and the same however often it is computed."""
    return f"{event_id}-{account_id}"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


NewId = Callable[[], str]


def notices_of(event: Event, new_id: NewId) -> list[Notice]:
    """The notices an event leaves, where the event itself names everyone it concerns (an
    auction's close needs its bidders: see :func:`won` and :func:`lost`)."""
    maker = _MAKERS.get(type(event))
    return [] if maker is None else maker(event, new_id)


def _each(
    accounts: Iterable[str], kind: EventType, subject: str, data: dict[str, Scalar], at: datetime,
    new_id: NewId,
) -> list[Notice]:  # fmt: skip
    return [Notice(new_id(), a, kind, subject, data, at) for a in dict.fromkeys(accounts)]


def _outbid(e: BidOutbid, new_id: NewId) -> list[Notice]:
    data: dict[str, Scalar] = {
        "auction_id": e.auction_id,
        "title": e.title,
        "price": str(e.price.amount),
        "currency": e.price.currency,
        "closes_at": _iso(e.closes_at),
    }
    return _each([e.outbid_id], EventType.BID_OUTBID, e.auction_id, data, e.at, new_id)


def _closing_soon(e: AuctionClosingSoon, new_id: NewId) -> list[Notice]:
    data: dict[str, Scalar] = {
        "auction_id": e.auction_id,
        "title": e.title,
        "closes_at": _iso(e.closes_at),
    }
    kind = EventType.AUCTION_CLOSING_SOON
    return _each(e.watcher_ids, kind, e.auction_id, data, e.at, new_id)


def _started(e: ContractStarted, new_id: NewId) -> list[Notice]:
    data: dict[str, Scalar] = {"contract_id": e.contract_id, "started_at": _iso(e.started_at)}
    parties = (e.provider_id, e.recipient_id)
    return _each(parties, EventType.CONTRACT_STARTED, e.contract_id, data, e.started_at, new_id)


def _completed(e: ContractCompleted, new_id: NewId) -> list[Notice]:
    data: dict[str, Scalar] = {"contract_id": e.contract_id, "reason": e.reason}
    parties = (e.provider_id, e.recipient_id)
    return _each(parties, EventType.CONTRACT_COMPLETED, e.contract_id, data, e.at, new_id)


def _cancelled(e: ContractCancelled, new_id: NewId) -> list[Notice]:
    data: dict[str, Scalar] = {
        "contract_id": e.contract_id,
        "auction_id": e.auction_id,
        "reason": e.reason,
        "note": e.note,
    }
    parties = (e.provider_id, e.recipient_id)
    return _each(parties, EventType.CONTRACT_CANCELLED, e.contract_id, data, e.at, new_id)


def _charge(e: ChargeSettled, new_id: NewId) -> list[Notice]:
    data: dict[str, Scalar] = {
        "charge_id": e.charge_id,
        "contract_id": e.contract_id,
        "amount": str(e.amount.amount),
        "currency": e.amount.currency,
    }
    kind = EventType.CHARGE_SUCCEEDED
    if not e.succeeded:
        kind = EventType.CHARGE_DECLINED
        data |= {
            "decline_code": e.code,
            "message": e.message,
            "next_attempt_at": _iso(e.next_attempt_at),
            "final": e.next_attempt_at is None,
            # What to do: pay now (after saving or choosing another card) at this address.
            "pay_now": f"/v1/contracts/{e.contract_id}/charges/retry",
        }
    return _each([e.payer_id], kind, e.contract_id, data, e.at, new_id)


def _invited(e: GroupInvited, new_id: NewId) -> list[Notice]:
    data: dict[str, Scalar] = {
        "group_id": e.group_id,
        "group_name": e.group_name,
        "invited_by": e.inviter_id,
    }
    return _each([e.account_id], EventType.GROUP_INVITED, e.group_id, data, e.at, new_id)


def _rating(e: RatingReceived, new_id: NewId) -> list[Notice]:
    data: dict[str, Scalar] = {
        "rating_id": e.rating_id,
        "contract_id": e.contract_id,
        "role": e.role,
        "satisfied": e.satisfied,
        "score": e.score,
    }
    return _each([e.rated_id], EventType.RATING_RECEIVED, e.contract_id, data, e.at, new_id)


def _breach(e: DeliveryBreached, new_id: NewId) -> list[Notice]:
    data: dict[str, Scalar] = {
        "delivery_id": e.delivery_id,
        "contract_id": e.contract_id,
        "achieved_rate_bps": e.achieved_rate_bps,
        "min_rate_bps": e.min_rate_bps,
        "measured_by": e.measured_by,
    }
    parties = (e.provider_id, e.recipient_id)
    return _each(parties, EventType.DELIVERY_BREACH, e.contract_id, data, e.at, new_id)


def _subcontract(e: SubcontractOpened, new_id: NewId) -> list[Notice]:
    # the subcontract is a contract whose recipient is the subcontracting provider
    data: dict[str, Scalar] = {
        "contract_id": e.subcontract_id,
        "parent_contract_id": e.parent_contract_id,
        "step": e.step,
        "provider_id": e.recipient_id,
        "subcontractor_id": e.provider_id,
    }
    parties = (e.recipient_id, e.provider_id)
    return _each(parties, EventType.SUBCONTRACT_OPENED, e.subcontract_id, data, e.at, new_id)


_MAKERS: dict[type[Event], Callable[[object, NewId], list[Notice]]] = {
    BidOutbid: _outbid,  # type: ignore[dict-item]
    AuctionClosingSoon: _closing_soon,  # type: ignore[dict-item]
    ContractStarted: _started,  # type: ignore[dict-item]
    ContractCompleted: _completed,  # type: ignore[dict-item]
    ContractCancelled: _cancelled,  # type: ignore[dict-item]
    ChargeSettled: _charge,  # type: ignore[dict-item]
    GroupInvited: _invited,  # type: ignore[dict-item]
    RatingReceived: _rating,  # type: ignore[dict-item]
    DeliveryBreached: _breach,  # type: ignore[dict-item]
    SubcontractOpened: _subcontract,  # type: ignore[dict-item]
}


def won(auction: Auction, new_id: NewId) -> list[Notice]:
    """Each winner of a closed auction hears that it won, at which price, and its contract."""
    if auction.status is not Status.CLOSED or auction.outcome is None:
        return []
    out = auction.outcome
    return [
        Notice(
            new_id(),
            w.bidder_id,
            EventType.AUCTION_WON,
            auction.id,
            {
                "auction_id": auction.id,
                "title": auction.title,
                "price": str(w.price.amount),
                "currency": w.price.currency,
                "contract_id": w.contract_id,
            },
            out.closed_at,
        )
        for w in out.winners
    ]


@dataclass(frozen=True, slots=True)
class Fanout:
    """One notice on its way to every bidder of an auction but ``exclude``, told a chunk of
    bidders at a time in bidder-id order: ``after`` is the last bidder told so far."""

    notice: Notice  # without its account: each bidder gets its own copy (:func:`fanned_id`)
    auction_id: str
    exclude: frozenset[str]
    after: str | None = None

    def copies(self, bidders: Iterable[str]) -> list[Notice]:
        """This notice for each of ``bidders`` it is meant for."""
        n = self.notice
        return [
            Notice(fanned_id(n.id, b), b, n.type, n.subject_id, n.data, n.created_at)
            for b in bidders
            if b not in self.exclude
        ]


def lost(auction: Auction, event_id: str) -> Fanout | None:
    """What every other bidder of a closed auction hears; the winners hear :func:`won`."""
    if auction.status is not Status.CLOSED or auction.outcome is None:
        return None
    out = auction.outcome
    data: dict[str, Scalar] = {
        "auction_id": auction.id,
        "title": auction.title,
        "winners": len(out.winners),
    }
    notice = Notice(event_id, "", EventType.AUCTION_LOST, auction.id, data, out.closed_at)
    return Fanout(notice, auction.id, frozenset(w.bidder_id for w in out.winners))


def outbid(before: Auction, after: Auction, at: datetime) -> BidOutbid | None:
    """The bidder an english bid took the lead from, if it took the lead from anyone."""
    old, new = before.english.leader_id, after.english.leader_id
    price = after.english.price
    if before.sealed or old is None or old == new or price is None:
        return None
    return BidOutbid(after.id, after.title, old, price, after.closes_at, at)
