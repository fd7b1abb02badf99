"""The built-in test gateway: a card processor that moves no money but behaves like one (B2).

It checks cards with the domain's rules, answers the documented test cards
(:data:`commex.domain.billing.TEST_CARDS`) with their decline or error and approves every other
valid number. Authorizations are captured and refunded with state, and every call takes an
idempotency key: the same key returns the first answer and never a second charge; the same key
with a different request is a Conflict.

Several server processes may share it. Tokens and charge ids are signed and carry what later
calls need (the test scenario; the amount), so a card tokenized in one process can be charged in
another and a charge captured there; charge and refund ids are derived from the idempotency key,
so a retry that lands on another process gets the same id. What stays per process is the ledger
behind conflict detection, double captures and refund totals.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass

from commex.adapters.clock import SystemClock
from commex.domain.billing import (
    TEST_CARDS,
    ChargeOutcome,
    GatewayCharge,
    GatewayRefund,
    StoredCard,
    validate_card,
)
from commex.domain.errors import Conflict, InvalidInput, NotFound
from commex.domain.idempotency import check_gateway_key
from commex.domain.money import Money
from commex.services.ports import Clock

DEFAULT_SECRET = b"commex test gateway"
MAX_DESCRIPTION = 1000
_SIG = 16  # hex digits of the signature on tokens and charge ids
_TOKEN = re.compile(r"^tok_test_(ok|declined|funds|error)_([0-9a-f]{16})([0-9a-f]{16})$")
_CHARGE = re.compile(r"^ch_test_(\d{1,16})([a-z]{3})_([0-9a-f]{16})([0-9a-f]{16})$")
_SCENARIOS = {
    "card_declined": "declined",
    "insufficient_funds": "funds",
    "processing_error": "error",
}
_ANSWERS = {scenario: code for code, scenario in _SCENARIOS.items()}


@dataclass(slots=True)
class _Charge:
    amount: Money
    captured: bool = False
    refunded: int = 0  # minor units


class TestGateway:
    """The in-process test processor; thread-safe (one lock around its ledger)."""

    __test__ = False  # not a pytest test class
    name = "test"

    def __init__(self, clock: Clock | None = None, secret: bytes = DEFAULT_SECRET) -> None:
        self._clock = clock or SystemClock()
        self._secret = secret
        self._lock = threading.Lock()
        self._charges: dict[str, _Charge] = {}
        # idempotency key -> (what was asked, what was answered)
        self._answers: dict[str, tuple[tuple[object, ...], GatewayCharge | GatewayRefund]] = {}

    # -- ids ---------------------------------------------------------------------------------

    def _sign(self, body: str) -> str:
        return hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()[:_SIG]

    def _derive(self, purpose: str, key: str) -> str:
        return self._sign(f"{purpose}|{key}")

    def _scenario(self, token: object) -> str:
        match = _TOKEN.match(token) if isinstance(token, str) else None
        if not match or not hmac.compare_digest(self._sign(f"{match[1]}_{match[2]}"), match[3]):
            raise NotFound("no such card token", field="card_token")
        return match[1]

    def _charged_amount(self, charge_id: object) -> Money:
        match = _CHARGE.match(charge_id) if isinstance(charge_id, str) else None
        if not match or not hmac.compare_digest(
            self._sign(f"{match[1]}{match[2]}_{match[3]}"), match[4]
        ):
            raise NotFound("no such charge", field="charge_id")
        return Money.from_minor(int(match[1]), match[2].upper())

    # -- the port ----------------------------------------------------------------------------

    def tokenize(self, number: str, exp_month: int, exp_year: int, cvc: str) -> StoredCard:
        card = validate_card(number, exp_month, exp_year, cvc, self._clock.now())
        test_card = TEST_CARDS.get(card.number)
        scenario = _SCENARIOS.get(test_card.code or "", "ok") if test_card else "ok"
        body = f"{scenario}_{secrets.token_hex(8)}"
        token = f"tok_test_{body}{self._sign(body)}"
        return StoredCard(token, card.brand, card.last4, card.exp_month, card.exp_year)

    def authorize(
        self, card_token: str, amount: Money, idempotency_key: str, description: str
    ) -> GatewayCharge:
        key = check_gateway_key(idempotency_key)
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            raise InvalidInput(
                f"description must be at most {MAX_DESCRIPTION} characters", field="description"
            )
        if amount.amount <= 0:
            raise InvalidInput(f"amount must be positive, not {amount}", field="amount")
        scenario = self._scenario(card_token)
        request = ("authorize", card_token, amount)
        with self._lock:
            earlier = self._earlier(key, request)
            if earlier is not None:
                return _charge(earlier)
            answer = self._decide(scenario, amount, key)
            if answer.charge_id is not None:
                self._charges[answer.charge_id] = _Charge(amount)
            self._answers[key] = (request, answer)
            return answer

    def capture(self, charge_id: str, idempotency_key: str) -> GatewayCharge:
        key = check_gateway_key(idempotency_key)
        amount = self._charged_amount(charge_id)
        request = ("capture", charge_id)
        with self._lock:
            earlier = self._earlier(key, request)
            if earlier is not None:
                return _charge(earlier)
            charge = self._charges.setdefault(charge_id, _Charge(amount))
            if charge.captured:
                raise Conflict(f"charge {charge_id} was already captured", field="charge_id")
            charge.captured = True
            answer = GatewayCharge(
                ChargeOutcome.SUCCEEDED, charge_id, None, f"Captured {amount.display()}."
            )
            self._answers[key] = (request, answer)
            return answer

    def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> GatewayRefund:
        key = check_gateway_key(idempotency_key)
        charged = self._charged_amount(charge_id)
        request = ("refund", charge_id, amount)
        with self._lock:
            earlier = self._earlier(key, request)
            if earlier is not None:
                assert isinstance(earlier, GatewayRefund)
                return earlier
            if amount.currency != charged.currency or amount.amount <= 0:
                raise InvalidInput(
                    f"a refund of charge {charge_id} must be a positive amount in "
                    f"{charged.currency}, not {amount.display()}",
                    field="amount",
                )
            charge = self._charges.get(charge_id)
            if charge is None or not charge.captured:
                raise Conflict(f"charge {charge_id} has not been captured", field="charge_id")
            left = charged.to_minor() - charge.refunded
            if amount.to_minor() > left:
                raise Conflict(
                    f"refund of {amount.display()} exceeds the "
                    f"{Money.from_minor(left, charged.currency).display()} left to refund "
                    f"of charge {charge_id}",
                    field="amount",
                )
            charge.refunded += amount.to_minor()
            answer = GatewayRefund(f"re_test_{self._derive('refund', key)}", amount)
            self._answers[key] = (request, answer)
            return answer

    # -- helpers -----------------------------------------------------------------------------

    def _earlier(
        self, key: str, request: tuple[object, ...]
    ) -> GatewayCharge | GatewayRefund | None:
        """The first answer given under ``key``; Conflict when it answered something else."""
        seen = self._answers.get(key)
        if seen is None:
            return None
        if seen[0] != request:
            raise Conflict(
                f"idempotency key {key!r} was already used for a different request "
                f"({_summary(seen[0])}, not {_summary(request)})",
                field="idempotency_key",
            )
        return seen[1]

    def _decide(self, scenario: str, amount: Money, key: str) -> GatewayCharge:
        if scenario != "ok":
            test_card = next(c for c in TEST_CARDS.values() if c.code == _ANSWERS[scenario])
            return GatewayCharge(test_card.outcome, None, test_card.code, test_card.message)
        body = f"{amount.to_minor()}{amount.currency.lower()}_{self._derive('authorize', key)}"
        charge_id = f"ch_test_{body}{self._sign(body)}"
        return GatewayCharge(
            ChargeOutcome.SUCCEEDED, charge_id, None, f"Authorized {amount.display()}."
        )


def _charge(answer: GatewayCharge | GatewayRefund) -> GatewayCharge:
    assert isinstance(answer, GatewayCharge)
    return answer


def _summary(request: tuple[object, ...]) -> str:
    parts = [str(request[0])]
    parts += [p.display() if isinstance(p, Money) else str(p) for p in request[1:]]
    return " ".join(parts)
