"""An answer's head and body reach the connection in one write; a head whose body does not
follow at once (a stream) still goes out at the end of the loop's turn, and nothing is
overtaken or lost when the connection closes."""

from __future__ import annotations

import asyncio
from typing import Any

from commex.api.protocol import HeadHoldingTransport

HEAD = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n"


class Recording:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    closing = False

    def close(self) -> None:
        self.calls.append(("close", None))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"info {name}"


async def _on_loop(steps: Any) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    raw = Recording()
    transport = HeadHoldingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    steps(transport)
    during = list(raw.calls)
    await asyncio.sleep(0)  # the turn ends
    return during, raw.calls


def test_a_head_and_its_body_go_out_in_one_write() -> None:
    def answer(t: HeadHoldingTransport) -> None:
        t.write(HEAD)
        t.write(b"{}")

    during, after = asyncio.run(_on_loop(answer))
    assert during == after == [("write", HEAD + b"{}")]


def test_a_head_alone_goes_out_at_the_end_of_the_turn() -> None:
    during, after = asyncio.run(_on_loop(lambda t: t.write(HEAD)))
    assert during == []
    assert after == [("write", HEAD)]


def test_a_head_held_for_a_connection_lost_meanwhile_is_dropped() -> None:
    def answer_then_lose(t: HeadHoldingTransport) -> None:
        t.write(HEAD)
        t._transport.closing = True  # type: ignore[attr-defined]  # the peer went away

    during, after = asyncio.run(_on_loop(answer_then_lose))
    assert during == after == []


def test_closing_writes_the_held_head_first_and_other_writes_are_not_held() -> None:
    def answer_and_close(t: HeadHoldingTransport) -> None:
        t.write(b"0\r\n\r\n")
        t.write(HEAD)
        assert t.get_write_buffer_size() == len(HEAD)
        t.close()

    during, after = asyncio.run(_on_loop(answer_and_close))
    assert during == after == [("write", b"0\r\n\r\n"), ("write", HEAD), ("close", None)]


def test_everything_else_is_the_connection_s_own() -> None:
    loop = asyncio.new_event_loop()
    try:
        transport = HeadHoldingTransport(Recording(), loop)  # type: ignore[arg-type]
        assert transport.get_extra_info("peername") == "info peername"
    finally:
        loop.close()
