"""Commands and queries of trust and safety: the operator's moderation (O2) and each account's
own security (O3). Every moderation command names the operator acting and carries a reason,
which its event keeps (see :mod:`commex.services.moderation_audit`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from commex.domain.accounts import Account
from commex.domain.auctions import Auction
from commex.domain.charges import Refund
from commex.domain.contracts import Contract
from commex.domain.members import Device
from commex.domain.ratings import Rating
from commex.services.messages import Command
from commex.services.queries import Query

# -- the operator's moderation -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SuspendAccount(Command[Account]):
    """Suspend an account: it can do nothing more, and its open bids are withdrawn."""

    account_id: str
    by_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ReinstateAccount(Command[Account]):
    account_id: str
    by_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class FindAccounts(Query[list[Account]]):
    """Accounts whose id is ``text`` or whose name holds it, newest first (the operator's)."""

    text: str
    by_id: str
    limit: int = 50


@dataclass(frozen=True, slots=True)
class FindAuctions(Query[list[Auction]]):
    """Auctions whose id is ``text`` or, among the newest :data:`FIND_AUCTIONS_AMONG`, whose
    title holds it, newest first (the operator's)."""

    text: str
    by_id: str
    limit: int = 50


FIND_AUCTIONS_AMONG = 500


@dataclass(frozen=True, slots=True)
class HideRating(Command[Rating]):
    """Hide a rating: it leaves the rated reputation and stays on record."""

    rating_id: str
    by_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class RefundCharge(Command[Refund]):
    """Refund (part of) a paid charge through the gateway: a negative payout."""

    charge_id: str
    by_id: str
    amount: str
    reason: str


@dataclass(frozen=True, slots=True)
class Cancellation:
    """A contract cancelled: the contract as it ended, the contract its block went to next
    (None: unsold, or not given on), and the contract's charges that were paid (the money
    stays paid until refunded)."""

    contract: Contract
    reawarded: Contract | None
    paid_charges: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CancelContract(Command[Cancellation]):
    """The operator cancels a contract in force, with a reason; ``reaward`` gives its block to
    the next qualifying bid where the format allows."""

    contract_id: str
    by_id: str
    reason: str
    reaward: bool = False


# -- each account's own security -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RevokeDevice(Command[Device]):
    """Deregister a device of the caller's: its token stops working at once."""

    device_id: str
    by_id: str


@dataclass(frozen=True, slots=True)
class EndSessions(Command[int]):
    """End every web session of the account (log out everywhere); how many there were."""

    account_id: str
    by_id: str
    reason: str = "logged out everywhere"


# -- passwords -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangePassword(Command[int]):
    """Change the caller's password, given the current one; every other web session of the
    account ends (``keep_session`` is the caller's own cookie value, which stays). Answers how
    many sessions ended."""

    account_id: str
    current_password: str
    new_password: str
    keep_session: str | None = None
    client: str | None = None


@dataclass(frozen=True, slots=True)
class ResetLink:
    """A reset link's token, shown this once, and until when it works."""

    account: Account
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class IssuePasswordReset(Command[ResetLink]):
    """The operator issues a one-time password-reset link for an account with a login."""

    account_id: str
    by_id: str


@dataclass(frozen=True, slots=True)
class ResetLinkAccount(Query[Account]):
    """The account a live reset link is for (NotFound for a dead one)."""

    token: str


@dataclass(frozen=True, slots=True)
class ResetPassword(Command[Account]):
    """Set a new password through a reset link: the link is used up, every session ends."""

    token: str
    new_password: str
