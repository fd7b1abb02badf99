"""The HTTP client sends a bid again while the exchange cannot take it for a moment, always
with the same idempotency key, so a retried bid is never placed twice; refusals are not
retried, and each answer's status becomes the error a user can act on."""

from __future__ import annotations

import json

import httpx
import pytest

from commex.client import ExchangeClient
from commex.domain.errors import CommexError, Forbidden, Throttled, Unavailable, status_of

WRITER_DOWN = {"error": {"code": "writer_unavailable", "message": "the bid writer is away"}}


def client_for(answers: list[httpx.Response | Exception], seen: list[httpx.Request]):
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return ExchangeClient("http://exchange.test", "t", transport=httpx.MockTransport(handler))


def placed() -> httpx.Response:
    return httpx.Response(201, json={"id": "b-1", "amount": "12.50"})


def test_a_bid_is_sent_again_with_one_key_while_the_writer_is_down() -> None:
    seen: list[httpx.Request] = []
    slept: list[float] = []
    answers: list[httpx.Response | Exception] = [
        httpx.Response(503, json=WRITER_DOWN),
        httpx.ReadTimeout("no answer"),
        placed(),
    ]
    with client_for(answers, seen) as client:
        assert client.bid("a-1", "12.50", sleep=slept.append)["id"] == "b-1"
    keys = {r.headers["Idempotency-Key"] for r in seen}
    assert len(seen) == 3 and len(keys) == 1 and len(keys.pop()) >= 16
    assert [json.loads(r.content) for r in seen] == [{"amount": "12.50"}] * 3
    assert slept == [0.5, 1.0]


def test_the_callers_key_is_kept_and_each_bid_gets_its_own_otherwise() -> None:
    seen: list[httpx.Request] = []
    with client_for([placed(), placed(), placed()], seen) as client:
        client.bid("a-1", "1.00", idempotency_key="mine-1")
        client.bid("a-1", "2.00")
        client.bid("a-1", "3.00")
    assert seen[0].headers["Idempotency-Key"] == "mine-1"
    assert seen[1].headers["Idempotency-Key"] != seen[2].headers["Idempotency-Key"]


def test_a_writer_down_past_every_try_is_unavailable_with_its_exit_code() -> None:
    seen: list[httpx.Request] = []
    answers: list[httpx.Response | Exception] = [httpx.Response(503, json=WRITER_DOWN)] * 3
    with client_for(answers, seen) as client, pytest.raises(Unavailable) as raised:
        client.bid("a-1", "12.50", attempts=3, sleep=lambda s: None)
    assert len(seen) == 3 and "bid writer is away" in raised.value.message
    assert status_of(raised.value) == (503, 8)


def test_a_refusal_is_not_sent_again() -> None:
    seen: list[httpx.Request] = []
    refused = {"error": {"code": "forbidden", "message": "you cannot bid on your own auction"}}
    answers: list[httpx.Response | Exception] = [httpx.Response(403, json=refused)]
    with client_for(answers, seen) as client, pytest.raises(Forbidden, match="own auction"):
        client.bid("a-1", "12.50", sleep=lambda s: pytest.fail("slept"))
    assert len(seen) == 1


def test_too_many_requests_says_when_to_come_back() -> None:
    slow_down = {"error": {"code": "too_many_requests", "message": "too many attempts"}}
    answer = httpx.Response(429, json=slow_down, headers={"Retry-After": "30"})
    seen: list[httpx.Request] = []
    with client_for([answer], seen) as client, pytest.raises(Throttled) as raised:
        client.me()
    assert raised.value.retry_after == 30 and status_of(raised.value)[1] == 7


def test_an_unreachable_exchange_is_still_a_plain_error_after_every_try() -> None:
    seen: list[httpx.Request] = []
    refused = [httpx.ConnectError("connection refused")] * 2
    with client_for(list(refused), seen) as client, pytest.raises(CommexError) as raised:
        client.bid("a-1", "12.50", attempts=2, sleep=lambda s: None)
    assert type(raised.value) is CommexError and "did not answer" in raised.value.message
    assert len(seen) == 2
