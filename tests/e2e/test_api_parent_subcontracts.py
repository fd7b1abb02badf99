"""A parent contract's own subcontracts page like every other list (O4): ``limit`` and
``cursor`` in, ``next_cursor`` out, oldest first, never a duplicate or a gap while more are
opened; prices for the parent's provider only; nothing for a stranger. On every storage."""

from __future__ import annotations

from test_api_ratings import error
from test_api_subcontracts import World, market, open_sub, world

__all__ = ["world"]  # the fixture, over memory, SQLite and PostgreSQL

BAD_CURSOR = "cursor is not one this list gave; start again without it"


def test_a_contracts_subcontracts_page_with_a_cursor_while_more_are_opened(world: World) -> None:
    m = market(world, approved=("a", "b", "c"))
    path = f"/v1/contracts/{m.contract['id']}/subcontracts"
    opened = [open_sub(m, to).json()["id"] for to in (m.b, m.c, m.b)]
    first = world.get(f"{path}?limit=2", m.a).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    world.clock.advance(1)
    late = open_sub(m, m.c).json()["id"]  # opened between the pages: it comes last
    rest = world.get(f"{path}?limit=2&cursor={first['next_cursor']}", m.a).json()
    seen = [s["id"] for s in first["items"] + rest["items"]]
    assert sorted(seen) == sorted([*opened, late]) and len(set(seen)) == 4
    assert seen[-1] == late and rest["next_cursor"] is None
    assert all(s["price_per_1000_packets"] for s in first["items"] + rest["items"])

    whole = world.get(f"/v1/contracts/{m.contract['id']}", m.a).json()
    assert [s["id"] for s in whole["subcontracts"]] == seen
    assert whole["subcontracts_next_cursor"] is None  # all of them fit its first page


def test_the_recipient_sees_them_without_prices_and_a_stranger_not_at_all(world: World) -> None:
    m = market(world)
    sub = open_sub(m, m.b).json()["id"]
    path = f"/v1/contracts/{m.contract['id']}/subcontracts"
    (seen,) = world.get(path, m.recipient).json()["items"]
    assert seen["id"] == sub and seen["step"] == "transcode:pcmu"
    assert "price_per_1000_packets" not in seen and "amount" not in seen
    assert error(world.get(path, m.c), 404)["code"] == "not_found"


def test_a_cursor_of_another_list_or_a_bad_limit_is_refused_naming_it(world: World) -> None:
    m = market(world, approved=("a", "b", "c"))
    for to in (m.b, m.c):
        open_sub(m, to)
    path = f"/v1/contracts/{m.contract['id']}/subcontracts"
    mine = world.get("/v1/subcontracts?limit=1", m.a).json()["next_cursor"]
    assert error(world.get(f"{path}?cursor={mine}", m.a), 422)["message"] == BAD_CURSOR
    r = world.get(f"{path}?limit=0", m.a)
    assert r.status_code == 422 and "limit" in r.text
