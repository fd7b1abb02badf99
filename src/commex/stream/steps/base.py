"""What a processing step is: a named capability applied to a batch of packets.

A step is a pure function of its input batch, so the same segment gives the same bytes on any
executor (inline, process pool, Dask, a remote node) and a retried segment cannot differ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Protocol

from commex.domain.errors import InvalidInput
from commex.stream.packets import PacketBatch

_STEP = re.compile(r"^(?P<name>[a-z][a-z0-9-]{0,31})(?::(?P<arg>[A-Za-z0-9.+-]{1,32}))?$")


@dataclass(frozen=True, slots=True)
class StepSpec:
    """A step as written on the command line: ``NAME[:ARG]`` (``transcode:pcmu``, ``gain:-6``)."""

    name: str
    arg: str | None = None

    @classmethod
    def parse(cls, text: str) -> StepSpec:
        """Parse ``NAME[:ARG]``; a malformed step is an :class:`InvalidInput` naming it."""
        m = _STEP.match(text.strip())
        if m is None:
            raise InvalidInput(f"invalid step {text!r}: expected NAME or NAME:ARG", field="step")
        return cls(m["name"], m["arg"])

    def __str__(self) -> str:
        return self.name if self.arg is None else f"{self.name}:{self.arg}"


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    """A telephone key press found in a stream (RFC 4733 event or in-band tone pair)."""

    digit: str
    ssrc: int
    start_ms: int
    duration_ms: int
    source: Literal["rfc4733", "inband"]


@dataclass(frozen=True, slots=True)
class StepOutput:
    """A step's result: the processed packets and what it found in them."""

    batch: PacketBatch
    dtmf: tuple[DtmfEvent, ...] = ()


class Step(Protocol):
    """A processing capability bound to its argument."""

    @property
    def spec(self) -> StepSpec: ...

    def apply(self, batch: PacketBatch) -> StepOutput:
        """Process every packet of ``batch``; never mutate it."""
        ...
