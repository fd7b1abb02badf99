"""S5: the steps this provider does not offer, done by another provider and checked.

The run's steps are cut into phases: runs of steps this provider offers, and each missing step
on its own. For a missing step the packets that need it are gathered from every segment and
every stream of the run, cut into new segments and sent to another provider: the recipient's
pre-approved list in its order, or else the providers a :class:`ProviderDirectory` finds for
the capability, best reputation first, then lowest price. A provider whose answer fails
(transport, timeout, an error status, packets other than those sent, changed headers, an
unexpected payload type) is passed over for the next one. What went to whom is recorded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import numpy as np

from commex.domain.errors import CommexError, InvalidInput, NotFound
from commex.stream.dispersal import SegmentTask
from commex.stream.nodeclient import NodeClient, NodeError
from commex.stream.packets import PacketBatch, concat
from commex.stream.pcap import with_streams
from commex.stream.steps.base import DtmfEvent, StepSpec
from commex.stream.steps.g711 import AUDIO_PTS, CODECS

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
    pos = np.searchsorted(sent.index, got.index)
    expected = sent.payload_type[pos].copy()
    codec = (spec.arg or "").lower()
    if spec.name == "transcode" and codec in CODECS:
        # Audio takes the new codec's payload type; comfort noise and events pass through.
        expected[np.isin(expected, AUDIO_PTS)] = CODECS[codec]
    if spec.name == "vad":  # silent audio may come back as comfort noise
        audio = np.isin(expected, AUDIO_PTS) & (got.payload_type == COMFORT_NOISE_PT)
        expected[audio] = COMFORT_NOISE_PT
    if not np.array_equal(expected, got.payload_type):
        raise NodeError(f"result has unexpected payload types for {spec}")


@dataclass
class Outcome:
    """What a subcontracted phase gave back: each segment's packets, events, and records."""

    parts: dict[int, PacketBatch]
    dtmf: list[DtmfEvent] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)


ClientFactory = Callable[[Provider], NodeClient]


class Subcontractor:
    """Sends the packets that need a missing step to other providers and checks the answers."""

    def __init__(
        self,
        approved: Sequence[Provider] = (),
        directory: ProviderDirectory | None = None,
        *,
        token: str | None = None,
        client_factory: ClientFactory | None = None,
        group_packets: int = DEFAULT_GROUP_PACKETS,
        exclude: Iterable[str] = (),
    ) -> None:
        self.approved = tuple(approved)
        self.directory = directory
        self._token = token
        self._client_factory = client_factory
        self._group = max(1, group_packets)
        self._exclude = frozenset(exclude)
        self._clients: dict[str, NodeClient] = {}

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

    def _client(self, provider: Provider) -> NodeClient:
        if provider.name not in self._clients:
            if self._client_factory is not None:
                self._clients[provider.name] = self._client_factory(provider)
            else:
                from commex.stream.nodeclient import token_from_env  # noqa: PLC0415

                token = self._token or token_from_env()
                self._clients[provider.name] = NodeClient(provider.url, token, name=provider.name)
        return self._clients[provider.name]

    def run(self, spec: StepSpec, parts: Mapping[int, PacketBatch]) -> Outcome:
        """Have ``spec`` done on every packet of ``parts`` (segment id -> packets) that needs
        it; the packets come back to the segments they came from."""
        providers = self.candidates(spec)
        ids = sorted(parts)
        batches = with_streams([parts[i] for i in ids])
        whole = concat(batches) if batches else PacketBatch()
        owner = np.repeat(np.asarray(ids, dtype=np.int64), [len(b) for b in batches])
        order = np.argsort(whole.index, kind="stable")
        whole, owner = whole.take(order), owner[order]
        need = needs_step(spec, whole)
        rows = np.flatnonzero(need)
        outcome = Outcome({})
        done: list[PacketBatch] = [whole.take(~need)]
        usage: dict[str, list[int]] = {}
        for number, start in enumerate(range(0, rows.shape[0], self._group)):
            task = SegmentTask(number, whole.take(rows[start : start + self._group]), (spec,))
            name, result_batch, events = self._send(spec, task, providers)
            done.append(result_batch)
            outcome.dtmf.extend(events)
            count = usage.setdefault(name, [0, 0])
            count[0] += 1
            count[1] += len(task.batch)
        outcome.records = [
            {"step": str(spec), "provider": name, "segments": s, "packets": p}
            for name, (s, p) in usage.items()
        ]
        outcome.parts = _split_back(whole, owner, done, ids)
        return outcome

    def _send(
        self, spec: StepSpec, task: SegmentTask, providers: list[Provider]
    ) -> tuple[str, PacketBatch, tuple[DtmfEvent, ...]]:
        errors = []
        for provider in providers:
            try:
                result = self._client(provider).process(task)
                check_payload_types(spec, task.batch, result.batch)
            except NodeError as exc:
                errors.append(f"{provider.name}: {exc.message}")
                continue
            return provider.name, result.batch, result.dtmf
        raise SubcontractFailed(f"no provider completed step {spec}: " + "; ".join(errors))

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self) -> Subcontractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _split_back(
    whole: PacketBatch, owner: Any, done: list[PacketBatch], ids: list[int]
) -> dict[int, PacketBatch]:
    """The processed rows returned to the segment each came from, in input order."""
    result = concat(with_streams([*done, whole])[:-1]) if done else PacketBatch()
    pos = np.searchsorted(whole.index, result.index)
    seg = owner[pos]
    order = np.lexsort((result.index, seg))
    seg = seg[order]
    bounds = np.searchsorted(seg, np.asarray(ids, dtype=np.int64), side="left")
    ends = np.searchsorted(seg, np.asarray(ids, dtype=np.int64), side="right")
    return {i: result.take(order[b:e]) for i, b, e in zip(ids, bounds, ends, strict=True)}
