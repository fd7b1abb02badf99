"""The exchange engine: receives bids, closes auctions, awards contracts.

Each use case loads what it needs through a unit of work, calls the domain, commits, and then
publishes the events. Bids and closes lock the auction's row first, so an auction closes exactly
once and takes no bid after its close, whatever runs concurrently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from commex.domain import auctions as rules
from commex.domain import formats, opening
from commex.domain.accounts import Account, Role, check_name, parse_roles
from commex.domain.auctions import Auction, Bid, Direction, Status
from commex.domain.contracts import Contract, start
from commex.domain.errors import AuctionNotOpen, InvalidInput, NotFound
from commex.domain.events import ContractStarted, Event
from commex.domain.money import Money, check_currency
from commex.domain.offers import ProcessingOffer, make_offer
from commex.domain.reputation import Reputation
from commex.domain.urls import UrlPolicy
from commex.services.bidding import BidDesk, BidRequest
from commex.services.capacity import check_new_block
from commex.services.loading import account_of, check_id, locked_auction
from commex.services.ports import (
    Clock,
    EventPublisher,
    IdGenerator,
    ReputationSource,
    UnitOfWork,
    UnitOfWorkFactory,
)
from commex.services.requests import parse_auction_request
from commex.services.views import (
    MAX_BIDS_SHOWN,
    AuctionView,
    BidView,
    Party,
    bid_views,
    party,
)

MAX_LIST = 500
_CLOSE_PAGE = 500


class _NoPublisher:
    def publish(self, events: Sequence[Event]) -> None:
        return None


@dataclass(frozen=True, slots=True)
class AuctionSummary:
    """A line of the auction list: the auction and its owner as others see it."""

    auction: Auction
    owner_name: str
    owner_reputation: Reputation


class Exchange:
    """The engine facade used by the server, the command line and library users."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        reputations: ReputationSource,
        events: EventPublisher | None = None,
        urls: UrlPolicy | None = None,
    ) -> None:
        self._uow = uow
        # Without a resolver only literal public addresses pass: fail closed.
        self._urls = urls or UrlPolicy(allow_private=False, resolve=lambda _host: ())
        self.clock = clock
        self._ids = ids
        self._reps = reputations
        self._events = events or _NoPublisher()
        self._desk = BidDesk(uow, clock, ids, reputations, self._events)

    def shutdown(self) -> None:
        """Release the database connections this exchange holds."""
        self._uow.dispose()

    # -- accounts ---------------------------------------------------------------------------

    def create_account(
        self,
        name: str,
        roles: Sequence[str],
        *,
        token_hash: str | None = None,
        allow_operator: bool = False,
        owner: str | None = None,
    ) -> Account:
        """Open an account with the given roles (the operator role only when allowed);
        ``owner`` makes it an account of that owner (accounts of one owner may not bid on each
        other's auctions nor rate each other)."""
        account = Account(
            id=self._ids.new("acc"),
            name=check_name(name),
            roles=parse_roles(list(roles), allow_operator=allow_operator),
            created_at=self.clock.now(),
            owner_id=owner,
        )
        with self._uow() as uow:
            uow.accounts.add(account, token_hash)
            uow.commit()
        return account

    def account(self, account_id: str) -> Account:
        with self._uow(write=False) as uow:
            return account_of(uow, account_id)

    def any_accounts(self) -> bool:
        """Whether the exchange has any account yet (a fresh database has none)."""
        with self._uow(write=False) as uow:
            return uow.accounts.count() > 0

    def reputation(self, account_id: str, role: Role) -> Reputation:
        return self._reps.of(account_id, role)

    # -- auctions ---------------------------------------------------------------------------

    def create_auction(
        self,
        owner_id: str,
        request: Mapping[str, Any],
        *,
        on_open: Callable[[UnitOfWork, Auction], None] | None = None,
    ) -> Auction:
        """Open an auction from a request shaped like ``POST /v1/auctions``; ``on_open`` writes
        what belongs with the new auction (a group's link to it) in the same transaction, and
        may refuse it by raising."""
        draft = parse_auction_request(request)
        with self._uow() as uow:
            owner = account_of(uow, owner_id)
            approved = draft.eligibility.approved_providers
            if approved:
                for provider_id in approved:
                    check_id("approved provider", provider_id)
                known = uow.accounts.get_many(approved)
                missing = sorted(set(approved) - set(known))
                if missing:
                    raise InvalidInput(
                        f"approved providers not found: {', '.join(missing)}",
                        field="eligibility.approved_providers",
                    )
            auction = opening.open_auction(draft, self._ids.new("auc"), owner, self.clock.now())
            if auction.direction is Direction.FORWARD:
                check_new_block(
                    uow, owner.id, auction.terms, auction.quantity, f"auction {auction.title!r}"
                )
            uow.auctions.add(auction)
            if on_open is not None:
                on_open(uow, auction)
            uow.commit()
        return auction

    def place_bid(
        self,
        auction_id: str,
        bidder_id: str,
        amount: object,
        max_amount: object = None,
        idempotency_key: str | None = None,
    ) -> Bid:
        """Accept a bid (amounts as decimal strings) or raise why it was refused.

        Safe to call from many threads: concurrent bids share one durable commit.
        """
        request = BidRequest(auction_id, bidder_id, amount, max_amount, idempotency_key)
        return self._desk.place(request)

    def close(self, auction_id: str, by_id: str | None, reason: str | None = None) -> Auction:
        """Close and award (the operator any time; the owner or the scheduler once due).

        Closing again returns the stored outcome.
        """
        with self._uow() as uow:
            auction = locked_auction(uow, auction_id)
            by = account_of(uow, by_id) if by_id is not None else None
            if auction.status is Status.CLOSED:
                rules.check_may_close(auction, by)
                return auction
            now = self.clock.now()
            rules.check_can_close(auction, by, now, reason)
            if auction.sealed:
                deciding = formats.deciding_bids(auction)
                forward = auction.direction is Direction.FORWARD
                if deciding is None:
                    bids = self._weighted_deciding_bids(uow, auction)
                else:
                    bids = uow.bids.best_active(auction_id, deciding, highest_first=forward)
            else:
                lead = auction.english.leader_bid_id
                leader_bid = uow.bids.get(lead) if lead else None
                bids = [leader_bid] if leader_bid else []
            reps = self._reps.of_many({b.bidder_id for b in bids}, auction.bidder_role)
            result = rules.close_auction(
                auction, bids, reps, now, by, lambda: self._ids.new("con"), reason
            )
            uow.contracts.add_many(result.contracts)
            uow.auctions.update(result.auction)
            uow.commit()
        self._events.publish(result.events)
        return result.auction

    def _weighted_deciding_bids(self, uow: UnitOfWork, auction: Auction) -> list[Bid]:
        """The bids that can decide a reputation-weighted reverse auction, read a page at a time
        in ascending amount until no later bid can rank among them (see ``seen_enough``)."""
        seen: list[Bid] = []
        reps: dict[str, Reputation] = {}
        after: tuple[int, int] | None = None
        while True:
            page = uow.bids.cheapest_after(auction.id, after, _CLOSE_PAGE)
            reps.update(self._reps.of_many({b.bidder_id for b in page}, auction.bidder_role))
            seen.extend(page)
            if len(page) < _CLOSE_PAGE:
                return seen
            last = page[-1]
            after = (last.amount.to_minor(), last.seq)
            if formats.seen_enough(auction, seen, reps, last.amount):
                return seen

    def cancel(self, auction_id: str, by_id: str, reason: str | None = None) -> Auction:
        with self._uow() as uow:
            auction = locked_auction(uow, auction_id)
            result = rules.cancel_auction(auction, account_of(uow, by_id), reason)
            uow.auctions.update(result.auction)
            uow.commit()
        self._events.publish(result.events)
        return result.auction

    def close_due(self, limit: int = 100) -> list[Auction]:
        """Close every auction whose time has come (the scheduler and ``close-due`` call this).

        Each closes in its own transaction under its row lock, so several processes running
        this at once close each auction once.
        """
        with self._uow(write=False) as uow:
            due = uow.auctions.due(self.clock.now(), limit)
        closed = []
        for auction_id in due:
            try:
                closed.append(self.close(auction_id, None))
            except AuctionNotOpen:
                continue  # cancelled since it was listed: nothing to close, the rest still are
        return closed

    def auction(self, auction_id: str) -> Auction:
        """The auction's public state without its bids: a cheap read for live pages that
        poll for changes (status, bid count, close time)."""
        with self._uow(write=False) as uow:
            auction = uow.auctions.get(check_id("auction", auction_id))
        if auction is None:
            raise NotFound(f"auction {auction_id} not found")
        return auction

    def start_due(self, limit: int = 100) -> list[Contract]:
        """Start the contracts whose usage window has opened (the scheduler calls this)."""
        now = self.clock.now()
        with self._uow() as uow:
            started = [start(c, now) for c in uow.contracts.due_to_start(now, limit)]
            for contract in started:
                uow.contracts.update(contract)
            uow.commit()
        self._events.publish(
            [ContractStarted(c.id, c.provider_id, c.recipient_id, now) for c in started]
        )
        return started

    def view(self, auction_id: str, viewer_id: str | None) -> AuctionView:
        """The auction as ``viewer_id`` may see it (A8), with reputations (R5)."""
        with self._uow(write=False) as uow:
            auction = uow.auctions.get(check_id("auction", auction_id))
            if auction is None:
                raise NotFound(f"auction {auction_id} not found")
            bids = self._shown_bids(uow, auction, viewer_id)
            visible = rules.visible_bids(auction, bids, viewer_id)
            leader_id = auction.english.leader_id
            ids = {b.bidder_id for b in visible} | {auction.owner_id}
            if leader_id:
                ids.add(leader_id)
            accounts = uow.accounts.get_many(ids)
        role = auction.bidder_role
        reps = self._reps.of_many(
            {b.bidder_id for b in visible} | ({leader_id} if leader_id else set()), role
        )
        owner_rep = self._reps.of(auction.owner_id, auction.owner_role)
        leader = None
        if leader_id:
            leader = party(accounts.get(leader_id), leader_id, role, reps[leader_id])
        return AuctionView(
            auction=auction,
            owner=party(
                accounts.get(auction.owner_id), auction.owner_id, auction.owner_role, owner_rep
            ),
            bids=bid_views(auction, visible, accounts, reps, viewer_id),
            ranking_rule=rules.ranking_rule(auction),
            viewer_is_owner=viewer_id == auction.owner_id,
            leader=leader,
        )

    def placed_bid_view(self, bid: Bid) -> BidView:
        """A just-placed bid as its bidder sees it (its own bid, with its proxy limit), without
        reading the rest of the auction."""
        with self._uow(write=False) as uow:
            auction = uow.auctions.get(bid.auction_id)
            bidder = uow.accounts.get(bid.bidder_id)
        if auction is None:  # pragma: no cover - the bid was just placed on it
            raise NotFound(f"auction {bid.auction_id} not found")
        rep = self._reps.of(bid.bidder_id, auction.bidder_role)
        (view,) = bid_views(
            auction, [bid], {bid.bidder_id: bidder} if bidder else {}, {bid.bidder_id: rep}
        )
        return view

    @staticmethod
    def _shown_bids(uow: UnitOfWork, auction: Auction, viewer_id: str | None) -> list[Bid]:
        """The bids a page can show: the viewer's own, plus (where they are public) the best
        ones of a sealed auction or the newest of an english one, at most MAX_BIDS_SHOWN, so an
        auction of 100,000 bids is as quick to view as one of ten."""
        own = uow.bids.for_auction(auction.id, viewer_id) if viewer_id else []
        if rules.sealed_bids_hidden(auction):
            return own
        if auction.bid_seq <= MAX_BIDS_SHOWN:
            return uow.bids.for_auction(auction.id)  # small enough to show whole
        if not auction.sealed:
            public = uow.bids.recent(auction.id, MAX_BIDS_SHOWN)
        elif formats.deciding_bids(auction) is None:
            public = uow.bids.active(auction.id)  # reputation-weighted: ranked by the view
        else:
            forward = auction.direction is Direction.FORWARD
            public = uow.bids.best_active(auction.id, MAX_BIDS_SHOWN, highest_first=forward)
        seen = {b.id for b in public}
        return public + [b for b in own if b.id not in seen]

    def auctions(
        self, status: Status | None = None, limit: int = 100, offset: int = 0
    ) -> list[AuctionSummary]:
        """Auctions newest first, each with its owner's name and reputation."""
        if not 1 <= limit <= MAX_LIST or offset < 0:
            raise InvalidInput(f"limit must be 1 to {MAX_LIST} and offset at least 0", "limit")
        with self._uow(write=False) as uow:
            items = uow.auctions.page(status, limit, offset)
            owners = uow.accounts.get_many({a.owner_id for a in items})
        # One batch of reputations per role (forward owners are providers, reverse ones
        # recipients), not one lookup per auction.
        reps = {
            role: self._reps.of_many({a.owner_id for a in items if a.owner_role is role}, role)
            for role in {a.owner_role for a in items}
        }
        out: list[AuctionSummary] = []
        for a in items:
            owner = owners.get(a.owner_id)
            rep = reps[a.owner_role][a.owner_id]
            out.append(AuctionSummary(a, owner.name if owner else a.owner_id, rep))
        return out

    def contract(self, contract_id: str, viewer_id: str) -> Contract:
        """A contract, to its parties and the operator only."""
        with self._uow(write=False) as uow:
            contract = uow.contracts.get(check_id("contract", contract_id))
            viewer = account_of(uow, viewer_id)
        if contract is None:
            raise NotFound(f"contract {contract_id} not found")
        if (
            viewer_id not in (contract.provider_id, contract.recipient_id)
            and not viewer.is_operator
        ):
            raise NotFound(f"contract {contract_id} not found")
        return contract

    def publish_offer(
        self, provider_id: str, node_url: object, capabilities: object, price: object, currency: str
    ) -> ProcessingOffer:
        """Store a provider's processing offer (its node, steps and price per 1,000 packets),
        replacing its previous one. The node must be at a public address (or the operator
        allows private ones): other providers' planes send it their calls and tokens."""
        amount = Money.parse(price, check_currency(currency), field="price")
        self._urls.check(node_url, "node_url")  # resolves names: outside the transaction
        with self._uow() as uow:
            provider = account_of(uow, provider_id)
            offer = make_offer(provider, node_url, capabilities, amount, self.clock.now())
            uow.offers.put(offer)
            uow.commit()
        return offer

    def party(self, account_id: str, role: Role) -> Party:
        """An account as others see it in ``role``: its name and reputation."""
        account = self.account(account_id)
        return party(account, account_id, role, self._reps.of(account_id, role))

    def processors(self, capability: str) -> list[tuple[ProcessingOffer, Party]]:
        """Providers whose nodes offer ``capability``, best provider reputation first, then
        the lower price."""
        with self._uow(write=False) as uow:
            offers = uow.offers.with_capability(capability)
            accounts = uow.accounts.get_many({o.provider_id for o in offers})
        reps = self._reps.of_many({o.provider_id for o in offers}, Role.PROVIDER)
        ranked = sorted(
            offers,
            key=lambda o: (-reps[o.provider_id].lower_bound, o.price.amount, o.provider_id),
        )
        return [
            (
                o,
                party(
                    accounts.get(o.provider_id), o.provider_id, Role.PROVIDER, reps[o.provider_id]
                ),
            )
            for o in ranked
        ]

    def contracts_of(self, account_id: str) -> list[Contract]:
        with self._uow(write=False) as uow:
            return uow.contracts.for_account(account_id)
