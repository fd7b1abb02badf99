"""`commex serve --workers 2` on SQLite: one writer process writes the bids both workers take.
Bids sent through either worker land in order and stay after a restart, answered as one
worker answers them; a retried Idempotency-Key places one bid whichever worker each try
reaches; and a writer killed under load costs 503s, never a hang or a committed bid."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench._servers import open_accounts
from serve_support import wait_until
from workers_support import (
    Serving,
    call,
    connections_on_every_worker,
    open_auction,
    serving,
    stored_bids,
)

pytestmark = pytest.mark.slow


def _script(server: Serving, seller: str, tokens: list[str]) -> list[tuple[int, object]]:
    """The same bids, good and bad, on fresh auctions: each answer without its ids and times."""
    english = open_auction(server.url, seller, "english", min_increment="1.00")
    sealed = open_auction(server.url, seller)
    if len(server.workers()) < 2:
        return _steps(server, english, sealed, tokens, None)
    with connections_on_every_worker(server, 4) as held:
        return _steps(server, english, sealed, tokens, held)


def _steps(
    server: Serving,
    english: str,
    sealed: str,
    tokens: list[str],
    held: list[tuple[int, http.client.HTTPConnection]] | None,
) -> list[tuple[int, object]]:
    steps: list[tuple[str, str, dict[str, str], str | None]] = [
        (english, tokens[0], {"amount": "10.00"}, "a"),
        (english, tokens[1], {"amount": "10.50"}, None),  # under the increment
        (english, tokens[1], {"amount": "12.00", "max_amount": "20.00"}, "b"),
        (english, tokens[2], {"amount": "15.00"}, None),  # the proxy answers it
        (english, tokens[0], {"amount": "11.00"}, "a"),  # the key of another bid
        (english, tokens[0], {"amount": "10.00"}, "a"),  # a retry: the first answer
        (sealed, tokens[0], {"amount": "7.00"}, None),
        (sealed, tokens[0], {"amount": "6.00"}, None),  # replaces the first
        (sealed, tokens[1], {"amount": "-1"}, None),
        (sealed, tokens[1], {"amount": "EUR 5"}, None),
        ("auc_00000000000000000000", tokens[1], {"amount": "5.00"}, None),
    ]
    out: list[tuple[int, object]] = []
    for i, (auction, token, body, key) in enumerate(steps):
        headers = {"Authorization": f"Bearer {token}"} | ({"Idempotency-Key": key} if key else {})
        path = f"/v1/auctions/{auction}/bids"
        if held is None:
            answer = httpx.post(server.url + path, json=body, headers=headers, timeout=30)
            status, shown = answer.status_code, answer.json()
        else:  # in turn through every worker
            status, shown = call(held[i % len(held)][1], "POST", path, body, headers)
        out.append((status, _without_ids(shown)))
    return out


def _without_ids(answer: dict[str, Any]) -> object:
    if "error" in answer:
        return answer["error"]
    bidder = dict(answer["bidder"], id="")
    return dict(answer, id="", auction_id="", created_at="", bidder=bidder)


def test_both_workers_bids_land_in_order_and_stay_answered_as_one_worker(tmp_path: Path) -> None:
    answered = {}
    for workers in (1, 2):
        data = tmp_path / f"w{workers}"
        seller, tokens = open_accounts(data, 3)
        with serving(data, workers) as server:
            answered[workers] = _script(server, seller, tokens)
    assert answered[2] == answered[1]
    assert [status for status, _ in answered[2]] == [201, 422, 201, 201, 409, 201, 201, 201,
                                                     422, 422, 404]  # fmt: skip

    data = tmp_path / "order"
    seller, tokens = open_accounts(data, 8)
    with serving(data, 2) as server, connections_on_every_worker(server, 8) as held:
        auction = open_auction(server.url, seller, "english", min_increment="0.01")
        placed: list[str] = []
        for i in range(40):  # each bid beats the one before, through worker after worker
            token = tokens[i % len(tokens)]
            status, bid = call(
                held[i % len(held)][1], "POST", f"/v1/auctions/{auction}/bids",
                {"amount": f"{10 + i}.00"}, {"Authorization": f"Bearer {token}"},
            )  # fmt: skip
            assert status == 201, bid
            placed.append(bid["id"])
        assert len({w for w, _ in held}) == 2
    # Stopped: the file holds every bid, in the order they were answered.
    assert [bid_id for bid_id, _ in stored_bids(data, auction)] == placed


def test_an_idempotency_key_places_one_bid_whichever_worker_each_try_reaches(
    tmp_path: Path,
) -> None:
    seller, tokens = open_accounts(tmp_path, 4)
    with serving(tmp_path, 2) as server, connections_on_every_worker(server, 8) as held:
        auction = open_auction(server.url, seller)
        by_worker: dict[int, list[http.client.HTTPConnection]] = {}
        for worker, connection in held:
            by_worker.setdefault(worker, []).append(connection)
        firsts = [conns[0] for conns in by_worker.values()]
        path = f"/v1/auctions/{auction}/bids"
        answers: list[tuple[int, dict[str, Any]]] = []
        barrier = threading.Barrier(len(firsts))

        def send(connection: http.client.HTTPConnection) -> None:
            headers = {"Authorization": f"Bearer {tokens[0]}", "Idempotency-Key": "once"}
            barrier.wait(10)
            answers.append(call(connection, "POST", path, {"amount": "9.00"}, headers))

        threads = [threading.Thread(target=send, args=(c,)) for c in firsts]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert [s for s, _ in answers] == [201, 201]
        assert answers[0][1] == answers[1][1]  # the same bid, answered alike
        other = {"Authorization": f"Bearer {tokens[0]}", "Idempotency-Key": "once"}
        status, refused = call(firsts[-1], "POST", path, {"amount": "9.50"}, other)
        assert status == 409 and refused["error"]["field"] == "Idempotency-Key"
    assert [bid_id for bid_id, _ in stored_bids(tmp_path, auction)] == [answers[0][1]["id"]]


def test_a_writer_killed_under_load_costs_503s_then_recovers_losing_nothing(
    tmp_path: Path,
) -> None:
    seller, tokens = open_accounts(tmp_path, 8)
    with serving(tmp_path, 2) as server:
        auction = open_auction(server.url, seller)
        path = f"{server.url}/v1/auctions/{auction}/bids"
        first_writer = server.writer_pid()
        assert first_writer is not None
        outcomes: dict[str, tuple[str, int, str | None]] = {}  # key -> token, status, bid id
        stop = threading.Event()
        failures: list[BaseException] = []

        def bidder(n: int) -> None:
            try:
                bids_of(n)
            except BaseException as exc:  # a hang (a timeout) or anything else fails the test
                failures.append(exc)
                raise

        def bids_of(n: int) -> None:
            token = tokens[n]
            with httpx.Client(timeout=15) as client:
                i = 0
                while not stop.is_set():
                    key = f"b{n}-{i}"
                    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
                    answer = client.post(path, json={"amount": f"{n + 1}.{i % 100:02d}"},
                                         headers=headers)  # fmt: skip
                    bid_id = answer.json().get("id")
                    outcomes[key] = (token, answer.status_code, bid_id)
                    i += 1
                    if answer.status_code == 503:
                        assert answer.json()["error"]["code"] == "writer_unavailable"
                        assert answer.headers["Retry-After"] == "1"
                        stop.wait(0.05)  # as a client would, before its next bid

        threads = [threading.Thread(target=bidder, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        # The bidders add to ``outcomes`` meanwhile: each check reads a copy made in one step.
        wait_until(lambda: [s for _, s, _ in list(outcomes.values())].count(201) >= 50, "bids", 60)
        os.kill(first_writer, signal.SIGKILL)
        wait_until(lambda: any(s == 503 for _, s, _ in list(outcomes.values())), "a 503", 30)
        wait_until(lambda: server.writer_pid() not in (None, first_writer), "a new writer", 60)
        seen = len(outcomes)
        wait_until(
            lambda: any(s == 201 for _, s, _ in list(outcomes.values())[seen:]),
            "bids placed again",
            60,
        )
        stop.set()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        assert failures == []
        statuses = {s for _, s, _ in outcomes.values()}
        assert statuses <= {201, 503}, statuses
        unavailable = {k: v for k, v in outcomes.items() if v[1] == 503}
        for key, (token, _, _) in unavailable.items():  # the retry a client makes
            n, i = (int(x) for x in key[1:].split("-"))
            answer = httpx.post(path, json={"amount": f"{n + 1}.{i % 100:02d}"},
                                headers={"Authorization": f"Bearer {token}",
                                         "Idempotency-Key": key}, timeout=30)  # fmt: skip
            assert answer.status_code == 201, answer.text
            outcomes[key] = (token, 201, answer.json()["id"])
    stored = {bid_id for bid_id, _ in stored_bids(tmp_path, auction)}
    acknowledged = {bid for _, _, bid in outcomes.values()}
    assert len(acknowledged) == len(outcomes)  # one bid per key, retried or not
    assert stored == acknowledged  # every bid answered is there, and no other


def test_a_live_page_on_a_worker_follows_the_bids_the_writer_commits(tmp_path: Path) -> None:
    seller, (bidder,) = open_accounts(tmp_path, 1)
    with serving(tmp_path, 2) as server:
        auction = open_auction(server.url, seller)
        changes: list[str] = []
        with httpx.stream("GET", f"{server.url}/auctions/{auction}/events", timeout=15) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                changes.append(line.removeprefix("data:").strip())
                if len(changes) == 1:  # the state the page starts from: now a bid comes
                    placed = httpx.post(
                        f"{server.url}/v1/auctions/{auction}/bids",
                        json={"amount": "5.00"},
                        headers={"Authorization": f"Bearer {bidder}"},
                        timeout=30,
                    )
                    assert placed.status_code == 201, placed.text
                else:
                    break
    assert changes[0].split("-")[1:3] == ["0", "0"]  # no bids yet
    assert changes[1].split("-")[1] == "1"  # the writer's commit, seen by the worker's page


def test_a_writer_whose_server_is_killed_ends_by_itself(tmp_path: Path) -> None:
    with serving(tmp_path, 2) as server:
        writer, workers = server.writer_pid(), server.workers()
        assert writer is not None
        socket_dir = Path(
            next(
                a
                for a in Path(f"/proc/{writer}/cmdline").read_text().split("\0")
                if a.endswith(".sock")
            )
        ).parent
        server.proc.kill()  # no SIGTERM: nothing stops the writer but its own watch
        server.proc.wait(30)
        try:
            wait_until(lambda: not Path(f"/proc/{writer}").exists() or _zombie(writer), "end", 30)
            assert not socket_dir.exists()  # it took its socket and directory with it
        finally:
            for pid in workers:  # uvicorn's workers outlive a killed supervisor: not ours to test
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
