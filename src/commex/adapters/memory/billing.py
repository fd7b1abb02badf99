"""In-memory charges with their payouts, and saved cards."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from commex.domain.charges import Charge, ChargeStatus, Payout, Refund
from commex.domain.contracts import Contract, ContractStatus
from commex.domain.payment_methods import PaymentMethod
from commex.services.ports.billing import charged_already

if TYPE_CHECKING:
    from commex.adapters.memory.store import MemoryStore


class MemoryCharges:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add_many(self, charges: Sequence[Charge]) -> None:
        for c in charges:
            if any(
                o.contract_id == c.contract_id and o.payer_id == c.payer_id
                for o in self._s.charges.values()
            ):
                raise charged_already(c)
            self._s.charges[c.id] = c

    def get(self, charge_id: str) -> Charge | None:
        return self._s.charges.get(charge_id)

    def swap(self, old: Charge, new: Charge) -> bool:
        stored = self._s.charges.get(old.id)
        if stored is None or stored.version != old.version:
            return False
        self._s.charges[old.id] = replace(new, version=old.version + 1)
        return True

    def for_contract(self, contract_id: str) -> list[Charge]:
        found = [c for c in self._s.charges.values() if c.contract_id == contract_id]
        return sorted(found, key=lambda c: (c.created_at, c.id))

    def of_payer(self, payer_id: str, limit: int) -> list[Charge]:
        found = [c for c in self._s.charges.values() if c.payer_id == payer_id]
        return sorted(found, key=lambda c: (c.created_at, c.id), reverse=True)[:limit]

    def uncharged_contracts(self, limit: int) -> list[Contract]:
        charged = {c.contract_id for c in self._s.charges.values()}
        open_ = (ContractStatus.AWARDED, ContractStatus.ACTIVE)
        found = [
            c
            for c in self._s.contracts.values()
            if c.status in open_ and c.id not in charged and not c.is_subcontract
        ]
        return sorted(found, key=lambda c: (c.created_at, c.id))[:limit]

    def due(self, now: datetime, limit: int) -> list[str]:
        out = []
        for c in self._s.charges.values():
            if c.status is not ChargeStatus.PENDING:
                continue
            if c.claimed_until is not None:
                ready = c.claimed_until <= now
            else:
                ready = c.next_attempt_at <= now or self._card_not_tried(c)
            if ready:
                out.append(c)
        out.sort(key=lambda c: (c.next_attempt_at, c.id))
        return [c.id for c in out[:limit]]

    def _card_not_tried(self, charge: Charge) -> bool:
        if charge.attempts == 0:
            return False
        return any(
            m.account_id == charge.payer_id and m.is_default and m.id != charge.last_card_id
            for m in self._s.payment_methods.values()
        )

    def add_payout(self, payout: Payout) -> None:
        self._s.payouts[payout.id] = payout

    def payouts_for_contract(self, contract_id: str) -> list[Payout]:
        ids = {c.id for c in self._s.charges.values() if c.contract_id == contract_id}
        found = [p for p in self._s.payouts.values() if p.charge_id in ids]
        return sorted(found, key=lambda p: (p.created_at, p.id))

    def settled_count(self, account_id: str) -> int:
        return sum(
            1
            for c in self._s.charges.values()
            if c.status is ChargeStatus.SUCCEEDED and account_id in (c.payer_id, c.provider_id)
        )

    def settled_counts(self, account_ids: Collection[str]) -> dict[str, int]:
        return {i: self.settled_count(i) for i in set(account_ids)}

    def add_refund(self, refund: Refund) -> None:
        self._s.refunds[refund.id] = refund

    def complete_refund(self, refund_id: str, gateway_refund_id: str) -> None:
        found = self._s.refunds[refund_id]
        self._s.refunds[refund_id] = replace(found, gateway_refund_id=gateway_refund_id)

    def drop_refund(self, refund_id: str) -> None:
        self._s.refunds.pop(refund_id, None)

    def refunds_of(self, charge_ids: Sequence[str]) -> list[Refund]:
        wanted = set(charge_ids)
        found = [r for r in self._s.refunds.values() if r.charge_id in wanted]
        return sorted(found, key=lambda r: (r.created_at, r.id))


class MemoryPaymentMethods:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add(self, method: PaymentMethod) -> None:
        self._s.payment_methods[method.id] = method

    def get(self, method_id: str) -> PaymentMethod | None:
        return self._s.payment_methods.get(method_id)

    def of_account(self, account_id: str) -> list[PaymentMethod]:
        found = [m for m in self._s.payment_methods.values() if m.account_id == account_id]
        return sorted(found, key=lambda m: (m.created_at, m.id))

    def default_of(self, account_id: str) -> PaymentMethod | None:
        return next((m for m in self.of_account(account_id) if m.is_default), None)

    def remove(self, method_id: str) -> None:
        self._s.payment_methods.pop(method_id, None)

    def set_default(self, account_id: str, method_id: str | None) -> None:
        for m in self.of_account(account_id):
            self._s.payment_methods[m.id] = replace(m, is_default=m.id == method_id)
