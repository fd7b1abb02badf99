"""Subcontracts between providers under ``/v1`` (S10), and the keys providers' nodes use.

The subcontracting provider opens a subcontract (an instant award of the chosen offer) and
closes it with its plane's check. The subcontractor's node, with one of its provider's node
keys (or the provider's own token), checks the work it is offered and meters its packets.
A subcontract is visible to its two providers and nobody else.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from commex.api import paging
from commex.api.deps import AnyCallerDep, BusDep, CallerDep, bearer
from commex.api.paging import CursorQuery, LimitQuery
from commex.api.schemas import NodeKeyIn, OutcomeIn, PacketsIn, SubcontractIn, WorkCheckIn
from commex.api.wire import contracts as contract_wire
from commex.api.wire import subcontracts as wire
from commex.bootstrap import Services
from commex.domain.errors import Unauthenticated
from commex.services import subcontract_messages as m
from commex.services.subcontract_results import NodeCaller

router = APIRouter(prefix="/v1", tags=["subcontracts"])


def node_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> NodeCaller:
    """The provider a node acts for: a node key (``cxn_...``) or the provider's own token."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("send Authorization: Bearer <node key>")
    services = cast(Services, request.app.state.services)
    return services.bus.handle(m.AuthenticateNode(credentials.credentials))


NodeDep = Annotated[NodeCaller, Depends(node_caller)]


@router.post("/subcontracts", status_code=201)
def open_subcontract(body: SubcontractIn, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """The parent contract's provider awards a step to another provider's offer at once, at
    its price per 1,000 packets. Refused for a provider of the same owner, one outside the
    recipient's approved providers, a step the contract does not ask for, or a caller with no
    saved card. The answer's ``work_token`` (shown this once) goes with the work to the node."""
    cmd = m.OpenSubcontract(body.parent_contract_id, who.id, body.provider_id, body.step)
    return wire.opened(bus.handle(cmd))


@router.get("/subcontracts")
def my_subcontracts(
    who: CallerDep, bus: BusDep, limit: LimitQuery = paging.DEFAULT, cursor: CursorQuery = None
) -> dict[str, Any]:
    """The caller's subcontracts, as subcontracting provider or subcontractor, newest first."""
    after = paging.decode("subcontracts", cursor)
    found = bus.handle(m.MySubcontracts(who.id, limit, after))
    rows = [wire.subcontract(x) for x in found.items]
    return paging.answer("subcontracts", rows, found.next_key)


@router.get("/contracts/{contract_id}/subcontracts")
def parent_subcontracts(
    contract_id: str,
    who: AnyCallerDep,
    bus: BusDep,
    limit: LimitQuery = paging.DEFAULT,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """The contract's own subcontracts (the steps its provider gave to other providers), oldest
    first, to whoever may see the contract; prices only for its provider and the operator."""
    after = paging.decode(contract_wire.SUBCONTRACTS_OF, cursor)
    found = bus.handle(m.ParentSubcontracts(contract_id, who.caller, limit, after))
    rows = [wire.subcontract(x) for x in found.items]
    return paging.answer(contract_wire.SUBCONTRACTS_OF, rows, found.next_key)


@router.get("/subcontracts/{subcontract_id}")
def get_subcontract(subcontract_id: str, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """A subcontract, to its two providers and the operator."""
    return wire.subcontract(bus.handle(m.ShowSubcontract(subcontract_id, who.id)))


@router.post("/subcontracts/{subcontract_id}/outcome")
def close_subcontract(
    subcontract_id: str, body: OutcomeIn, who: CallerDep, bus: BusDep
) -> dict[str, Any]:
    """The subcontracting plane closes the subcontract with its check: ``passed`` rates the
    subcontractor positively; ``failed_check``, ``dead_node`` and ``late`` negatively.
    ``packets`` is how many the plane sent under it: the fewer of those and the packets
    metered are charged to the caller's card (nothing after a failed check). Closing again
    the same way is answered the same."""
    cmd = m.CloseSubcontract(subcontract_id, who.id, body.outcome, body.detail, body.packets)
    return wire.subcontract(bus.handle(cmd))


@router.post("/subcontracts/{subcontract_id}/work-check", tags=["nodes"])
def check_work(
    subcontract_id: str, body: WorkCheckIn, node: NodeDep, bus: BusDep
) -> dict[str, Any]:
    """A node asks whether work offered under this subcontract is for its provider: 200 when
    the subcontract names it, is open, and the work token is the plane's; otherwise 404 (not
    its provider's), 403 (another token) or 409 (closed)."""
    return wire.subcontract(bus.handle(m.CheckWork(subcontract_id, node, body.work_token)))


@router.post("/subcontracts/{subcontract_id}/packets", status_code=201, tags=["nodes"])
def meter_packets(
    subcontract_id: str, body: PacketsIn, node: NodeDep, bus: BusDep
) -> dict[str, Any]:
    """The subcontractor's node reports a run's packets; a repeat of the same ``run_id`` is
    counted once and answered the same."""
    cmd = m.MeterPackets(subcontract_id, node, body.run_id, body.packets)
    return wire.metered(bus.handle(cmd))


@router.post("/providers/me/node-keys", status_code=201, tags=["nodes"])
def issue_node_key(body: NodeKeyIn, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """A key for one of the caller's nodes; the ``key`` in the answer is shown this once."""
    return wire.issued_key(bus.handle(m.IssueNodeKey(who.id, body.name)))


@router.get("/providers/me/node-keys", tags=["nodes"])
def list_node_keys(
    who: CallerDep, bus: BusDep, limit: LimitQuery = paging.DEFAULT, cursor: CursorQuery = None
) -> dict[str, Any]:
    """The caller's node keys (never the keys themselves), revoked ones too, newest first."""
    keys = bus.handle(m.NodeKeys(who.id))
    key = lambda k: (k.created_at.isoformat(), k.id)  # noqa: E731
    found = paging.page("node-keys", keys, key, limit, cursor, descending=True)
    return paging.answer("node-keys", [wire.node_key(k) for k in found.items], found.next_key)


@router.delete("/providers/me/node-keys/{key_id}", tags=["nodes"])
def revoke_node_key(key_id: str, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """Revoke one of the caller's node keys: it authenticates nothing from now on."""
    return wire.node_key(bus.handle(m.RevokeNodeKey(who.id, key_id)))
