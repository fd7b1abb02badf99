"""S5: the steps this provider does not offer, done by another provider and checked.

The run's steps are cut into phases: runs of steps this provider offers, and each missing step
on its own. For a missing step the packets that need it are gathered across segments and
streams (see :mod:`commex.stream.remotestage`) and sent to another provider: the recipient's
pre-approved list in its order, or else the providers a :class:`ProviderDirectory` finds for
the capability, best reputation first, then lowest price. A provider whose answer fails
(transport, timeout, an error status, packets other than those sent, changed headers, an
unexpected payload type) is passed over for the next one.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import numpy as np

from commex.domain.errors import CommexError, InvalidInput, NotFound
from commex.stream.nodeclient import NodeClient, NodeError
from commex.stream.packets import PacketBatch
from commex.stream.steps.base import StepSpec
from commex.stream.steps.g711 import AUDIO_PTS, CODECS
from commex.stream.tasks import SegmentResult, SegmentTask

DEFAULT_GROUP_PACKETS = 4000
COMFORT_NOISE_PT = 13
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class StepUnavailable(NotFound):
    """Raised when a step is needed that neither this provider nor any other one offers."""

    code = "step_unavailable"


class SubcontractFailed(CommexError):
    """Raised when every provider asked for a step failed or answered wrongly."""

    code = "subcontract_failed"


@dataclass(frozen=True, slots=True)
class Provider:
    """Another provider's processing node, as the exchange knows it."""

    name: str
    url: str
    reputation: float | None = None
    price: Decimal | None = None
    id: str | None = None  # the provider's account on the exchange, when found there


class ProviderDirectory(Protocol):
    """The exchange as the packet plane sees it: who offers a capability, how they are rated
    and what they charge. Implemented outside the plane (by the services layer)."""

    def find(self, capability: str) -> Sequence[Provider]: ...


def parse_subcontractor(text: str) -> Provider:
    """A pre-approved provider written ``NAME=URL``; a malformed one is an InvalidInput."""
    name, sep, url = text.partition("=")
    if not sep or not _NAME.match(name) or not re.match(r"^https?://[^\s/]+", url):
        raise InvalidInput(
            f"invalid subcontractor {text!r}: expected NAME=http(s)://HOST[:PORT]",
            field="subcontractor",
        )
    return Provider(name, url.rstrip("/"))


def local_capabilities() -> frozenset[str]:
    """Every capability this installation can run."""
    from commex.stream.steps.registry import CAPABILITIES  # noqa: PLC0415

    return frozenset(CAPABILITIES)


def parse_capabilities(text: str, known: Iterable[str] | None = None) -> frozenset[str]:
    """``a,b,c`` as a set of capability names, each one checked against ``known``."""
    names = frozenset(p.strip() for p in text.split(",") if p.strip())
    allowed = frozenset(known) if known is not None else local_capabilities()
    unknown = sorted(names - allowed)
    if unknown:
        raise InvalidInput(
            f"unknown capabilities {', '.join(unknown)}; known: {', '.join(sorted(allowed))}",
            field="capabilities",
        )
    return names


@dataclass(frozen=True, slots=True)
class Phase:
    """Consecutive steps run together: here (``local``) or by one subcontractor."""

    steps: tuple[StepSpec, ...]
    local: bool


def plan_phases(steps: Sequence[StepSpec], capabilities: Iterable[str]) -> list[Phase]:
    """Cut ``steps`` into runs of offered steps and single missing steps, keeping the order."""
    offered = frozenset(capabilities)
    phases: list[Phase] = []
    for spec in steps:
        local = spec.name in offered
        if local and phases and phases[-1].local:
            phases[-1] = Phase((*phases[-1].steps, spec), True)
        else:
            phases.append(Phase((spec,), local))
    return phases


def missing_steps(steps: Sequence[StepSpec], capabilities: Iterable[str]) -> tuple[StepSpec, ...]:
    """The steps of ``steps`` that this provider does not offer."""
    offered = frozenset(capabilities)
    return tuple(s for s in steps if s.name not in offered)


def rank(providers: Iterable[Provider]) -> list[Provider]:
    """Best reputation first, then the lowest price; unknown values last."""

    def key(p: Provider) -> tuple[Any, ...]:
        return (
            p.reputation is None,
            -(p.reputation or 0.0),
            p.price is None,
            p.price if p.price is not None else Decimal(0),
            p.name,
        )

    return sorted(providers, key=key)


def needs_step(spec: StepSpec, batch: PacketBatch) -> Any:
    """The rows of ``batch`` that ``spec`` changes: audio for transcoding and gain, all rows
    for the rest (DTMF detection reads events and audio; VAD decides what to keep)."""
    if spec.name in ("transcode", "gain"):
        return np.isin(batch.payload_type, AUDIO_PTS)
    return np.ones(len(batch), dtype=np.bool_)


def check_payload_types(spec: StepSpec, sent: PacketBatch, got: PacketBatch) -> None:
    """Refuse a result whose payload types are not what ``spec`` gives (kept rows only)."""
    order = np.argsort(sent.index, kind="stable")
    pos = order[np.minimum(np.searchsorted(sent.index, got.index, sorter=order), len(sent) - 1)]
    expected = sent.payload_type[pos].copy()
    codec = (spec.arg or "").lower()
    if spec.name == "transcode" and codec in CODECS:
        # Audio takes the new codec's payload type; comfort noise and events pass through.
        expected[np.isin(expected, AUDIO_PTS)] = CODECS[codec]
    if spec.name == "vad":  # silent audio may come back as comfort noise
        audio = np.isin(expected, AUDIO_PTS) & (got.payload_type == COMFORT_NOISE_PT)
        expected[audio] = COMFORT_NOISE_PT
    if not np.array_equal(expected, got.payload_type):
        raise NodeError(f"result has unexpected payload types for {spec}", wrong_answer=True)


class StepNode(Protocol):
    """What the subcontractor calls for a provider: a :class:`NodeClient`, or one that does the
    work under a subcontract on the exchange."""

    def process(self, task: SegmentTask) -> SegmentResult: ...

    def close(self) -> None: ...


ClientFactory = Callable[[Provider], StepNode]


class Subcontractor:
    """Sends the packets that need a missing step to other providers and checks the answers."""

    def __init__(
        self,
        approved: Sequence[Provider] = (),
        directory: ProviderDirectory | None = None,
        *,
        token: str | None = None,
        client_factory: ClientFactory | None = None,
        exclude: Iterable[str] = (),
    ) -> None:
        self.approved = tuple(approved)
        self.directory = directory
        self._token = token
        self._client_factory = client_factory
        self._exclude = frozenset(exclude)
        self._clients: dict[str, StepNode] = {}
        self._lock = threading.Lock()

    def candidates(self, spec: StepSpec) -> list[Provider]:
        """Who may be asked for ``spec``, in the order they will be asked."""
        if self.approved:
            found = list(self.approved)
        elif self.directory is not None:
            found = rank(self.directory.find(spec.name))
        else:
            found = []
        found = [p for p in found if p.name not in self._exclude]
        if not found:
            hint = "" if self.approved or self.directory else "; pass --subcontractor NAME=URL"
            raise StepUnavailable(f"no provider offers step {spec}{hint}", field="step")
        return found

    def _client(self, provider: Provider) -> StepNode:
        with self._lock:
            return self._client_locked(provider)

    def _client_locked(self, provider: Provider) -> StepNode:
        if provider.name not in self._clients:
            if self._client_factory is not None:
                self._clients[provider.name] = self._client_factory(provider)
            else:
                from commex.stream.nodeclient import token_from_env  # noqa: PLC0415

                token = self._token or token_from_env()
                self._clients[provider.name] = NodeClient(provider.url, token, name=provider.name)
        return self._clients[provider.name]

    def attempt(
        self, spec: StepSpec, task: SegmentTask, providers: list[Provider], start: int = 0
    ) -> tuple[str, SegmentResult]:
        """Have ``spec`` done on ``task`` by the first of ``providers`` (from ``start`` on,
        round the list) whose answer is right; every failure is passed over for the next."""
        errors = []
        for k in range(len(providers)):
            provider = providers[(start + k) % len(providers)]
            try:
                result = self._client(provider).process(task)
                check_payload_types(spec, task.batch, result.batch)
            except NodeError as exc:
                errors.append(f"{provider.name}: {exc.message}")
                continue
            return provider.name, result
        raise SubcontractFailed(f"no provider completed step {spec}: " + "; ".join(errors))

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self) -> Subcontractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
