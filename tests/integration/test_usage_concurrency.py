"""Several OS processes report usage into one contract at once, on SQLite and PostgreSQL,
together asking for more than its block (T3): exactly the block is consumed, whoever wins. And
members added at once never pass the contract's limit (T2)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from commex.adapters.clock import ManualClock
from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import build_services
from commex.domain.errors import Conflict
from commex.services.commands import AddMember, Caller, Register, RemoveMember
from commex.services.queries import ShowUsage
from commex.settings import Settings
from support.engine import close, contracts_of, open_auction, place_bid
from support.engine import members as current_members

REPORTER = Path(__file__).with_name("usage_reporter.py")
BLOCK_S = 300
NUMBERS = ["+1 415 555 0123", "+44 20 7946 0958", "+33 1 42 68 53 00", "+49 30 901820"]
# Every report asks for a multiple of 3.001 s: 300 s is no whole number of them, so the block
# always runs out in the middle of some report, which must be cut.
EACH = ["3.001", "6.002", "3.001", "9.003"]


def _setup(url: str, tmp: Path) -> tuple[str, str, list[str]]:
    """A contract of a block of ``BLOCK_S`` seconds, in service, shared by four numbers."""
    clock = ManualClock(datetime.now(UTC))
    s = build_services(Settings(tmp, url), clock=clock, hasher=Argon2Hasher(1, 1024))
    try:
        provider = s.bus.handle(Register("Carrier", ("provider",))).account
        recipient = s.bus.handle(Register("Clinic", ("recipient",))).account
        auction = open_auction(
            s.bus,
            provider.id,
            {
                "direction": "forward",
                "format": "first-price",
                "title": "shared block",
                "terms": {"service": "voice", "duration_s": BLOCK_S, "max_members": 4},
                "currency": "EUR",
                "closes_at": (clock.now() + timedelta(hours=1)).isoformat(),
            },
        )
        place_bid(s.bus, auction.id, recipient.id, "10.00")
        clock.advance(2 * 3600)
        close(s.bus, auction.id, provider.id)
        (contract,) = contracts_of(s.bus, recipient.id)
        assert contract.status.value == "active"
        members = [
            s.bus.handle(AddMember(contract.id, recipient.id, phone_number=n)).id for n in NUMBERS
        ]
    finally:
        s.shutdown()
    return contract.id, recipient.id, members


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(REPORTER), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


def _finish(proc: subprocess.Popen[str]) -> list[str]:
    """The rest of a process's output, read through the same buffered pipe as its first line."""
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, err
    return out.splitlines()


@pytest.mark.slow
def test_processes_reporting_at_once_consume_exactly_the_block(
    migrated_database_url: str, tmp_path: Path
) -> None:
    contract_id, recipient_id, members = _setup(migrated_database_url, tmp_path)
    procs = [
        _spawn(migrated_database_url, contract_id, recipient_id, m, each)
        for m, each in zip(members, EACH, strict=True)
    ]
    try:
        for p in procs:  # every process connected before any reports
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.close()
        outputs = [_finish(p) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            for pipe in (p.stdin, p.stdout, p.stderr):
                if pipe is not None:
                    pipe.close()

    block_ms = BLOCK_S * 1000
    accepted = {m: 0 for m in members}
    cut = []
    for member, each, lines in zip(members, EACH, outputs, strict=True):
        *acks, last = lines
        # Each process went on until the block was used up, and was told so.
        assert last == f"refused contract {contract_id}: the block of {BLOCK_S} s is used up"
        for line in acks:
            _, ms, how = line.split()
            accepted[member] += int(ms)
            if how == "cut":
                cut.append(int(ms))
            else:
                assert int(ms) == round(float(each) * 1000), line
    # Every one of them asked for more than was left; exactly the block was accepted, once cut.
    assert sum(accepted.values()) == block_ms
    assert len(cut) == 1
    assert 0 < cut[0] < 9003

    s = build_services(Settings(tmp_path, migrated_database_url), migrate=False)
    try:
        view = s.bus.handle(ShowUsage(contract_id, Caller(recipient_id)))
    finally:
        s.shutdown()
    assert view.contract.used_ms == block_ms
    assert view.remaining_ms == 0
    per_member = {share.member.id: share.usage.used_ms for share in view.members}
    assert per_member == accepted
    assert sum(per_member.values()) == block_ms


NEW_NUMBERS = ["+1 212 555 0100", "+1 646 555 0199", "+61 2 9374 4000", "+81 3 3224 5000"]


def test_members_added_at_once_never_pass_the_limit(
    migrated_database_url: str, tmp_path: Path
) -> None:
    """The recipient adds four numbers at once where two places are free (T2): two are added,
    two refused, and the contract never has more members than its terms allow."""
    contract_id, recipient_id, members = _setup(migrated_database_url, tmp_path)
    s = build_services(Settings(tmp_path, migrated_database_url), migrate=False)
    try:
        for m in members[2:]:
            s.bus.handle(RemoveMember(contract_id, recipient_id, m))
        start = threading.Barrier(len(NEW_NUMBERS))
        outcomes: list[str] = []

        def add(number: str) -> None:
            start.wait(timeout=30)
            try:
                s.bus.handle(AddMember(contract_id, recipient_id, phone_number=number))
                outcomes.append("added")
            except Conflict as exc:
                outcomes.append(exc.message)

        threads = [threading.Thread(target=add, args=(n,)) for n in NEW_NUMBERS]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        current = current_members(s.bus, contract_id, recipient_id)
    finally:
        s.shutdown()
    assert len(current) == 4
    full = "this contract is shared by at most 4 member(s); it has 4"
    assert sorted(outcomes) == ["added", "added", full, full]
