"""What every command shares: the way in (the exchange over HTTP with an account's token, from
``COMMEX_TOKEN`` or a profile saved by ``commex login``), errors, and output.

Commands that act as an account never open the database: only the administrator's commands
(``db``, ``operator``, ``serve``, ``demo``) do, and they need access to the database file.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from commex.domain.errors import CommexError, InvalidInput, status_of

if TYPE_CHECKING:
    from commex.client import ExchangeClient

console = Console()
err_console = Console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")

EXCHANGE_OPTION = typer.Option(
    None,
    "--exchange",
    envvar="COMMEX_EXCHANGE",
    help="The exchange's URL (or COMMEX_EXCHANGE; by default the one `commex login` saved).",
)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts instead of a table.")


class LogFormat(StrEnum):
    json = "json"
    text = "text"


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


LOG_FORMAT = typer.Option(
    LogFormat.json, "--log-format", help="Log lines on stderr: json (one object a line) or text."
)
LOG_LEVEL = typer.Option(LogLevel.info, "--log-level", help="The least level of commex's logs.")
_DURATION = re.compile(r"^(\d{1,7})([smhd])$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: object) -> str:
    """Text that came from elsewhere (the exchange, another provider's node), safe to print:
    no terminal control sequences and no console markup."""
    return escape(_CONTROL.sub("?", str(text)))


def connect(
    exchange: str | None, *, token: str | None = None, anonymous: bool = False
) -> ExchangeClient:
    """A client of the exchange at ``exchange`` (else the saved profile's), acting with
    ``token`` or the account's (``COMMEX_TOKEN``, else the saved profile's); ``anonymous``
    for the one call that needs none (opening an account)."""
    from commex.client import ExchangeClient, api_token_from_env, profiles

    saved = profiles.load(profiles.profile_name())
    url = exchange or (saved.exchange if saved else None)
    if not url:
        raise InvalidInput(
            "which exchange? give --exchange URL, set COMMEX_EXCHANGE, or run `commex login`",
            "exchange",
        )
    if anonymous:
        return ExchangeClient(url, None)
    return ExchangeClient(url, token or api_token_from_env())


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a commex error into one clear line on stderr and the exit code of its kind."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except CommexError as exc:
            where = f" ({exc.field})" if exc.field else ""
            err_console.print(
                f"[bold red]error{plain(where)}:[/] {plain(exc.message)}", highlight=False
            )
            raise typer.Exit(status_of(exc)[1]) from exc

    return wrapper


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def parse_duration(text: str, field: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``3d``."""
    m = _DURATION.match(text.strip())
    if m is None:
        raise InvalidInput(f"{field} must look like 90s, 15m, 2h or 3d; got {text!r}", field)
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m[2]]
    return timedelta(**{unit: int(m[1])})


def print_rating(rating: dict[str, Any], as_json: bool) -> None:
    """A rating the exchange recorded, as JSON or one line."""
    if as_json:
        print_json(rating)
        return
    verdict = "satisfied" if rating["satisfied"] else "not satisfied"
    console.print(f"rated {rating['rated_role']} {rating['rated_id']}: {verdict}", highlight=False)


def print_usage_answer(answer: dict[str, Any], as_json: bool) -> None:
    """What a usage report consumed of the block, as JSON or one line (and why any was cut)."""
    if as_json:
        print_json(answer)
        return
    console.print(
        f"accepted {answer['accepted_seconds']} s; {answer['remaining_seconds']} s remain "
        f"(session {answer['session']['id']})",
        highlight=False,
    )
    if answer.get("cut"):
        err_console.print(f"[yellow]not all was accepted:[/] {answer['cut']}", highlight=False)
