"""What the charts show: a reputation's months, and a contract's usage and delivered rates."""

from __future__ import annotations

from dataclasses import dataclass

from commex.domain.accounts import Role
from commex.domain.contracts import Contract
from commex.domain.errors import InvalidInput
from commex.domain.series import MonthRatings, month_starts
from commex.domain.service_level import Delivery
from commex.domain.usage import UsageSession
from commex.services.access import access
from commex.services.bus import Deps
from commex.services.loading import account_of
from commex.services.messages import Caller
from commex.services.ports import UnitOfWork
from commex.services.queries import Query

MAX_MONTHS = 36
SESSIONS_SHOWN = 2000
DELIVERIES_SHOWN = 500


@dataclass(frozen=True, slots=True)
class ContractSeries:
    """A contract with its latest usage sessions and deliveries, oldest first."""

    contract: Contract
    sessions: tuple[UsageSession, ...]
    deliveries: tuple[Delivery, ...]


@dataclass(frozen=True, slots=True)
class ReputationHistory(Query[list[MonthRatings]]):
    """The ratings an account received in one role, month by month (the last ``months``)."""

    account_id: str
    role: Role
    months: int = 12


@dataclass(frozen=True, slots=True)
class ShowContractSeries(Query[ContractSeries]):
    """A contract's usage and deliveries over time, to those who may see the contract."""

    contract_id: str
    caller: Caller


def reputation_history(query: ReputationHistory, uow: UnitOfWork, deps: Deps) -> list[MonthRatings]:
    if not 1 <= query.months <= MAX_MONTHS:
        raise InvalidInput(f"months must be 1 to {MAX_MONTHS}", "months")
    account = account_of(uow, query.account_id)
    bounds = month_starts(deps.clock.now(), query.months)
    counts = uow.ratings.monthly(account.id, query.role.value, bounds)
    return [
        MonthRatings(start, good, bad) for start, (good, bad) in zip(bounds, counts, strict=False)
    ]


def contract_series(query: ShowContractSeries, uow: UnitOfWork, deps: Deps) -> ContractSeries:
    contract = access(uow, query.contract_id, query.caller, lock=False).contract
    sessions = uow.contracts.sessions(contract.id, SESSIONS_SHOWN)
    deliveries = uow.contracts.deliveries(contract.id, DELIVERIES_SHOWN)
    ordered = sorted(deliveries, key=lambda d: (d.created_at, d.id))
    return ContractSeries(contract, tuple(sessions), tuple(ordered))
