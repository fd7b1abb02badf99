"""Who may rate which contract, once (R1-R3): every rule of `rate` and every refusal."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from commex.domain.accounts import Account, Role
from commex.domain.contracts import Contract, ContractStatus
from commex.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from commex.domain.money import Money
from commex.domain.ratings import MAX_COMMENT, RATING_WINDOW, RatedRole, Rater, Rating, rate
from commex.domain.terms import ServiceTerms

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
STARTED = T0 + timedelta(days=1)
NOW = STARTED + timedelta(days=3)


def account(id_, *roles, owner_id=None):
    return Account(
        id_, id_.title(), frozenset(roles or (Role.PROVIDER, Role.RECIPIENT)), T0, owner_id
    )


PROVIDER = account("prov", Role.PROVIDER)
RECIPIENT = account("reci", Role.RECIPIENT)
STRANGER = account("stra")
# A second account opened by the provider's owner: it buys from its own provider.
PROVIDER_ALT = account("prov2", Role.RECIPIENT, owner_id="prov")

CONTRACT = Contract(
    "con_1", "auc_1", "bid_1", "prov", "reci", Money(Decimal("12.50"), "EUR"),
    ServiceTerms("voice", 3600), ContractStatus.ACTIVE, T0, STARTED,
)  # fmt: skip


def owners_of(*accounts):
    return {a.id: a.owner for a in accounts}


OWNERS = owners_of(PROVIDER, RECIPIENT, STRANGER, PROVIDER_ALT)


def give(
    rater,
    contract=CONTRACT,
    *,
    owners=OWNERS,
    already_rated=False,
    satisfied=True,
    score=None,
    comment=None,
    now=NOW,
):
    return rate(contract, rater, owners, already_rated, satisfied, score, comment, now, "rat_1")


# --- who rates whom ---------------------------------------------------------------------------


def test_the_recipient_rates_the_provider():
    rating = give(Rater(RECIPIENT), satisfied=True, score=5, comment="  Clear calls  ")
    assert rating == Rating(
        id="rat_1",
        contract_id="con_1",
        rated_id="prov",
        rated_role=RatedRole.PROVIDER,
        rater_key="account:reci",
        rater_account_id="reci",
        device_id=None,
        satisfied=True,
        score=5,
        comment="Clear calls",
        created_at=NOW,
    )


def test_the_provider_rates_whether_the_recipient_paid():
    rating = give(Rater(PROVIDER), satisfied=False)
    assert (rating.rated_id, rating.rated_role) == ("reci", RatedRole.RECIPIENT)
    assert rating.rater_key == "account:prov"
    assert rating.satisfied is False
    assert rating.score is None and rating.comment is None


def test_a_member_device_of_the_recipient_rates_the_provider_under_its_own_key():
    rating = give(Rater(RECIPIENT, device_id="dev_7", device_is_member=True))
    assert (rating.rated_id, rating.rated_role) == ("prov", RatedRole.PROVIDER)
    assert rating.rater_key == "device:dev_7"
    assert rating.rater_account_id == "reci"
    assert rating.device_id == "dev_7"


def test_a_device_and_its_account_rate_once_each():
    assert Rater(RECIPIENT).key != Rater(RECIPIENT, "dev_7", True).key
    assert Rater(RECIPIENT, "dev_7", True).key != Rater(RECIPIENT, "dev_8", True).key


def test_a_stranger_is_told_the_contract_does_not_exist():
    with pytest.raises(NotFound) as err:
        give(Rater(STRANGER))
    assert err.value.message == "contract con_1 not found"


def test_a_device_of_the_recipient_that_is_not_a_member_is_forbidden():
    with pytest.raises(Forbidden) as err:
        give(Rater(RECIPIENT, device_id="dev_9", device_is_member=False))
    assert err.value.message == "this device is not a member of the contract"


@pytest.mark.parametrize("member", [True, False])
def test_a_device_of_another_recipient_does_not_see_the_contract(member):
    with pytest.raises(NotFound):
        give(Rater(STRANGER, device_id="dev_s", device_is_member=member))


def test_the_provider_cannot_rate_through_a_device():
    with pytest.raises(NotFound):
        give(Rater(PROVIDER, device_id="dev_p", device_is_member=True))


# --- same owner -------------------------------------------------------------------------------


def test_an_owner_cannot_rate_its_own_provider_through_a_second_account():
    own = replace(CONTRACT, recipient_id="prov2")
    for rater in (Rater(PROVIDER_ALT), Rater(PROVIDER), Rater(PROVIDER_ALT, "dev_2", True)):
        with pytest.raises(Forbidden) as err:
            give(rater, own)
        assert err.value.message == "ratings between accounts of the same owner are refused"


def test_no_one_rates_themselves():
    selfish = replace(CONTRACT, recipient_id="prov")
    with pytest.raises(Forbidden):
        give(Rater(PROVIDER), selfish)


def test_owners_come_from_the_mapping_given():
    # The rater's account object says nothing, but the exchange knows both have one owner.
    with pytest.raises(Forbidden):
        give(Rater(RECIPIENT), owners={"reci": "boss", "prov": "boss"})


def test_a_missing_owner_is_a_programming_error_not_a_pass():
    with pytest.raises(LookupError):
        give(Rater(RECIPIENT), owners={"reci": "reci"})


# --- once, and only while the window is open -------------------------------------------------


def test_rating_twice_is_refused():
    with pytest.raises(Conflict) as err:
        give(Rater(RECIPIENT), already_rated=True)
    assert err.value.message == "you have already rated this contract"


@pytest.mark.parametrize(
    ("status", "started_at"),
    [
        (ContractStatus.AWARDED, None),
        (ContractStatus.ACTIVE, None),
        (ContractStatus.CANCELLED, None),
        (ContractStatus.CANCELLED, STARTED),
        (ContractStatus.AWARDED, STARTED),
    ],
)
def test_ratings_open_when_delivery_starts(status, started_at):
    contract = replace(CONTRACT, status=status, started_at=started_at)
    for rater in (Rater(RECIPIENT), Rater(PROVIDER)):
        with pytest.raises(Conflict) as err:
            give(rater, contract)
        assert err.value.message == "ratings open when delivery starts"


def test_no_rating_dated_before_delivery_started():
    with pytest.raises(Conflict, match="when delivery starts"):
        give(Rater(RECIPIENT), now=STARTED - timedelta(seconds=1))


def test_a_completed_contract_can_still_be_rated():
    done = replace(CONTRACT, status=ContractStatus.COMPLETED)
    assert give(Rater(RECIPIENT), done).rated_id == "prov"


def test_the_window_runs_from_the_start_to_its_last_instant():
    assert give(Rater(RECIPIENT), now=STARTED).created_at == STARTED
    last = STARTED + RATING_WINDOW
    assert give(Rater(PROVIDER), now=last).created_at == last


def test_after_the_window_rating_is_refused_naming_the_date_it_closed():
    with pytest.raises(Conflict) as err:
        give(Rater(RECIPIENT), now=STARTED + RATING_WINDOW + timedelta(seconds=1))
    assert "2026-05-31" in err.value.message  # 90 days after 2026-03-02
    assert RATING_WINDOW.days == 90


def test_a_stranger_learns_nothing_even_about_a_closed_window():
    with pytest.raises(NotFound):
        give(Rater(STRANGER), now=STARTED + RATING_WINDOW * 2)


def test_a_naive_now_is_refused():
    with pytest.raises(InvalidInput):
        give(Rater(RECIPIENT), now=NOW.replace(tzinfo=None))


# --- inputs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, 1, 0, "true", "yes", [True]])
def test_satisfied_must_be_a_boolean(value):
    with pytest.raises(InvalidInput) as err:
        give(Rater(RECIPIENT), satisfied=value)
    assert err.value.field == "satisfied"


@pytest.mark.parametrize("value", [0, 6, -1, True, False, 4.0, "5", 2.5])
def test_score_is_a_whole_number_from_1_to_5(value):
    with pytest.raises(InvalidInput) as err:
        give(Rater(RECIPIENT), score=value)
    assert err.value.field == "score"


@pytest.mark.parametrize("value", [None, 1, 3, 5])
def test_score_may_be_left_out_or_given(value):
    assert give(Rater(RECIPIENT), score=value).score == value


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        (None, None),
        ("", None),
        ("   \n\t ", None),
        ("Good line\nbut dropped twice.\tOnce.", "Good line\nbut dropped twice.\tOnce."),
        ("Windows\r\nlines", "Windows\nlines"),
        ("x" * MAX_COMMENT, "x" * MAX_COMMENT),
        ("  " + "y" * MAX_COMMENT + "  ", "y" * MAX_COMMENT),
        ("Très bien — 良い", "Très bien — 良い"),
    ],
)
def test_comments_are_trimmed_and_an_empty_one_is_none(value, kept):
    assert give(Rater(RECIPIENT), comment=value).comment == kept


@pytest.mark.parametrize(
    "value", ["x" * (MAX_COMMENT + 1), "bell\x07", "nul\x00", "esc\x1b[31m", 42, ["hi"], b"hi"]
)
def test_bad_comments_are_refused_naming_the_field(value):
    with pytest.raises(InvalidInput) as err:
        give(Rater(RECIPIENT), comment=value)
    assert err.value.field == "comment"


def test_refusals_of_the_rater_come_before_complaints_about_the_input():
    with pytest.raises(NotFound):
        give(Rater(STRANGER), satisfied="maybe")
    with pytest.raises(Conflict):
        give(Rater(RECIPIENT), already_rated=True, score=9)
