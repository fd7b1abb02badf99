"""The processing capabilities this plane offers, built from their command-line spec."""

from __future__ import annotations

from collections.abc import Callable

from commex.domain.errors import InvalidInput
from commex.stream.steps.base import Step, StepSpec
from commex.stream.steps.dtmf import Dtmf
from commex.stream.steps.g711 import Transcode
from commex.stream.steps.gain import Gain
from commex.stream.steps.vad import Vad

_BUILDERS: dict[str, Callable[[StepSpec], Step]] = {
    "transcode": Transcode,
    "gain": Gain,
    "dtmf": Dtmf,
    "vad": Vad,
}

CAPABILITIES: frozenset[str] = frozenset(_BUILDERS)


def build_step(spec: StepSpec) -> Step:
    """The step for ``spec``; an unknown step or a bad argument is :class:`InvalidInput`."""
    builder = _BUILDERS.get(spec.name)
    if builder is None:
        raise InvalidInput(
            f"unknown step {spec.name!r}; available: {', '.join(sorted(CAPABILITIES))}",
            field="step",
        )
    return builder(spec)
