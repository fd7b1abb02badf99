"""Accounts and who is calling: registration in one transaction, tokens, passwords and
sessions, and what a caller who is not who they claim runs into."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from commex.adapters.clock import ManualClock
from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import in_memory_services
from commex.domain.accounts import Role
from commex.domain.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from commex.services import commands as c
from commex.services import queries as q
from commex.services.accounts import csrf_ok, token_hash
from support.engine import account, register
from support.engine import error_of as err_of

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def services(clock: ManualClock):  # type: ignore[no-untyped-def]
    return in_memory_services(clock=clock, hasher=Argon2Hasher(time_cost=1, memory_kib=1024))


def test_a_token_is_shown_once_and_stored_only_as_its_hash(services) -> None:  # type: ignore[no-untyped-def]
    reg = services.bus.handle(c.Register("Northwind", ("provider",)))
    assert reg.token.startswith("cx_") and len(reg.token) > 40
    store = services.bus.uow_factory.store
    assert reg.token not in store.tokens and token_hash(reg.token) in store.tokens
    assert authenticate(services, reg.token) == reg.account


@pytest.mark.parametrize("token", [None, "", "cx_wrong", "x" * 500])
def test_a_bad_token_is_refused(services, token) -> None:  # type: ignore[no-untyped-def]
    services.bus.handle(c.Register("Northwind", ("provider",)))
    with pytest.raises(Unauthenticated):
        authenticate(services, token)


def test_rotating_a_token_retires_the_old_one(services) -> None:  # type: ignore[no-untyped-def]
    reg = services.bus.handle(c.Register("Northwind", ("provider",)))
    new = services.bus.handle(c.RotateToken(reg.account.id))
    assert authenticate(services, new) == reg.account
    with pytest.raises(Unauthenticated):
        authenticate(services, reg.token)


def test_login_by_name_any_case_and_a_session_with_csrf(services, clock) -> None:  # type: ignore[no-untyped-def]
    reg = services.bus.handle(c.Register("Harbour Family", ("recipient",), "correct horse battery"))
    session = services.bus.handle(c.Login("  harbour FAMILY ", "correct horse battery"))
    assert session.account == reg.account
    again = services.bus.handle(q.CurrentSession(session.token))
    assert again.csrf == session.csrf
    assert (
        csrf_ok(again, session.csrf) and not csrf_ok(again, "forged") and not csrf_ok(again, None)
    )
    services.bus.handle(c.Logout(session.token))
    with pytest.raises(Unauthenticated):
        services.bus.handle(q.CurrentSession(session.token))


def test_sessions_expire(services, clock) -> None:  # type: ignore[no-untyped-def]
    services.bus.handle(c.Register("Harbour", ("recipient",), "correct horse battery"))
    session = services.bus.handle(c.Login("Harbour", "correct horse battery"))
    clock.advance(7 * 86400 + 1)
    with pytest.raises(Unauthenticated, match="session has ended"):
        services.bus.handle(q.CurrentSession(session.token))


@pytest.mark.parametrize(
    ("name", "password"),
    [("Harbour", "wrong password!"), ("Nobody", "correct horse battery"), ("", "x" * 20)],
)
def test_a_failed_login_does_not_say_which_part_was_wrong(services, name, password) -> None:  # type: ignore[no-untyped-def]
    services.bus.handle(c.Register("Harbour", ("recipient",), "correct horse battery"))
    with pytest.raises(Unauthenticated, match="wrong name or password"):
        services.bus.handle(c.Login(name, password))


def test_passwords_are_hashed_with_argon2id_and_names_are_unique(services) -> None:  # type: ignore[no-untyped-def]
    services.bus.handle(c.Register("Harbour", ("recipient",), "correct horse battery"))
    (_, digest) = services.bus.uow_factory.store.logins["harbour"]
    assert digest.startswith("$argon2id$") and "correct horse battery" not in digest
    with pytest.raises(Conflict):
        services.bus.handle(c.Register("HARBOUR", ("recipient",), "another long password"))
    with pytest.raises(InvalidInput, match="password must be"):
        services.bus.handle(c.Register("Short", ("recipient",), "short"))


def authenticate(services, token):  # type: ignore[no-untyped-def]
    return services.bus.handle(q.Authenticate(token))


class TestRegistration:
    def test_create_and_read_back(self, ex):
        acc = register(ex, "  Ada  ", ["provider", "recipient"])
        assert acc.name == "Ada"
        assert acc.roles == {Role.PROVIDER, Role.RECIPIENT}
        assert acc.created_at == T0
        assert account(ex, acc.id) == acc

    def test_the_operator_role_is_granted_only_when_allowed(self, ex):
        assert err_of(InvalidInput, register, ex, "Eve", ["operator"]).field == "roles"
        op = register(ex, "Op", ["operator"], allow_operator=True)
        assert op.is_operator

    @pytest.mark.parametrize(
        ("name", "roles", "field"),
        [("", ["provider"], "name"), ("X", [], "roles"), ("X", ["buyer"], "roles")],
    )
    def test_bad_input_names_the_field(self, ex, name, roles, field):
        assert err_of(InvalidInput, register, ex, name, roles).field == field

    def test_unknown_account(self, ex):
        err_of(NotFound, account, ex, "acc_nope")


def test_a_taken_name_is_refused_whole_and_says_so(services) -> None:  # type: ignore[no-untyped-def]
    """Registration is one transaction: the second account of a taken login name is refused
    with a conflict naming the name, and nothing of it is left (no account, no token)."""
    services.bus.handle(c.Register("Harbour", ("recipient",), "correct horse battery"))
    store = services.bus.uow_factory.store
    before = (dict(store.accounts), dict(store.tokens), dict(store.logins))
    with pytest.raises(Conflict) as taken:
        services.bus.handle(c.Register(" harbour ", ("recipient",), "another long password"))
    assert taken.value.message == "the name 'harbour' is taken; please choose another"
    assert taken.value.field == "name"
    assert (store.accounts, store.tokens, store.logins) == before
