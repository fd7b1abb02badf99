"""The Stripe-compatible gateway (B2): PaymentMethods, Customers and PaymentIntents through the
official ``stripe`` client, against Stripe itself or any server that speaks its API.

A card is checked by the domain rules first, then saved the way Stripe saves a card for later
charges: a PaymentMethod attached to a Customer of its own. The token is the PaymentMethod id.
A charge is a PaymentIntent confirmed off-session with manual capture, so authorize, capture and
refund map one to one; every money-moving call carries Stripe's ``idempotency_key``.

Stripe declines some test cards when they are attached (it checks the card then), so a card
refused at registration is an InvalidInput naming its code; a charge-time decline is a
:class:`GatewayCharge`, as the port says. Network and API failures are FAILED results (retryable).

The card number only ever travels in the request body. The stripe library writes request bodies
to its ``stripe`` logger at DEBUG level, so a filter redacts card fields there, and a console
debug log (``STRIPE_LOG=debug`` or ``stripe.log = "debug"``), which no filter reaches, is
refused before a card is sent.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

import stripe

from commex.adapters.clock import SystemClock
from commex.domain.billing import (
    ChargeOutcome,
    GatewayCharge,
    GatewayRefund,
    StoredCard,
    validate_card,
)
from commex.domain.errors import CommexError, Conflict, InvalidInput, NotFound
from commex.domain.idempotency import check_gateway_key
from commex.domain.money import Money
from commex.services.ports import Clock

MAX_METADATA = 500  # Stripe's limit on a metadata value
_CARD_FIELD = re.compile(r"(card(?:%5B|\[)(?:number|cvc)(?:%5D|\])=)[^&\s\"']*")
_ID = re.compile(r"^[A-Za-z0-9_]{1,255}$")


class _RedactCardFields(logging.Filter):
    """Replaces card numbers and CVCs in the stripe library's debug records."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _CARD_FIELD.search(message):
            record.msg = _CARD_FIELD.sub(r"\1[redacted]", message)
            record.args = None
        return True


def _install_redaction() -> None:
    logger = logging.getLogger("stripe")
    if not any(isinstance(f, _RedactCardFields) for f in logger.filters):
        logger.addFilter(_RedactCardFields())


def _console_debug_on() -> bool:
    return "debug" in (str(getattr(stripe, "log", None)), os.environ.get("STRIPE_LOG", ""))


class GatewayUnavailable(Conflict):
    """Raised when the gateway cannot be reached while registering a card; try again later."""

    code = "gateway_unavailable"


class StripeGateway:
    """A :class:`~commex.services.ports.PaymentGateway` over the Stripe API."""

    name = "stripe"

    def __init__(
        self,
        api_key: str,
        api_base: str | None = None,
        *,
        clock: Clock | None = None,
        http_client: stripe.HTTPClient | None = None,
        max_network_retries: int = 2,
    ) -> None:
        if _console_debug_on():
            raise InvalidInput(
                "STRIPE_LOG=debug would print card numbers to the console: unset it",
                field="STRIPE_LOG",
            )
        _install_redaction()
        self._clock = clock or SystemClock()
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=http_client,
            max_network_retries=max_network_retries,
        )

    # -- the port ----------------------------------------------------------------------------

    def tokenize(self, number: str, exp_month: int, exp_year: int, cvc: str) -> StoredCard:
        card = validate_card(number, exp_month, exp_year, cvc, self._clock.now())
        if _console_debug_on():
            raise InvalidInput(
                "STRIPE_LOG=debug would print card numbers to the console: unset it",
                field="STRIPE_LOG",
            )
        ending = f"card ending in {card.last4}"
        try:
            method = self._client.v1.payment_methods.create(
                {
                    "type": "card",
                    "card": {
                        "number": card.number,
                        "exp_month": card.exp_month,
                        "exp_year": card.exp_year,
                        "cvc": card.cvc,
                    },
                }
            )
            customer = self._client.v1.customers.create({"description": "commex card holder"})
            self._client.v1.payment_methods.attach(method.id, {"customer": customer.id})
        except stripe.CardError as exc:
            code, message = _card_error(exc)
            if code == "processing_error":
                raise GatewayUnavailable(
                    f"the payment gateway could not check the {ending} ({code}): try again",
                    field="card.number",
                ) from None
            raise InvalidInput(
                f"the {ending} was declined ({code}): {message}", field="card.number"
            ) from None
        except stripe.InvalidRequestError as exc:
            raise InvalidInput(
                f"the payment gateway refused the {ending}: {_said(exc)}", field="card.number"
            ) from None
        except stripe.StripeError as exc:
            raise GatewayUnavailable(
                f"the payment gateway could not be reached to register the {ending} "
                f"({_said(exc)}): try again",
                field="card.number",
            ) from None
        return StoredCard(method.id, card.brand, card.last4, card.exp_month, card.exp_year)

    def authorize(
        self, card_token: str, amount: Money, idempotency_key: str, description: str
    ) -> GatewayCharge:
        if amount.amount <= 0:
            raise InvalidInput(f"amount must be positive, not {amount}", field="amount")
        token = _check_id(card_token, "pm_", "card token", "card_token")
        try:
            method = self._client.v1.payment_methods.retrieve(token)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise NotFound("no such card token", field="card_token") from None
            return _failed(exc)
        except stripe.StripeError as exc:
            return _failed(exc)
        params: dict[str, Any] = {
            "amount": amount.to_minor(),
            "currency": amount.currency.lower(),
            "payment_method": method.id,
            "payment_method_types": ["card"],
            "confirm": True,
            "off_session": True,
            "capture_method": "manual",
            # metadata rather than description: every Stripe-compatible server keeps metadata
            "metadata": {"description": description[:MAX_METADATA]},
        }
        if method.customer:
            params["customer"] = method.customer
        try:
            intent = self._client.v1.payment_intents.create(
                params,  # type: ignore[arg-type]
                {"idempotency_key": check_gateway_key(idempotency_key)},
            )
        except stripe.CardError as exc:
            code, message = _card_error(exc)
            outcome = ChargeOutcome.FAILED if code == "processing_error" else ChargeOutcome.DECLINED
            return GatewayCharge(outcome, None, code, message)
        except stripe.IdempotencyError as exc:
            raise _key_reused(idempotency_key, exc) from None
        except stripe.StripeError as exc:
            return _failed(exc)
        if intent.status == "requires_capture":
            return GatewayCharge(
                ChargeOutcome.SUCCEEDED, intent.id, None, f"Authorized {amount.display()}."
            )
        if intent.status == "requires_action":
            return GatewayCharge(
                ChargeOutcome.DECLINED,
                None,
                "authentication_required",
                "The card needs its holder to authenticate the payment.",
            )
        return GatewayCharge(
            ChargeOutcome.DECLINED, None, "card_declined", f"The payment is {intent.status}."
        )

    def capture(self, charge_id: str, idempotency_key: str) -> GatewayCharge:
        intent_id = _check_id(charge_id, "pi_", "charge", "charge_id")
        try:
            intent = self._client.v1.payment_intents.capture(
                intent_id, options={"idempotency_key": check_gateway_key(idempotency_key)}
            )
        except stripe.IdempotencyError as exc:
            raise _key_reused(idempotency_key, exc) from None
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise NotFound("no such charge", field="charge_id") from None
            raise Conflict(
                f"charge {intent_id} cannot be captured: {_said(exc)}", field="charge_id"
            ) from None
        except stripe.StripeError as exc:
            return _failed(exc)
        minor = getattr(intent, "amount_received", None) or intent.amount
        received = Money.from_minor(minor, intent.currency.upper())
        return GatewayCharge(
            ChargeOutcome.SUCCEEDED, intent.id, None, f"Captured {received.display()}."
        )

    def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> GatewayRefund:
        intent_id = _check_id(charge_id, "pi_", "charge", "charge_id")
        key = check_gateway_key(idempotency_key)
        try:
            intent = self._client.v1.payment_intents.retrieve(
                intent_id, {"expand": ["latest_charge"]}
            )
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise NotFound("no such charge", field="charge_id") from None
            raise _unavailable(exc) from None
        except stripe.StripeError as exc:
            raise _unavailable(exc) from None
        currency = intent.currency.upper()
        if amount.currency != currency or amount.amount <= 0:
            raise InvalidInput(
                f"a refund of charge {intent_id} must be a positive amount in {currency}, "
                f"not {amount.display()}",
                field="amount",
            )
        charge = intent.latest_charge
        if intent.status != "succeeded" or isinstance(charge, str) or charge is None:
            raise Conflict(f"charge {intent_id} has not been captured", field="charge_id")
        left = charge.amount - (charge.amount_refunded or 0)
        if amount.to_minor() > left:
            raise Conflict(
                f"refund of {amount.display()} exceeds the "
                f"{Money.from_minor(left, currency).display()} left to refund of charge "
                f"{intent_id}",
                field="amount",
            )
        try:
            refund = self._client.v1.refunds.create(
                {"payment_intent": intent_id, "amount": amount.to_minor()},
                {"idempotency_key": key},
            )
        except stripe.IdempotencyError as exc:
            raise _key_reused(key, exc) from None
        except stripe.InvalidRequestError as exc:
            raise Conflict(f"the refund was refused: {_said(exc)}", field="amount") from None
        except stripe.StripeError as exc:
            raise _unavailable(exc) from None
        return GatewayRefund(refund.id, amount)


def _check_id(value: object, prefix: str, what: str, field: str) -> str:
    if not isinstance(value, str) or not value.startswith(prefix) or not _ID.match(value):
        raise NotFound(f"no such {what}", field=field)
    return value


def _said(exc: stripe.StripeError) -> str:
    return exc.user_message or type(exc).__name__


def _card_error(exc: stripe.CardError) -> tuple[str, str]:
    """Stripe's code for a card refusal: the decline code when it says more than "declined"
    (``insufficient_funds``), else the error code (``card_declined``, ``processing_error``)."""
    decline = getattr(exc.error, "decline_code", None) if exc.error else None
    code = decline if decline and decline != "generic_decline" else exc.code or "card_declined"
    return code, exc.user_message or "The card was declined."


def _failed(exc: stripe.StripeError) -> GatewayCharge:
    if exc.code:
        code = exc.code
    elif isinstance(exc, stripe.RateLimitError):
        code = "rate_limit"
    else:
        code = "api_connection_error" if exc.http_status is None else "api_error"
    return GatewayCharge(
        ChargeOutcome.FAILED, None, code, f"The payment gateway failed: {_said(exc)}"
    )


def _unavailable(exc: stripe.StripeError) -> CommexError:
    return GatewayUnavailable(
        f"the payment gateway could not be reached ({_said(exc)}): try again", field="charge_id"
    )


def _key_reused(key: str, exc: stripe.StripeError) -> Conflict:
    return Conflict(
        f"idempotency key {key!r} was already used for a different request: {_said(exc)}",
        field="idempotency_key",
    )
