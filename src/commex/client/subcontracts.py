"""Subcontracts and node keys over HTTP (S10): what a subcontracting plane calls (open a
subcontract, close it with its check), what a subcontractor's node calls with its node key
(check the work it is offered, meter the packets), and a provider's node keys."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from commex.client.base import ClientBase
from commex.domain.errors import CommexError


def _path(subcontract_id: str, tail: str = "") -> str:
    return f"/v1/subcontracts/{quote(subcontract_id, safe='')}{tail}"


class SubcontractCalls(ClientBase):
    # -- the subcontracting provider's plane -------------------------------------------------

    def open_subcontract(
        self, parent_contract_id: str, provider_id: str, step: str
    ) -> dict[str, Any]:
        """Award ``step`` of the parent contract to ``provider_id``'s offer at once. The answer
        holds the subcontract and its ``work_token`` (shown this once), which goes with the
        work to that provider's node. A caller without a saved card gets a Conflict saying so,
        before any work is sent."""
        body = {"parent_contract_id": parent_contract_id, "provider_id": provider_id, "step": step}
        return self._send("POST", "/v1/subcontracts", json=body)

    def close_subcontract(
        self, subcontract_id: str, outcome: str, sent: int, detail: str | None = None
    ) -> dict[str, Any]:
        """Close the subcontract with the plane's check (``passed``, ``failed_check``,
        ``dead_node`` or ``late``) and the packets the plane ``sent`` under it: it rates the
        subcontractor and charges the fewer of those and the packets metered. Repeating the
        same close is answered the same."""
        body: dict[str, Any] = {"outcome": outcome, "packets": sent}
        if detail is not None:
            body["detail"] = detail
        return self._send("POST", _path(subcontract_id, "/outcome"), json=body)

    def subcontracts(self, limit: int = 100, cursor: str | None = None) -> dict[str, Any]:
        """A page of the caller's subcontracts on either side, newest first: ``items`` and
        ``next_cursor``."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return self._get("/v1/subcontracts", params=params)

    def subcontract(self, subcontract_id: str) -> dict[str, Any]:
        return self._get(_path(subcontract_id))

    # -- the subcontractor's node (with a node key) -------------------------------------------

    def check_work(self, subcontract_id: str, work_token: str) -> dict[str, Any]:
        """Whether work offered under the subcontract is for this node's provider: the
        subcontract as the exchange holds it, or NotFound / Forbidden / Conflict saying why
        not (another provider's, a wrong work token, closed)."""
        body = {"work_token": work_token}
        return self._send("POST", _path(subcontract_id, "/work-check"), json=body)

    def meter_packets(
        self,
        subcontract_id: str,
        run_id: str,
        packets: int,
        *,
        attempts: int = 4,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> dict[str, Any]:
        """Report a run's packets, tried ``attempts`` times with the same run id (counted
        once) while the exchange cannot answer; a refusal is raised at once."""
        body = {"run_id": run_id, "packets": packets}
        for attempt in range(attempts):
            try:
                return self._send("POST", _path(subcontract_id, "/packets"), json=body)
            except CommexError as exc:
                if type(exc) is not CommexError or attempt == attempts - 1:
                    raise  # a refusal (4xx) would only be refused again
                sleep(backoff_s * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- a provider's node keys ---------------------------------------------------------------

    def issue_node_key(self, name: str) -> dict[str, Any]:
        """A new key for one of the caller's nodes; its ``key`` is shown this once."""
        return self._send("POST", "/v1/providers/me/node-keys", json={"name": name})

    def node_keys(self, cursor: str | None = None) -> dict[str, Any]:
        """A page of the caller's node keys, newest first: ``items`` and ``next_cursor``."""
        params = {"cursor": cursor} if cursor else {}
        return self._get("/v1/providers/me/node-keys", params=params)

    def revoke_node_key(self, key_id: str) -> dict[str, Any]:
        return self._send("DELETE", f"/v1/providers/me/node-keys/{quote(key_id, safe='')}")
