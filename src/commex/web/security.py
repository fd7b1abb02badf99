"""An account's own security on the pages (O3): change the password (the current one is asked;
the other sessions end), log out everywhere, and set a new password through a one-time reset
link the operator handed over."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from commex.domain.errors import CommexError, NotFound, Throttled, Unauthenticated, status_of
from commex.services import trust_messages as m
from commex.web.accounts import account_view, client_of
from commex.web.render import PageRoute, render
from commex.web.session import Checked, SameOrigin, clear_session_cookie, services_of

router = APIRouter(route_class=PageRoute)
Secret = Annotated[str, Form(max_length=300)]


@router.post("/account/password")
def change_password(
    request: Request, session: Checked, current_password: Secret = "", new_password: Secret = ""
) -> Response:
    """Change the password; this session stays, every other one ends."""
    cmd = m.ChangePassword(
        session.account.id, current_password, new_password, session.token, client_of(request)
    )
    try:
        services_of(request).bus.handle(cmd)
    except Unauthenticated:
        raise
    except CommexError as exc:
        field = exc.field or "current_password"
        answer = account_view(
            request, session.account.id, {"errors": {field: exc.message}}, status_of(exc)[0]
        )
        if isinstance(exc, Throttled):
            answer.headers["Retry-After"] = str(exc.retry_after)
        return answer
    return RedirectResponse("/account?done=password", status_code=303)


@router.post("/account/sessions/end")
def log_out_everywhere(request: Request, session: Checked) -> Response:
    """End every session of the account, this one too."""
    services_of(request).bus.handle(m.EndSessions(session.account.id, session.account.id))
    response = RedirectResponse("/login?done=everywhere", status_code=303)
    clear_session_cookie(request, response)
    return response


@router.get("/reset-password/{token}")
def reset_form(request: Request, token: str) -> Response:
    account = services_of(request).bus.handle(m.ResetLinkAccount(token))
    return _form(request, token, account.name, "")


@router.post("/reset-password/{token}", dependencies=[SameOrigin])
def reset(request: Request, token: str, new_password: Secret = "") -> Response:
    bus = services_of(request).bus
    try:
        bus.handle(m.ResetPassword(token, new_password))
    except NotFound:
        raise
    except CommexError as exc:
        account = bus.handle(m.ResetLinkAccount(token))
        return _form(request, token, account.name, exc.message, status_of(exc)[0])
    return RedirectResponse("/login?done=reset", status_code=303)


def _form(request: Request, token: str, name: str, error: str, status: int = 200) -> Response:
    context = {"token": token, "name": name, "error": error}
    response = render(request, "reset_password.html", context, status)
    # The link is a secret: no other site sees it in a Referer. (Not "no-referrer": with it
    # the browser posts the form with "Origin: null", which the login-CSRF check refuses.)
    response.headers["Referrer-Policy"] = "same-origin"
    return response
