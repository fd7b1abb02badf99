"""A provider's capacity (T5): declaring it, and what it has promised, as capacity commitments
read in the caller's unit of work; :func:`commex.domain.capacity.check_capacity` decides."""

from __future__ import annotations

from commex.domain.accounts import Role
from commex.domain.auctions import Auction, Direction
from commex.domain.capacity import Commitment, check_capacity, check_capacity_value, peak
from commex.domain.contracts import ContractStatus
from commex.domain.errors import Conflict, Forbidden
from commex.domain.terms import ServiceTerms
from commex.services import audit
from commex.services import commands as c
from commex.services import queries as q
from commex.services.bus import Deps
from commex.services.loading import account_of
from commex.services.ports import UnitOfWork
from commex.services.results import CapacityView

_HOLDING = (ContractStatus.AWARDED, ContractStatus.ACTIVE)


def _commitment(label: str, terms: ServiceTerms, blocks: int) -> Commitment:
    bps = (terms.min_rate_bps or 0) * blocks
    return Commitment(label, bps, terms.window_start, terms.window_end)


def commitments(uow: UnitOfWork, provider_id: str) -> list[Commitment]:
    """Everything ``provider_id`` holds capacity for: its contracts in force, its open forward
    auctions (every block on offer), and its bids on open reverse auctions."""
    held = [
        _commitment(f"contract {k.id}", k.terms, 1)
        for k in uow.contracts.of_provider(provider_id, None)
        if k.status in _HOLDING and k.terms.min_rate_bps
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
    capacity = uow.accounts.capacity(provider_id)
    if capacity is None:
        return
    uow.accounts.lock(provider_id)
    check_capacity(capacity, commitments(uow, provider_id), _commitment(label, terms, blocks))


def check_reverse_bid(uow: UnitOfWork, auction: Auction, bidder_id: str) -> None:
    """A provider's first bid on a reverse auction with a minimum rate commits that rate."""
    if auction.direction is not Direction.REVERSE or not auction.terms.min_rate_bps:
        return
    if uow.accounts.capacity(bidder_id) is None:
        return
    if any(a.id == auction.id for a in uow.auctions.open_bid_on_by(bidder_id)):
        return  # already committed by its earlier bid
    check_new_block(uow, bidder_id, auction.terms, 1, f"a bid on auction {auction.id}")


def set_capacity(cmd: c.SetCapacity, uow: UnitOfWork, deps: Deps) -> CapacityView:
    """Declare the provider's capacity in bit/s; later blocks are checked against it, and it
    may not fall below what is committed at the busiest moment."""
    value = check_capacity_value(cmd.capacity_bps)
    provider = account_of(uow, cmd.provider_id)
    if not provider.has(Role.PROVIDER):
        raise Forbidden("only a provider declares capacity")
    uow.accounts.lock(provider.id)
    held, _ = peak(commitments(uow, provider.id), Commitment("", 0))
    if held > value:
        raise Conflict(
            f"capacity_bps {value} is less than the {held} bit/s already committed at "
            "the busiest moment (contracts in force, open auctions and bids); lower it "
            "once those end",
            "capacity_bps",
        )
    uow.accounts.set_capacity(provider.id, value, deps.clock.now())
    audit.record(uow, deps, "capacity.set", provider.id, by=provider.id, detail={"bps": value})
    return _capacity(uow, provider.id)


def show_capacity(query: q.ShowCapacity, uow: UnitOfWork, deps: Deps) -> CapacityView:
    return _capacity(uow, account_of(uow, query.provider_id).id)


def _capacity(uow: UnitOfWork, provider_id: str) -> CapacityView:
    held = sum(x.bps for x in commitments(uow, provider_id))
    return CapacityView(uow.accounts.capacity(provider_id), held)
