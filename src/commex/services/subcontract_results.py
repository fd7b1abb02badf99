"""What the subcontract and node-key handlers answer (S10)."""

from __future__ import annotations

from dataclasses import dataclass

from commex.domain.charges import Charge
from commex.domain.money import Money
from commex.domain.nodekeys import NodeKey
from commex.domain.ratings import Rating
from commex.domain.subcontracts import Subcontract
from commex.services.results import Party


@dataclass(frozen=True, slots=True)
class SubcontractLine:
    """A subcontract with both providers as others see them. ``priced`` is False for a viewer
    who may see that a step was subcontracted and to whom, not at which price (the parent
    contract's recipient)."""

    subcontract: Subcontract
    subcontractor: Party
    subcontracting: Party
    priced: bool = True
    rating: Rating | None = None
    charge: Charge | None = None

    @property
    def amount(self) -> Money | None:
        return self.subcontract.amount if self.priced else None


@dataclass(frozen=True, slots=True)
class OpenedSubcontract:
    """A subcontract just opened, and the work token its plane presents to the
    subcontractor's node (shown this once)."""

    line: SubcontractLine
    work_token: str


@dataclass(frozen=True, slots=True)
class MeteredRun:
    """A run's packets as metered under a subcontract; ``repeated`` when the run was reported
    before (and counted once)."""

    line: SubcontractLine
    run_id: str
    packets: int
    repeated: bool


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A node key just issued, with the key itself (shown this once)."""

    key: NodeKey
    secret: str


@dataclass(frozen=True, slots=True)
class NodeCaller:
    """Who a node acts for: its provider, through one of its node keys or its own token."""

    provider_id: str
    key_id: str | None = None
