"""The processing node's HTTP service: token, capabilities, limits and the segment round trip."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from stream_helpers import TOKEN, fake_step_factory, make_batch, same, serve_in_thread

from commex.domain.errors import InvalidInput, Unauthenticated
from commex.stream import wire
from commex.stream.node import create_node_app
from commex.stream.nodeclient import NodeClient, NodeError
from commex.stream.nodeexecutor import NodeExecutor
from commex.stream.steps.base import StepSpec
from commex.stream.subcontracting import parse_capabilities
from commex.stream.tasks import SegmentTask, run_task

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def url():
    app = create_node_app(
        {"invert", "tag"},
        TOKEN,
        step_factory=fake_step_factory,
        limits=wire.Limits(max_bytes=50_000),
    )
    with serve_in_thread(app) as base:
        yield base


@pytest.fixture
def client(url):
    with httpx.Client(base_url=url) as c:
        yield c


def frame(n: int = 20, steps=("invert",), segment: int = 4) -> bytes:
    return wire.encode(make_batch(n), {"segment": segment, "steps": list(steps)})


def test_node_lists_its_capabilities(client) -> None:
    answer = client.get("/v1/node", headers=AUTH)
    assert answer.status_code == 200
    assert answer.json()["capabilities"] == ["invert", "tag"]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]
)
def test_node_refuses_a_missing_or_wrong_token(client, headers) -> None:
    for answer in (
        client.get("/v1/node", headers=headers),
        client.post("/v1/node/process", content=frame(), headers=headers),
    ):
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthenticated"


def test_node_processes_a_segment_like_the_inline_executor(client) -> None:
    answer = client.post("/v1/node/process", content=frame(steps=("invert", "tag")), headers=AUTH)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == wire.MEDIA_TYPE
    batch, meta = wire.decode(answer.content)
    local = run_task(
        SegmentTask(4, make_batch(20), (StepSpec("invert"), StepSpec("tag"))), fake_step_factory
    )
    assert meta["segment"] == 4
    assert same(batch, local.batch)
    assert wire.events_from_meta(meta["dtmf"]) == local.dtmf


def test_node_refuses_a_step_outside_its_capabilities(client) -> None:
    answer = client.post("/v1/node/process", content=frame(steps=("invert", "vad")), headers=AUTH)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "step_not_offered"
    assert "vad" in error["message"]


def test_node_refuses_a_body_over_its_limit(client) -> None:
    answer = client.post("/v1/node/process", content=frame(n=400), headers=AUTH)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize(
    "body",
    [
        b"not a frame at all",
        wire.encode(make_batch(3), {"steps": ["invert"]}),
        wire.encode(make_batch(3), {"segment": 1}),
    ],
)
def test_node_refuses_malformed_requests_with_422(client, body) -> None:
    answer = client.post("/v1/node/process", content=body, headers=AUTH)
    assert answer.status_code == 422
    assert set(answer.json()["error"]) == {"code", "message"}


def test_node_client_checks_the_answer_and_reports_refusals(client) -> None:
    node = NodeClient(str(client.base_url), TOKEN, client=client)
    task = SegmentTask(2, make_batch(10), (StepSpec("invert"),))
    result = node.process(task)
    assert np.array_equal(result.batch.payload, task.batch.payload ^ 0xFF)
    assert node.capabilities() == {"invert", "tag"}
    with pytest.raises(NodeError, match="422") as refused:
        node.process(SegmentTask(3, make_batch(10), (StepSpec("vad"),)))
    assert not refused.value.retriable
    wrong = NodeClient(str(client.base_url), "wrong", client=client)
    with pytest.raises(NodeError, match="401"):
        wrong.process(task)


def test_node_needs_a_token() -> None:
    with pytest.raises(Unauthenticated):
        create_node_app({"gain"}, "")


def test_capabilities_are_checked_against_the_local_steps() -> None:
    assert parse_capabilities("gain, transcode") == {"gain", "transcode"}
    with pytest.raises(InvalidInput, match="unknown capabilities teleport"):
        parse_capabilities("gain,teleport")


def test_node_executor_moves_segments_off_a_failing_node(url) -> None:
    broken = FastAPI()

    @broken.post("/v1/node/process")
    async def fail() -> JSONResponse:
        return JSONResponse({"error": {"code": "boom", "message": "out of memory"}}, 503)

    batch = make_batch(200)
    tasks = [
        SegmentTask(i, batch.take(np.arange(i * 20, (i + 1) * 20)), (StepSpec("invert"),))
        for i in range(10)
    ]
    with serve_in_thread(broken) as broken_url, NodeExecutor([broken_url, url], token=TOKEN) as ex:
        results = list(ex.map_segments(tasks))
    assert sorted(r.id for r in results) == list(range(10))
    assert {r.worker for r in results} == {url}
    for r in results:
        assert np.array_equal(r.batch.payload, tasks[r.id].batch.payload ^ 0xFF)
