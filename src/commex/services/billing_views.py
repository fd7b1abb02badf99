"""What a contract's parties and members see of its charges: each payer's charge (with the
payer's payment reputation), the provider's payouts, and for a group's contract every member
it is provided to, paying or sponsored and by whom (G3). Charges never carry card data."""

from __future__ import annotations

from commex.domain.accounts import Role
from commex.domain.charges import Charge
from commex.domain.errors import NotFound
from commex.services import queries as q
from commex.services.bus import Deps
from commex.services.group_views import provided_to
from commex.services.loading import account_of, check_id
from commex.services.ports import UnitOfWork
from commex.services.ratings import is_account_member
from commex.services.results import ContractCharges, party

MAX_LISTED = 200


def contract_charges(
    uow: UnitOfWork, deps: Deps, contract_id: str, viewer_id: str
) -> ContractCharges:
    """A contract's charges and payouts, to its parties, its account members and the
    operator; anyone else is told the contract does not exist."""
    contract = uow.contracts.get(check_id("contract", contract_id))
    viewer = account_of(uow, viewer_id)
    if contract is None:
        raise NotFound(f"contract {contract_id} not found")
    party_to = viewer.id in (contract.provider_id, contract.recipient_id)
    member = is_account_member(uow.contracts.members(contract.id), viewer.id)
    if not (viewer.is_operator or party_to or member):
        raise NotFound(f"contract {contract_id} not found")
    charges = tuple(uow.charges.for_contract(contract.id))
    payer_ids = {x.payer_id for x in charges}
    accounts = uow.accounts.get_many(payer_ids)
    reps = deps.reputations.of_many(uow, payer_ids, Role.RECIPIENT)
    paid = uow.charges.settled_counts(payer_ids)
    payers = {i: party(accounts.get(i), i, Role.RECIPIENT, reps[i], paid) for i in payer_ids}
    # A subcontract shares its parent's auction, never the group the parent was bought for.
    group_id = None if contract.is_subcontract else uow.groups.group_of_auction(contract.auction_id)
    group, lines = (None, ()) if group_id is None else provided_to(uow, deps, group_id)
    refunds = uow.charges.refunds_of([x.id for x in charges])  # negative payouts
    paid_out = uow.charges.payouts_for_contract(contract.id)
    done = [r.as_payout() for r in refunds if r.gateway_refund_id]
    payouts = tuple(sorted(paid_out + done, key=lambda p: p.created_at))
    return ContractCharges(contract, charges, payouts, payers, group, lines)


def show_contract_charges(
    query: q.ShowContractCharges, uow: UnitOfWork, deps: Deps
) -> ContractCharges:
    return contract_charges(uow, deps, query.contract_id, query.viewer_id)


def my_charges(query: q.MyCharges, uow: UnitOfWork, deps: Deps) -> list[Charge]:
    """The payer's charges, newest first."""
    return uow.charges.of_payer(query.payer_id, MAX_LISTED)
