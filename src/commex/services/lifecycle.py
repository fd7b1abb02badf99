"""A contract's lifecycle after its award (O2): it completes when its window ends (the
scheduler, :func:`complete_due`) or its block is used up (metering, in
:mod:`commex.services.usage`), and is cancelled when its charge fails for the last time
(:func:`cancel_for_non_payment`, in the charge's own transaction) or by the operator
(:func:`cancel_contract`), who may give the block to the next qualifying bid.

Subcontracts (S10) follow their own rules: the scheduler and metering never complete them (the
plane's check closes them, see :mod:`commex.services.subcontracts`), and a parent that
completes leaves them open for that check. A parent that is cancelled (non-payment, the
operator) closes its open subcontracts with it, and the operator may cancel one alone; either
way it closes without a check, rates nobody, and the packets metered so far are charged to
the subcontracting provider (they were processed; the operator can refund the charge).

Completing is one atomic conditional update per contract, so several servers running the
scheduler at once complete each contract once. Cancelling locks the auction's row and then the
contract's (the order closing and bidding take them in), so a cancellation and its re-award are
one step. A cancelled contract's pending charges nobody is trying are cancelled with it; money
already paid stays paid until refunded (a group's contract refunds its other payers by itself,
see :mod:`commex.services.refunds`).
"""

from __future__ import annotations

from commex.domain import contracts as rules
from commex.domain import reaward
from commex.domain import subcontracts as subcontract_rules
from commex.domain.charges import Charge, ChargeStatus, void
from commex.domain.contracts import Contract, EndReason
from commex.domain.errors import Conflict, NotFound
from commex.domain.events import ContractCancelled, ContractCompleted
from commex.domain.moderation import check_reason
from commex.services import commands as c
from commex.services import trust_messages as m
from commex.services.bus import Deps
from commex.services.loading import account_of, contract_of, locked_auction
from commex.services.moderation import operator_of
from commex.services.ports import UnitOfWork


def complete_due(cmd: c.CompleteDue, uow: UnitOfWork, deps: Deps) -> list[Contract]:
    """Complete the contracts in force whose window has ended; each once, whoever else runs
    this at the same time."""
    now = deps.clock.now()
    done = []
    for contract in uow.contracts.due_to_complete(now, cmd.limit):
        ended = rules.end(contract, EndReason.WINDOW_ENDED, now)
        if uow.contracts.end_if_in_force(ended):
            done.append(ended)
    uow.record(
        ContractCompleted(x.id, x.provider_id, x.recipient_id, EndReason.WINDOW_ENDED, now)
        for x in done
    )
    return done


def cancel_contract(cmd: m.CancelContract, uow: UnitOfWork, deps: Deps) -> m.Cancellation:
    """The operator cancels a contract in force, saying why; with ``reaward`` its block goes to
    the next qualifying bid where the auction's format allows (see
    :mod:`commex.domain.reaward`), and is otherwise reported unsold."""
    by = operator_of(uow, cmd.by_id, "cancel a contract")
    reason = check_reason(cmd.reason)
    found = contract_of(uow, cmd.contract_id)
    if found.is_subcontract:
        return _cancel_subcontract(uow, deps, found.id, reason, by.id)
    return cancel_in(uow, deps, found.id, EndReason.OPERATOR, reason, by.id, cmd.reaward)


def cancel_for_non_payment(uow: UnitOfWork, deps: Deps, charge: Charge) -> m.Cancellation | None:
    """In the transaction that settled ``charge`` for the last time (declined or failed): its
    contract is cancelled for non-payment and its block goes to the next qualifying bid, or is
    reported unsold. None when the contract had ended already."""
    contract = uow.contracts.get(charge.contract_id)
    if contract is None or not contract.in_force:
        return None
    why = charge.message or charge.decline_code or charge.status.value
    note = f"the charge of {charge.amount.display()} to {charge.payer_id} {charge.status}: {why}"
    return cancel_in(uow, deps, contract.id, EndReason.NON_PAYMENT, note[:500], None, True)


def cancel_in(
    uow: UnitOfWork,
    deps: Deps,
    contract_id: str,
    reason: EndReason,
    note: str,
    by_id: str | None,
    give_on: bool,
) -> m.Cancellation:
    """Cancel the contract in the caller's unit of work, with the auction's row and then the
    contract's locked; its unclaimed pending charges are cancelled, and its block given on
    (``give_on``) or reported unsold."""
    auction = locked_auction(uow, _auction_of(uow, contract_id))
    contract = contract_of(uow, contract_id, lock=True)
    now = deps.clock.now()
    ended = rules.end(contract, reason, now, note, by_id)
    uow.contracts.update(ended)
    for charge in uow.charges.for_contract(contract.id):
        voided = void(charge, f"contract {contract.id} was cancelled")
        if voided is not None:
            uow.charges.swap(charge, voided)
    for sub in uow.subcontracts.under_parent(contract.id):
        if sub.is_open:
            why = f"contract {contract.id} was cancelled"
            _end_subcontract(uow, deps, sub.id, EndReason.PARENT_CANCELLED, why, None)
    uow.record(
        [
            ContractCancelled(
                ended.id, ended.auction_id, ended.provider_id, ended.recipient_id,
                reason.value, note, by_id, now,
            )
        ]
    )  # fmt: skip
    candidates = []
    if give_on and reaward.may_reaward(auction):
        bids = uow.auctions.active_bids(auction.id)
        ids = {b.bidder_id for b in bids} | {auction.owner_id, contract.recipient_id}
        accounts = uow.accounts.get_many(ids)
        reps = deps.reputations.of_many(uow, {b.bidder_id for b in bids}, auction.bidder_role)
        lost_by = account_of(uow, contract.recipient_id)
        candidates = reaward.qualifying(auction, bids, accounts, reps, lost_by)
    result = reaward.after_cancellation(auction, ended, candidates, deps.ids.new("con"), now)
    if result.contract is not None:
        uow.contracts.add_many([result.contract])
    uow.auctions.update(result.auction)
    uow.record(result.events)
    paid = tuple(
        x.id for x in uow.charges.for_contract(contract.id) if x.status is ChargeStatus.SUCCEEDED
    )
    return m.Cancellation(ended, result.contract, paid)


def _cancel_subcontract(
    uow: UnitOfWork, deps: Deps, contract_id: str, note: str, by_id: str
) -> m.Cancellation:
    """The operator cancels a subcontract: it closes without a check, and its packets metered
    so far are charged (a refund undoes that). Nothing is given on: it had no auction."""
    ended = _end_subcontract(uow, deps, contract_id, EndReason.OPERATOR, note, by_id)
    paid = tuple(
        x.id for x in uow.charges.for_contract(ended.id) if x.status is ChargeStatus.SUCCEEDED
    )
    return m.Cancellation(ended, None, paid)


def _end_subcontract(
    uow: UnitOfWork, deps: Deps, contract_id: str, reason: EndReason, note: str, by_id: str | None
) -> Contract:
    """Cancel an open subcontract under its row lock and charge what was metered; a conflict,
    naming how it ended, when it was closed already."""
    sub = uow.subcontracts.get_for_update(contract_id)
    if sub is None:
        raise NotFound(f"subcontract {contract_id} not found")
    now = deps.clock.now()
    closed = subcontract_rules.cancel(sub, reason, note, now, by_id)
    if closed is None:
        raise Conflict(f"subcontract {sub.id} {rules.describe_end(sub.contract)}")
    uow.subcontracts.update(closed)
    charge = subcontract_rules.settlement(closed, deps.ids.new("chg"), now)
    if charge is not None:
        uow.charges.add_many([charge])
    c = closed.contract
    uow.record(
        [
            ContractCancelled(
                c.id, c.auction_id, c.provider_id, c.recipient_id, reason.value, note, by_id, now
            )
        ]
    )
    return c


def _auction_of(uow: UnitOfWork, contract_id: str) -> str:
    """The auction a contract came from (read before any lock is taken)."""
    return contract_of(uow, contract_id).auction_id
