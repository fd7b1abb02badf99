"""`commex login` and `commex logout`: save (or forget) the exchange's URL and an API token as
a profile, so later commands act as that account without COMMEX_TOKEN.

The token is never a command-line argument (it would stay in the shell's history and show in
the process list): it is asked for without echo, or read from standard input, or taken from
COMMEX_TOKEN. The profile file is readable by its owner only.
"""

from __future__ import annotations

import os
import sys

import typer

from commex.cli.common import console, handle_errors
from commex.client import ExchangeClient, profiles
from commex.domain.errors import InvalidInput, Unauthenticated

PROFILE_OPTION = typer.Option(
    profiles.DEFAULT, "--profile", envvar="COMMEX_PROFILE", help="The profile's name."
)
login_app = typer.Typer(help="Save the exchange and your API token as a profile.")
logout_app = typer.Typer(help="Forget a saved profile.")


def _token() -> str:
    token = os.environ.get("COMMEX_TOKEN", "").strip()
    if token:
        return token
    if sys.stdin.isatty():
        return str(typer.prompt("API token", hide_input=True)).strip()
    return sys.stdin.readline().strip()


@login_app.callback(invoke_without_command=True)
@handle_errors
def login(
    exchange: str = typer.Option(
        ..., "--exchange", envvar="COMMEX_EXCHANGE", help="The exchange's URL."
    ),
    profile: str = PROFILE_OPTION,
) -> None:
    """Check the API token with the exchange and save both as a profile (the token is asked
    for without echo, read from standard input, or taken from COMMEX_TOKEN)."""
    name = profiles.check_profile_name(profile)
    token = _token()
    if not token:
        raise Unauthenticated("no API token was given")
    with ExchangeClient(exchange, token) as client:
        me = client.me()
    saved = profiles.Profile(client.base_url, token, str(me["id"]), str(me["name"]))
    path = profiles.save(name, saved)
    console.print(
        f"logged in to {saved.exchange} as {saved.name} ({saved.account_id}); "
        f"profile {name!r} saved in {path}",
        highlight=False,
        soft_wrap=True,
    )


@logout_app.callback(invoke_without_command=True)
@handle_errors
def logout(profile: str = PROFILE_OPTION) -> None:
    """Forget the saved profile (the token itself stays valid on the exchange)."""
    if not profiles.remove(profile):
        raise InvalidInput(f"there is no profile {profile!r}", "profile")
    console.print(f"profile {profile!r} forgotten", highlight=False)
