"""Contracts in use over HTTP: a contract, its members and usage, ratings, devices, and a
provider's contracts and capacity."""

from __future__ import annotations

from typing import Any

from commex.client.base import ClientBase
from commex.domain.errors import InvalidInput


class ContractCalls(ClientBase):
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
