"""Subcontracting: missing steps found, packets grouped, providers tried in order and checked."""

from __future__ import annotations

import time
from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from stream_helpers import (
    TOKEN,
    fake_step_factory,
    make_batch,
    same,
    serve_in_thread,
    token_clients,
)

from commex.domain.errors import InvalidInput
from commex.stream.dispersal import Waker
from commex.stream.flow import Bundle, Flow
from commex.stream.node import create_node_app
from commex.stream.nodeclient import NodeError
from commex.stream.remotestage import RemoteStage
from commex.stream.steps.base import StepOutput, StepSpec
from commex.stream.subcontracting import (
    Phase,
    Provider,
    StepUnavailable,
    SubcontractFailed,
    Subcontractor,
    check_payload_types,
    missing_steps,
    parse_subcontractor,
    plan_phases,
    rank,
)
from commex.stream.tasks import SegmentResult, SegmentTask

S = StepSpec.parse


class _Liar:
    """Answers ``invert`` but loses the last packet of every segment."""

    def __init__(self, spec: StepSpec) -> None:
        self.spec = spec

    def apply(self, batch):
        return StepOutput(batch.take(np.arange(max(0, len(batch) - 1))))


def liar_factory(spec: StepSpec):
    return _Liar(spec)


def _broken_app() -> FastAPI:
    app = FastAPI()

    @app.get("/v1/node")
    async def info() -> dict[str, list[str]]:
        return {"capabilities": ["invert"]}

    @app.post("/v1/node/process")
    async def process() -> JSONResponse:
        return JSONResponse({"error": {"code": "boom", "message": "disk on fire"}}, 500)

    return app


@pytest.fixture(scope="module")
def nodes():
    good = create_node_app({"invert", "tag"}, TOKEN, step_factory=fake_step_factory)
    liar = create_node_app({"invert"}, TOKEN, step_factory=liar_factory)
    with (
        serve_in_thread(good) as good_url,
        serve_in_thread(liar) as liar_url,
        serve_in_thread(_broken_app()) as broken_url,
    ):
        yield {"good": good_url, "liar": liar_url, "broken": broken_url}


def segments_of_two_streams(n: int = 60, size: int = 10) -> dict[int, object]:
    batch = make_batch(n, streams=2)
    parts = {}
    for s in (0, 1):
        rows = np.flatnonzero(batch.stream == s)
        for k in range(0, rows.shape[0], size):
            parts[len(parts)] = batch.take(rows[k : k + size])
    return parts


def test_phases_keep_the_order_and_group_offered_steps() -> None:
    steps = [S("gain:-3"), S("transcode:pcmu"), S("vad"), S("dtmf"), S("gain:2")]
    assert plan_phases(steps, {"gain", "transcode"}) == [
        Phase((S("gain:-3"), S("transcode:pcmu")), True),
        Phase((S("vad"),), False),
        Phase((S("dtmf"),), False),
        Phase((S("gain:2"),), True),
    ]
    assert missing_steps(steps, {"gain", "transcode"}) == (S("vad"), S("dtmf"))


def test_rank_prefers_reputation_then_price() -> None:
    offers = [
        Provider("cheap", "http://a", 0.6, Decimal("1.00")),
        Provider("trusted", "http://b", 0.9, Decimal("5.00")),
        Provider("unknown", "http://c"),
        Provider("trusted-cheaper", "http://d", 0.9, Decimal("4.00")),
    ]
    assert [p.name for p in rank(offers)] == ["trusted-cheaper", "trusted", "cheap", "unknown"]


def test_parse_subcontractor_needs_name_and_http_url() -> None:
    assert parse_subcontractor("acme=http://10.0.0.1:8470/") == Provider(
        "acme", "http://10.0.0.1:8470"
    )
    for bad in ("acme", "=http://x", "acme=ftp://x", "a b=http://x"):
        with pytest.raises(InvalidInput, match="invalid subcontractor"):
            parse_subcontractor(bad)


def test_a_step_no_provider_offers_is_a_clear_error() -> None:
    with pytest.raises(StepUnavailable, match="no provider offers step vad"):
        Subcontractor().candidates(S("vad"))

    class Empty:
        def find(self, capability):
            return []

    with pytest.raises(StepUnavailable, match="vad"):
        Subcontractor(directory=Empty()).candidates(S("vad"))


def test_directory_providers_are_ranked_and_this_provider_is_left_out() -> None:
    class Directory:
        def find(self, capability):
            assert capability == "vad"
            return [
                Provider("me", "http://me", 0.99),
                Provider("b", "http://b", 0.5),
                Provider("a", "http://a", 0.8),
            ]

    found = Subcontractor(directory=Directory(), exclude={"me"}).candidates(S("vad"))
    assert [p.name for p in found] == ["a", "b"]


def through(sub, spec, parts, *, group_packets=4000, live=False, threads=4):
    """``parts`` (segment id -> packets) through a remote stage of ``spec``, as bundles."""
    stage = RemoteStage(sub, spec, live=live, group_packets=group_packets, threads=threads)
    flow = Flow([stage])
    waker = Waker()
    flow.listen(waker.notify)
    try:
        for k, sid in enumerate(sorted(parts)):
            flow.push(Bundle.of(k, parts[sid], 1))
        flow.end()
        out: list[Bundle] = []
        deadline = time.monotonic() + 30
        while len(out) < len(parts):
            got = flow.pump()
            out += got
            if not got:
                assert time.monotonic() < deadline, "the subcontracted bundles did not come back"
                waker.wait(0.2)
    finally:
        stage.close()
        waker.close()
    return out, [r.to_json() for r in stage.records()]


class _Counted:
    """Another provider's node that counts its calls, and fails each one when ``dead``."""

    def __init__(self, name: str, calls: dict[str, int], dead: bool) -> None:
        self.name, self.calls, self.dead = name, calls, dead

    def process(self, task: SegmentTask) -> SegmentResult:
        self.calls[self.name] += 1
        if self.dead:
            raise NodeError("connection refused", retriable=True)
        return SegmentResult(task.id, task.batch, ())

    def close(self) -> None:
        pass


def test_after_a_provider_fails_later_requests_start_with_the_one_that_answered() -> None:
    calls = {"dead": 0, "good": 0}
    approved = [Provider("dead", "http://d"), Provider("good", "http://g")]
    clients = lambda p: _Counted(p.name, calls, p.name == "dead")  # noqa: E731
    with Subcontractor(approved, client_factory=clients) as sub:
        # 60 packets needing the step, gathered 5 at a time: 12 requests, one thread.
        out, records = through(sub, S("invert"), segments_of_two_streams(), group_packets=5,
                               threads=1)  # fmt: skip
    assert calls == {"dead": 1, "good": 12}  # the dead provider cost one call, not twelve
    assert records == [{"step": "invert", "provider": "good", "segments": 12, "packets": 60}]
    assert [b.first for b in out] == list(range(6))


@pytest.mark.parametrize("first", ["broken", "liar"])
def test_a_failing_first_provider_is_passed_over_for_the_second(nodes, first) -> None:
    parts = segments_of_two_streams()
    approved = [Provider(first, nodes[first]), Provider("good", nodes["good"])]
    with Subcontractor(approved, client_factory=token_clients(TOKEN)) as sub:
        out, records = through(sub, S("invert"), parts, group_packets=25)
    # Bundles of 10 are gathered until 25 packets need the step: 30 go as 25 + 5, twice.
    assert records == [{"step": "invert", "provider": "good", "segments": 4, "packets": 60}]
    assert [b.first for b in out] == list(range(len(parts)))  # in order
    for bundle, sid in zip(out, sorted(parts), strict=True):
        part = parts[sid]
        assert np.array_equal(bundle.batch.index, part.index)  # each packet back in its bundle
        assert np.array_equal(bundle.batch.payload, part.payload ^ 0xFF)


def test_packets_are_grouped_across_segments_and_streams(nodes) -> None:
    parts = segments_of_two_streams(n=60, size=10)  # six segments, one stream each
    with Subcontractor(
        [Provider("good", nodes["good"])], client_factory=token_clients(TOKEN)
    ) as sub:
        out, records = through(sub, S("tag"), parts, group_packets=40)
    assert records[0]["segments"] == 2  # 60 packets in groups of at most 40
    # The tag step names each group's first packet. The first four segments (the three of
    # one stream and the first of the other) make the first group, which starts at packet 0
    # and mixes both streams; the last two segments make the second, from packet 21 on.
    assert sorted(e.start_ms for b in out for e in b.dtmf) == [0, 21]
    for bundle, sid in zip(out, sorted(parts), strict=True):
        assert same(bundle.batch, parts[sid])


def test_live_bundles_go_out_at_every_flush(nodes) -> None:
    parts = segments_of_two_streams(n=60, size=10)
    with Subcontractor(
        [Provider("good", nodes["good"])], client_factory=token_clients(TOKEN)
    ) as sub:
        out, records = through(sub, S("invert"), parts, live=True)
    assert records[0]["packets"] == 60 and len(out) == 6


def test_every_provider_failing_is_an_error_naming_each(nodes) -> None:
    approved = [Provider("broken", nodes["broken"]), Provider("liar", nodes["liar"])]
    with (
        Subcontractor(approved, client_factory=token_clients(TOKEN)) as sub,
        pytest.raises(SubcontractFailed, match=r"broken: .*500.*liar: .*wrong result"),
    ):
        through(sub, S("invert"), segments_of_two_streams())


def test_a_wrong_token_is_a_failure_of_that_provider(nodes) -> None:
    with (
        Subcontractor(
            [Provider("good", nodes["good"])], client_factory=token_clients("not-the-token")
        ) as sub,
        pytest.raises(SubcontractFailed, match="401"),
    ):
        through(sub, S("invert"), segments_of_two_streams())


def test_payload_types_are_checked_against_the_step() -> None:
    sent = make_batch(6, streams=1)
    sent = replace(sent, payload_type=np.array([8, 8, 13, 8, 101, 8], dtype=np.uint8))
    good = replace(sent, payload_type=np.array([0, 0, 13, 0, 101, 0], dtype=np.uint8))
    check_payload_types(S("transcode:pcmu"), sent, good)
    bad = replace(sent, payload_type=np.array([0, 0, 0, 0, 101, 0], dtype=np.uint8))
    with pytest.raises(Exception, match="unexpected payload types"):
        check_payload_types(S("transcode:pcmu"), sent, bad)
    with pytest.raises(Exception, match="unexpected payload types"):
        check_payload_types(S("gain:3"), sent, good)
    check_payload_types(S("gain:3"), sent, sent)
