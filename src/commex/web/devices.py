"""A recipient's client devices: the list, and registering one (its token shown this once)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from commex.domain.errors import CommexError, Unauthenticated, status_of
from commex.services import commands as c
from commex.services import queries as q
from commex.web.forms import input_of, phone_list
from commex.web.render import PageRoute, render
from commex.web.session import Checked, LoggedIn, services_of

router = APIRouter(route_class=PageRoute)
Text = Annotated[str, Form(max_length=300)]


@router.get("/devices")
def devices_page(request: Request, session: LoggedIn) -> Response:
    return _page(request, session.account.id, {}, {})


@router.post("/devices")
def register_device(
    request: Request,
    session: Checked,
    name: Text = "",
    user: Text = "",
    phone_numbers: Text = "",
) -> Response:
    """Register a device of one of the recipient's users; the services check every field."""
    me = session.account.id
    values = {"name": name, "user": user, "phone_numbers": phone_numbers}
    try:
        cmd = c.RegisterDevice(me, name, user, tuple(phone_list(phone_numbers)))
        registered = services_of(request).bus.handle(cmd)
    except Unauthenticated:
        raise
    except CommexError as exc:
        field = input_of(exc.field)
        errors = {field: exc.message} if field else {}
        return _page(request, me, values, errors, "" if field else exc.message, status_of(exc)[0])
    context = {"registered": registered.device, "token": registered.token}
    return _page(request, me, {}, {}, extra=context, status=201)


def _page(
    request: Request,
    me: str,
    values: dict[str, str],
    errors: dict[str, str],
    problem: str = "",
    status: int = 200,
    extra: dict[str, object] | None = None,
) -> Response:
    context: dict[str, object] = {
        "devices": services_of(request).bus.handle(q.DevicesOf(me)),
        "values": values,
        "errors": errors,
        "problem": problem,
        "registered": None,
        "token": "",
    }
    context.update(extra or {})
    return render(request, "devices.html", context, status)
