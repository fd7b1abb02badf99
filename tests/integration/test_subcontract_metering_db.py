"""A subcontractor's nodes meter one subcontract from many threads at once, each run reported
twice (a retry), while the plane closes it, on SQLite and PostgreSQL: every run counts exactly
once, nothing counts after the close, and the charge is exactly the packets metered by then."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from commex.adapters.clock import ManualClock
from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import build_services
from commex.domain.errors import Conflict
from commex.domain.subcontracts import amount_for
from commex.services import commands as c
from commex.services import subcontract_messages as m
from commex.services.queries import ShowContractCharges
from commex.services.subcontract_results import NodeCaller
from commex.settings import Settings
from support.engine import close, open_auction, place_bid

THREADS = 6
RUNS = 12  # per thread, each reported twice


def test_concurrent_metering_counts_each_run_once_and_none_after_the_close(
    migrated_database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(datetime.now(UTC))
    s = build_services(
        Settings(tmp_path, migrated_database_url), clock=clock, hasher=Argon2Hasher(1, 1024),
        resolve=lambda _host: ["93.184.215.14"],
    )  # fmt: skip
    try:
        bus = s.bus
        recipient = bus.handle(c.Register("Clinic", ("recipient",))).account
        alpha = bus.handle(c.Register("Alpha", ("provider",))).account
        bravo = bus.handle(c.Register("Bravo", ("provider",))).account
        auction = open_auction(bus, recipient.id, {
            "direction": "reverse", "format": "first-price", "title": "processing",
            "terms": {"service": "stream-processing", "duration_s": 3600},
            "currency": "EUR", "closes_at": (clock.now() + timedelta(hours=1)).isoformat(),
        })  # fmt: skip
        place_bid(bus, auction.id, alpha.id, "40.00")
        clock.advance(2 * 3600)
        parent = close(bus, auction.id, recipient.id).outcome.winners[0].contract_id  # type: ignore[union-attr]
        bus.handle(c.PublishOffer(bravo.id, "https://b.example", ("transcode",), "0.37", "EUR"))
        bus.handle(c.AddCard(alpha.id, "4242424242424242", 12, 2040, "123"))
        sub = bus.handle(m.OpenSubcontract(parent, alpha.id, bravo.id, "transcode:pcmu"))
        sid = sub.line.subcontract.id
        node = NodeCaller(bravo.id)
        accepted: list[tuple[str, int]] = []
        refused: list[str] = []
        lock = threading.Lock()

        def meter(t: int) -> None:
            for r in range(RUNS):
                for _ in range(2):
                    run, packets = f"t{t}-r{r}", 100 + t * RUNS + r
                    try:
                        done = bus.handle(m.MeterPackets(sid, node, run, packets))
                    except Conflict as exc:
                        with lock:
                            refused.append(exc.message)
                        continue
                    if not done.repeated:
                        with lock:
                            accepted.append((run, packets))

        threads = [threading.Thread(target=meter, args=(t,)) for t in range(THREADS)]
        for t in threads:
            t.start()
        threads[0].join()  # close while the others may still be metering
        closed = bus.handle(m.CloseSubcontract(sid, alpha.id, "passed", sent=10**9))
        for t in threads:
            t.join()
        assert len({run for run, _ in accepted}) == len(accepted)  # no run counted twice
        assert closed.subcontract.packets == sum(p for _, p in accepted)
        assert all("is closed: its packets are settled" in msg for msg in refused)
        owed = amount_for(closed.subcontract.contract.price, closed.subcontract.packets)
        assert closed.charge is not None and closed.charge.amount == owed
        assert owed.amount == (Decimal("0.37") * closed.subcontract.packets / 1000).quantize(
            Decimal("0.01"), rounding="ROUND_HALF_UP"
        )
        charges = bus.handle(ShowContractCharges(sid, alpha.id)).charges
        assert [(x.payer_id, x.provider_id, x.amount) for x in charges] == [
            (alpha.id, bravo.id, owed)
        ]
    finally:
        s.shutdown()
