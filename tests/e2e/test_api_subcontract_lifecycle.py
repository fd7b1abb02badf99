"""How a contract's lifecycle (issue 16) reaches its subcontracts (S10), through the HTTP API,
on every storage: a parent cancelled by the operator closes its open subcontracts with it and
charges the packets they metered, without rating anybody; the operator may cancel one
subcontract alone and refund its charge; nothing is given on, since a subcontract had no
auction of its own."""

from __future__ import annotations

from typing import Any

from test_api_ratings import bearer, error, reputation
from test_api_subcontracts import Market, market, node_key, open_sub, world

from commex.services.commands import ChargeDue

__all__ = ["world"]  # the fixture, shared with the subcontract story

World = Any


def _metered(m: Market, to: Any, packets: int, key: str) -> dict[str, Any]:
    sub = open_sub(m, to).json()
    r = m.w.post(
        f"/v1/subcontracts/{sub['id']}/packets", json={"run_id": "r1", "packets": packets},
        headers=bearer(key),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return dict(sub)


def test_cancelling_the_parent_closes_its_open_subcontracts_and_charges_their_packets(
    world: World,
) -> None:
    m = market(world, approved=())
    key = node_key(world, m.b)
    done = _metered(m, m.b, 400, key)
    ok = world.post(f"/v1/subcontracts/{done['id']}/outcome", m.a, json={"outcome": "passed"})
    assert ok.status_code == 200, ok.text
    still_open = _metered(m, m.b, 1000, key)

    body = {"reason": "the recipient's card was reported stolen"}
    r = world.post(f"/v1/contracts/{m.contract['id']}/cancel", world.operator, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["contract"]["status"] == "cancelled"

    seen = world.get(f"/v1/subcontracts/{still_open['id']}", m.a).json()
    assert (seen["status"], seen["end_reason"], seen["outcome"]) == (
        "cancelled", "parent_cancelled", None
    )  # fmt: skip
    assert seen["closed_at"] == world.clock.now().isoformat()
    assert f"contract {m.contract['id']} was cancelled" in seen["end_note"]
    assert seen["rating"] is None  # no check ran: nobody is rated for it
    assert seen["charge"]["amount"] == "2.50"  # 2.50 per 1,000 packets x 1,000, they were done
    closed_before = world.get(f"/v1/subcontracts/{done['id']}", m.a).json()
    assert (closed_before["status"], closed_before["end_reason"]) == ("completed", "checked")
    assert reputation(world, m.a, m.b.id, "provider")["count"] == 1  # the earlier check only

    # Nothing more is metered or closed under it; the plane is told how it ended.
    more = world.post(
        f"/v1/subcontracts/{still_open['id']}/packets", json={"run_id": "r2", "packets": 5},
        headers=bearer(key),
    )  # fmt: skip
    assert "is closed" in error(more, 409)["message"]
    late = world.post(
        f"/v1/subcontracts/{still_open['id']}/outcome", m.a, json={"outcome": "passed"}
    )
    assert "parent contract was cancelled" in error(late, 409)["message"]
    assert error(open_sub(m, m.b), 409)["code"] == "conflict"


def test_the_operator_cancels_one_subcontract_and_refunds_its_charge(world: World) -> None:
    m = market(world, approved=())
    sub = _metered(m, m.c, 2000, node_key(world, m.c))  # 1.75 per 1,000: 3.50 EUR
    body = {"reason": "the node sent another provider's results", "reaward": True}
    for who in (m.a, m.b, m.recipient):
        refused = world.post(f"/v1/contracts/{sub['id']}/cancel", who, json=body)
        assert refused.status_code in (403, 404), refused.text
    r = world.post(f"/v1/contracts/{sub['id']}/cancel", world.operator, json=body)
    assert r.status_code == 200, r.text
    assert (r.json()["contract"]["status"], r.json()["contract"]["end_reason"]) == (
        "cancelled", "operator"
    )  # fmt: skip
    assert r.json()["reawarded"] is None
    again = world.post(f"/v1/contracts/{sub['id']}/cancel", world.operator, json=body)
    assert "was cancelled on" in error(again, 409)["message"]
    parent = world.get(f"/v1/contracts/{m.contract['id']}", m.a).json()
    assert parent["status"] == "active"

    world.services.bus.handle(ChargeDue())
    charge = world.get(f"/v1/subcontracts/{sub['id']}", m.a).json()["charge"]
    assert (charge["amount"], charge["status"]) == ("3.50", "succeeded")
    refund = {"amount": "3.50", "reason": "the work was not ours to pay"}
    path = f"/v1/charges/{charge['id']}/refunds"
    assert world.post(path, m.a, json=refund).status_code == 403
    r = world.post(path, world.operator, json=refund)
    assert r.status_code == 201, r.text
    payouts = world.get(f"/v1/contracts/{sub['id']}/charges", m.a).json()["payouts"]
    assert [(p["provider_id"], p["amount"]) for p in payouts] == [
        (m.c.id, "3.50"), (m.c.id, "-3.50")
    ]  # fmt: skip
    # the cancel and the refund: one entry each in the audit trail, by the operator, with why
    op_id = world.operator.id
    trail = world.get(f"/v1/audit?subject={sub['id']}", world.operator).json()["items"]
    assert [(i["actor"], i["reason"]) for i in trail if i["action"] == "contract.cancelled"] == [
        (op_id, "operator: the node sent another provider's results")
    ]
    trail = world.get(f"/v1/audit?subject={charge['id']}", m.a).json()["items"]
    assert [(i["action"], i["actor"]) for i in trail] == [("charge.refunded", op_id)]
