"""The subcontract repository (a subcontract's contract, its own part and its metered runs) and
node keys, on every store."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from commex.domain.contracts import ContractKind, ContractStatus
from commex.domain.errors import Conflict
from commex.domain.money import Money
from commex.domain.nodekeys import NodeKey
from commex.domain.ratings import RatedRole, Rating
from commex.domain.subcontracts import CHECK_RATER, CheckOutcome, Subcontract
from commex.domain.terms import ServiceTerms
from commex.domain.time import to_micros
from commex.services.ports import UnitOfWorkFactory
from support.rows import T0, contract, put_accounts, put_auction_world


def sub(i: int, provider: str = "acc_s", **kw: object) -> Subcontract:
    """A subcontract of con_1 (provided by acc_p) to ``provider``."""
    c = contract(
        f"con_s{i}",
        bid_id=None,
        provider_id=provider,
        recipient_id="acc_p",
        price=Money(Decimal(3), "JPY"),
        terms=ServiceTerms("stream-processing", 3600, steps=("transcode:pcmu",)),
        status=ContractStatus.ACTIVE,
        created_at=T0 + timedelta(seconds=i),
        started_at=T0 + timedelta(seconds=i),
        kind=ContractKind.SUBCONTRACT,
        parent_contract_id="con_1",
    )
    return replace(Subcontract(c, "transcode:pcmu"), **kw)  # type: ignore[arg-type]


@pytest.fixture
def world(store: UnitOfWorkFactory) -> UnitOfWorkFactory:
    put_auction_world(store, contract(status=ContractStatus.ACTIVE))
    put_accounts(store, "acc_t")
    with store() as u:
        u.subcontracts.add(sub(1), "hash-1")
        u.subcontracts.add(sub(2, "acc_t"), "hash-2")
        u.commit()
    return store


def test_an_accounts_subcontracts_page_by_key_newest_first_while_more_are_opened(
    world: UnitOfWorkFactory,
) -> None:
    def after(key: tuple[int, str] | None, limit: int = 2) -> list[str]:
        with world(write=False) as r:
            return [s.id for s in r.subcontracts.of_account("acc_p", key, limit)]

    first = after(None)
    assert first == ["con_s2", "con_s1"]
    with world() as u:
        u.subcontracts.add(sub(3), "hash-3")  # newer than the page shown: never in the rest
        u.subcontracts.add(sub(0), "hash-0")  # older: comes after it
        u.commit()
    assert after((to_micros(T0 + timedelta(seconds=2)), "con_s2")) == ["con_s1", "con_s0"]
    assert after((to_micros(T0 + timedelta(seconds=1)), "con_s1")) == ["con_s0"]
    assert after((to_micros(T0), "con_s0")) == []


def test_a_subcontract_round_trips_with_its_contract(world: UnitOfWorkFactory) -> None:
    with world(write=False) as r:
        assert r.subcontracts.get("con_s1") == sub(1)
        assert r.subcontracts.get_for_update("con_s2") == sub(2, "acc_t")
        assert r.subcontracts.get("con_1") is None  # the parent is no subcontract
        assert r.subcontracts.work_token_hash("con_s2") == "hash-2"
        assert r.subcontracts.work_token_hash("con_9") is None
        assert r.contracts.get("con_s1") == sub(1).contract
        assert [s.id for s in r.subcontracts.under_parent("con_1")] == ["con_s1", "con_s2"]
        assert [s.id for s in r.subcontracts.of_account("acc_p", None, 10)] == ["con_s2", "con_s1"]
        assert [s.id for s in r.subcontracts.of_account("acc_t", None, 10)] == ["con_s2"]
        assert [s.id for s in r.subcontracts.of_account("acc_p", None, 1)] == ["con_s2"]
        # Both providers see it among their contracts; no auction outcome, no award-time
        # charge and no node's list of contracts to serve counts it.
        assert {c.id for c in r.contracts.for_account("acc_t")} == {"con_s2"}
        assert [c.id for c in r.contracts.for_auction("auc_1")] == ["con_1"]
        assert [c.id for c in r.contracts.of_provider("acc_s", None)] == []
        assert [c.id for c in r.charges.uncharged_contracts(10)] == ["con_1"]


def test_metering_and_closing_are_stored(world: UnitOfWorkFactory) -> None:
    closed_at = T0 + timedelta(hours=1)
    done = sub(
        1,
        packets=1330,
        outcome=CheckOutcome.DEAD_NODE,
        detail="no answer",
        closed_at=closed_at,
        contract=replace(sub(1).contract, status=ContractStatus.COMPLETED),
    )
    with world() as w:
        w.subcontracts.add_run("con_s1", "run-1", 1330, T0)
        w.subcontracts.update(done)
        w.commit()
    with world(write=False) as r:
        assert r.subcontracts.get("con_s1") == done
        assert r.contracts.get("con_s1") == done.contract
        assert r.subcontracts.run_packets("con_s1", "run-1") == 1330
        assert r.subcontracts.run_packets("con_s1", "run-2") is None
        assert r.subcontracts.run_packets("con_s2", "run-1") is None
    with world() as w, pytest.raises(Conflict) as err:
        w.subcontracts.add_run("con_s1", "run-1", 5, T0)
    assert err.value.message == "run run-1 of subcontract con_s1 is metered already"


def test_check_tallies_count_only_the_planes_automatic_ratings(world: UnitOfWorkFactory) -> None:
    def rating(i: int, contract_id: str, rated: str, key: str, ok: bool) -> Rating:
        return Rating(
            f"rat_{i}", contract_id, rated, RatedRole.PROVIDER, key, "acc_p", None, ok, None,
            None, T0,
        )  # fmt: skip

    with world() as w:
        w.ratings.add(rating(1, "con_s1", "acc_s", CHECK_RATER, True))
        w.ratings.add(rating(2, "con_s2", "acc_t", CHECK_RATER, False))
        w.ratings.add(rating(3, "con_1", "acc_p", "account:acc_r", True))  # by hand: not counted
        w.commit()
    with world(write=False) as r:
        assert r.subcontracts.check_tallies(["acc_s", "acc_t", "acc_p", "acc_r"]) == {
            "acc_s": (1, 0),
            "acc_t": (0, 1),
        }
        assert r.subcontracts.check_tallies([]) == {}


def test_node_keys_are_found_by_hash_listed_and_revoked(store: UnitOfWorkFactory) -> None:
    put_accounts(store, "acc_p", "acc_q")
    keys = [
        NodeKey("nk_1", "acc_p", "rack 1", "ab12", T0),
        NodeKey("nk_2", "acc_p", "rack 2", "cd34", T0 + timedelta(seconds=1)),
        NodeKey("nk_3", "acc_q", "other", "ef56", T0),
    ]
    with store() as w:
        for n, k in enumerate(keys):
            w.node_keys.add(k, f"hash-{n}")
        w.commit()
    with store() as w:
        w.node_keys.revoke("nk_1", T0 + timedelta(hours=1))
        w.node_keys.revoke("nk_1", T0 + timedelta(hours=2))  # once revoked, it stays so
        w.commit()
    revoked = replace(keys[0], revoked_at=T0 + timedelta(hours=1))
    with store(write=False) as r:
        assert r.node_keys.of_provider("acc_p") == [keys[1], revoked]
        assert r.node_keys.by_hash("hash-0") == revoked
        assert r.node_keys.by_hash("hash-2") == keys[2]
        assert r.node_keys.by_hash("hash-9") is None
        assert r.node_keys.get("nk_2") == keys[1]
        assert r.node_keys.get("nk_9") is None
