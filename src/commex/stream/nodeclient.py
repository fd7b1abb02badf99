"""Calling a processing node over HTTP.

The client sends a segment frame, checks the answer against what it sent, and turns every
failure (transport, timeout, an error status, a bad frame, a wrong result) into a
:class:`NodeError` that says whether trying another node may help. Subcontracting and the
``node:`` executor (:mod:`commex.stream.nodeexecutor`) both use it.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from commex.domain.errors import CommexError, Unauthenticated
from commex.stream import wire
from commex.stream.nodecontracts import (
    CONTRACT_HEADER,
    METERED_BY_CALLER,
    METERED_HEADER,
    SUBCONTRACT_HEADER,
)
from commex.stream.tasks import SegmentFailed, SegmentResult, SegmentTask, check_result

TOKEN_ENV = "COMMEX_NODE_TOKEN"  # noqa: S105 - the variable's name, not a secret
PROCESS_PATH = "/v1/node/process"
INFO_PATH = "/v1/node"


class NodeError(CommexError):
    """Raised when a node call fails; ``retriable`` says whether another node may succeed,
    ``wrong_answer`` whether the node answered, wrongly (a failed check, not a dead node)."""

    code = "node_failed"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retriable: bool = True,
        wrong_answer: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.retriable = retriable
        self.wrong_answer = wrong_answer


def token_from_env() -> str:
    """The shared node token from ``COMMEX_NODE_TOKEN``; refusing to go on without one."""
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise Unauthenticated(f"{TOKEN_ENV} is not set: processing nodes require a shared token")
    return token


class NodeClient:
    """A processing node at ``url``, called with a bearer token: this provider's own node
    token, or a subcontract's work token (with ``subcontract``)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        name: str | None = None,
        client: httpx.Client | None = None,
        timeout: float = 30.0,
        limits: wire.Limits = wire.DEFAULT_LIMITS,
        contract: str | None = None,
        metered_by_caller: bool = False,
        subcontract: str | None = None,
    ) -> None:
        self.url = url
        self.subcontract = subcontract
        self.contract = contract
        self.metered_by_caller = metered_by_caller
        self.name = name or url
        self._token = token
        self._limits = limits
        self._client = client or httpx.Client(base_url=url, timeout=timeout)
        self._owns_client = client is None

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._token}"}
        if self.subcontract is not None:
            headers[SUBCONTRACT_HEADER] = self.subcontract  # the token is its work token
        if self.contract is not None:
            headers[CONTRACT_HEADER] = self.contract  # work under this provider's contract
            if self.metered_by_caller:
                headers[METERED_HEADER] = METERED_BY_CALLER
        return headers

    def info(self) -> dict[str, Any]:
        """The node's description: at least ``{"capabilities": [...]}``."""
        response = self._call("GET", INFO_PATH)
        try:
            data = response.json()
        except ValueError as exc:
            raise NodeError(f"node {self.name} answered with something that is not JSON") from exc
        if not isinstance(data, dict) or not isinstance(data.get("capabilities"), list):
            raise NodeError(f"node {self.name} did not list its capabilities")
        return data

    def capabilities(self) -> frozenset[str]:
        """The step names the node offers."""
        return frozenset(str(c) for c in self.info()["capabilities"])

    def process(self, task: SegmentTask) -> SegmentResult:
        """Process ``task`` on the node; the answer is checked against the packets sent."""
        meta = {"segment": task.id, "steps": [str(s) for s in task.steps]}
        body = wire.encode(task.batch, meta)
        response = self._call(
            "POST", PROCESS_PATH, content=body, headers={"Content-Type": wire.MEDIA_TYPE}
        )
        try:
            batch, answer = wire.decode(response.content, self._limits)
            events = wire.events_from_meta(answer.get("dtmf"))
        except wire.WireError as exc:
            raise NodeError(
                f"node {self.name} sent a bad result: {exc.message}", wrong_answer=True
            ) from exc
        result = SegmentResult(int(answer.get("segment", -1)), batch, events, worker=self.name)
        try:
            check_result(task, result)
        except SegmentFailed as exc:
            raise NodeError(
                f"node {self.name} sent a wrong result: {exc.message}", wrong_answer=True
            ) from exc
        return result

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self._headers(), **kwargs.pop("headers", {})}
        try:
            response = self._client.request(method, path, headers=headers, **kwargs)
        except httpx.TimeoutException as exc:
            raise NodeError(f"node {self.name} timed out") from exc
        except httpx.HTTPError as exc:
            raise NodeError(f"node {self.name} is unreachable: {exc}") from exc
        if response.status_code != 200:
            status = response.status_code
            raise NodeError(
                f"node {self.name} answered {status}: {_error_message(response)}",
                status=status,
                retriable=status >= 500 or status in (408, 429),
            )
        return response

    def close(self) -> None:
        if self._owns_client:
            self._client.close()


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or response.reason_phrase
