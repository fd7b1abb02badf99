"""An independent check of another provider's G.711 transcoding, on a sample of its answer.

The plane already checks that a subcontracted answer holds the packets it sent, with valid
headers and the payload types the step gives. That does not show the payloads were transcoded
at all: a node could send back noise with the right headers. :class:`SpotCheck` takes a
sample of the audio packets of each answer, transcodes what was sent here with a plain,
sample-by-sample G.711 (the ITU-T algorithm written out, sharing nothing with the table-driven
codec the steps use, and not Python's deprecated ``audioop``), and compares the bytes. One
differing packet is a wrong answer: the subcontract closes as ``failed_check`` and the work
goes to the next provider.

The sample is drawn afresh for every answer from the operating system's entropy, so a node
cannot tell which of its packets will be looked at.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

import numpy as np

from commex.stream.nodeclient import NodeError
from commex.stream.packets import I64, PacketBatch
from commex.stream.steps.base import StepSpec

PCMU, PCMA, L16 = 0, 8, 96  # the payload types the transcode step speaks (RFC 3551; dynamic)
_TARGETS = {"pcmu": PCMU, "pcma": PCMA, "l16": L16}
_ALAW_ENDS = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)
_ULAW_ENDS = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
DEFAULT_SAMPLE = 16  # packets per answer


def alaw_to_linear(code: int) -> int:
    """The 16-bit sample of an A-law code (G.711, 13-bit magnitude scaled up)."""
    code ^= 0x55
    t = (code & 0x0F) << 4
    seg = (code & 0x70) >> 4
    t = t + 8 if seg == 0 else (t + 0x108) << max(seg - 1, 0)
    return t if code & 0x80 else -t


def ulaw_to_linear(code: int) -> int:
    """The 16-bit sample of a mu-law code (G.711, biased by 0x84)."""
    code = ~code & 0xFF
    t = (((code & 0x0F) << 3) + 0x84) << ((code & 0x70) >> 4)
    return 0x84 - t if code & 0x80 else t - 0x84


def linear_to_alaw(sample: int) -> int:
    """The A-law code of a 16-bit sample."""
    pcm = sample >> 3
    mask = 0xD5 if pcm >= 0 else 0x55
    if pcm < 0:
        pcm = -pcm - 1
    seg = bisect.bisect_left(_ALAW_ENDS, pcm)
    if seg >= 8:
        return 0x7F ^ mask
    quant = (pcm >> 1 if seg < 2 else pcm >> seg) & 0x0F
    return ((seg << 4) | quant) ^ mask


def linear_to_ulaw(sample: int) -> int:
    """The mu-law code of a 16-bit sample."""
    pcm = sample >> 2
    mask = 0x7F if pcm < 0 else 0xFF
    pcm = min(abs(pcm), 8159) + (0x84 >> 2)
    seg = bisect.bisect_left(_ULAW_ENDS, pcm)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((pcm >> (seg + 1)) & 0x0F)) ^ mask


def _decode(payload: bytes, pt: int) -> list[int]:
    if pt == PCMA:
        return [alaw_to_linear(b) for b in payload]
    if pt == PCMU:
        return [ulaw_to_linear(b) for b in payload]
    usable = len(payload) - len(payload) % 2
    return [int.from_bytes(payload[i : i + 2], "big", signed=True) for i in range(0, usable, 2)]


def _encode(samples: list[int], pt: int) -> bytes:
    if pt == PCMA:
        return bytes(linear_to_alaw(s) for s in samples)
    if pt == PCMU:
        return bytes(linear_to_ulaw(s) for s in samples)
    return b"".join(s.to_bytes(2, "big", signed=True) for s in samples)


def transcode(payload: bytes, pt: int, target: int) -> bytes:
    """One payload of type ``pt`` as ``target`` would code it (the same type: unchanged)."""
    return payload if pt == target else _encode(_decode(payload, pt), target)


Sampler = Callable[[int, int], I64]


def _random_rows(population: int, size: int) -> I64:
    rows: I64 = np.random.default_rng().choice(population, size=size, replace=False)
    return rows


class SpotCheck:
    """Re-encodes ``sample`` audio packets of each transcoded answer here and compares them."""

    def __init__(self, sample: int = DEFAULT_SAMPLE, sampler: Sampler = _random_rows) -> None:
        self.sample = sample
        self._sampler = sampler

    def __call__(self, spec: StepSpec, sent: PacketBatch, got: PacketBatch) -> None:
        """Raise a wrong-answer NodeError when a sampled packet of ``got`` is not ``sent``'s
        packet transcoded as ``spec`` says (only ``transcode`` steps are checked)."""
        target = _TARGETS.get((spec.arg or "").lower())
        if spec.name != "transcode" or target is None or not len(got):
            return
        audio = np.flatnonzero(np.isin(sent.payload_type, (PCMU, PCMA, L16)))
        audio = audio[np.isin(sent.index[audio], got.index)]  # packets a step may have dropped
        if not audio.shape[0]:
            return
        picked = audio[self._sampler(audio.shape[0], min(self.sample, audio.shape[0]))]
        order = np.argsort(got.index, kind="stable")
        for row in picked.tolist():
            index = int(sent.index[row])
            back = int(order[np.searchsorted(got.index, index, sorter=order)])
            expected = transcode(sent.payload_of(row), int(sent.payload_type[row]), target)
            if got.payload_of(back) != expected:
                raise NodeError(
                    f"spot check: packet {index}'s payload is not its G.711 {spec.arg} transcoding",
                    wrong_answer=True,
                )
