"""Who may rate which contract, once (R1-R3).

Both sides of a contract rate each other: the recipient (or one of its devices that is a member
of the contract) rates the provider, and the provider rates whether the recipient paid. Ratings
open when delivery starts and close :data:`RATING_WINDOW` later; each rater rates each side once,
and no one rates an account of the same owner. :func:`rate` checks all of this and returns the
:class:`Rating` to store; the weight it carries in a reputation is the business of
:mod:`commex.domain.reputation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from commex.domain.accounts import Account
from commex.domain.contracts import Contract, ContractStatus
from commex.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from commex.domain.time import require_utc

RATING_WINDOW = timedelta(days=90)
MAX_COMMENT = 1000
MIN_SCORE = 1
MAX_SCORE = 5

_RATEABLE = frozenset({ContractStatus.ACTIVE, ContractStatus.COMPLETED})
_WHITESPACE_ALLOWED = frozenset("\n\t")


class RatedRole(StrEnum):
    """The side of the contract being rated, and so the reputation the rating counts in."""

    PROVIDER = "provider"  # the recipient (or its device) rates the provider
    RECIPIENT = "recipient"  # the provider rates whether the recipient paid


@dataclass(frozen=True, slots=True)
class Rater:
    """Who is rating: an account, or a client device acting for its recipient account."""

    account: Account
    device_id: str | None = None
    device_is_member: bool = False

    @property
    def key(self) -> str:
        """What "once per rater" counts: each device of a contract rates once, as does each
        account rating for itself."""
        if self.device_id is not None:
            return f"device:{self.device_id}"
        return f"account:{self.account.id}"


@dataclass(frozen=True, slots=True)
class Rating:
    """One rating of one side of a contract, as stored."""

    id: str
    contract_id: str
    rated_id: str
    rated_role: RatedRole
    rater_key: str
    rater_account_id: str
    device_id: str | None
    satisfied: bool
    score: int | None
    comment: str | None
    created_at: datetime
    weight: float = 1.0  # what it carried in the rated reputation, after the counterparty cap
    worth: float = 1.0  # what stands behind it (reputation.rating_weight); 0: not counted at all
    hidden_at: datetime | None = None
    hidden_reason: str | None = None


def rate(
    contract: Contract,
    rater: Rater,
    owners: Mapping[str, str],
    already_rated: bool,
    satisfied: object,
    score: object,
    comment: object,
    now: datetime,
    rating_id: str,
) -> Rating:
    """The rating ``rater`` gives the other side of ``contract`` at ``now``, or a refusal.

    ``owners`` maps account ids to owner ids (:attr:`Account.owner`) for at least the rater's
    account and the rated account; ``already_rated`` says whether ``rater.key`` has rated this
    side of the contract before. Strangers are told the contract does not exist.
    """
    now = require_utc(now, "now")
    rated_role, rated_id = side_of(contract, rater)
    _check_open(contract, now)
    if _owner_of(rater.account.id, owners, rater.account.owner) == _owner_of(rated_id, owners):
        raise Forbidden("ratings between accounts of the same owner are refused")
    if already_rated:
        raise Conflict("you have already rated this contract")
    return Rating(
        id=rating_id,
        contract_id=contract.id,
        rated_id=rated_id,
        rated_role=rated_role,
        rater_key=rater.key,
        rater_account_id=rater.account.id,
        device_id=rater.device_id,
        satisfied=check_satisfied(satisfied),
        score=check_score(score),
        comment=check_comment(comment),
        created_at=now,
    )


def side_of(contract: Contract, rater: Rater) -> tuple[RatedRole, str]:
    """Which side ``rater`` rates: the recipient and its member devices rate the provider,
    the provider rates the recipient; anyone else does not see the contract."""
    hidden = NotFound(f"contract {contract.id} not found")
    account_id = rater.account.id
    if rater.device_id is not None:
        if account_id != contract.recipient_id:
            raise hidden
        if not rater.device_is_member:
            raise Forbidden("this device is not a member of the contract")
        return RatedRole.PROVIDER, contract.provider_id
    if account_id == contract.recipient_id:
        return RatedRole.PROVIDER, contract.provider_id
    if account_id == contract.provider_id:
        return RatedRole.RECIPIENT, contract.recipient_id
    raise hidden


def _check_open(contract: Contract, now: datetime) -> None:
    started = contract.started_at
    if contract.status not in _RATEABLE or started is None or now < started:
        raise Conflict("ratings open when delivery starts")
    closes = started + RATING_WINDOW
    if now > closes:
        raise Conflict(
            f"ratings for this contract closed on {require_utc(closes):%Y-%m-%d} "
            f"({RATING_WINDOW.days} days after delivery started)"
        )


def _owner_of(account_id: str, owners: Mapping[str, str], default: str | None = None) -> str:
    owner = owners.get(account_id, default)
    if owner is None:
        # A caller's mistake, not a user's: refusing beats letting a same-owner rating through.
        raise LookupError(f"the owner of account {account_id} was not given")
    return owner


def check_satisfied(value: object) -> bool:
    """Satisfied or not: a boolean, never a truthy string or number."""
    if not isinstance(value, bool):
        raise InvalidInput("satisfied must be true or false", field="satisfied")
    return value


def check_score(value: object) -> int | None:
    """An optional whole score from 1 to 5."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_SCORE <= value <= MAX_SCORE:
        raise InvalidInput(
            f"score must be a whole number from {MIN_SCORE} to {MAX_SCORE}, or left out",
            field="score",
        )
    return value


def check_comment(value: object) -> str | None:
    """An optional comment: trimmed, line breaks normalised, at most MAX_COMMENT printable
    characters (new lines and tabs allowed); an empty comment is no comment."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("comment must be text", field="comment")
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return None
    if len(text) > MAX_COMMENT:
        raise InvalidInput(
            f"comment must be at most {MAX_COMMENT} characters, not {len(text)}", field="comment"
        )
    if not all(ch.isprintable() or ch in _WHITESPACE_ALLOWED for ch in text):
        raise InvalidInput(
            "comment must hold printable characters only (new lines and tabs allowed)",
            field="comment",
        )
    return text
