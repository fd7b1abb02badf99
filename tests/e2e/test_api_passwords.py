"""Passwords and sessions on every storage (memory, SQLite, PostgreSQL): an account changes its
own password (the current one is asked, the other sessions end), the operator issues a
one-time reset link (there is no mail server), and web sessions end an hour after their last
use and 12 hours after they began.

Each was missing before: a password could not be changed, a lost one could not be reset, and
a session cookie worked for seven days however long it lay unused.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from api_support import ApiWorld as World
from fastapi.testclient import TestClient

from support.pages import csrf_of

OLD = "the first passphrase"
NEW = "a better passphrase"


def browser(w: World) -> TestClient:
    """A browser of its own: its own cookie jar."""
    return TestClient(w.app, raise_server_exceptions=False, follow_redirects=False)


def logged_in(w: World, name: str, password: str) -> TestClient:
    page = browser(w)
    r = page.post("/login", data={"name": name, "password": password})
    assert r.status_code == 303, r.text
    return page


def still_in(page: TestClient) -> bool:
    r = page.get("/account")
    assert r.status_code in (200, 303), r.text
    return r.status_code == 200


def test_a_password_change_needs_the_current_one_and_ends_the_other_sessions(
    api_any_world: World,
) -> None:
    w = api_any_world
    me = w.account("Careful", "recipient", password=OLD)
    here, elsewhere = logged_in(w, "Careful", OLD), logged_in(w, "Careful", OLD)

    wrong = {"csrf": csrf_of(here), "current_password": "not the password", "new_password": NEW}
    r = here.post("/account/password", data=wrong)
    assert r.status_code == 422
    assert "the current password is not right" in r.text
    short = {"csrf": csrf_of(here), "current_password": OLD, "new_password": "short"}
    assert "new_password" in here.post("/account/password", data=short).text
    assert still_in(elsewhere)

    good = {"csrf": csrf_of(here), "current_password": OLD, "new_password": NEW}
    r = here.post("/account/password", data=good)
    assert (r.status_code, r.headers["location"]) == (303, "/account?done=password")
    assert "Your password is changed" in here.get("/account?done=password").text
    assert still_in(here)  # the session that changed it stays
    assert not still_in(elsewhere)  # every other one ended
    assert browser(w).post("/login", data={"name": "Careful", "password": OLD}).status_code == 401
    assert logged_in(w, "Careful", NEW)

    # Through the API, with the bearer token: the same rule, and the web sessions end.
    body = {"current_password": "not it", "new_password": OLD}
    r = w.post("/v1/accounts/me/password", me, json=body)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid")
    assert r.json()["error"]["field"] == "current_password"
    r = w.post("/v1/accounts/me/password", me, json={"current_password": NEW, "new_password": OLD})
    assert r.status_code == 200, r.text
    assert r.json()["sessions_ended"] == 2
    assert not still_in(here)


def test_the_operator_issues_a_reset_link_that_works_once(api_any_world: World) -> None:
    w = api_any_world
    lost = w.account("Forgetful", "recipient", password=OLD)
    stranger = w.account("Stranger", "recipient", password=OLD)
    old_session = logged_in(w, "Forgetful", OLD)
    path = f"/v1/accounts/{lost.id}/password-reset"
    r = w.post(path, stranger)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")

    r = w.post(path, w.operator)
    assert r.status_code == 201, r.text
    link = urlsplit(r.json()["url"]).path
    assert link.startswith("/reset-password/cxr_")
    page = browser(w)
    form = page.get(link)
    assert form.status_code == 200 and "Forgetful" in form.text
    assert form.headers["Referrer-Policy"] == "same-origin"
    r = page.post(link, data={"new_password": "short"})
    assert r.status_code == 422 and "new_password" in r.text
    r = page.post(link, data={"new_password": NEW})
    assert (r.status_code, r.headers["location"]) == (303, "/login?done=reset")

    assert page.get(link).status_code == 404  # used up
    assert page.post(link, data={"new_password": "yet another one"}).status_code == 404
    assert not still_in(old_session)
    assert logged_in(w, "Forgetful", NEW)

    # A newer link replaces an older one, and a link expires after 24 hours.
    first = urlsplit(w.post(path, w.operator).json()["url"]).path
    second = urlsplit(w.post(path, w.operator).json()["url"]).path
    assert page.get(first).status_code == 404
    w.clock.advance(24 * 3600)
    assert page.get(second).status_code == 404
    assert page.get("/reset-password/cxr_made_up").status_code == 404


def test_a_session_ends_after_an_idle_hour_and_after_twelve_hours(api_any_world: World) -> None:
    w = api_any_world
    w.account("Busy", "provider", password=OLD)
    idle = logged_in(w, "Busy", OLD)
    w.clock.advance(59 * 60)
    assert still_in(idle)  # used just before the hour, so its hour starts again
    w.clock.advance(59 * 60)
    assert still_in(idle)
    w.clock.advance(60 * 60)
    r = idle.get("/account")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")

    busy = logged_in(w, "Busy", OLD)
    for _ in range(23):  # used every half hour for 11.5 hours
        w.clock.advance(30 * 60)
        assert still_in(busy)
    w.clock.advance(30 * 60)
    assert not still_in(busy)  # 12 hours after it began, however busy
