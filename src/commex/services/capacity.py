"""What a provider has promised, as capacity commitments (T5), read in the caller's unit of
work; :func:`commex.domain.capacity.check_capacity` decides."""

from __future__ import annotations

from commex.domain.auctions import Auction, Direction
from commex.domain.capacity import Commitment, check_capacity
from commex.domain.contracts import ContractStatus
from commex.domain.terms import ServiceTerms
from commex.services.ports import UnitOfWork

_HOLDING = (ContractStatus.AWARDED, ContractStatus.ACTIVE)


def _commitment(label: str, terms: ServiceTerms, blocks: int) -> Commitment:
    bps = (terms.min_rate_bps or 0) * blocks
    return Commitment(label, bps, terms.window_start, terms.window_end)


def commitments(uow: UnitOfWork, provider_id: str) -> list[Commitment]:
    """Everything ``provider_id`` holds capacity for: its contracts in force, its open forward
    auctions (every block on offer), and its bids on open reverse auctions."""
    held = [
        _commitment(f"contract {c.id}", c.terms, 1)
        for c in uow.contracts.of_provider(provider_id, None)
        if c.status in _HOLDING and c.terms.min_rate_bps
    ]
    held += [
        _commitment(f"auction {a.id}", a.terms, a.quantity)
        for a in uow.auctions.open_of_owner(provider_id)
        if a.direction is Direction.FORWARD and a.terms.min_rate_bps
    ]
    held += [
        _commitment(f"bid on auction {a.id}", a.terms, 1)
        for a in uow.auctions.open_bid_on_by(provider_id)
        if a.direction is Direction.REVERSE and a.terms.min_rate_bps
    ]
    return held


def check_new_block(
    uow: UnitOfWork, provider_id: str, terms: ServiceTerms, blocks: int, label: str
) -> None:
    """Refuse a new block the provider's declared capacity cannot carry. The provider's row is
    locked first, so two blocks checked at once cannot both take the last of it."""
    if not terms.min_rate_bps:
        return
    capacity = uow.capacities.get(provider_id)
    if capacity is None:
        return
    uow.accounts.lock(provider_id)
    check_capacity(capacity, commitments(uow, provider_id), _commitment(label, terms, blocks))


def check_reverse_bid(uow: UnitOfWork, auction: Auction, bidder_id: str) -> None:
    """A provider's first bid on a reverse auction with a minimum rate commits that rate."""
    if auction.direction is not Direction.REVERSE or not auction.terms.min_rate_bps:
        return
    if uow.capacities.get(bidder_id) is None:
        return
    if any(a.id == auction.id for a in uow.auctions.open_bid_on_by(bidder_id)):
        return  # already committed by its earlier bid
    check_new_block(uow, bidder_id, auction.terms, 1, f"a bid on auction {auction.id}")
