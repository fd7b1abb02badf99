"""What a viewer may see of an auction's bids (A8), and the ranking rule every bidder is shown
(A5)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from commex.domain import formats
from commex.domain.auctions import Auction, Bid, Status


def sealed_bids_hidden(auction: Auction) -> bool:
    """Whether other bidders' amounts are secret: a sealed auction that has no public outcome."""
    return auction.sealed and auction.status is not Status.CLOSED


def visible_bids(auction: Auction, bids: Iterable[Bid], viewer_id: str | None) -> list[Bid]:
    """The bids ``viewer_id`` may see (A8), with other bidders' proxy limits removed.

    A sealed auction shows each bidder only its own bids until it closes, and everything after
    the close; a cancelled sealed auction never reveals them (its owner could otherwise relist
    knowing every bid). English auctions show every bid. Nobody but the bidder ever sees a proxy
    limit.
    """
    hidden = sealed_bids_hidden(auction)
    out: list[Bid] = []
    for bid in bids:
        own = viewer_id is not None and bid.bidder_id == viewer_id
        if hidden and not own:
            continue
        out.append(bid if own or bid.max_amount is None else replace(bid, max_amount=None))
    return out


def ranking_rule(auction: Auction) -> str:
    """The published ranking rule (A5), shown to every bidder."""
    return formats.describe(auction)
