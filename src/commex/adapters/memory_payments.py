"""In-memory saved cards, over the ``payment_methods`` table of
:class:`commex.adapters.memory.MemoryStore` (kept apart from it so each module stays one
concern). The unit of work holds the store's lock."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from commex.domain.payment_methods import PaymentMethod

if TYPE_CHECKING:
    from commex.adapters.memory import MemoryStore


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
