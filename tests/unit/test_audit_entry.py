"""An audit entry as the domain makes it: a known action, each account once in the order
given, a bounded reason and detail as text."""

from __future__ import annotations

import pytest

from commex.domain.audit import MAX_DETAIL_VALUE, MAX_REASON, make_entry
from support.moments import T0


def test_an_entry_is_checked_and_bounded() -> None:
    e = make_entry(
        T0, "acc_1", "bid.placed", "auc_1", ("acc_1", "acc_2", "acc_1"), "r-1", "x" * 900,
        {"amount": "10.00", "note": "y" * 900, "gone": None, "n": 3},
    )  # fmt: skip
    assert e.accounts == ("acc_1", "acc_2")
    assert len(e.reason or "") == MAX_REASON
    assert dict(e.detail) == {"amount": "10.00", "note": "y" * MAX_DETAIL_VALUE, "n": "3"}
    with pytest.raises(TypeError):
        e.detail["amount"] = "0.00"  # type: ignore[index]
    with pytest.raises(ValueError, match="unknown audit action"):
        make_entry(T0, None, "bid.deleted", "auc_1", (), None, None, None)
