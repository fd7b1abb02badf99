"""The one composition root: wires the engine to its adapters. Nothing else builds these."""

from __future__ import annotations

from dataclasses import dataclass

from commex.adapters.clock import RandomIds, SystemClock
from commex.adapters.dns import system_resolve
from commex.adapters.events import ChangeHub
from commex.adapters.memory import MemoryUnitOfWorkFactory
from commex.adapters.passwords import Argon2Hasher
from commex.adapters.payments.stripe_gateway import StripeGateway
from commex.adapters.payments.testgateway import TestGateway
from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.migrate import upgrade
from commex.adapters.sql.uow import SqlUnitOfWorkFactory
from commex.domain.errors import InvalidInput
from commex.domain.urls import Resolver, UrlPolicy
from commex.services.auth import Auth
from commex.services.billing import Billing
from commex.services.exchange import Exchange
from commex.services.groups import Groups
from commex.services.payments import PaymentMethods
from commex.services.ports import (
    Clock,
    EventPublisher,
    IdGenerator,
    PasswordHasher,
    PaymentGateway,
    ReputationSource,
    UnitOfWorkFactory,
)
from commex.services.ratings import Ratings
from commex.services.reputation import TallyReputations
from commex.services.usage import Usage
from commex.settings import Settings


@dataclass(frozen=True)
class Services:
    """Everything the server, pages and command line use, built once."""

    exchange: Exchange
    auth: Auth
    ratings: Ratings
    hub: ChangeHub
    settings: Settings
    usage: Usage
    groups: Groups
    billing: Billing
    gateway: PaymentGateway
    payments: PaymentMethods

    def shutdown(self) -> None:
        self.exchange.shutdown()


def _services(
    uow: UnitOfWorkFactory,
    settings: Settings,
    clock: Clock | None,
    ids: IdGenerator | None,
    reputations: ReputationSource | None,
    hasher: PasswordHasher | None,
    gateway: PaymentGateway | None = None,
    resolve: Resolver | None = None,
) -> Services:
    clock = clock or SystemClock()
    ids = ids or RandomIds()
    hub = ChangeHub()
    reputations = reputations or TallyReputations(uow, clock)
    urls = UrlPolicy(settings.allow_private_urls, resolve or system_resolve)
    exchange = Exchange(uow, clock, ids, reputations, hub, urls)
    auth = Auth(exchange, uow, clock, hasher or Argon2Hasher())
    groups = Groups(uow, clock, ids, exchange, reputations)
    gateway = gateway or TestGateway(clock)
    billing = Billing(uow, clock, ids, gateway)
    ratings = Ratings(uow, clock, ids)
    payments = PaymentMethods(uow, clock, ids, gateway)
    return Services(
        exchange,
        auth,
        ratings,
        hub,
        settings,
        Usage(uow, clock, ids),
        groups,
        billing,
        gateway,
        payments,
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
    engine = make_engine(settings.url())
    if migrate:
        upgrade(engine)
    uow = SqlUnitOfWorkFactory(engine)
    gateway = gateway or make_gateway(settings, clock)
    return _services(uow, settings, clock, ids, reputations, hasher, gateway, resolve)


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
    settings = Settings.from_env({})
    uow = MemoryUnitOfWorkFactory()
    return _services(uow, settings, clock, ids, reputations, hasher, gateway, resolve)


def build_exchange(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    reputations: ReputationSource | None = None,
    events: EventPublisher | None = None,
    migrate: bool = True,
) -> Exchange:
    """An exchange on the configured database (SQLite by default), migrated to the newest schema."""
    settings = settings or Settings.from_env()
    engine = make_engine(settings.url())
    if migrate:
        upgrade(engine)
    uow = SqlUnitOfWorkFactory(engine)
    clock = clock or SystemClock()
    reputations = reputations or TallyReputations(uow, clock)
    urls = UrlPolicy(settings.allow_private_urls, system_resolve)
    return Exchange(uow, clock, ids or RandomIds(), reputations, events, urls)


def in_memory_exchange(
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    reputations: ReputationSource | None = None,
) -> Exchange:
    """An exchange held in memory: for tests, experiments and library users without a database."""
    uow = MemoryUnitOfWorkFactory()
    clock = clock or SystemClock()
    reputations = reputations or TallyReputations(uow, clock)
    return Exchange(
        uow, clock, ids or RandomIds(), reputations, urls=UrlPolicy(False, system_resolve)
    )


def make_gateway(settings: Settings, clock: Clock | None = None) -> PaymentGateway:
    """The payment gateway ``COMMEX_PAYMENT_GATEWAY`` names: the built-in test gateway, or
    Stripe (or a Stripe-compatible server at ``COMMEX_STRIPE_API_BASE``)."""
    if settings.payment_gateway == "stripe":
        if not settings.stripe_api_key:
            raise InvalidInput(
                "the stripe payment gateway needs COMMEX_STRIPE_API_KEY",
                field="COMMEX_STRIPE_API_KEY",
            )
        return StripeGateway(settings.stripe_api_key, settings.stripe_api_base, clock=clock)
    return TestGateway(clock)
