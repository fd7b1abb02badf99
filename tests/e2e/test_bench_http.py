"""The instrument of ``bench http`` works: wrk loads a server for a second and the harness reads
back a rate of successful answers, the failures counted apart, and the latency percentiles; and
its bid requests are bids that commex accepts and keeps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench import _wrk
from bench._servers import Server, commex_serve, open_accounts, open_market, starlette_baseline

ONE_SECOND = _wrk.Settings(connections=4, threads=1, seconds=1)
TOKENS = ["cx_bench_a", "cx_bench_b"]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with starlette_baseline(tmp_path_factory.mktemp("baseline")) as server:
        yield server


def test_a_second_of_bids_on_the_baseline_gives_a_rate_and_percentiles(baseline: Server) -> None:
    load = _wrk.run(baseline.url, ONE_SECOND, ["/v1/auctions/auc_1/bids"], TOKENS)

    assert load.ok > 0
    assert load.rate == pytest.approx(load.ok / load.seconds)
    assert load.not_ok == 0
    assert load.socket_errors == 0
    assert 0 < load.p50_ms <= load.p99_ms <= load.max_ms


def test_answers_that_are_not_2xx_are_counted_apart_and_not_in_the_rate(
    baseline: Server,
) -> None:
    load = _wrk.run(baseline.url, ONE_SECOND, ["/v1/no-such-thing"], TOKENS)

    assert load.not_ok > 0
    assert load.ok == 0
    assert load.rate == 0


def test_a_plain_run_gets_the_url(baseline: Server) -> None:
    load = _wrk.run(f"{baseline.url}/v1/health", ONE_SECOND)

    assert load.ok > 0
    assert load.not_ok == 0


def test_the_bid_requests_are_bids_commex_serve_accepts_and_keeps(tmp_path: Path) -> None:
    seller, tokens = open_accounts(tmp_path / "data", bidders=3)
    with commex_serve(tmp_path / "data") as server:
        market = open_market(server.url, seller, tokens, auctions=2)
        load = _wrk.run(server.url, ONE_SECOND, market.paths, market.tokens)

        assert load.ok > 0
        assert load.not_ok == 0
        kept = 0  # a sealed auction shows each bidder its own bids, replaced ones included
        for path in market.paths:
            for token in market.tokens:
                auction = httpx.get(
                    server.url + path.removesuffix("/bids"),
                    headers={"Authorization": f"Bearer {token}"},
                ).json()
                kept += len(auction["bids"])
    # wrk stops counting at its deadline; a bid in flight then (one a connection) may be kept
    assert load.ok <= kept <= load.ok + ONE_SECOND.connections
