"""Contracts in use through the bus over the in-memory store: who sees a contract, members
added up to the limit and back again with their usage, and the views parties and members get."""

import pytest

from commex.domain.errors import Conflict, Forbidden, NotFound
from commex.services.commands import AddMember, Caller, RemoveMember, ReportUsage
from commex.services.queries import MyContractLines, PartyContract, ShowContract
from support.engine import register
from support.worlds import award


@pytest.fixture
def won(ex, clock):  # type: ignore[no-untyped-def]
    return award(ex, clock, direction="forward", names=("Harbour", "Northwind"),
                 terms={"service": "voice", "duration_s": 600,
                                                        "max_members": 2})  # fmt: skip


def test_only_parties_the_operator_and_members_see_a_contract(ex, who, won) -> None:  # type: ignore[no-untyped-def]
    cid = won.contract_id
    assert ex.handle(PartyContract(cid, won.seller.id)).id == cid
    assert ex.handle(PartyContract(cid, who.op)).id == cid
    with pytest.raises(NotFound, match=f"contract {cid} not found"):
        ex.handle(PartyContract(cid, who.alice))
    with pytest.raises(NotFound):
        ex.handle(ShowContract(cid, Caller(who.alice)))
    ex.handle(AddMember(cid, won.buyer.id, account_id=who.alice))
    shown = ex.handle(ShowContract(cid, Caller(who.alice)))  # a member account sees it now
    assert (shown.provider.name, shown.recipient.name) == ("Northwind", "Harbour")
    assert shown.names[who.alice] == "Alice"
    (line,) = ex.handle(MyContractLines(who.alice))
    assert (line.my_role, line.counterparty.name) == ("member", "Northwind")


def test_members_up_to_the_limit_and_back_again_with_their_usage(ex, who, won) -> None:  # type: ignore[no-untyped-def]
    cid, buyer = won.contract_id, won.buyer.id
    phone = ex.handle(AddMember(cid, buyer, phone_number="+1 415 555 0123"))
    assert phone.ref == "+14155550123"
    ex.handle(ReportUsage(cid, Caller(buyer), phone.id, "30"))
    ex.handle(AddMember(cid, buyer, account_id=who.alice))
    with pytest.raises(Conflict, match="shared by at most 2 member"):
        ex.handle(AddMember(cid, buyer, account_id=who.bob))
    with pytest.raises(Forbidden, match="only the contract's recipient removes members"):
        ex.handle(RemoveMember(cid, won.seller.id, phone.id))
    ex.handle(RemoveMember(cid, buyer, phone.id))
    again = ex.handle(AddMember(cid, buyer, phone_number="+14155550123"))
    assert again.id == phone.id and again.removed_at is None  # the same membership
    usage = ex.handle(ShowContract(cid, Caller(buyer))).usage
    assert {s.member.id: s.usage.used_ms for s in usage.members}[phone.id] == 30_000
    assert usage.remaining_ms == 570_000


def test_exactly_one_kind_of_member_is_named(ex, won) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Exception, match="exactly one of device_id, account_id or phone_number"):
        ex.handle(AddMember(won.contract_id, won.buyer.id))
    stranger = register(ex, "Stranger", ["recipient"])
    with pytest.raises(NotFound):
        ex.handle(AddMember(won.contract_id, stranger.id, phone_number="+14155550123"))
