"""Requests that present a token the cache does not hold share one database lookup of it."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from commex.api.deps import account_for_token
from commex.bootstrap import in_memory_services
from commex.domain.errors import Unauthenticated
from commex.services.commands import Register
from commex.services.queries import Authenticate


def test_concurrent_requests_with_one_token_share_its_lookup() -> None:
    services = in_memory_services()
    try:
        token = services.bus.handle(Register("Ann", ("recipient",))).token
        services.tokens.clear()
        lookups: list[str] = []
        release = threading.Event()
        handle = services.bus.handle

        def counting(message: Any) -> Any:
            if isinstance(message, Authenticate):
                lookups.append(message.token or "")
                release.wait(10)  # the others arrive while this lookup is under way
            return handle(message)

        services.bus.handle = counting  # type: ignore[method-assign]

        async def eight() -> list[str]:
            calls = [asyncio.ensure_future(account_for_token(services, token)) for _ in range(8)]
            await asyncio.sleep(0)  # every call has started and waits
            release.set()
            return [a.id for a in await asyncio.gather(*calls)]

        ids = asyncio.run(eight())
        assert len(set(ids)) == 1 and lookups == [token]
    finally:
        services.shutdown()


def test_a_refused_token_is_refused_to_every_request_that_shared_its_lookup() -> None:
    services = in_memory_services()
    try:

        async def three() -> list[BaseException | object]:
            calls = [account_for_token(services, "cx_" + "x" * 40) for _ in range(3)]
            return await asyncio.gather(*calls, return_exceptions=True)

        answers = asyncio.run(three())
        assert all(isinstance(a, Unauthenticated) for a in answers)
    finally:
        services.shutdown()


@pytest.mark.parametrize("wait", [False, True])
def test_a_caller_that_goes_away_leaves_the_others_their_answer(wait: bool) -> None:
    services = in_memory_services()
    try:
        token = services.bus.handle(Register("Bo", ("recipient",))).token
        services.tokens.clear()

        async def one_gives_up() -> str:
            leaving = asyncio.ensure_future(account_for_token(services, token))
            staying = asyncio.ensure_future(account_for_token(services, token))
            if wait:
                await asyncio.sleep(0)
            leaving.cancel()
            return (await staying).name

        assert asyncio.run(one_gives_up()) == "Bo"
    finally:
        services.shutdown()
