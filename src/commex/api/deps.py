"""Request dependencies: the services, and who is calling (a bearer token)."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from commex.bootstrap import Services
from commex.domain.accounts import Account
from commex.domain.errors import Unauthenticated

_bearer = HTTPBearer(auto_error=False, description="An API token from POST /v1/accounts")


async def services(request: Request) -> Services:
    """The app's services (async: it does no I/O, so it need not hop to the thread pool)."""
    return cast(Services, request.app.state.services)


def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Account:
    """The account behind ``Authorization: Bearer <token>``; 401 without a valid one."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("send Authorization: Bearer <token>")
    return cast(Services, request.app.state.services).auth.authenticate(credentials.credentials)


ServicesDep = Annotated[Services, Depends(services)]
CallerDep = Annotated[Account, Depends(caller)]
