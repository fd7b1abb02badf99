"""Groups of recipients with their members, sponsorships and the auctions they run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from commex.domain.groups import Group, GroupMember, Sponsorship


class GroupRepository(Protocol):
    def add(self, group: Group) -> None: ...

    def get(self, group_id: str) -> Group | None: ...

    def lock(self, group_id: str) -> None:
        """Hold the group's row lock until the unit of work ends (serialises membership changes
        with the opening of the group's auction)."""
        ...

    def of_account(self, account_id: str, limit: int) -> list[Group]:
        """Groups the account is in or invited to, newest first."""
        ...

    def members(self, group_id: str) -> list[GroupMember]:
        """The group's members and invitees, in the order they were invited."""
        ...

    def put_member(self, member: GroupMember) -> None:
        """Add the member, or replace its row."""
        ...

    def remove_member(self, group_id: str, account_id: str) -> None: ...

    def sponsorships(self, group_id: str) -> list[Sponsorship]:
        """The group's sponsorships, by payer and then sponsored account."""
        ...

    def set_sponsorships(self, group_id: str, payer_id: str, rows: Sequence[Sponsorship]) -> None:
        """Replace the payer's sponsorships in the group with ``rows``."""
        ...

    def drop_sponsorships(self, group_id: str, account_id: str) -> None:
        """Remove every sponsorship naming the account, as payer or as sponsored."""
        ...

    def link_auction(self, group_id: str, auction_id: str, now: datetime) -> None: ...

    def group_of_auction(self, auction_id: str) -> str | None: ...

    def unsettled_auctions(self, group_id: str) -> list[str]:
        """The group's auctions not yet settled (charged, or ended without a winner), oldest
        first."""
        ...

    def auctions_of(self, group_id: str) -> list[str]:
        """Every auction of the group, newest first."""
        ...

    def settle_auction(self, auction_id: str) -> None: ...
