"""Commands and queries of subcontracting (S10): opening a subcontract, metering its packets,
closing it with the plane's check, the node's check of work offered to it, and node keys. Kept
beside :mod:`commex.services.commands` and :mod:`commex.services.queries`, which they follow
in every way, so that each module stays one reading long."""

from __future__ import annotations

from dataclasses import dataclass

from commex.domain.nodekeys import NodeKey
from commex.domain.paging import DEFAULT_LIMIT, Key, Page
from commex.services.messages import Caller, Command
from commex.services.queries import Query
from commex.services.subcontract_results import (
    IssuedKey,
    MeteredRun,
    NodeCaller,
    OpenedSubcontract,
    SubcontractLine,
)

# -- commands ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenSubcontract(Command[OpenedSubcontract]):
    """The parent contract's provider awards ``step`` to another provider's offer at once."""

    parent_contract_id: str
    provider_id: str  # the subcontracting provider (the caller)
    subcontractor_id: str
    step: str


@dataclass(frozen=True, slots=True)
class MeterPackets(Command[MeteredRun]):
    """The subcontractor's node reports a run's packets, once per ``run_id``."""

    subcontract_id: str
    node: NodeCaller
    run_id: str
    packets: int


@dataclass(frozen=True, slots=True)
class CloseSubcontract(Command[SubcontractLine]):
    """The subcontracting plane closes the subcontract with its check's outcome and the
    packets it sent under it (``sent``): the subcontractor is rated by it and the fewer of
    the packets metered and those sent are charged."""

    subcontract_id: str
    provider_id: str
    outcome: str
    detail: str | None = None
    sent: object = None


@dataclass(frozen=True, slots=True)
class IssueNodeKey(Command[IssuedKey]):
    """A new key for one of the provider's nodes (shown once)."""

    provider_id: str
    name: str


@dataclass(frozen=True, slots=True)
class RevokeNodeKey(Command[NodeKey]):
    """The provider revokes one of its node keys."""

    provider_id: str
    key_id: str


# -- queries -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthenticateNode(Query[NodeCaller]):
    """Who a node key (``cxn_...``) or a provider's own token acts for."""

    token: str


@dataclass(frozen=True, slots=True)
class CheckWork(Query[SubcontractLine]):
    """A node asks whether work offered under a subcontract, with its work token, is for its
    provider and may be done now."""

    subcontract_id: str
    node: NodeCaller
    work_token: str


@dataclass(frozen=True, slots=True)
class ShowSubcontract(Query[SubcontractLine]):
    """A subcontract, to its two providers and the operator."""

    subcontract_id: str
    viewer_id: str


@dataclass(frozen=True, slots=True)
class MySubcontracts(Query[Page[SubcontractLine]]):
    """A page of the viewer's subcontracts on either side, newest first, after the key of the
    page before (``after``)."""

    viewer_id: str
    limit: int = DEFAULT_LIMIT
    after: Key | None = None


@dataclass(frozen=True, slots=True)
class ParentSubcontracts(Query[Page[SubcontractLine]]):
    """A page of a contract's own subcontracts (the steps its provider gave to others), oldest
    first, to whoever may see the contract: with prices for its provider and the operator."""

    contract_id: str
    caller: Caller
    limit: int = DEFAULT_LIMIT
    after: Key | None = None


@dataclass(frozen=True, slots=True)
class NodeKeys(Query[list[NodeKey]]):
    """The provider's node keys, revoked ones too."""

    provider_id: str
