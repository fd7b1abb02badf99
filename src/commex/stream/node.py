"""The processing node: a provider's steps served over HTTP to its own provider's plane (with
the provider's node token) and to other providers' planes under subcontracts.

``GET /v1/node`` lists the node's capabilities; ``POST /v1/node/process`` takes a segment frame
(see :mod:`commex.stream.wire`) whose meta names the segment and the steps, and answers with the
processed segment's frame. A step outside the node's capabilities is refused with 422, a body
over the limit with 413, a missing or wrong token with 401; errors use the exchange's JSON shape.

A request tagged ``X-Commex-Contract: CID`` is work under one of the provider's contracts: it
is taken only when the node's :class:`~commex.stream.nodecontracts.ContractGate` knows the
contract as active (403 otherwise), and what it processed is counted into that contract by the
node's :class:`~commex.stream.nodecontracts.NodeMeter`, unless the caller meters the run itself
(``X-Commex-Metered-By: caller``).

A request with ``X-Commex-Subcontract: SID`` is another provider's work: its bearer is the
subcontract's work token, which the node's :class:`~commex.stream.nodework.WorkGate` checks
with the exchange (401 when the exchange does not know it as this provider's), and its packets
are counted into the subcontract by the :class:`~commex.stream.nodework.SubcontractMeter`.
No secret is shared across providers: the node token serves the provider's own plane only.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from commex.domain.errors import (
    CommexError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
    status_of,
)
from commex.stream import nodemetrics, wire
from commex.stream.nodecontracts import (
    CONTRACT_HEADER,
    METERED_BY_CALLER,
    METERED_HEADER,
    SUBCONTRACT_HEADER,
    ContractGate,
    NodeMeter,
)
from commex.stream.nodework import SubcontractMeter, WorkGate
from commex.stream.steps.base import StepSpec
from commex.stream.tasks import SegmentTask, StepFactory, default_step_factory, run_task

NODE_VERSION = "1"
_WORK_PATHS = frozenset({"/v1/node", "/v1/node/process"})


class StepNotOffered(InvalidInput):
    """Raised when a caller asks a node for a step outside its capabilities."""

    code = "step_not_offered"


class ContractsUnavailable(CommexError):
    """Raised when the node cannot learn its provider's active contracts from the exchange."""

    code = "contracts_unavailable"


class BodyTooLarge(CommexError):
    """Raised when a request body exceeds the node's limit."""

    code = "too_large"


def _error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


class _Node:
    """What the node's routes do, for ``capabilities`` and the contracts it takes."""

    def __init__(
        self,
        capabilities: Iterable[str],
        step_factory: StepFactory,
        limits: wire.Limits,
        contracts: ContractGate | None,
        meter: NodeMeter | None,
        work_meter: SubcontractMeter | None = None,
    ) -> None:
        self.work_meter = work_meter
        self.offered = frozenset(capabilities)
        self.step_factory = step_factory
        self.limits = limits
        self.contracts = contracts
        self.meter = meter

    def describe(self) -> dict[str, Any]:
        return {
            "capabilities": sorted(self.offered),
            "version": NODE_VERSION,
            "wire_version": wire.VERSION,
            "max_bytes": self.limits.max_bytes,
            "max_packets": self.limits.max_packets,
        }

    async def admit(self, contract_id: str | None) -> None:
        """Refuse work under a contract that is not one of the provider's active ones."""
        if contract_id is None:
            return
        if self.contracts is None:
            raise Forbidden(
                f"this node takes no contract streams (contract {contract_id}): it was "
                "started without --exchange",
                field="contract",
            )
        try:
            allowed = await run_in_threadpool(self.contracts.allows, contract_id)
        except CommexError as exc:
            raise ContractsUnavailable(
                f"this node cannot check contract {contract_id} now: {exc.message}"
            ) from exc
        if not allowed:
            raise Forbidden(
                f"contract {contract_id} is not an active contract of this node's provider",
                field="contract",
            )

    async def process(self, request: Request) -> Response:
        contract_id = request.headers.get(CONTRACT_HEADER) or None
        await self.admit(contract_id)
        body = await _read_body(request, self.limits.max_bytes)
        batch, meta = wire.decode(body, self.limits)
        task = SegmentTask(_segment_id(meta), batch, _steps(meta, self.offered))
        result = await run_in_threadpool(run_task, task, self.step_factory)
        nodemetrics.served(task.batch)
        if await request.is_disconnected():  # its caller stopped waiting: a late result
            nodemetrics.late_results()
        by_caller = request.headers.get(METERED_HEADER) == METERED_BY_CALLER
        subcontract_id = request.headers.get(SUBCONTRACT_HEADER)
        if subcontract_id and self.work_meter is not None:
            self.work_meter.add(subcontract_id, len(batch))
        elif contract_id is not None and self.meter is not None and not by_caller:
            self.meter.add(contract_id, result.batch)
        frame = wire.encode(
            result.batch, {"segment": result.id, "dtmf": wire.events_to_meta(result.dtmf)}
        )
        return Response(frame, media_type=wire.MEDIA_TYPE)


def create_node_app(
    capabilities: Iterable[str],
    token: str | None,
    *,
    step_factory: StepFactory = default_step_factory,
    limits: wire.Limits = wire.DEFAULT_LIMITS,
    contracts: ContractGate | None = None,
    meter: NodeMeter | None = None,
    work: WorkGate | None = None,
    work_meter: SubcontractMeter | None = None,
) -> FastAPI:
    """A node serving ``capabilities`` to its provider's plane presenting ``token``; with
    ``contracts`` (and ``meter``) it also takes its provider's contract streams, and with
    ``work`` (and ``work_meter``) other providers' work under subcontracts."""
    if not token and work is None:
        raise Unauthenticated(
            "a processing node needs its provider's node token (COMMEX_NODE_TOKEN) or, to "
            "work under subcontracts, --exchange and a node key (COMMEX_NODE_KEY)"
        )
    node = _Node(capabilities, step_factory, limits, contracts, meter, work_meter)
    expected = f"Bearer {token}".encode() if token else None

    async def authenticate(request: Request) -> None:
        given = request.headers.get("authorization", "")
        subcontract_id = request.headers.get(SUBCONTRACT_HEADER)
        if subcontract_id and request.url.path in _WORK_PATHS:  # never the node's figures
            await _admit_work(work, subcontract_id, given)
            return
        if expected is None or not hmac.compare_digest(given.encode(), expected):
            raise Unauthenticated("missing or wrong node token")

    app = FastAPI(
        title="commex processing node",
        version=NODE_VERSION,
        openapi_url=None,
        dependencies=[Depends(authenticate)],
    )
    _errors(app)
    app.get("/v1/node")(node.describe)
    app.post("/v1/node/process")(node.process)
    return app


async def _admit_work(work: WorkGate | None, subcontract_id: str, authorization: str) -> None:
    """Refuse work under a subcontract the exchange does not know as this provider's, with
    this work token."""
    scheme, _, work_token = authorization.partition(" ")
    if work is None:
        raise Unauthenticated("this node takes no subcontracted work: it has no exchange")
    if scheme.lower() != "bearer" or not work_token or len(subcontract_id) > 64:
        raise Unauthenticated("send the subcontract's work token as the bearer")
    try:
        await run_in_threadpool(work.admit, subcontract_id, work_token)
    except (NotFound, Forbidden, Conflict) as exc:
        raise Unauthenticated(f"work refused: {exc.message}") from exc
    except CommexError as exc:
        raise ContractsUnavailable(
            f"this node cannot check subcontract {subcontract_id} now: {exc.message}"
        ) from exc


def _errors(app: FastAPI) -> None:
    @app.exception_handler(Unauthenticated)
    async def unauthenticated(request: Request, exc: Unauthenticated) -> JSONResponse:
        return _error(401, exc.code, exc.message, **{"WWW-Authenticate": "Bearer"})

    @app.exception_handler(CommexError)
    async def commex_error(request: Request, exc: CommexError) -> JSONResponse:
        if isinstance(exc, BodyTooLarge | ContractsUnavailable):
            status = 413 if isinstance(exc, BodyTooLarge) else 503
        else:
            status = status_of(exc)[0]
        return _error(status, exc.code, exc.message)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"request body over the node's limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body over the node's limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _segment_id(meta: dict[str, Any]) -> int:
    value = meta.get("segment")
    if not isinstance(value, int) or isinstance(value, bool):
        raise wire.WireError("segment frame meta lacks an integer 'segment'")
    return value


def _steps(meta: dict[str, Any], offered: frozenset[str]) -> tuple[StepSpec, ...]:
    raw = meta.get("steps")
    if not isinstance(raw, list) or not raw or not all(isinstance(s, str) for s in raw):
        raise wire.WireError("segment frame meta lacks a list of 'steps'")
    steps = tuple(StepSpec.parse(s) for s in raw)
    refused = [str(s) for s in steps if s.name not in offered]
    if refused:
        raise StepNotOffered(
            f"this node does not offer {', '.join(refused)}; it offers "
            f"{', '.join(sorted(offered)) or 'nothing'}",
            field="steps",
        )
    return steps
