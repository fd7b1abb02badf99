"""A bidding (or closing) process for the concurrency and crash tests.

Usage: python bidder.py URL AUCTION_ID ACCOUNT_ID COUNT START_CENTS   (COUNT 0: until refused)
       python bidder.py URL AUCTION_ID ACCOUNT_ID close
Prints one line per acknowledged action (``ack BID_ID``, ``refused CODE``, ``closed ...``),
flushed at once, so the parent knows exactly what was acknowledged before it kills us.
"""

from __future__ import annotations

import sys
from pathlib import Path

from commex.bootstrap import build_exchange
from commex.domain.errors import AuctionNotOpen
from commex.services.commands import CloseAuction, PlaceBid
from commex.settings import Settings


def main(argv: list[str]) -> int:
    url, auction_id, account_id = argv[:3]
    ex = build_exchange(Settings(Path("."), url), migrate=False)
    if argv[3] == "close":
        closing = CloseAuction(auction_id, account_id, "concurrency test closes early")
        auction = ex.handle(closing).auction
        assert auction.outcome is not None
        winners = ",".join(f"{w.bid_id}:{w.price}" for w in auction.outcome.winners)
        print(f"closed {winners}", flush=True)
        ex.dispose()
        return 0
    count, start = int(argv[3]), int(argv[4])
    until_refused = count == 0
    for i in range(count or 1_000_000):
        cents = start + i
        amount = f"{cents // 100}.{cents % 100:02d}"
        try:
            bid = ex.handle(PlaceBid(auction_id, account_id, amount)).bid
        except AuctionNotOpen:
            print("refused closed", flush=True)
            if until_refused:
                break
            continue
        print(f"ack {bid.id}", flush=True)
    ex.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
