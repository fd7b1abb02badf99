"""Metrics of several server processes (prometheus-client's multiprocess mode): two processes
run the exchange at the same time, each counting its own bids, closes and live clients into one
directory, and a third reads the exposition as ``/metrics`` would: the counts of both, added
up; a process that ends leaves its counts in the sums and takes its live clients with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

WRITER = r"""
import sys
from datetime import timedelta
from commex.adapters import metrics
metrics.prepare_multiprocess()
from commex.bootstrap import in_memory_services
from commex.services import commands as c
bids, refused = int(sys.argv[1]), int(sys.argv[2])
s = in_memory_services()
bus = s.bus
seller = bus.handle(c.Register("Seller", ("provider",))).account.id
buyers = [bus.handle(c.Register(f"B{i}", ("recipient",))).account.id for i in range(bids)]
closes = s.clock.now() + timedelta(hours=1)
auction = bus.handle(c.OpenAuction(seller, "forward", "first-price", "Voice",
                                   c.Terms("voice", 60), "EUR", closes)).auction.id
for i, buyer in enumerate(buyers):
    bus.handle(c.PlaceBid(auction, buyer, f"{10 + i}.00"))
for _ in range(refused):
    try:
        bus.handle(c.PlaceBid(auction, seller, "50.00"))
    except Exception:
        pass
op = bus.handle(c.Register("Op", ("operator",), operator=True)).account.id
bus.handle(c.CloseAuction(auction, op, "test"))
metrics.sse_clients(+1)
print("ready", flush=True)
sys.stdin.readline()
metrics.process_exited()
"""

READER = r"""
from commex.adapters import metrics
metrics.prepare_multiprocess()
print(metrics.exposition()[0].decode())
"""


def _read(env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", READER],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(done.stdout):
        for sample in family.samples:
            key = sample.name + "".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[key] = sample.value
    return out


def test_two_processes_add_up_and_a_finished_one_leaves_the_live_count(tmp_path: Path) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(shared))
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(bids), str(refused)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for bids, refused in ((3, 1), (4, 2))
    ]
    try:
        for w in writers:
            assert w.stdout is not None
            assert w.stdout.readline().strip() == "ready", w.stderr.read() if w.stderr else ""
        both = _read(env)
        assert both["commex_bids_accepted_total"] == 7
        assert both["commex_bids_refused_totalreason=forbidden"] == 3
        assert both["commex_auctions_closed_total"] == 2
        assert both["commex_sse_clients"] == 2
        first = writers[0]
        first.communicate("\n", timeout=60)  # it ends, as a worker does at shutdown
        assert first.returncode == 0
        after = _read(env)
        assert after["commex_bids_accepted_total"] == 7  # its counts stay in the sums
        assert after["commex_sse_clients"] == 1  # its live client is gone
    finally:
        for w in writers:
            if w.poll() is None:
                w.communicate("\n", timeout=60)
