"""The operator's pages through HTTP, as a browser without JavaScript sees them: escaped, CSRF
protected, a reason required, and refused to anyone else (the Chromium tests drive every
action; these pin the edges)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from commex.services import commands as c
from commex.services import queries as q
from support.pages import csrf_of
from support.worlds import PASSWORD, START, WebWorld, web_world


@pytest.fixture
def world() -> Iterator[WebWorld]:
    made = web_world(START)
    yield made
    made.close()


def _operator(w: WebWorld) -> tuple[TestClient, str]:
    w.bus.handle(c.Register("Moderator", ("operator",), PASSWORD, operator=True))
    page = w.browser()
    assert page.post("/login", data={"name": "Moderator", "password": PASSWORD}).status_code == 303
    return page, csrf_of(page)


def test_found_names_are_shown_as_text_never_as_markup(world: WebWorld) -> None:
    world.person("<b>Mallory</b>", "recipient")
    page, _ = _operator(world)
    found = page.get("/operator", params={"q": "mallory"})
    assert found.status_code == 200
    assert "&lt;b&gt;Mallory&lt;/b&gt;" in found.text
    assert "<b>Mallory</b>" not in found.text


def test_a_suspension_needs_a_reason_and_the_csrf_token(world: WebWorld) -> None:
    _, target = world.person("Harbour Family", "recipient")
    page, csrf = _operator(world)
    path = f"/operator/accounts/{target}/suspend"
    no_token = page.post(path, data={"reason": "spam", "q": "Harbour"})
    assert no_token.status_code == 403
    no_reason = page.post(path, data={"csrf": csrf, "reason": " ", "q": "Harbour"})
    assert no_reason.status_code == 422
    assert "a reason is required" in no_reason.text
    assert not world.bus.handle(q.ShowAccount(target)).account.suspended
    done = page.post(path, data={"csrf": csrf, "reason": "spam", "q": "Harbour"})
    assert (done.status_code, done.headers["location"]) == (
        303,
        "/operator?q=Harbour&done=suspended",
    )
    assert world.bus.handle(q.ShowAccount(target)).account.suspension_reason == "spam"


def test_the_pages_are_refused_to_anyone_but_the_operator(world: WebWorld) -> None:
    visitor = world.browser()
    assert visitor.get("/operator").status_code == 303  # to the login page
    member, target = world.person("Harbour Family", "recipient")
    page = member.get("/operator", params={"q": "Harbour"})
    assert page.status_code == 403 and "Not allowed" in page.text
    answer = member.post(
        f"/operator/accounts/{target}/suspend", data={"csrf": csrf_of(member), "reason": "x"}
    )
    assert answer.status_code == 403
    assert not world.bus.handle(q.ShowAccount(target)).account.suspended
