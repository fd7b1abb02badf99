"""Logging in and out, signing up, and the account page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from commex.domain.accounts import Role
from commex.domain.errors import CommexError, Suspended, Throttled, Unauthenticated, status_of
from commex.services import commands as c
from commex.services.queries import ShowAccount
from commex.web.chart_pages import reputation_charts
from commex.web.forms import input_of
from commex.web.render import PageRoute, render, safe_next
from commex.web.session import (
    Checked,
    LoggedIn,
    SameOrigin,
    clear_session_cookie,
    services_of,
    set_session_cookie,
)

router = APIRouter(route_class=PageRoute)
Text = Annotated[str, Form(max_length=300)]
SIGNUP_ROLES = (Role.PROVIDER.value, Role.RECIPIENT.value)


_LOGIN_NOTICES = {
    "reset": "Your new password is set: log in with it.",
    "everywhere": "You are logged out everywhere.",
}


@router.get("/login")
def login_form(request: Request, next: str = "/", done: str = "") -> Response:
    context = {"next": safe_next(next), "name": "", "error": "", "notice": _LOGIN_NOTICES.get(done)}
    return render(request, "login.html", context)


def client_of(request: Request) -> str | None:
    """The caller's network address, which throttles count attempts by."""
    return request.client.host if request.client else None


@router.post("/login", dependencies=[SameOrigin])
def login(request: Request, name: Text = "", password: Text = "", next: Text = "/") -> Response:
    try:
        session = services_of(request).bus.handle(c.Login(name, password, client_of(request)))
    except (Unauthenticated, Suspended, Throttled) as exc:
        context = {"next": safe_next(next), "name": name, "error": exc.message}
        answer = render(request, "login.html", context, status_of(exc)[0])
        if isinstance(exc, Throttled):
            answer.headers["Retry-After"] = str(exc.retry_after)
        return answer
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(request, response, session)
    return response


@router.post("/logout")
def logout(request: Request, session: Checked) -> Response:
    services_of(request).bus.handle(c.Logout(session.token))
    response = RedirectResponse("/", status_code=303)
    clear_session_cookie(request, response)
    return response


@router.get("/signup")
def signup_form(request: Request) -> Response:
    return _signup_form(request, "", [], {})


@router.post("/signup", dependencies=[SameOrigin])
def signup(
    request: Request,
    name: Text = "",
    password: Text = "",
    roles: Annotated[list[str] | None, Form()] = None,
) -> Response:
    bus = services_of(request).bus
    chosen = [r for r in roles or [] if r in SIGNUP_ROLES]
    try:
        registered = bus.handle(
            c.Register(name, tuple(chosen), password, client=client_of(request))
        )
        session = bus.handle(c.Login(name, password, client_of(request)))
    except CommexError as exc:
        field = input_of(exc.field) or "name"
        return _signup_form(request, name, chosen, {field: exc.message}, status_of(exc)[0])
    request.state.web_session = session  # the page below already shows the new login
    response = render(
        request,
        "signup_done.html",
        {"account": registered.account, "token": registered.token},
        201,
    )
    set_session_cookie(request, response, session)
    return response


def _signup_form(
    request: Request, name: str, roles: list[str], errors: dict[str, str], status: int = 200
) -> Response:
    context = {"name": name, "roles": roles, "errors": errors, "all_roles": SIGNUP_ROLES}
    return render(request, "signup.html", context, status)


@router.get("/account")
def account_page(request: Request, session: LoggedIn) -> Response:
    notice = _NOTICES.get(request.query_params.get("done", ""), "")
    return account_view(request, session.account.id, {"notice": notice})


_NOTICES = {"password": "Your password is changed; your other sessions have ended."}


def account_view(
    request: Request, account_id: str, extra: dict[str, object], status: int = 200
) -> Response:
    """The account page, with ``extra`` (a notice, a form's errors) in its context."""
    bus = services_of(request).bus
    view = bus.handle(ShowAccount(account_id))
    context = {
        "account": view.account,
        "as_provider": view.as_provider,
        "as_recipient": view.as_recipient,
        "charts": reputation_charts(bus, view),
        "notice": "",
        "errors": {},
    }
    context.update(extra)
    return render(request, "account.html", context, status)
