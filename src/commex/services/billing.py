"""Charging awarded contracts (B2), the payment ratings they record (R2), providers' payouts, and
provision to every member of a group (G3).

A contract is charged at award, not when its service starts: the exchange learns at once whether
the buyer can pay, before the provider reserves capacity, and the payment rating counts in the
buyer's next auctions without waiting for the service window. :func:`charge_due` (the server's
scheduler runs it every second; ``commex operator charge-due`` from cron) creates each new
contract's charges and then makes the attempts that are due.

An attempt is claimed by an atomic conditional update before the gateway is called, and its
outcome is stored by another after; the gateway's idempotency key is the charge id and the
attempt's number, so neither two processes nor a double click can charge a card twice. The
outcome, the payment rating and the payout are written in one transaction. Both are flows: the
gateway is never called inside a transaction.

The payer's "pay now" (:func:`retry_charges`) makes an attempt only when it could end
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
from dataclasses import replace
from datetime import datetime

from commex.domain import charges as rules
from commex.domain import groups as group_rules
from commex.domain.billing import ChargeOutcome, GatewayCharge, split_price
from commex.domain.charges import Charge, ChargeStatus
from commex.domain.contracts import Contract
from commex.domain.errors import CommexError, Conflict, NotFound
from commex.domain.events import ChargeAttempted
from commex.domain.idempotency import check_idempotency_key
from commex.domain.members import Member, MemberKind
from commex.domain.payment_methods import PaymentMethod
from commex.services import audit
from commex.services import commands as c
from commex.services.billing_views import contract_charges
from commex.services.bus import Deps, MessageBus
from commex.services.lifecycle import cancel_for_non_payment
from commex.services.loading import account_of
from commex.services.ports import UnitOfWork
from commex.services.ratings import audit_rating, record_rating
from commex.services.refunds import give_back
from commex.services.results import ChargeRun

log = logging.getLogger("commex.billing")


def charge_due(cmd: c.ChargeDue, bus: MessageBus) -> ChargeRun:
    """Create the charges of newly awarded contracts, then attempt every charge that is due.
    Safe to run from several processes at once."""
    created: list[Charge] = []
    with bus.unit_of_work(write=False) as uow:
        contracts = uow.charges.uncharged_contracts(cmd.limit)
    for contract in contracts:
        try:
            created.extend(_create(bus, contract))
        except CommexError as exc:  # one contract's trouble does not hold up the others
            log.warning("could not create the charges of %s: %s", contract.id, exc.message)
    with bus.unit_of_work(write=False) as uow:
        due = uow.charges.due(bus.clock.now(), cmd.limit)
    attempted = [x for x in (_attempt(bus, i) for i in due) if x is not None]
    return ChargeRun(tuple(created), tuple(attempted))


def _create(bus: MessageBus, contract: Contract) -> list[Charge]:
    """One contract's charges; a group contract also gains every group member as a member of
    the contract (G3)."""
    now, ids = bus.clock.now(), bus.deps.ids
    with bus.unit_of_work() as uow:
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
            _provision(uow, bus.deps, contract, members, lambda: ids.new("mem"), now)
            uow.groups.settle_auction(contract.auction_id)
        charges = rules.charges_for(contract, shares, group_id, lambda: ids.new("chg"), now)
        uow.charges.add_many(charges)
        for x in charges:
            audit.record(
                uow, bus.deps, "charge.created", contract.id, by=None,
                accounts=(x.payer_id, x.provider_id),
                detail={"charge": x.id, "amount": str(x.amount), "currency": x.amount.currency},
            )  # fmt: skip
        uow.commit()
    return charges


def _attempt(
    bus: MessageBus, charge_id: str, *, manual: bool = False, retry_key: str | None = None
) -> Charge | None:
    """Claim an attempt, ask the gateway, store the outcome. None when there was nothing to do
    (not due, another process holds the attempt, or ``retry_key`` already made one).

    ``manual`` is the payer asking: :class:`Conflict` when that attempt could not end
    differently from the last (nothing is written then)."""
    claimed = _claim(bus, charge_id, manual, retry_key)
    if claimed is None:
        return None
    charge, token = claimed
    by = charge.payer_id if manual else None
    now = bus.clock.now()
    try:
        answer = _ask_gateway(bus, charge, token)
    except Exception as exc:  # no answer: the same attempt (and key) is tried again later
        log.warning("gateway call for %s got no answer: %s", charge.id, type(exc).__name__)
        settled = rules.unanswered(charge, "the payment gateway did not answer", now)
    else:
        settled = rules.settle(
            charge,
            None if answer is None else answer.outcome,
            None if answer is None else answer.charge_id,
            None if answer is None else answer.code,
            None if answer is None else answer.message,
            now,
        )
    with bus.unit_of_work() as uow:
        if not uow.charges.swap(charge, settled):
            return None  # the claim lapsed and another process retried the same attempt
        _record(bus, uow, settled, by)
        uow.record(
            [ChargeAttempted(settled.id, settled.contract_id, rules.attempt_outcome(settled))]
        )
        ended = None
        if settled.status in rules.FINAL_FAILURES:
            ended = cancel_for_non_payment(uow, bus.deps, settled)
        told = rules.settled_event(charge, settled, now)
        if told is not None:
            uow.record([told])
        uow.commit()
    log.info("charge %s attempt %d: %s", settled.id, settled.attempts, settled.status.value)
    if ended is not None and ended.paid_charges:  # a group's other payers get their money back
        why = f"contract {ended.contract.id} was cancelled for non-payment"
        give_back(bus, ended.paid_charges, why)
    return replace(settled, version=charge.version + 1)


def _claim(
    bus: MessageBus, charge_id: str, manual: bool, retry_key: str | None
) -> tuple[Charge, str | None] | None:
    """The charge as claimed for an attempt (and the card token to try), or None."""
    with bus.unit_of_work() as uow:
        charge = uow.charges.get(charge_id)
        if charge is None:
            return None
        if retry_key is not None and charge.retry_key == retry_key:
            return None  # this request was made before (perhaps an instant ago)
        card = uow.payment_methods.default_of(charge.payer_id)
        card_id = None if card is None else card.id
        if manual and charge.status is ChargeStatus.PENDING and charge.claimed_until is None:
            words = None if card is None else f"the {card.brand} card ending in {card.last4}"
            refusal = rules.manual_retry_refusal(charge, card_id, words)
            if refusal is not None:
                raise Conflict(refusal)
        at_once = manual or rules.new_card(charge, card_id)
        claimed = rules.claim(charge, bus.clock.now(), at_once=at_once, card_id=card_id)
        if claimed is None:
            return None
        claimed = replace(claimed, retry_key=retry_key or charge.retry_key)
        if not uow.charges.swap(charge, claimed):
            return None
        token = _card_token(bus, card)
        uow.commit()
    return replace(claimed, version=charge.version + 1), token


def _card_token(bus: MessageBus, card: PaymentMethod | None) -> str | None:
    """The token of the payer's default card, or None when it has none this gateway can charge
    (a token is good only at the gateway that issued it)."""
    if card is None or card.gateway != bus.deps.gateway.name:
        return None
    return card.token


def _ask_gateway(bus: MessageBus, charge: Charge, token: str | None) -> GatewayCharge | None:
    """Authorize and capture under the attempt's key; None when the payer has no card. A
    refusal is a failed attempt; any other exception means no answer (see ``unanswered``)."""
    if token is None:
        return None
    gateway, key = bus.deps.gateway, charge.idempotency_key
    description = f"commex contract {charge.contract_id}"
    try:
        held = gateway.authorize(token, charge.amount, key, description)
        if held.outcome is not ChargeOutcome.SUCCEEDED or held.charge_id is None:
            return held
        taken = gateway.capture(held.charge_id, f"{key}-capture")
        return replace(taken, charge_id=taken.charge_id or held.charge_id)
    except CommexError as exc:  # the gateway refused the request: nothing was charged
        return GatewayCharge(ChargeOutcome.FAILED, None, "gateway_refused", exc.message)


def _record(bus: MessageBus, uow: UnitOfWork, charge: Charge, by: str | None) -> None:
    """The attempt's outcome in the audit trail, and the payment rating and the payout it
    brings, in the outcome's transaction; ``by`` is the payer who asked for it, or None."""
    now, ids, deps = bus.clock.now(), bus.deps.ids, bus.deps
    audit.record(
        uow, deps, "charge.attempted", charge.contract_id, by=by,
        accounts=(charge.payer_id, charge.provider_id),
        detail={"charge": charge.id, "attempt": charge.attempts,
                "outcome": rules.attempt_outcome(charge), "status": charge.status.value,
                "code": charge.decline_code},
    )  # fmt: skip
    provider = account_of(uow, charge.provider_id)
    rating = rules.payment_rating(charge, provider.id, ids.new("rat"), now)
    if rating is not None:
        record_rating(uow, rating, provider.owner, now)
        audit_rating(uow, deps, rating, None)
    payout = rules.payout_for(charge, ids.new("pay"), now)
    if payout is not None:
        uow.charges.add_payout(payout)
        audit.record(
            uow, deps, "payout.recorded", charge.contract_id, by=None,
            accounts=(payout.provider_id,),
            detail={"payout": payout.id, "charge": charge.id, "amount": str(payout.amount),
                    "currency": payout.amount.currency},
        )  # fmt: skip


def retry_charges(cmd: c.RetryCharges, bus: MessageBus) -> list[Charge]:
    """The payer asks for an attempt now on its pending charges of the contract.

    An attempt is made only when it could end differently from the last: on a default card
    other than the one last tried, or after a gateway error. Otherwise :class:`Conflict` (409),
    which counts nothing and names the next scheduled try: with no card, "save a card first";
    on the card just declined, save or choose another (it is then tried at once, without
    asking). With an idempotency key (per payer and contract), a repeated request, even one
    sent at the same instant, makes no new attempt and answers the charges as they stand."""
    key = check_idempotency_key(cmd.idempotency_key)
    mine = _payers_charges(bus, cmd)
    if not mine:
        raise NotFound(f"you have no charge on contract {cmd.contract_id}")
    for x in mine:
        if key is not None and x.retry_key == key:
            continue  # this request was made before: no second attempt
        if x.status is ChargeStatus.SUCCEEDED:
            continue
        if x.status is not ChargeStatus.PENDING:
            raise Conflict(
                f"charge {x.id} is {x.status.value} after {x.attempts} attempt(s) and is not "
                "retried"
            )
        _attempt(bus, x.id, manual=True, retry_key=key)
    return _payers_charges(bus, cmd)


def _payers_charges(bus: MessageBus, cmd: c.RetryCharges) -> list[Charge]:
    with bus.unit_of_work(write=False) as uow:
        found = contract_charges(uow, bus.deps, cmd.contract_id, cmd.payer_id)
    return [x for x in found.charges if x.payer_id == cmd.payer_id]


def _provision(
    uow: UnitOfWork,
    deps: Deps,
    contract: Contract,
    members: Sequence[group_rules.GroupMember],
    new_id: Callable[[], str],
    now: datetime,
) -> None:
    """Every member of the group, paying or sponsored, becomes a member of the contract."""
    present = {m.ref for m in uow.contracts.members(contract.id) if m.kind is MemberKind.ACCOUNT}
    for m in members:
        if m.joined and m.account_id not in present:
            member = Member(new_id(), contract.id, MemberKind.ACCOUNT, m.account_id, now)
            uow.contracts.add_member(member)
            audit.record(
                uow, deps, "member.added", contract.id, by=None,
                accounts=(contract.recipient_id, m.account_id),
                detail={"member": member.id, "kind": member.kind.value, "ref": member.ref,
                        "group": m.group_id},
            )  # fmt: skip
