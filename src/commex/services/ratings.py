"""Two-sided ratings (R1-R3): a contract's parties rate each other once, and the recipient's
member devices rate its provider.

A rating and the reputation it moves are written in one transaction, with the rated account's
row locked, so concurrent ratings of one account never lose an update.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from commex.domain import ratings as rating_rules
from commex.domain.accounts import Account
from commex.domain.charges import ChargeStatus
from commex.domain.contracts import Contract
from commex.domain.errors import Forbidden, InvalidInput, NotFound
from commex.domain.events import RatingReceived
from commex.domain.members import Member, MemberKind
from commex.domain.ratings import Rater, Rating
from commex.domain.reputation import add_rating, rating_weight
from commex.services import audit
from commex.services import commands as c
from commex.services.bus import Deps
from commex.services.loading import account_of, check_id, contract_of
from commex.services.ports import UnitOfWork


def rate(cmd: c.Rate, uow: UnitOfWork, deps: Deps) -> Rating:
    """Rate the other side of a contract (from an account, or a member device of the
    recipient), once; the rated account's reputation moves in the same transaction."""
    contract = contract_of(uow, cmd.contract_id)
    if contract.is_subcontract:
        raise Forbidden("a subcontract is rated by the plane's own check of its results, once")
    rater = _rater(uow, contract, cmd.account_id, cmd.device_id)
    if (
        cmd.device_id is None
        and rater.account.id
        not in (
            contract.provider_id,
            contract.recipient_id,
        )
        and is_account_member(uow.contracts.members(contract.id), rater.account.id)
    ):
        raise Forbidden(
            "only the contract's parties rate it; its recipient rates the provider for every member"
        )
    role, rated_id = rating_rules.side_of(contract, rater)
    people = uow.accounts.get_many({rater.account.id, rated_id})
    owners = {a.id: a.owner for a in people.values()}
    already = uow.ratings.exists(contract.id, role.value, rater.key)
    now = deps.clock.now()
    rating = rating_rules.rate(
        contract, rater, owners, already, cmd.satisfied, cmd.score, cmd.comment, now,
        deps.ids.new("rat"),
    )  # fmt: skip
    worth = _worth(uow, contract, rater.account, now)
    rating = replace(rating, weight=worth, worth=worth)
    stored = record_rating(uow, rating, rater.account.owner, now)
    audit_rating(uow, deps, stored, rater.account.id)
    return stored


def _worth(uow: UnitOfWork, contract: Contract, rater: Account, now: datetime) -> float:
    """What stands behind a rating of ``contract`` by ``rater`` (see ``rating_weight``): what
    its charges took, less refunds, and the rater's age and payment history."""
    paid = [x for x in uow.charges.for_contract(contract.id) if x.status is ChargeStatus.SUCCEEDED]
    total = sum((x.amount.amount for x in paid), Decimal(0))
    total -= sum(
        (r.amount.amount for r in uow.charges.refunds_of([x.id for x in paid])), Decimal(0)
    )
    age_days = (now - rater.created_at).total_seconds() / 86400
    return rating_weight(total, age_days, uow.charges.settled_count(rater.id))


def audit_rating(uow: UnitOfWork, deps: Deps, rating: Rating, by: str | None) -> None:
    """A rating recorded: by an account, a member device for its account, or (``by`` None) the
    exchange itself for a payment outcome."""
    audit.record(
        uow, deps, "rating.recorded", rating.contract_id, by=by, device=rating.device_id,
        accounts=(rating.rater_account_id, rating.rated_id),
        detail={"rating": rating.id, "rated": rating.rated_id, "role": rating.rated_role.value,
                "satisfied": "yes" if rating.satisfied else "no", "score": rating.score},
    )  # fmt: skip


def record_rating(uow: UnitOfWork, rating: Rating, counterparty: str, now: datetime) -> Rating:
    """Store ``rating`` and move the rated account's reputation in the caller's unit of work,
    with the rated account's row locked; ``counterparty`` is the rater's owner (its weight in
    the rated reputation is capped). The rating is stored with the weight it carried: its own
    (``rating.weight``), or less where the cap leaves less room. Its ``worth`` (its weight
    before the cap) decides whether it is counted at all: a rating with nothing paid behind it
    is not, a capped one still is."""
    rated_id, role = rating.rated_id, rating.rated_role.value
    uow.accounts.lock(rated_id)
    tally = uow.ratings.tallies([rated_id], role).get(rated_id)
    pair = uow.ratings.pair(rated_id, role, counterparty)
    new_tally, new_pair, carried = add_rating(tally, pair, rating.satisfied, now, rating.weight)
    stored = replace(rating, weight=carried)
    uow.ratings.add(stored)
    uow.ratings.put_tally(rated_id, role, new_tally)
    uow.ratings.put_pair(rated_id, role, counterparty, new_pair)
    uow.record([RatingReceived(
        rating.id, rating.contract_id, rated_id, role, rating.satisfied, rating.score, now
    )])  # fmt: skip
    return stored


def is_account_member(members: Sequence[Member], account_id: str) -> bool:
    return any(m.kind is MemberKind.ACCOUNT and m.ref == account_id for m in members)


def _rater(
    uow: UnitOfWork, contract: Contract, account_id: str | None, device_id: str | None
) -> Rater:
    if device_id is None:
        if account_id is None:
            raise InvalidInput("a rating comes from an account or a device")
        return Rater(account_of(uow, account_id))
    device = uow.accounts.device(check_id("device", device_id))
    if device is None:
        raise NotFound(f"device {device_id} not found")
    owner: Account = account_of(uow, device.recipient_id)
    member = any(
        m.kind is MemberKind.DEVICE and m.ref == device.id
        for m in uow.contracts.members(contract.id)
    )
    return Rater(owner, device.id, member)
