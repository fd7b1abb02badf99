"""`commex device`: register a client device, and rate a contract from it with its own token."""

from __future__ import annotations

import typer

from commex.cli.common import (
    EXCHANGE_OPTION,
    JSON_OPTION,
    connect,
    console,
    handle_errors,
    print_json,
    print_rating,
    print_usage_answer,
)
from commex.client import api_token_from_env
from commex.domain.errors import Unauthenticated
from commex.services.devices import DEVICE_TOKEN_PREFIX

app = typer.Typer(help="Client devices of a recipient's users.", no_args_is_help=True)

SATISFIED_OPTION = typer.Option(
    ..., "--satisfied/--not-satisfied", help="Whether the service was satisfactory."
)
SCORE_OPTION = typer.Option(None, "--score", help="An optional score from 1 to 5.")
COMMENT_OPTION = typer.Option(None, "--comment", help="An optional comment (1,000 characters).")


@app.command("register")
@handle_errors
def register(
    name: str = typer.Argument(..., help="The device's name, e.g. 'Front desk phone'."),
    user: str = typer.Option(..., "--user", help="The user the device belongs to."),
    phone: list[str] = typer.Option(
        [], "--phone", help="A telephone number of the device (repeat for more)."
    ),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Register a device of the recipient whose API token is in COMMEX_TOKEN; prints the
    device's own token once (give it to the device as its COMMEX_TOKEN)."""
    with connect(exchange) as client:
        device = client.register_device(name, user, phone)
    if as_json:
        print_json(device)
        return
    numbers = ", ".join(device["phone_numbers"]) or "no numbers"
    console.print(f"{device['id']}  {device['name']}  ({device['user']}; {numbers})")
    console.print(f"device token (shown once): {device['token']}", soft_wrap=True)


@app.command("rate")
@handle_errors
def rate(
    contract_id: str = typer.Argument(..., help="The contract the device is a member of."),
    satisfied: bool = SATISFIED_OPTION,
    score: int | None = SCORE_OPTION,
    comment: str | None = COMMENT_OPTION,
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Rate a contract's provider from this device, with the device token in COMMEX_TOKEN."""
    with connect(exchange, token=_device_token("rate")) as client:
        rating = client.rate(contract_id, satisfied, score, comment)
    print_rating(rating, as_json)


@app.command("report")
@handle_errors
def report(
    contract_id: str = typer.Argument(..., help="The contract the device is a member of."),
    member: str = typer.Option(
        ..., "--member", help="The device's membership (or a member number on the device)."
    ),
    seconds: str = typer.Option(..., "--seconds", help="Seconds used, e.g. 90 or 1.5."),
    bytes_: int | None = typer.Option(None, "--bytes", help="Bytes carried, if known."),
    exchange: str | None = EXCHANGE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Report this device's use of a contract's block, with the device token in COMMEX_TOKEN."""
    with connect(exchange, token=_device_token("report")) as client:
        answer = client.report_usage(contract_id, member, seconds, bytes_)
    print_usage_answer(answer, as_json)


def _device_token(command: str) -> str:
    token = api_token_from_env()
    if not token.startswith(DEVICE_TOKEN_PREFIX):
        # Short enough for one line of an 80-column terminal.
        raise Unauthenticated(
            f"COMMEX_TOKEN is no device token ({DEVICE_TOKEN_PREFIX}...); see commex contract "
            f"{command}"
        )
    return token
