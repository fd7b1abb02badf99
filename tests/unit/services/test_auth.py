"""Tokens, passwords and sessions: what a caller who is not who they claim runs into."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from commex.adapters.clock import ManualClock
from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import in_memory_services
from commex.domain.errors import Conflict, InvalidInput, Unauthenticated
from commex.services.auth import csrf_ok, token_hash

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def services(clock: ManualClock):  # type: ignore[no-untyped-def]
    return in_memory_services(clock=clock, hasher=Argon2Hasher(time_cost=1, memory_kib=1024))


def test_a_token_is_shown_once_and_stored_only_as_its_hash(services) -> None:  # type: ignore[no-untyped-def]
    reg = services.auth.register("Northwind", ["provider"])
    assert reg.token.startswith("cx_") and len(reg.token) > 40
    store = services.exchange._uow.store
    assert reg.token not in store.tokens and token_hash(reg.token) in store.tokens
    assert services.auth.authenticate(reg.token) == reg.account


@pytest.mark.parametrize("token", [None, "", "cx_wrong", "x" * 500])
def test_a_bad_token_is_refused(services, token) -> None:  # type: ignore[no-untyped-def]
    services.auth.register("Northwind", ["provider"])
    with pytest.raises(Unauthenticated):
        services.auth.authenticate(token)


def test_rotating_a_token_retires_the_old_one(services) -> None:  # type: ignore[no-untyped-def]
    reg = services.auth.register("Northwind", ["provider"])
    new = services.auth.rotate_token(reg.account.id)
    assert services.auth.authenticate(new) == reg.account
    with pytest.raises(Unauthenticated):
        services.auth.authenticate(reg.token)


def test_login_by_name_any_case_and_a_session_with_csrf(services, clock) -> None:  # type: ignore[no-untyped-def]
    reg = services.auth.register("Harbour Family", ["recipient"], "correct horse battery")
    session = services.auth.login("  harbour FAMILY ", "correct horse battery")
    assert session.account == reg.account
    again = services.auth.session(session.token)
    assert again.csrf == session.csrf
    assert (
        csrf_ok(again, session.csrf) and not csrf_ok(again, "forged") and not csrf_ok(again, None)
    )
    services.auth.logout(session.token)
    with pytest.raises(Unauthenticated):
        services.auth.session(session.token)


def test_sessions_expire(services, clock) -> None:  # type: ignore[no-untyped-def]
    services.auth.register("Harbour", ["recipient"], "correct horse battery")
    session = services.auth.login("Harbour", "correct horse battery")
    clock.advance(7 * 86400 + 1)
    with pytest.raises(Unauthenticated, match="session has ended"):
        services.auth.session(session.token)


@pytest.mark.parametrize(
    ("name", "password"),
    [("Harbour", "wrong password!"), ("Nobody", "correct horse battery"), ("", "x" * 20)],
)
def test_a_failed_login_does_not_say_which_part_was_wrong(services, name, password) -> None:  # type: ignore[no-untyped-def]
    services.auth.register("Harbour", ["recipient"], "correct horse battery")
    with pytest.raises(Unauthenticated, match="wrong name or password"):
        services.auth.login(name, password)


def test_passwords_are_hashed_with_argon2id_and_names_are_unique(services) -> None:  # type: ignore[no-untyped-def]
    services.auth.register("Harbour", ["recipient"], "correct horse battery")
    (_, digest) = services.exchange._uow.store.logins["harbour"]
    assert digest.startswith("$argon2id$") and "correct horse battery" not in digest
    with pytest.raises(Conflict):
        services.auth.register("HARBOUR", ["recipient"], "another long password")
    with pytest.raises(InvalidInput, match="password must be"):
        services.auth.register("Short", ["recipient"], "short")


def test_a_bid_with_an_idempotency_key_is_placed_once(services, clock) -> None:  # type: ignore[no-untyped-def]
    ex = services.exchange
    seller = ex.create_account("S", ["provider"])
    buyer = ex.create_account("B", ["recipient"])
    auction = ex.create_auction(
        seller.id,
        {
            "direction": "forward",
            "format": "english",
            "title": "t",
            "terms": {"service": "voice", "duration_s": 60},
            "currency": "EUR",
            "closes_at": "2026-11-23T10:00:00Z",
        },
    )
    first = ex.place_bid(auction.id, buyer.id, "5.00", idempotency_key="retry-1")
    again = ex.place_bid(auction.id, buyer.id, "5.00", idempotency_key="retry-1")
    assert again == first
    assert ex.view(auction.id, buyer.id).auction.bid_count == 1
    with pytest.raises(Conflict, match="different bid"):
        ex.place_bid(auction.id, buyer.id, "9.00", idempotency_key="retry-1")
    with pytest.raises(InvalidInput, match="Idempotency-Key"):
        ex.place_bid(auction.id, buyer.id, "9.00", idempotency_key="x" * 200)
