"""Charges of contracts and providers' payouts. A charge's attempt is claimed, and its outcome
stored, by a conditional update on its version, so two processes never both own an attempt."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, exists, func, or_, select, update

from commex.adapters.sql import tables as t
from commex.adapters.sql import trust_tables as tt
from commex.adapters.sql.conflicts import execute_unique
from commex.adapters.sql.contracts import _contract as contract_of_row
from commex.domain.charges import Charge, ChargeStatus, Payout, Refund
from commex.domain.contracts import Contract
from commex.domain.money import Money
from commex.domain.time import from_micros, to_micros
from commex.services.ports.billing import charged_already


def _opt_us(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def _opt_time(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def _charge(r: Row[Any]) -> Charge:
    return Charge(
        id=r.id,
        contract_id=r.contract_id,
        payer_id=r.payer_id,
        provider_id=r.provider_id,
        amount=Money.from_minor(r.amount_minor, r.currency),
        status=ChargeStatus(r.status),
        created_at=from_micros(r.created_us),
        next_attempt_at=from_micros(r.next_attempt_us),
        group_id=r.group_id,
        attempts=r.attempts,
        declines=r.declines,
        errors=r.errors,
        claimed_until=_opt_time(r.claimed_until_us),
        last_attempt_at=_opt_time(r.last_attempt_us),
        gateway_charge_id=r.gateway_charge_id,
        decline_code=r.decline_code,
        message=r.message,
        retry_key=r.retry_key,
        last_card_id=r.last_card_id,
        last_error=bool(r.last_error),
        version=r.version,
    )


def _state(c: Charge) -> dict[str, Any]:
    """The columns an attempt changes."""
    return {
        "status": c.status.value,
        "attempts": c.attempts,
        "declines": c.declines,
        "errors": c.errors,
        "next_attempt_us": to_micros(c.next_attempt_at),
        "claimed_until_us": _opt_us(c.claimed_until),
        "last_attempt_us": _opt_us(c.last_attempt_at),
        "gateway_charge_id": c.gateway_charge_id,
        "decline_code": c.decline_code,
        "message": None if c.message is None else c.message[:300],
        "retry_key": c.retry_key,
        "last_card_id": c.last_card_id,
        "last_error": c.last_error,
    }


class SqlCharges:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add_many(self, charges: Sequence[Charge]) -> None:
        for c in charges:  # one at a time, so a refusal names the payer charged already
            values = {
                "id": c.id,
                "contract_id": c.contract_id,
                "payer_id": c.payer_id,
                "provider_id": c.provider_id,
                "group_id": c.group_id,
                "amount_minor": c.amount.to_minor(),
                "currency": c.amount.currency,
                "created_us": to_micros(c.created_at),
                "version": c.version,
                **_state(c),
            }
            execute_unique(self._c, t.charges.insert(), values, "payer_id", charged_already(c))

    def get(self, charge_id: str) -> Charge | None:
        r = self._c.execute(select(t.charges).where(t.charges.c.id == charge_id)).first()
        return None if r is None else _charge(r)

    def swap(self, old: Charge, new: Charge) -> bool:
        c = t.charges.c
        done = self._c.execute(
            update(t.charges)
            .where(and_(c.id == old.id, c.version == old.version))
            .values(version=old.version + 1, **_state(new))
        )
        return done.rowcount == 1

    def for_contract(self, contract_id: str) -> list[Charge]:
        c = t.charges.c
        q = select(t.charges).where(c.contract_id == contract_id).order_by(c.created_us, c.id)
        return [_charge(r) for r in self._c.execute(q)]

    def of_payer(self, payer_id: str, limit: int) -> list[Charge]:
        c = t.charges.c
        q = select(t.charges).where(c.payer_id == payer_id)
        return [
            _charge(r)
            for r in self._c.execute(q.order_by(c.created_us.desc(), c.id.desc()).limit(limit))
        ]

    def uncharged_contracts(self, limit: int) -> list[Contract]:
        k, c = t.contracts.c, t.charges.c
        charged = exists().where(c.contract_id == k.id)
        q = (
            select(t.contracts)
            .where(and_(k.status.in_(("awarded", "active")), k.kind == "auction", ~charged))
            .order_by(k.created_us, k.id)
            .limit(limit)
        )
        return [contract_of_row(r) for r in self._c.execute(q)]

    def due(self, now: datetime, limit: int) -> list[str]:
        c = t.charges.c
        at = to_micros(now)
        unclaimed = c.claimed_until_us.is_(None)
        ready = or_(
            and_(unclaimed, c.next_attempt_us <= at),
            c.claimed_until_us <= at,
            and_(unclaimed, c.attempts > 0, self._card_not_tried()),
        )
        q = (
            select(c.id)
            .where(and_(c.status == ChargeStatus.PENDING.value, ready))
            .order_by(c.next_attempt_us, c.id)
            .limit(limit)
        )
        return [r.id for r in self._c.execute(q)]

    def _card_not_tried(self) -> Any:
        """The payer's default card is not the one the last attempt tried (a card saved or made
        the default since): it is tried at once."""
        c, p = t.charges.c, t.payment_methods.c
        other = or_(c.last_card_id.is_(None), p.id != c.last_card_id)
        return exists().where(and_(p.account_id == c.payer_id, p.is_default, other))

    def add_payout(self, payout: Payout) -> None:
        self._c.execute(
            t.payouts.insert().values(
                id=payout.id,
                charge_id=payout.charge_id,
                provider_id=payout.provider_id,
                amount_minor=payout.amount.to_minor(),
                currency=payout.amount.currency,
                created_us=to_micros(payout.created_at),
            )
        )

    def payouts_for_contract(self, contract_id: str) -> list[Payout]:
        p, c = t.payouts.c, t.charges.c
        q = (
            select(t.payouts)
            .join(t.charges, c.id == p.charge_id)
            .where(c.contract_id == contract_id)
            .order_by(p.created_us, p.id)
        )
        return [
            Payout(
                r.id,
                r.charge_id,
                r.provider_id,
                Money.from_minor(r.amount_minor, r.currency),
                from_micros(r.created_us),
            )
            for r in self._c.execute(q)
        ]

    def settled_count(self, account_id: str) -> int:
        c = t.charges.c
        q = select(func.count()).where(
            c.status == ChargeStatus.SUCCEEDED.value,
            or_(c.payer_id == account_id, c.provider_id == account_id),
        )
        return int(self._c.execute(q).scalar_one())

    def settled_counts(self, account_ids: Collection[str]) -> dict[str, int]:
        ids = sorted(set(account_ids))
        counts: dict[str, int] = {}
        if not ids:
            return counts
        c = t.charges.c
        for side in (c.payer_id, c.provider_id):
            q = (
                select(side, func.count())
                .where(c.status == ChargeStatus.SUCCEEDED.value, side.in_(ids))
                .group_by(side)
            )
            for account_id, n in self._c.execute(q):
                counts[account_id] = counts.get(account_id, 0) + int(n)
        return counts

    def add_refund(self, refund: Refund) -> None:
        self._c.execute(
            tt.refunds.insert().values(
                id=refund.id,
                charge_id=refund.charge_id,
                provider_id=refund.provider_id,
                amount_minor=refund.amount.to_minor(),
                currency=refund.amount.currency,
                reason=refund.reason,
                gateway_refund_id=refund.gateway_refund_id,
                by_id=refund.by_id,
                created_us=to_micros(refund.created_at),
            )
        )

    def complete_refund(self, refund_id: str, gateway_refund_id: str) -> None:
        q = update(tt.refunds).where(tt.refunds.c.id == refund_id)
        self._c.execute(q.values(gateway_refund_id=gateway_refund_id))

    def drop_refund(self, refund_id: str) -> None:
        self._c.execute(tt.refunds.delete().where(tt.refunds.c.id == refund_id))

    def refunds_of(self, charge_ids: Sequence[str]) -> list[Refund]:
        if not charge_ids:
            return []
        r = tt.refunds.c
        q = select(tt.refunds).where(r.charge_id.in_(list(charge_ids))).order_by(r.created_us, r.id)
        return [
            Refund(
                x.id,
                x.charge_id,
                x.provider_id,
                Money.from_stored(x.amount_minor, x.currency),
                x.reason,
                x.gateway_refund_id,
                x.by_id,
                from_micros(x.created_us),
            )
            for x in self._c.execute(q)
        ]
