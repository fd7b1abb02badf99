"""B1: a recipient saves cards through the gateway; only token, brand, last four and expiry stay."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from commex.adapters.clock import ManualClock
from commex.adapters.passwords import Argon2Hasher
from commex.adapters.payments.testgateway import TestGateway
from commex.bootstrap import in_memory_services
from commex.domain.billing import StoredCard
from commex.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from commex.domain.money import Money
from commex.domain.payment_methods import MAX_CARDS
from commex.domain.throttling import CARD_ACCOUNT
from commex.services.commands import AddCard, MakeDefaultCard, Register, RemoveCard
from commex.services.queries import DefaultCard, ListCards

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)
VISA = "4242 4242 4242 4242"
MASTERCARD = "5555-5555-5555-4444"


@dataclass
class CountingGateway:
    """The test gateway, counting the cards it was handed."""

    inner: TestGateway
    name: str = "test"
    numbers: list[str] = field(default_factory=list)

    def tokenize(self, number: str, exp_month: int, exp_year: int, cvc: str) -> StoredCard:
        self.numbers.append(number)
        return self.inner.tokenize(number, exp_month, exp_year, cvc)

    def __getattr__(self, name: str):  # authorize, capture, refund
        return getattr(self.inner, name)


@pytest.fixture
def gateway() -> CountingGateway:
    return CountingGateway(TestGateway(ManualClock(T0)))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def services(gateway, clock):
    return in_memory_services(
        clock=clock, hasher=Argon2Hasher(time_cost=1, memory_kib=1024), gateway=gateway
    )


@pytest.fixture
def ann(services):
    return services.bus.handle(Register("Ann", ("recipient",))).account


def add(services, account, number=VISA, month=12, year=2030, cvc="123"):
    services.clock.advance(1)  # a second between cards, so "newest" is defined
    return services.bus.handle(AddCard(account.id, number, month, year, cvc))


def test_a_card_is_saved_as_a_token_with_brand_last_four_and_expiry(services, gateway, ann):
    method = add(services, ann, MASTERCARD, "03", "2031")
    assert gateway.numbers == ["5555555555554444"]
    assert (method.brand, method.last4, method.exp_month, method.exp_year) == (
        "mastercard",
        "4444",
        3,
        2031,
    )
    assert method.is_default
    assert method.gateway == "test"
    assert method.label() == "mastercard ending in 4444, expires 03/2031"
    stored = services.bus.uow_factory.store.payment_methods
    assert list(stored.values()) == [method]
    assert "5555555555554444" not in repr(stored)
    assert "555555" not in repr(stored)


def test_the_first_card_is_the_default_and_the_default_can_be_chosen(services, ann):
    first = add(services, ann)
    second = add(services, ann, MASTERCARD)
    assert [m.is_default for m in services.bus.handle(ListCards(ann.id))] == [True, False]
    chosen = services.bus.handle(MakeDefaultCard(ann.id, second.id))
    assert chosen.is_default
    listed = services.bus.handle(ListCards(ann.id))
    assert [(m.id, m.is_default) for m in listed] == [(first.id, False), (second.id, True)]
    assert services.bus.handle(DefaultCard(ann.id)).id == second.id


def test_removing_the_default_hands_it_to_the_newest_card_left(services, ann):
    first = add(services, ann)
    second = add(services, ann, MASTERCARD)
    third = add(services, ann, "4000 0000 0000 0002")
    assert (
        services.bus.handle(RemoveCard(ann.id, second.id)).heir is None
    )  # not the default: no heir
    heir = services.bus.handle(RemoveCard(ann.id, first.id)).heir
    assert heir is not None and heir.id == third.id and heir.is_default
    assert services.bus.handle(RemoveCard(ann.id, third.id)).heir is None
    assert services.bus.handle(ListCards(ann.id)) == []
    assert services.bus.handle(DefaultCard(ann.id)) is None


def test_at_most_five_cards_and_the_sixth_never_reaches_the_gateway(services, gateway, ann):
    for _ in range(MAX_CARDS):
        add(services, ann)
    with pytest.raises(Conflict) as err:
        add(services, ann, MASTERCARD)
    assert err.value.message == (
        "an account keeps at most 5 cards and this one has 5; remove one first"
    )
    assert len(gateway.numbers) == MAX_CARDS


def test_cards_saved_at_once_still_respect_the_limit_and_one_default(services, ann):
    for _ in range(MAX_CARDS - 1):
        add(services, ann)
    services.bus.handle(RemoveCard(ann.id, services.bus.handle(ListCards(ann.id))[0].id))
    # Card saves are throttled per account (five an hour pass freely): an hour later, the four
    # saves below meet the card limit alone.
    services.clock.advance(CARD_ACCOUNT.window.total_seconds())
    outcomes: list[object] = []
    barrier = threading.Barrier(4)

    def save() -> None:
        barrier.wait()
        try:
            outcomes.append(add(services, ann))
        except Conflict as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=save) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(services.bus.handle(ListCards(ann.id))) == MAX_CARDS
    assert sum(isinstance(o, Conflict) for o in outcomes) == 2
    assert sum(m.is_default for m in services.bus.handle(ListCards(ann.id))) == 1


def test_an_operator_cannot_save_a_card_and_its_number_is_never_sent(services, gateway):
    moderator = services.bus.handle(Register("Moderator", ("operator",), operator=True)).account
    with pytest.raises(Forbidden) as err:
        add(services, moderator)
    assert err.value.message == "only a recipient or a provider account saves payment cards"
    assert gateway.numbers == []


def test_a_provider_saves_a_card_for_its_subcontracts(services, gateway):
    carrier = services.bus.handle(Register("Northwind", ("provider",))).account
    assert add(services, carrier).is_default
    assert gateway.numbers == ["4242424242424242"]


def test_a_bad_card_is_refused_before_the_gateway(services, gateway, ann):
    with pytest.raises(InvalidInput) as err:
        add(services, ann, "4242 4242 4242 4241")
    assert err.value.field == "card.number"
    with pytest.raises(InvalidInput) as err:
        add(services, ann, VISA, 10, 2026)
    assert err.value.field == "card.exp_month"
    assert gateway.numbers == []
    assert services.bus.handle(ListCards(ann.id)) == []


def test_another_accounts_card_is_not_found(services, ann):
    mine = add(services, ann)
    bob = services.bus.handle(Register("Bob", ("recipient",))).account
    with pytest.raises(NotFound):
        services.bus.handle(RemoveCard(bob.id, mine.id))
    with pytest.raises(NotFound):
        services.bus.handle(MakeDefaultCard(bob.id, mine.id))
    with pytest.raises(NotFound):
        services.bus.handle(RemoveCard(ann.id, "../etc/passwd"))
    assert services.bus.handle(ListCards(bob.id)) == []
    assert services.bus.handle(ListCards(ann.id)) == [mine]


def test_a_saved_token_can_be_charged_through_the_same_gateway(services, ann):
    method = add(services, ann)
    answer = services.bus.deps.gateway.authorize(method.token, Money.parse("5.00", "EUR"), "k", "x")
    assert answer.outcome.value == "succeeded"
