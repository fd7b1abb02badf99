"""Cards, groups and charges over HTTP."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from commex.client.base import ClientBase


class BillingCalls(ClientBase):
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
