"""A group's contract in use (G3 with T2): the service stays provided to every member of the
group, paying or sponsored, while the recipient still shares it with its devices and numbers."""

from __future__ import annotations

from typing import Any

from test_api_groups import (
    GOOD,
    ApiWorld,
    add_card,
    group_of_four,
    ok,
    open_group_auction,
    refused,
    world,  # noqa: F401 - the fixture over memory, SQLite and PostgreSQL
)

from commex.services.commands import ChargeDue
from support.engine import close_due


def _won_group_contract(w: ApiWorld) -> tuple[str, dict[str, Any]]:
    group, people = group_of_four(w)
    add_card(w, people["Ann"], GOOD)
    add_card(w, people["Bob"], GOOD)
    auction = ok(open_group_auction(w, group["id"], people["Ann"], terms={
        "service": "voice", "duration_s": 600, "max_members": 6,
    }), 201)  # fmt: skip
    seller = w.account("Northwind", "provider")
    ok(w.bid(seller, auction["id"], "75.01"), 201)
    w.clock.advance(3601)
    close_due(w.services.bus)
    w.services.bus.handle(ChargeDue())
    outcome = w.auction(people["Ann"], auction["id"])["outcome"]
    return outcome["winners"][0]["contract_id"], people


def test_group_members_stay_on_the_contract_and_the_recipient_still_shares_it(
    world: ApiWorld,  # noqa: F811
) -> None:
    w = world
    cid, people = _won_group_contract(w)
    ann, bob, dan = people["Ann"], people["Bob"], people["Dan"]
    members = ok(w.get(f"/v1/contracts/{cid}", ann))["members"]
    by_account = {m["account"]: m["id"] for m in members if m["kind"] == "account"}
    for who in (bob, dan):  # a payer who paid, a sponsored member
        r = w.client.delete(
            f"/v1/contracts/{cid}/members/{by_account[who.id]}", headers=ann.headers
        )
        refused(r, 403, "group members are not removed from it")
    # Ann is the contract's recipient (and a member, as every group member is): she shares it.
    added = ok(
        w.post(f"/v1/contracts/{cid}/members", ann, json={"phone_number": "+14155550123"}), 201
    )
    assert added["phone"] == "+14155550123"
    r = w.client.delete(f"/v1/contracts/{cid}/members/{added['id']}", headers=ann.headers)
    assert r.status_code == 200, r.text
    # Every member uses the block.
    report = {"member_id": by_account[dan.id], "seconds": 30}
    assert ok(w.post(f"/v1/contracts/{cid}/usage", dan, json=report), 201)["accepted_seconds"] == 30


def test_a_member_is_told_why_it_cannot_rate(world: ApiWorld) -> None:  # noqa: F811
    w = world
    cid, people = _won_group_contract(w)
    r = w.post(f"/v1/contracts/{cid}/ratings", people["Bob"], json={"satisfied": True})
    refused(r, 403, "only the contract's parties rate it; its recipient rates the provider")
    assert ok(w.post(f"/v1/contracts/{cid}/ratings", people["Ann"], json={"satisfied": True}), 201)
