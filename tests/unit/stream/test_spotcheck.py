"""The independent G.711 spot check of subcontracted answers: the plain codec it uses agrees
with the G.711 tables bit for bit, and a node that answers with the right headers but wrong
payloads is caught and passed over (and its subcontract fails its check)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from stream_helpers import make_batch, serve_in_thread, token_clients
from test_contract_plan import FakeExchange

from commex.stream.node import create_node_app
from commex.stream.nodeclient import NodeError
from commex.stream.packets import PacketBatch
from commex.stream.spotcheck import (
    SpotCheck,
    alaw_to_linear,
    linear_to_alaw,
    linear_to_ulaw,
    transcode,
    ulaw_to_linear,
)
from commex.stream.steps.base import StepOutput, StepSpec
from commex.stream.steps.g711 import ALAW_DECODE, ALAW_ENCODE, ULAW_DECODE, ULAW_ENCODE
from commex.stream.subcontracting import Provider, Subcontractor
from commex.stream.tasks import SegmentResult, SegmentTask, default_step_factory, run_task
from commex.subcontract_run import SubcontractBook

PCMU = StepSpec("transcode", "pcmu")
EVERY_ROW = SpotCheck(sample=10**6, sampler=lambda n, k: np.arange(k))


def test_the_plain_codec_agrees_with_the_g711_tables_for_every_code_and_sample() -> None:
    assert [alaw_to_linear(c) for c in range(256)] == ALAW_DECODE.tolist()
    assert [ulaw_to_linear(c) for c in range(256)] == ULAW_DECODE.tolist()
    samples = range(-32768, 32768)
    assert [linear_to_alaw(s) for s in samples] == np.roll(ALAW_ENCODE, 32768).tolist()
    assert [linear_to_ulaw(s) for s in samples] == np.roll(ULAW_ENCODE, 32768).tolist()


def transcoded(batch: PacketBatch, spec: StepSpec = PCMU) -> PacketBatch:
    return run_task(SegmentTask(0, batch, (spec,))).batch


def corrupt(batch: PacketBatch, row: int) -> PacketBatch:
    """``batch`` with one byte of row ``row``'s payload changed."""
    payload = batch.payload.copy()
    payload[batch.offsets[row]] ^= 0x01
    return replace(batch, payload=payload)


@pytest.mark.parametrize("target", ["pcmu", "pcma", "l16"])
def test_a_right_transcoding_passes(target: str) -> None:
    sent = make_batch(40, pt=8)
    spec = StepSpec("transcode", target)
    EVERY_ROW(spec, sent, transcoded(sent, spec))
    SpotCheck()(spec, sent, transcoded(sent, spec))


def test_one_wrong_payload_among_those_sampled_fails_the_check() -> None:
    sent = make_batch(40, pt=8)
    with pytest.raises(NodeError, match=r"packet 17's payload is not its G\.711 pcmu") as err:
        EVERY_ROW(PCMU, sent, corrupt(transcoded(sent), 17))
    assert err.value.wrong_answer
    # only the sampled packets are looked at: a sample of the other rows misses it
    SpotCheck(sample=5, sampler=lambda n, k: np.arange(k))(
        PCMU, sent, corrupt(transcoded(sent), 17)
    )


def test_only_audio_packets_of_transcode_steps_are_checked() -> None:
    sent = make_batch(10, pt=101)  # telephone events pass through untouched
    EVERY_ROW(PCMU, sent, sent)
    audio = make_batch(10, pt=8)
    EVERY_ROW(StepSpec("gain", "-6"), audio, corrupt(audio, 0))
    assert transcode(b"\x00\x01", 0, 0) == b"\x00\x01"


class _Noise:
    """A transcoding that sets the right payload type but sends noise back."""

    def __init__(self, spec: StepSpec) -> None:
        self.real = default_step_factory(spec)

    def apply(self, batch: PacketBatch) -> StepOutput:
        out = self.real.apply(batch)
        return StepOutput(replace(out.batch, payload=out.batch.payload ^ 0x5A), out.dtmf)


def test_a_node_answering_noise_is_passed_over_for_the_next() -> None:
    noisy = create_node_app({"transcode"}, "t", step_factory=_Noise)
    good = create_node_app({"transcode"}, "t")
    sent = make_batch(50, pt=8)
    task = SegmentTask(1, sent, (PCMU,))
    with serve_in_thread(noisy) as noisy_url, serve_in_thread(good) as good_url:
        providers = [Provider("noisy", noisy_url), Provider("good", good_url)]
        with Subcontractor(providers, client_factory=token_clients("t")) as sub:
            name, result = sub.attempt(PCMU, task, providers)
    assert name == "good"
    assert np.array_equal(result.batch.payload, transcoded(sent).payload)


class _NoiseNode:
    def process(self, task: SegmentTask) -> SegmentResult:
        good = transcoded(task.batch, task.steps[0])
        return SegmentResult(task.id, replace(good, payload=good.payload ^ 0x5A), ())

    def close(self) -> None:
        pass


def test_a_subcontract_whose_node_answers_noise_closes_as_a_failed_check() -> None:
    exchange = FakeExchange([])
    book = SubcontractBook(exchange, "con-1", make_client=lambda p, s, t: _NoiseNode())  # type: ignore[arg-type]
    with pytest.raises(NodeError, match="spot check"):
        book.node_for(Provider("Bravo", "http://b", id="acc-b")).process(
            SegmentTask(1, make_batch(30, pt=8), (PCMU,))
        )
    book.close_all(warn=pytest.fail)
    outcome, detail = exchange.closed["sub-1"]
    assert outcome == "failed_check" and detail is not None and "spot check" in detail
    assert exchange.sent == {"sub-1": 30}  # sent, and charged nothing by the exchange
