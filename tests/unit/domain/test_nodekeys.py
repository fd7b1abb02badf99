"""Node-key rules (S10): only providers hold them, named, a bounded number active, revoked by
their own provider only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from commex.domain import nodekeys as rules
from commex.domain.accounts import Account, Role
from commex.domain.errors import Conflict, Forbidden, InvalidInput, NotFound

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
BRAVO = Account("acc_b", "Bravo", frozenset({Role.PROVIDER}), T0)
CLINIC = Account("acc_r", "Clinic", frozenset({Role.RECIPIENT}), T0)
SECRET = "cxn_0123456789abcdefWXYZ"


def test_a_key_keeps_its_name_and_last_characters_never_itself() -> None:
    key = rules.issue(BRAVO, "  rack 4  ", 0, "nk_1", SECRET, T0)
    assert (key.provider_id, key.name, key.hint, key.active) == ("acc_b", "rack 4", "WXYZ", True)
    assert SECRET not in repr(key)


@pytest.mark.parametrize(
    ("who", "name", "active", "error", "says"),
    [
        (CLINIC, "n", 0, Forbidden, "only a provider runs processing nodes"),
        (BRAVO, "", 0, InvalidInput, "name must be 1 to 80 characters"),
        (BRAVO, "x" * 81, 0, InvalidInput, "name must be 1 to 80 characters"),
        (BRAVO, 7, 0, InvalidInput, "name must be 1 to 80 characters"),
        (BRAVO, "a\nb", 0, InvalidInput, "name must not hold control characters"),
        (BRAVO, "n", rules.MAX_ACTIVE_KEYS, Conflict, "at most 20 node keys are active"),
    ],
)
def test_a_key_is_refused_saying_why(
    who: Account, name: object, active: int, error: type[Exception], says: str
) -> None:
    with pytest.raises(error) as err:
        rules.issue(who, name, active, "nk_1", SECRET, T0)
    assert says in str(err.value)


def test_only_its_provider_revokes_a_key_and_revoking_twice_changes_nothing() -> None:
    key = rules.issue(BRAVO, "rack", 0, "nk_1", SECRET, T0)
    with pytest.raises(NotFound, match="node key nk_1 not found"):
        rules.revoke(key, "acc_other", "nk_1", T0)
    with pytest.raises(NotFound):
        rules.revoke(None, "acc_b", "nk_1", T0)
    revoked = rules.revoke(key, "acc_b", "nk_1", T0 + timedelta(hours=1))
    assert revoked.revoked_at == T0 + timedelta(hours=1) and not revoked.active
    assert rules.revoke(revoked, "acc_b", "nk_1", T0 + timedelta(hours=2)) == revoked
