"""Charging awarded contracts (B2), the payment ratings they record (R2), providers' payouts, and
provision to every member of a group (G3).

A contract is charged at award, not when its service starts: the exchange learns at once whether
the buyer can pay, before the provider reserves capacity, and the payment rating counts in the
buyer's next auctions without waiting for the service window. :meth:`Billing.charge_due` (the
server's scheduler runs it every second; ``commex billing charge-due`` from cron) creates each new
contract's charges and then makes the attempts that are due.

An attempt is claimed by an atomic conditional update before the gateway is called, and its
outcome is stored by another after; the gateway's idempotency key is the charge id and the
attempt's number, so neither two processes nor a double click can charge a card twice. The
outcome, the payment rating and the payout are written in one transaction.

The payer's "pay now" (:meth:`Billing.retry`) makes an attempt only when it could end
differently from the last (another default card, or after a gateway error; see
:func:`commex.domain.charges.manual_retry_refusal`), and otherwise answers a conflict naming the
next scheduled try. Its ``Idempotency-Key`` is written in the very conditional update that
claims the attempt, and checked against the charge as it stands in that transaction, so of
requests sent together with one key exactly one makes an attempt, whatever the timing; the
others answer the charge as that attempt left it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from commex.domain import charges as rules
from commex.domain import groups as group_rules
from commex.domain.billing import ChargeOutcome, GatewayCharge, split_price
from commex.domain.charges import Charge, ChargeStatus, Payout
from commex.domain.contracts import Contract
from commex.domain.errors import CommexError, Conflict, InvalidInput, NotFound
from commex.domain.members import Member, MemberKind
from commex.domain.payment_methods import PaymentMethod
from commex.services.loading import account_of, check_id
from commex.services.ports import Clock, IdGenerator, PaymentGateway, UnitOfWork, UnitOfWorkFactory
from commex.services.ratings import record_rating

log = logging.getLogger("commex.billing")
MAX_LISTED = 200
MAX_RETRY_KEY = 128


@dataclass(frozen=True, slots=True)
class ChargeRun:
    """What one :meth:`Billing.charge_due` run did."""

    created: tuple[Charge, ...]
    attempted: tuple[Charge, ...]


@dataclass(frozen=True, slots=True)
class ContractCharges:
    """A contract's charges and payouts, for its parties and members."""

    contract: Contract
    charges: tuple[Charge, ...]
    payouts: tuple[Payout, ...]
    group_id: str | None


def charge_dict(c: Charge) -> dict[str, Any]:
    """A charge's wire form: never any card data (the gateway holds that)."""
    return {
        "id": c.id,
        "contract_id": c.contract_id,
        "payer_id": c.payer_id,
        "provider_id": c.provider_id,
        "group_id": c.group_id,
        "amount": str(c.amount),
        "currency": c.amount.currency,
        "status": c.status.value,
        "attempts": c.attempts,
        "declines": c.declines,
        "next_attempt_at": (
            c.next_attempt_at.isoformat() if c.status is ChargeStatus.PENDING else None
        ),
        "gateway_charge_id": c.gateway_charge_id,
        "decline_code": c.decline_code,
        "message": c.message,
        "created_at": c.created_at.isoformat(),
    }


def payout_dict(p: Payout) -> dict[str, Any]:
    return {
        "id": p.id,
        "charge_id": p.charge_id,
        "provider_id": p.provider_id,
        "amount": str(p.amount),
        "currency": p.amount.currency,
        "created_at": p.created_at.isoformat(),
    }


class Billing:
    """Charges, their attempts through the payment gateway, and payouts."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator, gateway: PaymentGateway
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._gateway = gateway

    # -- the scheduler's step -------------------------------------------------------------------

    def charge_due(self, limit: int = 100) -> ChargeRun:
        """Create the charges of newly awarded contracts, then attempt every charge that is due.
        Safe to run from several processes at once."""
        created: list[Charge] = []
        with self._uow(write=False) as uow:
            contracts = uow.charges.uncharged_contracts(limit)
        for contract in contracts:
            try:
                created.extend(self._create(contract))
            except CommexError as exc:  # one contract's trouble does not hold up the others
                log.warning("could not create the charges of %s: %s", contract.id, exc.message)
        with self._uow(write=False) as uow:
            due = uow.charges.due(self._clock.now(), limit)
        attempted = [c for c in (self._attempt(i) for i in due) if c is not None]
        return ChargeRun(tuple(created), tuple(attempted))

    def _create(self, contract: Contract) -> list[Charge]:
        """One contract's charges; a group contract also gains every group member as a member
        of the contract (G3)."""
        now = self._clock.now()
        with self._uow() as uow:
            if uow.charges.for_contract(contract.id):
                return []  # another process created them first
            group_id = uow.groups.group_of_auction(contract.auction_id)
            shares = None
            if group_id is not None:
                group = uow.groups.get(group_id)
                members = uow.groups.members(group_id)
                if group is None:  # pragma: no cover - a link always names a stored group
                    raise NotFound(f"group {group_id} not found")
                shares = split_price(contract.price, group_rules.payers(members), group.rule)
                _provision(uow, contract, members, lambda: self._ids.new("mem"), now)
                uow.groups.settle_auction(contract.auction_id)
            charges = rules.charges_for(
                contract, shares, group_id, lambda: self._ids.new("chg"), now
            )
            uow.charges.add_many(charges)
            uow.commit()
        return charges

    # -- attempts -----------------------------------------------------------------------------

    def _attempt(
        self, charge_id: str, *, manual: bool = False, retry_key: str | None = None
    ) -> Charge | None:
        """Claim an attempt, ask the gateway, store the outcome. None when there was nothing to
        do (not due, another process holds the attempt, or ``retry_key`` already made one).

        ``manual`` is the payer asking: :class:`Conflict` when that attempt could not end
        differently from the last (nothing is written then)."""
        now = self._clock.now()
        with self._uow() as uow:
            charge = uow.charges.get(charge_id)
            if charge is None:
                return None
            if retry_key is not None and charge.retry_key == retry_key:
                return None  # this request was made before (perhaps an instant ago)
            card = uow.payment_methods.default_of(charge.payer_id)
            card_id = None if card is None else card.id
            if manual and charge.status is ChargeStatus.PENDING and charge.claimed_until is None:
                refusal = rules.manual_retry_refusal(
                    charge, card_id, None if card is None else _card_words(card)
                )
                if refusal is not None:
                    raise Conflict(refusal)
            at_once = manual or rules.new_card(charge, card_id)
            claimed = rules.claim(charge, now, at_once=at_once, card_id=card_id)
            if claimed is None:
                return None
            claimed = replace(claimed, retry_key=retry_key or charge.retry_key)
            if not uow.charges.swap(charge, claimed):
                return None
            token = self._card_token(card)
            uow.commit()
        claimed = replace(claimed, version=charge.version + 1)
        try:
            answer = self._ask_gateway(claimed, token)
        except Exception as exc:  # no answer: the same attempt (and key) is tried again later
            log.warning("gateway call for %s got no answer: %s", charge.id, type(exc).__name__)
            settled = rules.unanswered(claimed, "the payment gateway did not answer", now)
        else:
            settled = rules.settle(
                claimed,
                None if answer is None else answer.outcome,
                None if answer is None else answer.charge_id,
                None if answer is None else answer.code,
                None if answer is None else answer.message,
                now,
            )
        with self._uow() as uow:
            if not uow.charges.swap(claimed, settled):
                return None  # the claim lapsed and another process retried the same attempt
            self._record(uow, settled)
            uow.commit()
        log.info("charge %s attempt %d: %s", settled.id, settled.attempts, settled.status.value)
        return replace(settled, version=claimed.version + 1)

    def _card_token(self, card: PaymentMethod | None) -> str | None:
        """The token of the payer's default card, or None when it has none this gateway can
        charge (a token is good only at the gateway that issued it)."""
        if card is None or card.gateway != self._gateway.name:
            return None
        return card.token

    def _ask_gateway(self, charge: Charge, token: str | None) -> GatewayCharge | None:
        """Authorize and capture under the attempt's key; None when the payer has no card. A
        refusal is a failed attempt; any other exception means no answer (see ``unanswered``)."""
        if token is None:
            return None
        key = charge.idempotency_key
        description = f"commex contract {charge.contract_id}"
        try:
            held = self._gateway.authorize(token, charge.amount, key, description)
            if held.outcome is not ChargeOutcome.SUCCEEDED or held.charge_id is None:
                return held
            taken = self._gateway.capture(held.charge_id, f"{key}-capture")
            return replace(taken, charge_id=taken.charge_id or held.charge_id)
        except CommexError as exc:  # the gateway refused the request: nothing was charged
            return GatewayCharge(ChargeOutcome.FAILED, None, "gateway_refused", exc.message)

    def _record(self, uow: UnitOfWork, charge: Charge) -> None:
        """The payment rating and the payout an outcome brings, in the outcome's transaction."""
        now = self._clock.now()
        provider = account_of(uow, charge.provider_id)
        rating = rules.payment_rating(charge, provider.id, self._ids.new("rat"), now)
        if rating is not None:
            record_rating(uow, rating, provider.owner, now)
        payout = rules.payout_for(charge, self._ids.new("pay"), now)
        if payout is not None:
            uow.charges.add_payout(payout)

    # -- the payer's and the parties' views ---------------------------------------------------

    def retry(
        self, contract_id: str, payer_id: str, idempotency_key: str | None = None
    ) -> list[Charge]:
        """The payer asks for an attempt now on its pending charges of the contract.

        An attempt is made only when it could end differently from the last: on a default card
        other than the one last tried, or after a gateway error. Otherwise :class:`Conflict`
        (409), which counts nothing and names the next scheduled try: with no card, "save a
        card first"; on the card just declined, save or choose another (it is then tried at
        once, without asking). With an idempotency key (per payer and contract), a repeated
        request, even one sent at the same instant, makes no new attempt and answers the
        charges as they stand."""
        if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_RETRY_KEY:
            raise InvalidInput(
                f"Idempotency-Key must be 1 to {MAX_RETRY_KEY} characters", "Idempotency-Key"
            )
        mine = [
            c for c in self.for_contract(contract_id, payer_id).charges if c.payer_id == payer_id
        ]
        if not mine:
            raise NotFound(f"you have no charge on contract {contract_id}")
        for c in mine:
            if idempotency_key is not None and c.retry_key == idempotency_key:
                continue  # this request was made before: no second attempt
            if c.status is ChargeStatus.SUCCEEDED:
                continue
            if c.status is not ChargeStatus.PENDING:
                raise Conflict(
                    f"charge {c.id} is {c.status.value} after {c.attempts} attempt(s) and is "
                    "not retried"
                )
            self._attempt(c.id, manual=True, retry_key=idempotency_key)
        return [
            c for c in self.for_contract(contract_id, payer_id).charges if c.payer_id == payer_id
        ]

    def for_contract(self, contract_id: str, viewer_id: str) -> ContractCharges:
        """A contract's charges and payouts, to its parties, its account members and the
        operator; anyone else is told the contract does not exist."""
        with self._uow(write=False) as uow:
            contract = uow.contracts.get(check_id("contract", contract_id))
            viewer = account_of(uow, viewer_id)
            if contract is None:
                raise NotFound(f"contract {contract_id} not found")
            members = uow.members.of_contract(contract.id)
            if not (viewer.is_operator or _may_see(contract, members, viewer.id)):
                raise NotFound(f"contract {contract_id} not found")
            return ContractCharges(
                contract,
                tuple(uow.charges.for_contract(contract.id)),
                tuple(uow.charges.payouts_for_contract(contract.id)),
                uow.groups.group_of_auction(contract.auction_id),
            )

    def of_payer(self, payer_id: str) -> list[Charge]:
        """The payer's charges, newest first."""
        with self._uow(write=False) as uow:
            return uow.charges.of_payer(payer_id, MAX_LISTED)


def _card_words(card: PaymentMethod) -> str:
    return f"the {card.brand} card ending in {card.last4}"


def _may_see(contract: Contract, members: Sequence[Member], account_id: str) -> bool:
    if account_id in (contract.provider_id, contract.recipient_id):
        return True
    return any(m.kind is MemberKind.ACCOUNT and m.ref == account_id for m in members)


def _provision(
    uow: UnitOfWork,
    contract: Contract,
    members: Sequence[group_rules.GroupMember],
    new_id: Callable[[], str],
    now: datetime,
) -> None:
    """Every member of the group, paying or sponsored, becomes a member of the contract."""
    present = {m.ref for m in uow.members.of_contract(contract.id) if m.kind is MemberKind.ACCOUNT}
    for m in members:
        if m.joined and m.account_id not in present:
            uow.members.add(Member(new_id(), contract.id, MemberKind.ACCOUNT, m.account_id, now))
