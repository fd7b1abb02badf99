"""Rendering pages: the template environment, and errors as HTML pages.

Templates only lay out what the services computed; the words and numbers for people come from
:mod:`commex.presentation`, which the command line shares, and never decide a rule.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool

from commex.domain.contracts import Contract
from commex.domain.errors import CommexError, InvalidInput, Unauthenticated, status_of
from commex.presentation import (
    duration,
    ending,
    kind,
    rate,
    seconds_text,
    standing,
    time_left,
    when,
)
from commex.services.marketplace import UnreadCount
from commex.web.session import current_session, services_of

TEMPLATES = Path(__file__).parent / "templates"


def seconds_left(until: datetime, now: datetime) -> int:
    return max(0, int((until - now).total_seconds()))


def moment(at: datetime | None, seconds: bool = False) -> Markup:
    """A time for people: UTC in the page, which ``localtime.js`` shows in the viewer's own
    time zone (the ``datetime`` attribute keeps the exact instant)."""
    if at is None:
        return Markup("")
    text = escape(when(at, seconds))
    stamp = escape(at.isoformat())
    style = "seconds" if seconds else "minutes"
    return Markup(f'<time datetime="{stamp}" data-local="{style}">{text}</time>')  # noqa: S704


def _ended(c: Contract) -> str:
    """How a contract ended, in words ("" while it is in force)."""
    reason = None if c.end_reason is None else c.end_reason.value
    return ending(c.status.value, reason, c.ended_at, c.end_note)


def pairs(values: Iterable[str]) -> list[tuple[str, str]]:
    """Options whose value and label are the same text."""
    return [(v, v) for v in values]


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        kind=kind,
        time_left=time_left,
        seconds_left=seconds_left,
        when=moment,
        duration=duration,
        ended=_ended,
        standing=standing,
    )
    env.filters["rate"] = rate
    env.filters["secs"] = seconds_text
    env.filters["zip_pairs"] = pairs
    return env


templates = Jinja2Templates(env=_environment())


def render(
    request: Request, name: str, context: Mapping[str, Any] | None = None, status: int = 200
) -> Response:
    """Render ``name`` with the viewer, its CSRF token and the exchange's clock in reach."""
    session = current_session(request)
    services = services_of(request)
    base: dict[str, Any] = {
        "viewer": session.account if session else None,
        "csrf": session.csrf if session else "",
        "now": services.clock.now(),
        "unread": services.bus.handle(UnreadCount(session.account.id)) if session else 0,
    }
    base.update(context or {})
    response = templates.TemplateResponse(request, name, base, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def login_redirect(request: Request) -> Response:
    """Send a visitor who must log in to the login page, and back here afterwards."""
    target = request.url.path if request.method == "GET" else _referer_path(request)
    location = "/login?next=" + quote(target, safe="/")
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def _referer_path(request: Request) -> str:
    referer = request.headers.get("referer", "")
    origin = f"{request.url.scheme}://{request.url.netloc}"
    if referer.startswith(origin + "/"):
        return safe_next(referer[len(origin) :].split("?", 1)[0])
    return "/"


def safe_next(target: str | None) -> str:
    """A local path to return to after login; anything else (another site) goes home."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


_TITLES = {401: "Please log in", 403: "Not allowed", 404: "Not found", 409: "Too late"}


def error_page(request: Request, exc: CommexError) -> Response:
    """An error as a page with the status of its kind; a missing login goes to the login page."""
    if isinstance(exc, Unauthenticated):
        return login_redirect(request)
    status = status_of(exc)[0]
    title = _TITLES.get(status, "That did not work")
    return render(request, "error.html", {"title": title, "message": exc.message}, status)


def http_error_page(request: Request, status: int, message: str | None = None) -> Response:
    """An HTTP error (such as an address no route answers) as a page, for the server to use
    on every path outside the API."""
    if status == 404:
        message = "There is no page at this address."
    title = _TITLES.get(status, "That did not work")
    return render(request, "error.html", {"title": title, "message": message or title}, status)


class PageRoute(APIRoute):
    """A page route: errors from the services become HTML pages instead of JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except CommexError as exc:
                error = exc
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "form"))
                error = InvalidInput(f"{where}: {first.get('msg', '')}", where)
            # The page looks up who is viewing, a database read: off the event loop.
            return await run_in_threadpool(error_page, request, error)

        return page_handler
