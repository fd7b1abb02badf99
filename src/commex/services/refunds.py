"""The operator refunds a paid charge, fully or in part, through the payment gateway (O2).

A flow, so the gateway is never called inside a transaction: the refund is first recorded with
the provider's row locked (so two refunds at once cannot give back more than was taken), then
the gateway is asked under the refund's id as its idempotency key, and the gateway's refund id
is stored; a refusal removes the record again. The refund shows as a negative payout of the
provider, and its event names the operator and the reason.
"""

from __future__ import annotations

from commex.domain.charges import Refund, check_refund
from commex.domain.errors import CommexError, Conflict, NotFound
from commex.domain.events import ChargeRefunded
from commex.domain.moderation import check_reason
from commex.services import trust_messages as m
from commex.services.bus import MessageBus
from commex.services.loading import check_id
from commex.services.moderation import operator_of
from commex.services.opening import parse_amount


def refund_charge(cmd: m.RefundCharge, bus: MessageBus) -> Refund:
    now = bus.clock.now()
    with bus.unit_of_work() as uow:
        by = operator_of(uow, cmd.by_id, "refund a charge")
        reason = check_reason(cmd.reason)
        charge = uow.charges.get(check_id("charge", cmd.charge_id))
        if charge is None:
            raise NotFound(f"charge {cmd.charge_id} not found")
        uow.accounts.lock(charge.provider_id)
        amount = parse_amount(cmd.amount, charge.amount.currency)
        check_refund(charge, uow.charges.refunds_of([charge.id]), amount)
        if charge.gateway_charge_id is None:  # pragma: no cover - a paid charge has one
            raise Conflict(f"charge {charge.id} has no gateway charge to refund")
        refund = Refund(
            bus.deps.ids.new("ref"), charge.id, charge.provider_id, amount, reason, None, by.id,
            now,
        )  # fmt: skip
        uow.charges.add_refund(refund)
        uow.commit()
    try:
        answer = bus.deps.gateway.refund(charge.gateway_charge_id, amount, refund.id)
    except CommexError:
        with bus.unit_of_work() as uow:
            uow.charges.drop_refund(refund.id)
            uow.commit()
        raise
    done = Refund(
        refund.id, refund.charge_id, refund.provider_id, refund.amount, refund.reason,
        answer.refund_id, refund.by_id, refund.created_at,
    )  # fmt: skip
    with bus.unit_of_work() as uow:
        uow.charges.complete_refund(refund.id, answer.refund_id)
        uow.record(
            [
                ChargeRefunded(
                    charge.id,
                    refund.id,
                    charge.payer_id,
                    charge.provider_id,
                    str(amount),
                    amount.currency,
                    by.id,
                    reason,
                    now,
                )
            ]
        )
        uow.commit()
    return done
