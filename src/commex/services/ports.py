"""The ports: what the services need from the outside world, as Protocols.

Adapters implement them (SQL, in-memory fakes, the system clock); services never import an
adapter. A unit of work is one transaction: everything read through it is consistent and
everything written commits together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol

from commex.domain.accounts import Account, Role
from commex.domain.auctions import Auction, Bid, Status
from commex.domain.billing import GatewayCharge, GatewayRefund, StoredCard
from commex.domain.charges import Charge, Payout
from commex.domain.contracts import Contract
from commex.domain.events import Event
from commex.domain.groups import Group, GroupMember, Sponsorship
from commex.domain.members import Device, Member
from commex.domain.money import Money
from commex.domain.offers import ProcessingOffer
from commex.domain.payment_methods import PaymentMethod
from commex.domain.ratings import Rating
from commex.domain.reputation import PairTally, Reputation, Tally
from commex.domain.service_level import Delivery, ServiceLevel
from commex.domain.usage import MemberUsage, UsageSession


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class IdGenerator(Protocol):
    def new(self, prefix: str) -> str:
        """A new unique id such as ``auc_3f9c...``."""
        ...


class AccountRepository(Protocol):
    def add(self, account: Account, token_hash: str | None = None) -> None: ...

    def get(self, account_id: str) -> Account | None: ...

    def get_many(self, account_ids: Iterable[str]) -> dict[str, Account]: ...

    def count(self) -> int: ...

    def lock(self, account_id: str) -> None:
        """Hold the account's row lock until the unit of work ends (serialises updates of its
        reputation)."""
        ...


class AuctionRepository(Protocol):
    def add(self, auction: Auction) -> None: ...

    def get(self, auction_id: str) -> Auction | None: ...

    def get_for_update(self, auction_id: str) -> Auction | None:
        """Read the auction and hold its row lock until the unit of work ends."""
        ...

    def update(self, auction: Auction) -> None: ...

    def page(self, status: Status | None, limit: int, offset: int) -> list[Auction]: ...

    def open_of_owner(self, owner_id: str) -> list[Auction]:
        """The owner's open auctions."""
        ...

    def open_bid_on_by(self, bidder_id: str) -> list[Auction]:
        """Open auctions in which ``bidder_id`` holds an active bid."""
        ...

    def due(self, now: datetime, limit: int) -> list[str]:
        """Ids of open auctions whose close time has passed, earliest first."""
        ...


class BidRepository(Protocol):
    def add_many(self, bids: Sequence[Bid]) -> None: ...

    def deactivate(self, bid_ids: Sequence[str]) -> None: ...

    def get(self, bid_id: str) -> Bid | None: ...

    def own_active(self, auction_id: str, bidder_id: str) -> Bid | None: ...

    def active(self, auction_id: str) -> list[Bid]:
        """Every active bid of the auction, in arrival order."""
        ...

    def best_active(self, auction_id: str, limit: int, highest_first: bool) -> list[Bid]:
        """The ``limit`` best active bids by amount, ties to the earlier bid."""
        ...

    def cheapest_after(
        self, auction_id: str, after: tuple[int, int] | None, limit: int
    ) -> list[Bid]:
        """Active bids in ascending (amount in minor units, seq) order, after the key given."""
        ...

    def recent(self, auction_id: str, limit: int) -> list[Bid]:
        """The newest ``limit`` bids of the auction, newest first."""
        ...

    def for_auction(self, auction_id: str, bidder_id: str | None = None) -> list[Bid]:
        """Every bid of the auction (or of one bidder in it), in arrival order."""
        ...


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A web session as stored: only the hash of its cookie value is kept."""

    token_hash: str
    account_id: str
    csrf: str
    created_at: datetime
    expires_at: datetime


class CredentialRepository(Protocol):
    def set_token_hash(self, account_id: str, token_hash: str) -> None: ...

    def by_token_hash(self, token_hash: str) -> Account | None: ...

    def set_password(self, account_id: str, login_key: str, password_hash: str) -> None: ...

    def by_login(self, login_key: str) -> tuple[Account, str] | None:
        """The account whose login name is ``login_key``, and its password hash."""
        ...

    def add_session(self, session: SessionRecord) -> None: ...

    def session(self, token_hash: str) -> SessionRecord | None: ...

    def delete_session(self, token_hash: str) -> None: ...

    def delete_expired_sessions(self, now: datetime) -> int: ...


class IdempotencyRepository(Protocol):
    def get(self, account_id: str, key: str) -> tuple[str, str] | None:
        """The (request fingerprint, bid id) stored under this caller's key, if any."""
        ...

    def add(
        self, account_id: str, key: str, fingerprint: str, bid_id: str, now: datetime
    ) -> None: ...


class OfferRepository(Protocol):
    def put(self, offer: ProcessingOffer) -> None:
        """Store the provider's offer, replacing its previous one."""
        ...

    def with_capability(self, capability: str) -> list[ProcessingOffer]: ...


class DeviceRepository(Protocol):
    def add(self, device: Device, token_hash: str) -> None: ...

    def get(self, device_id: str) -> Device | None: ...

    def by_token_hash(self, token_hash: str) -> Device | None: ...

    def of_recipient(self, recipient_id: str) -> list[Device]: ...


class MemberRepository(Protocol):
    def add(self, member: Member) -> None: ...

    def get(self, member_id: str) -> Member | None:
        """A member, current or removed."""
        ...

    def remove(self, member_id: str, now: datetime) -> None:
        """Mark the member removed at ``now`` (its usage stays on record)."""
        ...

    def restore(self, member_id: str) -> None:
        """Make a removed member current again."""
        ...

    def of_contract(self, contract_id: str, *, removed: bool = False) -> list[Member]:
        """The contract's current members (and the removed ones with ``removed=True``)."""
        ...


class UsageRepository(Protocol):
    def add_session(self, session: UsageSession) -> None: ...

    def get_session(self, session_id: str) -> UsageSession | None: ...

    def update_session(self, session: UsageSession) -> None: ...

    def open_sessions(self, member_id: str) -> list[UsageSession]: ...

    def by_member(self, contract_id: str) -> list[MemberUsage]:
        """Each member's usage of the contract so far (one grouped query)."""
        ...


class DeliveryRepository(Protocol):
    def add(self, delivery: Delivery) -> None: ...

    def by_run(self, contract_id: str, run_id: str) -> Delivery | None: ...

    def of_contract(self, contract_id: str, limit: int) -> list[Delivery]:
        """The contract's newest deliveries, newest first."""
        ...

    def service_levels(
        self, provider_ids: Iterable[str], since: datetime
    ) -> dict[str, ServiceLevel]:
        """Measured deliveries and breaches of each provider since ``since`` (one query)."""
        ...


class CapacityRepository(Protocol):
    def get(self, provider_id: str) -> int | None: ...

    def put(self, provider_id: str, capacity_bps: int, now: datetime) -> None: ...


class RatingRepository(Protocol):
    def add(self, rating: Rating) -> None: ...

    def exists(self, contract_id: str, role: str, rater_key: str) -> bool: ...

    def of_contract(self, contract_id: str) -> list[Rating]: ...

    def recent_counts(
        self, account_ids: Iterable[str], role: str, since: datetime
    ) -> dict[str, int]:
        """How many ratings each account received in ``role`` since ``since`` (one query)."""
        ...


class ReputationRepository(Protocol):
    def tallies(self, account_ids: Iterable[str], role: str) -> dict[str, Tally]: ...

    def pair(self, account_id: str, role: str, counterparty: str) -> PairTally | None: ...

    def put(self, account_id: str, role: str, tally: Tally) -> None: ...

    def put_pair(self, account_id: str, role: str, counterparty: str, pair: PairTally) -> None: ...


class ContractRepository(Protocol):
    def add_many(self, contracts: Sequence[Contract]) -> None: ...

    def get(self, contract_id: str) -> Contract | None: ...

    def get_for_update(self, contract_id: str) -> Contract | None:
        """Read the contract and hold its row lock until the unit of work ends (serialises
        metering of its block)."""
        ...

    def set_used(self, contract_id: str, used_ms: int) -> None: ...

    def of_provider(self, provider_id: str, status: str | None) -> list[Contract]:
        """The provider's contracts (in one status, if given), newest first."""
        ...

    def for_auction(self, auction_id: str) -> list[Contract]: ...

    def for_account(self, account_id: str) -> list[Contract]:
        """Contracts the account is a party to or a current member of, newest first."""
        ...

    def update(self, contract: Contract) -> None: ...

    def due_to_start(self, now: datetime, limit: int) -> list[Contract]:
        """Awarded contracts whose usage window has opened, earliest first."""
        ...


class GroupRepository(Protocol):
    """Groups of recipients, their members and sponsorships, and the auctions they run."""

    def add(self, group: Group) -> None: ...

    def get(self, group_id: str) -> Group | None: ...

    def lock(self, group_id: str) -> None:
        """Hold the group's row lock until the unit of work ends (serialises membership changes
        with the opening of the group's auction)."""
        ...

    def of_account(self, account_id: str, limit: int) -> list[Group]:
        """Groups the account is in or invited to, newest first."""
        ...

    def members(self, group_id: str) -> list[GroupMember]: ...

    def put_member(self, member: GroupMember) -> None:
        """Add the member, or replace its row."""
        ...

    def remove_member(self, group_id: str, account_id: str) -> None: ...

    def sponsorships(self, group_id: str) -> list[Sponsorship]: ...

    def set_sponsorships(self, group_id: str, payer_id: str, rows: Sequence[Sponsorship]) -> None:
        """Replace the payer's sponsorships in the group with ``rows``."""
        ...

    def drop_sponsorships(self, group_id: str, account_id: str) -> None:
        """Remove every sponsorship naming the account, as payer or as sponsored."""
        ...

    def link_auction(self, group_id: str, auction_id: str, now: datetime) -> None: ...

    def group_of_auction(self, auction_id: str) -> str | None: ...

    def unsettled_auctions(self, group_id: str) -> list[str]:
        """The group's auctions not yet settled (charged, or ended without a winner)."""
        ...

    def auctions_of(self, group_id: str) -> list[str]:
        """Every auction of the group, newest first."""
        ...

    def settle_auction(self, auction_id: str) -> None: ...


class ChargeRepository(Protocol):
    """Charges of contracts, and the providers' payouts."""

    def add_many(self, charges: Sequence[Charge]) -> None: ...

    def get(self, charge_id: str) -> Charge | None: ...

    def swap(self, old: Charge, new: Charge) -> bool:
        """Write ``new`` only if the stored charge is still ``old`` (same version): an atomic
        conditional update; False when another writer got there first."""
        ...

    def for_contract(self, contract_id: str) -> list[Charge]: ...

    def of_payer(self, payer_id: str, limit: int) -> list[Charge]:
        """The payer's charges, newest first."""
        ...

    def uncharged_contracts(self, limit: int) -> list[Contract]:
        """Awarded or active contracts that have no charges yet, oldest first."""
        ...

    def due(self, now: datetime, limit: int) -> list[str]:
        """Ids of pending charges an attempt is due for: their retry time has come, their
        claim has lapsed, or their payer's default card is not the one their last attempt
        tried (``last_card_id``: a card saved or made the default since)."""
        ...

    def add_payout(self, payout: Payout) -> None: ...

    def payouts_for_contract(self, contract_id: str) -> list[Payout]: ...


class UnitOfWork(Protocol):
    @property
    def accounts(self) -> AccountRepository: ...

    @property
    def auctions(self) -> AuctionRepository: ...

    @property
    def bids(self) -> BidRepository: ...

    @property
    def contracts(self) -> ContractRepository: ...

    @property
    def credentials(self) -> CredentialRepository: ...

    @property
    def idempotency(self) -> IdempotencyRepository: ...

    @property
    def offers(self) -> OfferRepository: ...

    @property
    def devices(self) -> DeviceRepository: ...

    @property
    def members(self) -> MemberRepository: ...

    @property
    def ratings(self) -> RatingRepository: ...

    @property
    def reputations(self) -> ReputationRepository: ...

    @property
    def usage(self) -> UsageRepository: ...

    @property
    def deliveries(self) -> DeliveryRepository: ...

    @property
    def capacities(self) -> CapacityRepository: ...

    @property
    def groups(self) -> GroupRepository: ...

    @property
    def charges(self) -> ChargeRepository: ...

    @property
    def payment_methods(self) -> PaymentMethodRepository: ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back anything not committed."""
        ...

    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = True) -> UnitOfWork:
        """A new unit of work; ``write=False`` for a read-only one that takes no write lock."""
        ...

    def dispose(self) -> None:
        """Release pooled connections."""
        ...


class ReputationSource(Protocol):
    def of(self, account_id: str, role: Role) -> Reputation: ...

    def of_many(self, account_ids: Iterable[str], role: Role) -> dict[str, Reputation]: ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str:
        """A salted, memory-hard hash of ``password``."""
        ...

    def verify(self, password_hash: str, password: str) -> bool: ...


class EventPublisher(Protocol):
    def publish(self, events: Sequence[Event]) -> None:
        """Tell listeners (live pages, schedulers) what happened, after the commit."""
        ...


class PaymentGateway(Protocol):
    """A card processor (B1, B2): the built-in test gateway or a Stripe-compatible one.

    Declines and gateway errors are results (:class:`GatewayCharge`), not exceptions; an unknown
    token or charge id raises NotFound, a bad card at tokenization InvalidInput. A call repeated
    with the same idempotency key returns the first answer and never charges twice; the same key
    with a different request raises Conflict.
    """

    name: str  # "test" or "stripe"

    def tokenize(self, number: str, exp_month: int, exp_year: int, cvc: str) -> StoredCard:
        """Hand the card to the processor and return its token; the number goes no further."""
        ...

    def authorize(
        self, card_token: str, amount: Money, idempotency_key: str, description: str
    ) -> GatewayCharge:
        """Reserve ``amount`` on the card, to be captured later."""
        ...

    def capture(self, charge_id: str, idempotency_key: str) -> GatewayCharge:
        """Take the money an authorization reserved."""
        ...

    def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> GatewayRefund:
        """Give back ``amount`` (at most what was captured and not yet refunded)."""
        ...


class PaymentMethodRepository(Protocol):
    """Recipients' saved cards (tokens, never numbers)."""

    def add(self, method: PaymentMethod) -> None: ...

    def get(self, method_id: str) -> PaymentMethod | None: ...

    def of_account(self, account_id: str) -> list[PaymentMethod]:
        """The account's cards, oldest first."""
        ...

    def default_of(self, account_id: str) -> PaymentMethod | None:
        """The card the account is charged on, if it has one."""
        ...

    def remove(self, method_id: str) -> None: ...

    def set_default(self, account_id: str, method_id: str | None) -> None:
        """Make ``method_id`` the account's only default card (None: no default)."""
        ...
