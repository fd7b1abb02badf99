"""Who is looking at a page: the session cookie, the logged-in account, and CSRF checks.

The session itself (its token, CSRF token and expiry) lives in :mod:`commex.services.accounts`;
this module only carries it between the browser and the services.
"""

from __future__ import annotations

from typing import Annotated, cast
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from commex.bootstrap import Services
from commex.domain.errors import Forbidden, Unauthenticated
from commex.services.accounts import SESSION_TTL, csrf_ok
from commex.services.queries import CurrentSession
from commex.services.results import WebSession

COOKIE = "commex_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
_NONE = object()


def services_of(request: Request) -> Services:
    return cast(Services, request.app.state.services)


def current_session(request: Request) -> WebSession | None:
    """The live session behind the cookie, or None; looked up once per request."""
    cached = getattr(request.state, "web_session", _NONE)
    if cached is not _NONE:
        return cast(WebSession | None, cached)
    session: WebSession | None
    try:
        session = services_of(request).bus.handle(CurrentSession(request.cookies.get(COOKIE)))
    except Unauthenticated:
        session = None
    request.state.web_session = session
    return session


def require_session(request: Request) -> WebSession:
    """The logged-in session; a visitor without one is sent to the login page."""
    session = current_session(request)
    if session is None:
        raise Unauthenticated("please log in")
    return session


async def checked_session(request: Request) -> WebSession:
    """The logged-in session of a state-changing request that carried its CSRF token, in the
    form's hidden field or (from HTMX) in a header."""
    session = await run_in_threadpool(require_session, request)  # a database read
    presented = request.headers.get(CSRF_HEADER)
    if not presented:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        presented = field if isinstance(field, str) else None
    if not csrf_ok(session, presented):
        raise Forbidden("this form has expired or did not come from commex; please try again")
    return session


def same_origin(request: Request) -> None:
    """Refuse a login or signup posted from another site's page (login CSRF), which the
    session's CSRF token cannot cover because there is no session yet."""
    origin = request.headers.get("origin")
    if origin is None:
        return  # browsers send it with every form post; other clients have no page to forge
    if origin == "null" or urlsplit(origin).netloc != request.headers.get("host", ""):
        raise Forbidden("this form did not come from commex; please use the form on this site")


def set_session_cookie(request: Request, response: Response, session: WebSession) -> None:
    response.set_cookie(
        COOKIE,
        session.token,
        max_age=int(SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="lax", secure=secure_cookies(request)
    )


def secure_cookies(request: Request) -> bool:
    """Cookies are Secure when this request came over HTTPS or the exchange's public address
    (``COMMEX_PUBLIC_URL``) is https: behind a proxy that ends TLS, the request says http."""
    services = cast(Services, request.app.state.services)
    return request.url.scheme == "https" or services.settings.https


Viewer = Annotated[WebSession | None, Depends(current_session)]
LoggedIn = Annotated[WebSession, Depends(require_session)]
Checked = Annotated[WebSession, Depends(checked_session)]
SameOrigin = Depends(same_origin)
