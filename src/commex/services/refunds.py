"""Refunds of paid charges through the payment gateway (O2): the operator's, fully or in part
and with a reason, and the exchange's own when a group's contract is cancelled for non-payment
(the payers who paid get all of it back).

A flow, so the gateway is never called inside a transaction: the refund is first recorded with
the provider's row locked (so two refunds at once cannot give back more than was taken), then
the gateway is asked under the refund's id as its idempotency key, and the gateway's refund id
is stored; a refusal removes the record again. The refund shows as a negative payout of the
provider, and its event names who gave it back (the operator, or nobody for the exchange) and
why.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from commex.domain.charges import Refund, check_refund, refundable
from commex.domain.errors import CommexError, Conflict, NotFound
from commex.domain.events import ChargeRefunded
from commex.domain.moderation import check_reason
from commex.domain.money import Money
from commex.services import trust_messages as m
from commex.services.bus import MessageBus
from commex.services.loading import check_id
from commex.services.moderation import operator_of
from commex.services.opening import parse_amount

log = logging.getLogger("commex.billing")


def refund_charge(cmd: m.RefundCharge, bus: MessageBus) -> Refund:
    """The operator gives back ``amount`` of a paid charge, saying why."""
    with bus.unit_of_work(write=False) as uow:
        by = operator_of(uow, cmd.by_id, "refund a charge")
    reason = check_reason(cmd.reason)
    return _refund(bus, cmd.charge_id, cmd.amount, reason, by.id)


def give_back(bus: MessageBus, charge_ids: Sequence[str], why: str) -> list[Refund]:
    """The exchange refunds what is left of each charge, in full; a refusal is logged and left
    for the operator (the contract's page shows the charge paid)."""
    done = []
    for charge_id in charge_ids:
        try:
            done.append(_refund(bus, charge_id, None, why, None))
        except CommexError as exc:
            log.warning("could not refund charge %s: %s", charge_id, exc.message)
    return done


def _refund(
    bus: MessageBus, charge_id: str, amount: str | None, reason: str, by_id: str | None
) -> Refund:
    """Record, ask the gateway, complete: ``amount`` None is all that is left."""
    now = bus.clock.now()
    with bus.unit_of_work() as uow:
        charge = uow.charges.get(check_id("charge", charge_id))
        if charge is None:
            raise NotFound(f"charge {charge_id} not found")
        uow.accounts.lock(charge.provider_id)
        earlier = uow.charges.refunds_of([charge.id])
        given: Money = (
            refundable(charge, earlier)
            if amount is None
            else parse_amount(amount, charge.amount.currency)
        )
        check_refund(charge, earlier, given)
        if charge.gateway_charge_id is None:  # pragma: no cover - a paid charge has one
            raise Conflict(f"charge {charge.id} has no gateway charge to refund")
        refund = Refund(
            bus.deps.ids.new("ref"), charge.id, charge.provider_id, given, reason, None, by_id,
            now,
        )  # fmt: skip
        uow.charges.add_refund(refund)
        uow.commit()
    try:
        answer = bus.deps.gateway.refund(charge.gateway_charge_id, given, refund.id)
    except CommexError:
        with bus.unit_of_work() as uow:
            uow.charges.drop_refund(refund.id)
            uow.commit()
        raise
    with bus.unit_of_work() as uow:
        uow.charges.complete_refund(refund.id, answer.refund_id)
        event = ChargeRefunded(
            charge.id, refund.id, charge.payer_id, charge.provider_id, str(given),
            given.currency, by_id, reason, now,
        )  # fmt: skip
        uow.record([event])
        uow.commit()
    return replace(refund, gateway_refund_id=answer.refund_id)
