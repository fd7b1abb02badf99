"""Calling processing nodes over HTTP: one client per node, and an executor over several.

The client sends a segment frame, checks the answer against what it sent, and turns every
failure (transport, timeout, an error status, a bad frame, a wrong result) into a
:class:`NodeError` that says whether trying another node may help. Subcontracting and the
``node:`` executor both use it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import httpx

from commex.domain.errors import CommexError, Unauthenticated
from commex.stream import nodemetrics, wire
from commex.stream.dispersal import (
    MAX_ATTEMPTS,
    SegmentFailed,
    SegmentResult,
    SegmentTask,
    check_result,
)
from commex.stream.nodecontracts import CONTRACT_HEADER, METERED_BY_CALLER, METERED_HEADER

TOKEN_ENV = "COMMEX_NODE_TOKEN"  # noqa: S105 - the variable's name, not a secret
PROCESS_PATH = "/v1/node/process"
INFO_PATH = "/v1/node"


class NodeError(CommexError):
    """Raised when a node call fails; ``retriable`` says whether another node may succeed."""

    code = "node_failed"

    def __init__(self, message: str, *, status: int | None = None, retriable: bool = True):
        super().__init__(message)
        self.status = status
        self.retriable = retriable


def token_from_env() -> str:
    """The shared node token from ``COMMEX_NODE_TOKEN``; refusing to go on without one."""
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise Unauthenticated(f"{TOKEN_ENV} is not set: processing nodes require a shared token")
    return token


class NodeClient:
    """A processing node at ``url``, called with the shared bearer token."""

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
    ) -> None:
        self.url = url
        self.contract = contract
        self.metered_by_caller = metered_by_caller
        self.name = name or url
        self._token = token
        self._limits = limits
        self._client = client or httpx.Client(base_url=url, timeout=timeout)
        self._owns_client = client is None

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._token}"}
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
            raise NodeError(f"node {self.name} sent a bad result: {exc.message}") from exc
        result = SegmentResult(int(answer.get("segment", -1)), batch, events, worker=self.name)
        try:
            check_result(task, result)
        except SegmentFailed as exc:
            raise NodeError(f"node {self.name} sent a wrong result: {exc.message}") from exc
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


class NodeExecutor:
    """Segments processed on remote nodes, spread round-robin. A segment whose node fails
    (unreachable, timed out, 5xx, bad result) goes to the next node; a refusal (wrong token,
    a step the node lacks) stops the run, because another attempt would be refused too."""

    def __init__(
        self,
        urls: Sequence[str] = (),
        *,
        token: str | None = None,
        clients: Sequence[NodeClient] | None = None,
        window: int | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        contract: str | None = None,
        metered_by_caller: bool = False,
    ) -> None:
        if clients is None:
            secret = token or token_from_env()
            clients = [
                NodeClient(url, secret, contract=contract, metered_by_caller=metered_by_caller)
                for url in urls
            ]
        if not clients:
            raise NodeError("the node executor needs at least one node URL", retriable=False)
        self._clients = list(clients)
        self.name = "node:" + ",".join(c.name for c in self._clients)
        self.window = window or 2 * len(self._clients) + 2
        self._max_attempts = max(max_attempts, len(self._clients))
        self._next = 0
        self._lock = threading.Lock()
        self._threads = ThreadPoolExecutor(self.window, thread_name_prefix="commex-node")

    def _process(self, task: SegmentTask) -> SegmentResult:
        with self._lock:
            start = self._next
            self._next += 1
        errors: list[str] = []
        for attempt in range(self._max_attempts):
            client = self._clients[(start + attempt) % len(self._clients)]
            try:
                return client.process(task)
            except NodeError as exc:
                if not exc.retriable:
                    raise
                errors.append(exc.message)
                if attempt + 1 < self._max_attempts:
                    nodemetrics.failover()  # on to the next node
        raise SegmentFailed(f"segment {task.id} failed on every node: {'; '.join(errors)}")

    def map_segments(self, tasks: Iterable[SegmentTask]) -> Iterator[SegmentResult]:
        pending: set[Future[SegmentResult]] = set()
        source = iter(tasks)
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < self.window:
                    task = next(source, None)
                    if task is None:
                        exhausted = True
                    else:
                        pending.add(self._threads.submit(self._process, task))
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)
        for client in self._clients:
            client.close()

    def __enter__(self) -> NodeExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
