"""Processing offers: a provider publishes what its nodes do and at what price, and another
provider's packet plane finds subcontractors for a step (S5)."""

from __future__ import annotations

from commex.domain.accounts import Role
from commex.domain.money import Money, check_currency
from commex.domain.offers import make_offer
from commex.services import audit
from commex.services import commands as c
from commex.services import queries as q
from commex.services.bus import Deps, MessageBus
from commex.services.loading import account_of
from commex.services.ports import UnitOfWork
from commex.services.results import OfferLine, party


def publish_offer(cmd: c.PublishOffer, uow: UnitOfWork, deps: Deps) -> OfferLine:
    """Store the provider's offer (its node, steps and price per 1,000 packets), replacing its
    previous one."""
    amount = Money.parse(cmd.price, check_currency(cmd.currency), field="price")
    provider = account_of(uow, cmd.provider_id)
    offer = make_offer(provider, cmd.node_url, list(cmd.capabilities), amount, deps.clock.now())
    uow.offers.put(offer)
    audit.record(
        uow, deps, "offer.published", provider.id, by=provider.id,
        detail={"node_url": offer.node_url, "steps": " ".join(sorted(offer.capabilities)),
                "price": str(amount), "currency": amount.currency},
    )  # fmt: skip
    rep = deps.reputations.of(uow, provider.id, Role.PROVIDER)
    return OfferLine(offer, party(provider, provider.id, Role.PROVIDER, rep))


def publish(cmd: c.PublishOffer, bus: MessageBus) -> OfferLine:
    """A flow: the node must be at a public address (or the operator allows private ones),
    since other providers' planes send it their calls and tokens; its name is resolved before
    the transaction opens, so a slow DNS answer never holds the database's write lock."""
    bus.deps.urls.check(cmd.node_url, "node_url")
    with bus.unit_of_work() as uow:
        line = bus.handle_in(uow, cmd)
        uow.commit()
    return line


def find_processors(query: q.FindProcessors, uow: UnitOfWork, deps: Deps) -> list[OfferLine]:
    """Providers whose nodes offer the step, best provider reputation first (the planes'
    automatic ratings of subcontracted work count in it), then the lower price; each with how
    those checks came out."""
    offers = uow.offers.with_capability(query.capability)
    ids = {o.provider_id for o in offers}
    accounts = uow.accounts.get_many(ids)
    reps = deps.reputations.of_many(uow, ids, Role.PROVIDER)
    paid = uow.charges.settled_counts(ids)
    checks = uow.subcontracts.check_tallies(ids)
    ranked = sorted(
        offers, key=lambda o: (-reps[o.provider_id].lower_bound, o.price.amount, o.provider_id)
    )
    return [
        OfferLine(
            o,
            party(
                accounts.get(o.provider_id), o.provider_id, Role.PROVIDER, reps[o.provider_id], paid
            ),
            checks.get(o.provider_id, (0, 0)),
        )
        for o in ranked
    ]
