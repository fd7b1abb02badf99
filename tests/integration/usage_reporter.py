"""A process reporting one member's usage into a contract, for the usage concurrency test.

Usage: python usage_reporter.py URL CONTRACT_ID ACCOUNT_ID MEMBER_ID SECONDS
Prints ``ready`` once connected, waits for a line on stdin so every process starts at once,
then reports SECONDS at a time until the block is used up, printing one line per answer
(``ack ACCEPTED_MS CUT``, then ``refused MESSAGE``), flushed at once.
"""

from __future__ import annotations

import sys
from pathlib import Path

from commex.bootstrap import build_services
from commex.domain.errors import Conflict
from commex.services.commands import Caller, ReportUsage
from commex.settings import Settings

MAX_REPORTS = 1000  # far more than any block in the test; a loop that never ends fails it


def main(argv: list[str]) -> int:
    url, contract_id, account_id, member_id, seconds = argv
    services = build_services(Settings(Path("."), url), migrate=False)
    print("ready", flush=True)
    sys.stdin.readline()
    caller = Caller(account_id)
    try:
        for _ in range(MAX_REPORTS):
            try:
                answer = services.bus.handle(ReportUsage(contract_id, caller, member_id, seconds))
            except Conflict as exc:
                print(f"refused {exc.message}", flush=True)
                return 0
            m = answer.metered
            print(f"ack {m.accepted_ms} {'cut' if m.cut else 'whole'}", flush=True)
    finally:
        services.shutdown()
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
