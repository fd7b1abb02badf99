"""The one composition root: wires the message bus to its adapters. Nothing else builds these.

:func:`build_exchange` and :func:`in_memory_exchange` give a library user the engine (a
:class:`~commex.services.bus.MessageBus`); :func:`build_services` gives the server, the pages and
the administrator's commands the bus with the live pages' hub subscribed to it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from commex.adapters.bidwriter.client import RemoteBidDesk
from commex.adapters.clock import RandomIds, SystemClock
from commex.adapters.dns import system_resolve
from commex.adapters.events import ChangeHub
from commex.adapters.memory import MemoryUnitOfWorkFactory
from commex.adapters.metrics import ExchangeMetrics
from commex.adapters.passwords import Argon2Hasher
from commex.adapters.payments.testgateway import TestGateway
from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.schema_revision import migrate_if_due
from commex.adapters.sql.uow import SqlUnitOfWorkFactory
from commex.adapters.webhook_http import HttpWebhookTransport
from commex.domain.errors import InvalidInput
from commex.domain.events import (
    AuctionCancelled,
    AuctionClosed,
    BidPlaced,
    CredentialsChanged,
    Notified,
)
from commex.domain.urls import Resolver, UrlPolicy
from commex.services import moderation_audit
from commex.services.bidding import BidDesk
from commex.services.bus import Deps, MessageBus
from commex.services.commands import PlaceBid, ReportUsage
from commex.services.desks import UsageDesk
from commex.services.handlers import FLOWS, HANDLERS, IN_TRANSACTION
from commex.services.ports import (
    Clock,
    IdGenerator,
    PasswordHasher,
    PaymentGateway,
    ReputationSource,
    UnitOfWorkFactory,
)
from commex.services.queries import Authenticate
from commex.services.reputation import TallyReputations
from commex.services.results import PlacedBid
from commex.services.tokens import CachedAuthentication, TokenCache
from commex.services.webhook_sender import WebhookSender
from commex.settings import Settings

if TYPE_CHECKING:  # imported where used: SQLite servers need neither psycopg nor stripe
    from commex.adapters.sql.notify import PgRelay

WRITER_READY_S = 30.0  # how long a worker waits for the bid writer's socket at start


class BidFlow(Protocol):
    """What takes the bus's PlaceBid commands: the bid desk in this process, or the writer
    process's through :class:`~commex.adapters.bidwriter.client.RemoteBidDesk`."""

    def place(self, cmd: PlaceBid, bus: MessageBus | None = None) -> PlacedBid: ...

    def submit_on_loop(self, cmd: PlaceBid) -> asyncio.Future[PlacedBid]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Services:
    """What the server, the pages and the administrator's commands use, built once: the bus,
    the hub that wakes live pages, the settings, and the sender of webhook deliveries (which
    the server starts)."""

    bus: MessageBus
    hub: ChangeHub
    settings: Settings
    tokens: TokenCache
    webhooks: WebhookSender
    relay: PgRelay | None = None  # on PostgreSQL: live pages follow every server's changes

    @property
    def clock(self) -> Clock:
        return self.bus.clock

    @property
    def gateway_name(self) -> str:
        return self.bus.deps.gateway.name

    def shutdown(self) -> None:
        self.webhooks.stop()
        if self.relay is not None:
            self.relay.stop()
        self.bus.dispose()


def make_bus(
    uow: UnitOfWorkFactory,
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    reputations: ReputationSource | None = None,
    hasher: PasswordHasher | None = None,
    gateway: PaymentGateway | None = None,
    urls: UrlPolicy | None = None,
    tokens: TokenCache | None = None,
    bids: Callable[[MessageBus], BidFlow] | None = None,
) -> MessageBus:
    """The bus over ``uow``: every handler, the bid desk (``bids`` makes it otherwise), and
    the system's clock, random ids, reputations from the tallies, argon2, the built-in test
    gateway, public URLs only (with the system's resolver) and a token cache of its own unless
    told otherwise."""
    clock = clock or SystemClock()
    deps = Deps(
        clock=clock,
        ids=ids or RandomIds(),
        reputations=reputations or TallyReputations(clock),
        hasher=hasher or Argon2Hasher(),
        gateway=gateway or TestGateway(clock),
        urls=urls or UrlPolicy(allow_private=False, resolve=system_resolve),
    )
    bus = MessageBus(uow, deps, HANDLERS, FLOWS, in_transaction=IN_TRANSACTION)
    desk = bids(bus) if bids is not None else BidDesk(bus, monotonic=time.monotonic)
    submit = desk.submit if isinstance(desk, BidDesk) else None
    bus.add_flow(
        PlaceBid, desk.place, submit=submit, submit_on_loop=desk.submit_on_loop, close=desk.close
    )
    usage = UsageDesk(bus)
    bus.add_flow(ReportUsage, usage.handle, submit=usage.submit, close=usage.close)
    tokens = tokens or TokenCache(time.monotonic)
    bus.add_flow(Authenticate, CachedAuthentication(tokens))
    bus.subscribe(CredentialsChanged, tokens.on_events)
    bus.on_record(moderation_audit.write)
    return bus


def build_exchange(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    reputations: ReputationSource | None = None,
    hasher: PasswordHasher | None = None,
    gateway: PaymentGateway | None = None,
    migrate: bool = True,
    resolve: Resolver | None = None,
    tokens: TokenCache | None = None,
    bids: Callable[[MessageBus], BidFlow] | None = None,
) -> MessageBus:
    """The engine on the configured database (SQLite by default), migrated to the newest
    schema; the payment gateway is ``COMMEX_PAYMENT_GATEWAY``'s unless given, and ``resolve``
    looks up the hosts of node URLs (the system's resolver unless given). A worker of
    ``commex serve --workers N`` on SQLite (``settings.bid_writer``) hands its bids to the
    writer process, once its socket answers (within :data:`WRITER_READY_S`)."""
    settings = settings or Settings.from_env()
    if bids is None and settings.bid_writer is not None:
        bids = _remote_bids(settings)
    engine = make_engine(settings.url())
    if migrate:
        try:
            migrate_if_due(engine)
        except BaseException:
            engine.dispose()  # a refused start leaves no connection open
            raise
    gateway = gateway or make_gateway(settings, clock)
    return make_bus(
        SqlUnitOfWorkFactory(engine),
        clock=clock,
        ids=ids,
        reputations=reputations,
        hasher=hasher,
        gateway=gateway,
        urls=UrlPolicy(settings.allow_private_urls, resolve or system_resolve),
        tokens=tokens,
        bids=bids,
    )


def _remote_bids(settings: Settings) -> Callable[[MessageBus], BidFlow]:
    assert settings.bid_writer is not None and settings.bid_writer_secret is not None
    desk = RemoteBidDesk(settings.bid_writer, settings.bid_writer_secret.encode())
    desk.wait_ready(WRITER_READY_S)
    return lambda _bus: desk


def build_bid_writer(settings: Settings) -> tuple[MessageBus, BidDesk]:
    """The bus and the bid desk of the bid writer process (``commex serve --workers N`` on
    SQLite): the one desk that writes the bids every worker receives. The schema is already
    migrated by the server."""
    made: list[BidDesk] = []

    def local(bus: MessageBus) -> BidDesk:
        made.append(BidDesk(bus, monotonic=time.monotonic))
        return made[0]

    own = replace(settings, bid_writer=None, bid_writer_secret=None)
    bus = build_exchange(own, migrate=False, bids=local)
    return bus, made[0]


def in_memory_exchange(
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    reputations: ReputationSource | None = None,
    hasher: PasswordHasher | None = None,
    gateway: PaymentGateway | None = None,
    resolve: Resolver | None = None,
    tokens: TokenCache | None = None,
) -> MessageBus:
    """The engine held in memory: for tests, experiments and library users without a
    database."""
    return make_bus(
        MemoryUnitOfWorkFactory(),
        clock=clock,
        ids=ids,
        reputations=reputations,
        hasher=hasher,
        gateway=gateway,
        urls=UrlPolicy(allow_private=False, resolve=resolve or system_resolve),
        tokens=tokens,
    )


def build_services(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    reputations: ReputationSource | None = None,
    hasher: PasswordHasher | None = None,
    migrate: bool = True,
    gateway: PaymentGateway | None = None,
    resolve: Resolver | None = None,
) -> Services:
    """The services on the configured database (SQLite by default), migrated to the newest
    schema. ``resolve`` looks up node hosts (the system's resolver unless given)."""
    settings = settings or Settings.from_env()
    tokens = TokenCache(time.monotonic)
    bus = build_exchange(
        settings,
        clock=clock,
        ids=ids,
        reputations=reputations,
        hasher=hasher,
        gateway=gateway,
        migrate=migrate,
        resolve=resolve,
        tokens=tokens,
    )
    return _with_hub(bus, settings, tokens)


def in_memory_services(
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    reputations: ReputationSource | None = None,
    hasher: PasswordHasher | None = None,
    gateway: PaymentGateway | None = None,
    resolve: Resolver | None = None,
) -> Services:
    """The services held in memory: for tests and experiments without a database."""
    tokens = TokenCache(time.monotonic)
    bus = in_memory_exchange(
        clock=clock,
        ids=ids,
        reputations=reputations,
        hasher=hasher,
        gateway=gateway,
        resolve=resolve,
        tokens=tokens,
    )
    return _with_hub(bus, Settings.from_env({}), tokens)


def _with_hub(bus: MessageBus, settings: Settings, tokens: TokenCache) -> Services:
    """Live pages wake when a bid, a close or a cancel is committed, and badges when notices
    are; on PostgreSQL, in every process on the database (the server starts the relay's
    listener). The webhook sender looks for deliveries as soon as notices are committed. The
    server's figures count what the bus handles."""
    hub = ChangeHub()
    for event in (BidPlaced, AuctionClosed, AuctionCancelled, Notified):
        bus.subscribe(event, hub.publish)
    ExchangeMetrics().install(bus)
    url = settings.url()
    relay = None
    if url.startswith("postgresql"):
        from commex.adapters.sql.notify import PgRelay  # noqa: PLC0415

        relay = PgRelay(url, hub)
    sender = WebhookSender(bus, HttpWebhookTransport())
    bus.subscribe(Notified, lambda _events: sender.wake())
    return Services(bus, hub, settings, tokens, sender, relay)


def make_gateway(settings: Settings, clock: Clock | None = None) -> PaymentGateway:
    """The payment gateway ``COMMEX_PAYMENT_GATEWAY`` names: the built-in test gateway, or
    Stripe (or a Stripe-compatible server at ``COMMEX_STRIPE_API_BASE``)."""
    if settings.payment_gateway == "stripe":
        if not settings.stripe_api_key:
            raise InvalidInput(
                "the stripe payment gateway needs COMMEX_STRIPE_API_KEY",
                field="COMMEX_STRIPE_API_KEY",
            )
        from commex.adapters.payments.stripe_gateway import StripeGateway  # noqa: PLC0415

        return StripeGateway(settings.stripe_api_key, settings.stripe_api_base, clock=clock)
    return TestGateway(clock)
