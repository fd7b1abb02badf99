"""Groups (G1, G2): creating, inviting, answering, sponsoring, and the group's auction request."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from commex.domain.accounts import Account, Role
from commex.domain.billing import SplitRule
from commex.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from commex.domain.groups import (
    MAX_MEMBERS,
    GroupMember,
    MemberState,
    answer,
    ceiling,
    group_auction,
    invite,
    new_group,
    payers,
    sponsor,
)
from commex.domain.money import Money

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def acct(id_, *roles):
    return Account(id_, id_.title(), frozenset(roles or (Role.RECIPIENT,)), T0)


ANN, BOB, CAT, DAN = acct("ann"), acct("bob"), acct("cat"), acct("dan")
PROV = acct("prov", Role.PROVIDER)


def eur(text):
    return Money(Decimal(text), "EUR")


def group_of_four():
    """Ann (creator) pays 30, Bob pays 20, Cat and Dan joined as non-payers."""
    group, ann = new_group("grp_1", ANN, "Harbour Street", "EUR", None, "30.00", T0)
    members = [ann]
    for i, (who, reply, pledge) in enumerate(
        [(BOB, "payer", "20.00"), (CAT, "non-payer", None), (DAN, "non-payer", None)]
    ):
        members.append(invite(group, members, ANN, who, None, T0))
        change = answer(group, members, who, reply, pledge, None, T0 + timedelta(minutes=i + 1))
        members[-1] = change.member
    return group, members


def test_a_creator_who_pledges_is_a_payer_and_the_rule_defaults_to_proportional():
    group, me = new_group("grp_1", ANN, " Harbour ", "EUR", "", "25.00", T0)
    assert (group.name, group.rule, group.creator_id) == ("Harbour", SplitRule.PROPORTIONAL, "ann")
    assert me.state is MemberState.PAYER and me.pledge == eur("25.00")
    _, other = new_group("grp_2", ANN, "Quiet", "EUR", "equal", None, T0)
    assert other.state is MemberState.NON_PAYER and other.pledge is None


@pytest.mark.parametrize(
    ("kwargs", "error", "field", "words"),
    [
        ({"rule": "random"}, InvalidInput, "split_rule", "'proportional' or 'equal'"),
        ({"pledge": "0"}, InvalidInput, "pledge", "more than zero"),
        ({"pledge": "1.001"}, InvalidInput, "pledge", "more than 2 decimal places"),
        ({"currency": "eur"}, InvalidInput, "currency", "written in capitals: 'EUR'"),
        ({"currency": "ZZZ"}, InvalidInput, "currency", "'ZZZ' is not an active ISO 4217"),
        ({"name": ""}, InvalidInput, "name", "non-empty"),
    ],
)
def test_a_bad_group_is_refused_naming_the_field(kwargs, error, field, words):
    args = {"name": "G", "currency": "EUR", "rule": None, "pledge": None} | kwargs
    with pytest.raises(error, match=words) as exc:
        new_group("grp_1", ANN, args["name"], args["currency"], args["rule"], args["pledge"], T0)
    assert exc.value.field == field


def test_only_recipients_form_and_join_groups():
    with pytest.raises(Forbidden, match="formed by recipients"):
        new_group("grp_1", PROV, "G", "EUR", None, None, T0)
    group, me = new_group("grp_1", ANN, "G", "EUR", None, None, T0)
    with pytest.raises(InvalidInput, match="prov is not a recipient"):
        invite(group, [me], ANN, PROV, None, T0)


def test_invitations_come_from_the_creator_once_each_within_the_limit():
    group, members = group_of_four()
    with pytest.raises(Forbidden, match="only the group's creator invites"):
        invite(group, members, BOB, acct("eve"), None, T0)
    with pytest.raises(Conflict, match="bob is already in this group"):
        invite(group, members, ANN, BOB, None, T0)
    with pytest.raises(NotFound, match="group grp_1 not found"):
        invite(group, members, acct("eve"), acct("fay"), None, T0)
    crowd = [GroupMember("grp_1", f"m{i}", MemberState.INVITED, None, T0) for i in range(49)]
    with pytest.raises(Conflict, match=f"at most {MAX_MEMBERS} members .* this one has 50"):
        invite(group, [members[0], *crowd], ANN, acct("eve"), None, T0)


def test_answers_join_change_and_leave():
    group, members = group_of_four()
    assert [m.state for m in members] == [
        MemberState.PAYER, MemberState.PAYER, MemberState.NON_PAYER, MemberState.NON_PAYER,
    ]  # fmt: skip
    raised = answer(group, members, BOB, "payer", "25.00", None, T0 + timedelta(hours=1))
    assert raised.member.pledge == eur("25.00") and not raised.drop_sponsorships
    assert raised.member.joined_at == members[1].joined_at  # the joining order stays
    switched = answer(group, members, BOB, "non-payer", None, None, T0)
    assert switched.member.state is MemberState.NON_PAYER and switched.drop_sponsorships
    left = answer(group, members, CAT, "leave", None, None, T0)
    assert left.member is None and left.drop_sponsorships


@pytest.mark.parametrize(
    ("who", "reply", "pledge", "error", "words"),
    [
        ("bob", "maybe", None, InvalidInput, "answer must be one of 'payer', 'non-payer'"),
        ("bob", "payer", None, InvalidInput, 'states its pledge, such as "20.00" EUR'),
        ("bob", "non-payer", "5.00", InvalidInput, "a non-payer pledges nothing"),
        ("bob", "decline", None, Conflict, "already joined this group: to go, answer 'leave'"),
        ("ann", "leave", None, Forbidden, "creator cannot leave"),
        ("eve", "payer", "5.00", NotFound, "group grp_1 not found"),
    ],
)
def test_answers_that_are_refused(who, reply, pledge, error, words):
    group, members = group_of_four()
    with pytest.raises(error, match=words):
        answer(group, members, acct(who), reply, pledge, None, T0)


def test_an_invitee_declines_but_cannot_leave_what_it_never_joined():
    group, me = new_group("grp_1", ANN, "G", "EUR", None, None, T0)
    members = [me, invite(group, [me], ANN, BOB, None, T0)]
    with pytest.raises(Conflict, match="not joined this group: to refuse, answer 'decline'"):
        answer(group, members, BOB, "leave", None, None, T0)
    assert answer(group, members, BOB, "decline", None, None, T0).member is None


def test_nothing_changes_while_an_auction_is_under_way():
    group, members = group_of_four()
    with pytest.raises(Conflict, match="auction auc_9 is under way: membership and pledges"):
        answer(group, members, BOB, "payer", "99.00", "auc_9", T0)
    with pytest.raises(Conflict, match="auc_9 is under way: invitations"):
        invite(group, members, ANN, acct("eve"), "auc_9", T0)


def test_payers_sponsor_non_payers_only():
    group, members = group_of_four()
    rows = sponsor(group, members, ANN, ["cat", "dan", "cat"])
    assert [(s.payer_id, s.sponsored_id) for s in rows] == [("ann", "cat"), ("ann", "dan")]
    with pytest.raises(Forbidden, match="only a payer sponsors"):
        sponsor(group, members, CAT, ["dan"])
    with pytest.raises(InvalidInput, match="bob is a payer: only members who joined as non"):
        sponsor(group, members, ANN, ["bob"])
    with pytest.raises(InvalidInput, match="eve is not a member of this group"):
        sponsor(group, members, ANN, ["eve"])


def test_the_ceiling_is_the_sum_of_pledges_in_joining_order():
    group, members = group_of_four()
    assert payers(reversed(members)) == [("ann", eur("30.00")), ("bob", eur("20.00"))]
    assert ceiling(group, members) == eur("50.00")


def test_the_group_auction_request_takes_the_ceiling_and_the_members():
    group, members = group_of_four()
    out = group_auction(group, members, ANN, None)
    assert (out.direction, out.currency, str(out.reserve)) == ("reverse", "EUR", "50.00")
    assert out.max_members == 4
    assert str(group_auction(group, members, ANN, None, reserve="45.00").reserve) == "45.00"


@pytest.mark.parametrize(
    ("extra", "error", "field", "words"),
    [
        ({"reserve": "50.01"}, InvalidInput, "reserve", "50.01 EUR is above .* pledged, 50.00 EUR"),
        ({"direction": "forward"}, InvalidInput, "direction", "must be 'reverse'"),
        ({"currency": "USD"}, InvalidInput, "currency", "currency must be EUR"),
        (
            {"max_members": 3},
            InvalidInput,
            "terms.max_members",
            "at least 4, the group's members, not 3",
        ),
    ],
)
def test_group_auction_requests_that_are_refused(extra, error, field, words):
    group, members = group_of_four()
    with pytest.raises(error, match=words) as exc:
        group_auction(group, members, ANN, None, **extra)
    assert exc.value.field == field


def test_only_the_creator_opens_one_auction_at_a_time_and_only_with_payers():
    group, members = group_of_four()
    with pytest.raises(Forbidden, match="only the group's creator opens"):
        group_auction(group, members, BOB, None)
    with pytest.raises(Conflict, match="auc_1 is under way: one at a time"):
        group_auction(group, members, ANN, "auc_1")
    unpaid, me = new_group("grp_2", ANN, "G", "EUR", None, None, T0)
    with pytest.raises(Conflict, match="no payers yet"):
        group_auction(unpaid, [me], ANN, None)
