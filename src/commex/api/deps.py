"""Request dependencies: the services, and who is calling (a bearer token)."""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from commex.bootstrap import Services
from commex.domain.accounts import Account
from commex.domain.errors import Forbidden, Unauthenticated
from commex.domain.members import Device
from commex.domain.nodekeys import NODE_KEY_PREFIX
from commex.services.bus import MessageBus
from commex.services.commands import Caller
from commex.services.devices import DEVICE_TOKEN_PREFIX
from commex.services.queries import Authenticate, AuthenticateDevice

bearer = HTTPBearer(auto_error=False, description="An API token from POST /v1/accounts")
_SEND_BEARER = "send Authorization: Bearer <token>"


async def services(request: Request) -> Services:
    """The app's services (async: it does no I/O, so it need not hop to the thread pool)."""
    return cast(Services, request.app.state.services)


async def bus(request: Request) -> MessageBus:
    """The app's message bus."""
    return cast(Services, request.app.state.services).bus


async def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Account:
    """The account behind ``Authorization: Bearer <token>``; 401 without a valid one."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated(_SEND_BEARER)
    return await account_for_token(
        cast(Services, request.app.state.services), credentials.credentials
    )


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; Unauthenticated without one."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated(_SEND_BEARER)
    return token


async def account_for_token(services: Services, token: str) -> Account:
    """The account ``token`` belongs to. Async: a token seen in the last second is answered
    from the token cache on the event loop; only a database lookup goes to the thread pool."""
    if token.startswith(DEVICE_TOKEN_PREFIX):
        raise Forbidden("a device token may only rate and report usage on its contracts")
    if token.startswith(NODE_KEY_PREFIX):
        raise Forbidden("a node key may only check and meter work under its subcontracts")
    cached = services.tokens.account(token)
    if cached is not None:
        return cached
    return await _looked_up(services, token)


# Token -> its lookup under way, per token cache: callers that present a token while it is
# being looked up await that lookup instead of starting their own (when a busy token's second
# runs out, every request in flight with it would otherwise read the database at once).
_LOOKUPS: weakref.WeakKeyDictionary[object, dict[str, asyncio.Future[Account]]] = (
    weakref.WeakKeyDictionary()
)


async def _looked_up(services: Services, token: str) -> Account:
    loop = asyncio.get_running_loop()
    lookups = _LOOKUPS.setdefault(services.tokens, {})
    pending = lookups.get(token)
    if pending is None or pending.get_loop() is not loop:
        pending = asyncio.ensure_future(run_in_threadpool(services.bus.handle, Authenticate(token)))
        lookups[token] = pending
        pending.add_done_callback(lambda done: _forget(lookups, token, done))
    # Shielded: a caller that goes away (its client hung up) does not cancel the others' lookup.
    return await asyncio.shield(pending)


def _forget(lookups: dict[str, asyncio.Future[Account]], token: str, done: object) -> None:
    if lookups.get(token) is done:
        del lookups[token]
    if isinstance(done, asyncio.Future) and not done.cancelled():
        done.exception()  # seen here: an unwanted lookup's refusal is not "never retrieved"


@dataclass(frozen=True, slots=True)
class AnyCaller:
    """An account, or a client device (device tokens may only rate and report usage)."""

    account: Account | None = None
    device: Device | None = None

    @property
    def caller(self) -> Caller:
        """Who acts on a contract, as the services name it."""
        return Caller(account_id=self.account.id if self.account else None, device=self.device)


def account_or_device(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> AnyCaller:
    """Who is calling, where a device's own token is accepted as well as an account's."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated(_SEND_BEARER)
    found = cast(Services, request.app.state.services)
    token = credentials.credentials
    if token.startswith(DEVICE_TOKEN_PREFIX):
        return AnyCaller(device=found.bus.handle(AuthenticateDevice(token)))
    return AnyCaller(account=found.bus.handle(Authenticate(token)))


async def optional_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Account | None:
    """The caller where a token is optional (opening an account); a bad token is still 401."""
    if credentials is None:
        return None
    return await caller(request, credentials)


ServicesDep = Annotated[Services, Depends(services)]
BusDep = Annotated[MessageBus, Depends(bus)]
OptionalCallerDep = Annotated[Account | None, Depends(optional_caller)]
CallerDep = Annotated[Account, Depends(caller)]
AnyCallerDep = Annotated[AnyCaller, Depends(account_or_device)]
