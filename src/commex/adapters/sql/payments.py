"""Saved cards (B1): one row per gateway token, with brand, last four digits and expiry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, select, update

from commex.adapters.sql import tables as t
from commex.domain.payment_methods import PaymentMethod
from commex.domain.time import from_micros, to_micros

_PM = t.payment_methods


class SqlPaymentMethods:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    @staticmethod
    def _row(r: Row[Any]) -> PaymentMethod:
        return PaymentMethod(
            id=r.id,
            account_id=r.account_id,
            gateway=r.gateway,
            token=r.token,
            brand=r.brand,
            last4=r.last4,
            exp_month=r.exp_month,
            exp_year=r.exp_year,
            is_default=bool(r.is_default),
            created_at=from_micros(r.created_us),
        )

    def add(self, method: PaymentMethod) -> None:
        self._c.execute(
            _PM.insert().values(
                id=method.id,
                account_id=method.account_id,
                gateway=method.gateway,
                token=method.token,
                brand=method.brand,
                last4=method.last4,
                exp_month=method.exp_month,
                exp_year=method.exp_year,
                is_default=method.is_default,
                created_us=to_micros(method.created_at),
            )
        )

    def get(self, method_id: str) -> PaymentMethod | None:
        r = self._c.execute(select(_PM).where(_PM.c.id == method_id)).first()
        return None if r is None else self._row(r)

    def of_account(self, account_id: str) -> list[PaymentMethod]:
        q = select(_PM).where(_PM.c.account_id == account_id).order_by(_PM.c.created_us, _PM.c.id)
        return [self._row(r) for r in self._c.execute(q)]

    def default_of(self, account_id: str) -> PaymentMethod | None:
        q = select(_PM).where(_PM.c.account_id == account_id, _PM.c.is_default.is_(True))
        r = self._c.execute(q.order_by(_PM.c.created_us.desc()).limit(1)).first()
        return None if r is None else self._row(r)

    def remove(self, method_id: str) -> None:
        self._c.execute(_PM.delete().where(_PM.c.id == method_id))

    def set_default(self, account_id: str, method_id: str | None) -> None:
        self._c.execute(
            update(_PM)
            .where(_PM.c.account_id == account_id)
            .values(is_default=_PM.c.id == method_id if method_id is not None else False)
        )
