"""HTTP clients of the exchange, for programs that are not the server: processing nodes that
publish their offers, packet planes that look for subcontractors, bidding bots and devices.

Every call presents an API token (``COMMEX_TOKEN`` by default); the server's JSON errors come
back as the same commex errors the library raises.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from commex.domain.errors import (
    CommexError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from commex.stream.subcontracting import Provider

_BY_STATUS: dict[int, type[CommexError]] = {
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: InvalidInput,
}


def api_token_from_env() -> str:
    """The API token in ``COMMEX_TOKEN``; a missing one is a clear error."""
    token = os.environ.get("COMMEX_TOKEN", "").strip()
    if not token:
        raise Unauthenticated("set COMMEX_TOKEN to your API token to talk to the exchange")
    return token


class ExchangeClient:
    """A small client of the exchange's ``/v1`` API."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidInput(f"the exchange URL must be http(s)://..., not {base_url!r}", "url")
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CommexError(
                f"the exchange at {self._http.base_url} did not answer: {exc}"
            ) from exc
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                message, field = str(error["message"]), error.get("field")
            except (ValueError, KeyError, TypeError):
                message, field = f"the exchange answered {response.status_code}", None
            raise _BY_STATUS.get(response.status_code, CommexError)(message, field)
        return response.json()

    def me(self) -> dict[str, Any]:
        """The account behind the token."""
        result: dict[str, Any] = self._call("GET", "/v1/accounts/me")
        return result

    def publish_offer(
        self, node_url: str, capabilities: list[str], price: str, currency: str
    ) -> dict[str, Any]:
        """Publish this provider's processing offer."""
        body = {
            "node_url": node_url,
            "capabilities": capabilities,
            "price": price,
            "currency": currency,
        }
        result: dict[str, Any] = self._call("PUT", "/v1/providers/me/offer", json=body)
        return result

    def providers(self, capability: str) -> list[dict[str, Any]]:
        """Offers of ``capability``, best reputation first, then lower price."""
        items: list[dict[str, Any]] = self._call(
            "GET", "/v1/providers", params={"capability": capability}
        )["items"]
        return items

    def contract(self, contract_id: str) -> dict[str, Any]:
        """A contract of the caller's, with its members and ratings."""
        result: dict[str, Any] = self._call("GET", f"/v1/contracts/{contract_id}")
        return result

    def rate(
        self,
        contract_id: str,
        satisfied: bool,
        score: int | None = None,
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Rate the other side of a contract: with an account's token as a party, or with a
        device's token (``cxd_...``) as a member device of the recipient."""
        body: dict[str, Any] = {"satisfied": satisfied}
        if score is not None:
            body["score"] = score
        if comment is not None:
            body["comment"] = comment
        result: dict[str, Any] = self._call(
            "POST", f"/v1/contracts/{contract_id}/ratings", json=body
        )
        return result

    def register_device(
        self, name: str, user: str, phone_numbers: list[str] | None = None
    ) -> dict[str, Any]:
        """Register a client device of the recipient's user; the answer holds its token, shown
        this once."""
        body = {"name": name, "user": user, "phone_numbers": list(phone_numbers or [])}
        result: dict[str, Any] = self._call("POST", "/v1/devices", json=body)
        return result

    def add_member(
        self,
        contract_id: str,
        *,
        device_id: str | None = None,
        phone_number: str | None = None,
        account_id: str | None = None,
    ) -> dict[str, Any]:
        """Share the caller's contract with one device, telephone number or recipient account."""
        given = {
            "device_id": device_id,
            "phone_number": phone_number,
            "account_id": account_id,
        }
        body = {k: v for k, v in given.items() if v is not None}
        if len(body) != 1:
            raise InvalidInput("give exactly one of device_id, phone_number or account_id")
        result: dict[str, Any] = self._call(
            "POST", f"/v1/contracts/{contract_id}/members", json=body
        )
        return result

    def remove_member(self, contract_id: str, member_id: str) -> dict[str, Any]:
        """Take a member off the caller's contract (its usage so far stays on record)."""
        result: dict[str, Any] = self._call(
            "DELETE", f"/v1/contracts/{contract_id}/members/{member_id}"
        )
        return result

    def usage(self, contract_id: str) -> dict[str, Any]:
        """The block, what is used and remains, and each member's share."""
        result: dict[str, Any] = self._call("GET", f"/v1/contracts/{contract_id}/usage")
        return result

    def report_usage(
        self,
        contract_id: str,
        member_id: str,
        seconds: str,
        bytes_: int | None = None,
        session_id: str | None = None,
        *,
        end: bool = False,
    ) -> dict[str, Any]:
        """Report seconds a member used (the recipient for any member, a member account or
        device for itself); the answer says what was accepted and what remains."""
        body: dict[str, Any] = {"member_id": member_id, "seconds": seconds, "end": end}
        if bytes_ is not None:
            body["bytes"] = bytes_
        if session_id is not None:
            body["session_id"] = session_id
        result: dict[str, Any] = self._call("POST", f"/v1/contracts/{contract_id}/usage", json=body)
        return result

    def start_session(self, contract_id: str, member_id: str) -> dict[str, Any]:
        """Open a usage session for a member."""
        result: dict[str, Any] = self._call(
            "POST", f"/v1/contracts/{contract_id}/sessions", json={"member_id": member_id}
        )
        return result

    def end_session(self, contract_id: str, session_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/v1/contracts/{contract_id}/sessions/{session_id}/end"
        )
        return result

    def provider_contracts(self, status: str | None = None) -> list[dict[str, Any]]:
        """The calling provider's contracts (in one status, if given)."""
        params = {} if status is None else {"status": status}
        items: list[dict[str, Any]] = self._call(
            "GET", "/v1/providers/me/contracts", params=params
        )["items"]
        return items

    def capacity(self, capacity_bps: int | None = None) -> dict[str, Any]:
        """The calling provider's declared capacity and commitments; declare it when given."""
        if capacity_bps is None:
            result: dict[str, Any] = self._call("GET", "/v1/providers/me/capacity")
        else:
            body = {"capacity_bps": capacity_bps}
            result = self._call("PUT", "/v1/providers/me/capacity", json=body)
        return result

    # -- payment methods (B1): the caller's saved cards --------------------------------------

    def add_card(self, number: str, exp_month: int, exp_year: int, cvc: str) -> dict[str, Any]:
        """Save a card of the calling recipient; the answer shows its brand and last four
        digits, never the number."""
        body = {"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc}
        result: dict[str, Any] = self._call("POST", "/v1/payment-methods", json=body)
        return result

    def cards(self) -> list[dict[str, Any]]:
        """The caller's cards, oldest first, the default one marked."""
        items: list[dict[str, Any]] = self._call("GET", "/v1/payment-methods")["items"]
        return items

    def remove_card(self, card_id: str) -> list[dict[str, Any]]:
        """Remove one of the caller's cards; the cards left."""
        path = f"/v1/payment-methods/{quote(card_id, safe='')}"
        items: list[dict[str, Any]] = self._call("DELETE", path)["items"]
        return items

    def default_card(self, card_id: str) -> dict[str, Any]:
        """Charge the caller on this card from now on."""
        path = f"/v1/payment-methods/{quote(card_id, safe='')}/default"
        result: dict[str, Any] = self._call("POST", path)
        return result

    # -- groups (G1-G3) and charges (B2) ------------------------------------------------------

    def create_group(
        self, name: str, currency: str, split_rule: str | None = None, pledge: str | None = None
    ) -> dict[str, Any]:
        """Form a group; the caller joins as a payer when it pledges."""
        body = {"name": name, "currency": currency, "split_rule": split_rule, "pledge": pledge}
        given = {k: v for k, v in body.items() if v is not None}
        result: dict[str, Any] = self._call("POST", "/v1/groups", json=given)
        return result

    def group(self, group_id: str) -> dict[str, Any]:
        """A group of the caller's: members, pledges, sponsorship, split rule and shares."""
        result: dict[str, Any] = self._call("GET", f"/v1/groups/{quote(group_id, safe='')}")
        return result

    def invite_to_group(self, group_id: str, account_id: str) -> dict[str, Any]:
        """Invite a recipient account to the caller's group."""
        path = f"/v1/groups/{quote(group_id, safe='')}/invitations"
        result: dict[str, Any] = self._call("POST", path, json={"account_id": account_id})
        return result

    def answer_group(
        self, group_id: str, answer: str, pledge: str | None = None
    ) -> dict[str, Any] | None:
        """Join as ``payer`` (with ``pledge``) or ``non-payer``, or ``decline`` or ``leave``;
        the group as the caller now sees it, or None once it is out."""
        body: dict[str, Any] = {"answer": answer}
        if pledge is not None:
            body["pledge"] = pledge
        path = f"/v1/groups/{quote(group_id, safe='')}/membership"
        result: dict[str, Any] = self._call("POST", path, json=body)
        return result if result.get("member", True) else None

    def sponsor(self, group_id: str, account_ids: list[str]) -> dict[str, Any]:
        """Set whom the calling payer sponsors."""
        path = f"/v1/groups/{quote(group_id, safe='')}/sponsorships"
        result: dict[str, Any] = self._call("PUT", path, json={"sponsored": account_ids})
        return result

    def open_group_auction(self, group_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Open the group's reverse auction (shaped like ``POST /v1/auctions``)."""
        path = f"/v1/groups/{quote(group_id, safe='')}/auctions"
        result: dict[str, Any] = self._call("POST", path, json=body)
        return result

    def contract_charges(self, contract_id: str) -> dict[str, Any]:
        """A contract's charges and payouts."""
        path = f"/v1/contracts/{quote(contract_id, safe='')}/charges"
        result: dict[str, Any] = self._call("GET", path)
        return result

    def my_charges(self) -> list[dict[str, Any]]:
        """The caller's charges as a payer, newest first."""
        items: list[dict[str, Any]] = self._call("GET", "/v1/charges")["items"]
        return items

    def retry_charges(self, contract_id: str, key: str | None = None) -> list[dict[str, Any]]:
        """Ask for an attempt on the caller's pending charge of the contract now."""
        path = f"/v1/contracts/{quote(contract_id, safe='')}/charges/retry"
        headers = {"Idempotency-Key": key} if key else {}
        items: list[dict[str, Any]] = self._call("POST", path, headers=headers)["items"]
        return items

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ExchangeDirectory:
    """The packet plane's :class:`~commex.stream.subcontracting.ProviderDirectory` over the
    exchange: providers offering a step, with their reputation and price, never the caller
    itself (a subcontract goes to a different provider)."""

    def __init__(self, client: ExchangeClient) -> None:
        self._client = client
        self._me: str | None = None

    def find(self, capability: str) -> list[Provider]:
        if self._me is None:
            self._me = str(self._client.me()["id"])
        found = []
        for item in self._client.providers(capability):
            provider = item["provider"]
            if provider["id"] == self._me:
                continue
            try:
                price: Decimal | None = Decimal(str(item["price"]))
            except InvalidOperation:
                price = None
            found.append(
                Provider(
                    name=str(provider["name"]),
                    url=str(item["node_url"]),
                    reputation=float(provider["reputation"]["lower_bound"]),
                    price=price,
                )
            )
        return found


# --- the packet plane's deliveries (S7) -------------------------------------------------------


class DeliveryNotRecorded(CommexError):
    """Raised when a delivery report could not reach the exchange after every retry."""

    code = "delivery_not_recorded"


def _retriable(exc: CommexError) -> bool:
    """A transport failure or a server error (the base class): another try may succeed; a
    refusal (a subclass: 4xx) would only be refused again."""
    return type(exc) is CommexError


def report_delivery(
    client: ExchangeClient, contract_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """``POST /v1/contracts/{id}/deliveries``: the exchange's answer, ``{"accepted_seconds",
    "remaining_seconds", "breach", "min_rate_bps", ...}``; a 409 (nothing of the block
    remains) is a :class:`Conflict`."""
    result: dict[str, Any] = client._call(
        "POST", f"/v1/contracts/{contract_id}/deliveries", json=body
    )
    return result


def deliver_with_retries(
    client: ExchangeClient,
    contract_id: str,
    body: dict[str, Any],
    *,
    attempts: int = 4,
    backoff_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """:func:`report_delivery`, tried ``attempts`` times with the same body (and so the same
    run id, which the exchange counts once) while the exchange is unreachable or failing."""
    for attempt in range(attempts):
        try:
            return report_delivery(client, contract_id, body)
        except CommexError as exc:
            if not _retriable(exc):
                raise
            if attempt == attempts - 1:
                raise DeliveryNotRecorded(
                    f"the delivery {body['run_id']} to contract {contract_id} was not recorded "
                    f"after {attempts} tries: {exc.message}"
                ) from exc
            sleep(backoff_s * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover
