"""Stripe webhooks at the edge: the ``Stripe-Signature`` check, the signing secret, and reading current state.

The signature is checked by Stripe's own SDK (``stripe.WebhookSignature.verify_header``: ``t=<unix seconds>,
v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``, several ``v1`` entries allowed, as during a secret roll). Its
time check compares with the wall clock, so it is left off there and the timestamp is checked here against the
INJECTED clock, both ways: the local stack's clock can be weeks away from the wall clock. What the SDK accepts at
the real time, this accepts too; what it rejects, this rejects (tests/unit/test_webhook_signature.py).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from partnerhub.domain.accounts import CardDetails
from partnerhub.errors import MalformedRequest
from partnerhub.observability import MetricUnit, metrics
from partnerhub.payments.client import SecureParameter, StripeConnection

DEFAULT_TOLERANCE_SECONDS = 300
MAX_PAYLOAD_BYTES = 256 * 1024


class InvalidSignature(MalformedRequest):
    """400: the signature is missing, malformed, wrong, or outside the tolerance window."""

    code = "invalid_signature"


def verify_signature(
    payload: bytes | str,
    header: str | None,
    secret: str,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> str:
    """Check ``header`` for ``payload`` at ``now`` (unix seconds, from the injected clock); the body as text.

    Raises :class:`InvalidSignature` (400) unless one ``v1`` signature matches (Stripe's SDK decides) and the
    timestamp is within ``tolerance`` seconds of ``now`` either way.
    """
    import stripe

    if not secret.strip():
        raise RuntimeError("the webhook signing secret is empty")
    if isinstance(payload, bytes):
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidSignature("the body is not UTF-8") from error
    else:
        text = payload
    if not header:
        raise InvalidSignature("the Stripe-Signature header is missing")
    try:
        stripe.WebhookSignature.verify_header(text, header, secret, tolerance=None)
    except stripe.SignatureVerificationError as error:
        raise InvalidSignature("the Stripe-Signature is malformed or matches no signature of the body") from error
    if abs(now - _timestamp(str(header))) > tolerance:
        raise InvalidSignature("the signature's timestamp is outside the tolerance window")
    return text


def _timestamp(header: str) -> int:
    """The first ``t=`` of a header Stripe's SDK has just verified, read as the SDK reads it."""
    return int(next(item[1] for item in (part.split("=", 2) for part in header.split(",")) if item[0] == "t"))


def parse_event(text: str) -> dict[str, Any]:
    """The verified body as a Stripe event; 400 when it is not one."""
    try:
        event = json.loads(text)
    except ValueError as error:
        raise MalformedRequest("the body is not valid JSON") from error
    if (
        not isinstance(event, dict)
        or event.get("object") != "event"
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance(event.get("data"), dict)
        or not isinstance(event["data"].get("object"), dict)
    ):
        raise MalformedRequest("the body is not a Stripe event")
    return event


def event_lag_seconds(event: dict[str, Any], now: datetime) -> int | None:
    """How long after Stripe created ``event`` it is processed (whole seconds, never negative); None when the event
    carries no creation time. A retried delivery keeps its event's ``created``, so a late retry shows as lag."""
    created = event.get("created")
    if not isinstance(created, int) or isinstance(created, bool):
        return None
    return max(0, int(now.timestamp()) - created)


def record_event_lag(event: dict[str, Any], now: datetime, sink: Any = metrics) -> None:
    """Add the event's lag to ``sink`` (the functions' Powertools metrics) as ``StripeEventLag``, in seconds."""
    lag = event_lag_seconds(event, now)
    if lag is not None:
        sink.add_metric(name="StripeEventLag", unit=MetricUnit.Seconds, value=lag)


class SigningSecret(SecureParameter):
    """The webhook signing secret, read from SSM through Powertools parameters on first use (not at init:
    under SnapStart nothing secret may be in the snapshot) and cached for ``max_age`` seconds, so a rolled
    secret is picked up without a deploy."""

    def value(self) -> str:
        return self()


_PAYMENT_INTENTS = "payments.data.payment.payment_intent"


class StripeObjects:
    """Stripe's current view of the objects an event names: events may be stale, the API is not."""

    def __init__(self, stripe: StripeConnection) -> None:
        self._stripe = stripe

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        invoice = self._stripe.call(
            # With its PaymentIntents: the last payment error and the card it was on live there.
            lambda: self._stripe.client().v1.invoices.retrieve(
                invoice_id, {"expand": ["payments.data.payment.payment_intent"]}
            ),
            describe="retrieving an invoice",
        )
        return _plain(invoice)

    def cards(self, customer_id: str) -> tuple[list[CardDetails], str | None]:
        """The cards attached to the customer now, and its default payment method."""
        client = self._stripe.client()
        customer = self._stripe.call(
            lambda: client.v1.customers.retrieve(customer_id), describe="retrieving a customer"
        )
        if getattr(customer, "deleted", False):
            return [], None
        listed = self._stripe.call(
            lambda: client.v1.customers.payment_methods.list(customer_id, {"type": "card", "limit": 100}),
            describe="listing payment methods",
        )
        cards = [
            CardDetails(pm.id, pm.card.brand, pm.card.last4, int(pm.card.exp_month), int(pm.card.exp_year))
            for pm in listed.data
            if pm.card is not None
        ]
        settings = customer.invoice_settings
        default: Any = settings.default_payment_method if settings is not None else None
        if default is not None and not isinstance(default, str):
            default = default.id
        return cards, default


def _plain(obj: Any) -> dict[str, Any]:
    """A StripeObject as plain JSON-shaped dicts."""
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    return dict(obj)
