"""The group repository (a group with its members, sponsorships and auctions), on every
store."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from commex.domain.auctions import EnglishState
from commex.domain.billing import SplitRule
from commex.domain.groups import Group, GroupMember, MemberState, Sponsorship
from commex.domain.money import Money
from commex.services.ports import UnitOfWorkFactory
from support.rows import T0, auction, put_accounts


def _group(group_id: str, creator: str, at: int = 0) -> Group:
    return Group(
        group_id,
        f"Group {group_id}",
        "EUR",
        SplitRule.PROPORTIONAL,
        creator,
        T0 + timedelta(seconds=at),
    )


def _member(group_id: str, account_id: str, at: int, state: MemberState) -> GroupMember:
    pledge = Money(Decimal("40.00"), "EUR") if state is MemberState.PAYER else None
    joined = None if state is MemberState.INVITED else T0 + timedelta(seconds=at + 1)
    return GroupMember(group_id, account_id, state, pledge, T0 + timedelta(seconds=at), joined)


def test_groups_and_their_members(store: UnitOfWorkFactory) -> None:
    put_accounts(store, "acc_a", "acc_b", "acc_c")
    a = _member("grp_1", "acc_a", 0, MemberState.PAYER)
    b = _member("grp_1", "acc_b", 1, MemberState.INVITED)
    c = _member("grp_2", "acc_a", 0, MemberState.NON_PAYER)
    with store() as u:
        u.groups.add(_group("grp_1", "acc_a"))
        u.groups.add(_group("grp_2", "acc_c", at=5))
        for m in (b, a, c):
            u.groups.put_member(m)
        u.commit()
    with store() as u:
        u.groups.lock("grp_1")
        assert u.groups.get("grp_1") == _group("grp_1", "acc_a")
        assert u.groups.get("grp_9") is None
        assert u.groups.members("grp_1") == [a, b]
        assert [g.id for g in u.groups.of_account("acc_a", 10)] == ["grp_2", "grp_1"]
        assert [g.id for g in u.groups.of_account("acc_a", 1)] == ["grp_2"]
        assert u.groups.of_account("acc_c", 10) == []
        joined = _member("grp_1", "acc_b", 1, MemberState.PAYER)
        u.groups.put_member(joined)
        u.groups.remove_member("grp_2", "acc_a")
        u.commit()
    with store(write=False) as u:
        assert u.groups.members("grp_1") == [a, joined]
        assert u.groups.members("grp_2") == []


def test_sponsorships_are_replaced_per_payer_and_dropped_by_name(store: UnitOfWorkFactory) -> None:
    put_accounts(store, "acc_a", "acc_b", "acc_c", "acc_d")
    with store() as u:
        u.groups.add(_group("grp_1", "acc_a"))
        u.groups.set_sponsorships("grp_1", "acc_a", [Sponsorship("grp_1", "acc_a", "acc_c")])
        u.groups.set_sponsorships(
            "grp_1",
            "acc_a",
            [Sponsorship("grp_1", "acc_a", "acc_d"), Sponsorship("grp_1", "acc_a", "acc_c")],
        )
        u.groups.set_sponsorships("grp_1", "acc_b", [Sponsorship("grp_1", "acc_b", "acc_c")])
        u.commit()
    with store() as u:
        assert u.groups.sponsorships("grp_1") == [
            Sponsorship("grp_1", "acc_a", "acc_c"),
            Sponsorship("grp_1", "acc_a", "acc_d"),
            Sponsorship("grp_1", "acc_b", "acc_c"),
        ]
        u.groups.drop_sponsorships("grp_1", "acc_c")
        u.groups.set_sponsorships("grp_1", "acc_b", [])
        u.commit()
    with store(write=False) as u:
        assert u.groups.sponsorships("grp_1") == [Sponsorship("grp_1", "acc_a", "acc_d")]


def test_a_groups_auctions_are_linked_and_settled(store: UnitOfWorkFactory) -> None:
    put_accounts(store, "acc_a", "acc_p")
    with store() as u:
        u.groups.add(_group("grp_1", "acc_a"))
        for i in (1, 2):
            u.auctions.add(
                replace(auction(), id=f"auc_{i}", owner_id="acc_a", english=EnglishState())
            )
        u.groups.link_auction("grp_1", "auc_1", T0)
        u.groups.link_auction("grp_1", "auc_2", T0 + timedelta(seconds=1))
        u.commit()
    with store() as u:
        assert u.groups.group_of_auction("auc_2") == "grp_1"
        assert u.groups.group_of_auction("auc_9") is None
        assert u.groups.auctions_of("grp_1") == ["auc_2", "auc_1"]
        assert u.groups.unsettled_auctions("grp_1") == ["auc_1", "auc_2"]
        u.groups.settle_auction("auc_1")
        u.commit()
    with store(write=False) as u:
        assert u.groups.unsettled_auctions("grp_1") == ["auc_2"]
        assert u.groups.auctions_of("grp_1") == ["auc_2", "auc_1"]
