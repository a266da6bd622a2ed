"""Stripe webhooks at the edge: the ``Stripe-Signature`` check, the signing secret, and reading current state.

The signature follows Stripe's scheme -- ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``,
several ``v1`` entries allowed (during a secret roll Stripe signs with both) -- but the tolerance is checked
against the INJECTED clock, both ways: the local stack's clock can be weeks away from the wall clock, which
``stripe.Webhook.construct_event`` would compare with. Whatever the SDK accepts at the real time, this
accepts too; whatever the SDK rejects, this rejects (tests/unit/test_webhook_signature.py shows both).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from partnerhub.domain.accounts import CardDetails
from partnerhub.errors import MalformedRequest
from partnerhub.observability import MetricUnit, metrics
from partnerhub.payments.client import SecureParameter, StripeConnection

DEFAULT_TOLERANCE_SECONDS = 300
MAX_PAYLOAD_BYTES = 256 * 1024
_SCHEME = "v1"


class InvalidSignature(MalformedRequest):
    """400: the signature is missing, malformed, wrong, or outside the tolerance window."""

    code = "invalid_signature"


@dataclass(frozen=True)
class SignatureHeader:
    timestamp: int
    signatures: tuple[str, ...]


def parse_signature_header(header: str | None) -> SignatureHeader:
    """Split ``t=...,v1=...,v1=...``; other schemes (``v0``) are ignored, as Stripe's libraries do."""
    if not header:
        raise InvalidSignature("the Stripe-Signature header is missing")
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        # The same split as Stripe's libraries, so both read a header alike.
        parts = item.split("=", 2)
        if parts[0] not in ("t", _SCHEME):
            continue
        if len(parts) < 2:
            raise InvalidSignature("the Stripe-Signature header is malformed")
        (timestamps if parts[0] == "t" else signatures).append(parts[1])
    try:
        timestamp = int(timestamps[0])
    except (IndexError, ValueError) as error:
        raise InvalidSignature("the Stripe-Signature header has no valid timestamp") from error
    if not signatures:
        raise InvalidSignature(f"the Stripe-Signature header has no {_SCHEME} signature")
    return SignatureHeader(timestamp, tuple(signatures))


def expected_signature(payload: str, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.{payload}".encode()
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(payload: str | bytes, secret: str, timestamp: int) -> str:
    """The header Stripe would send for ``payload`` at ``timestamp`` (tests and sample events use it)."""
    text = payload.decode() if isinstance(payload, bytes) else payload
    return f"t={timestamp},{_SCHEME}={expected_signature(text, secret, timestamp)}"


def verify_signature(
    payload: bytes | str,
    header: str | None,
    secret: str,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> str:
    """Check ``header`` for ``payload`` at ``now`` (unix seconds, from the injected clock); the body as text.

    Raises :class:`InvalidSignature` (400) unless one ``v1`` signature matches and the timestamp is within
    ``tolerance`` seconds of ``now`` either way.
    """
    if not secret.strip():
        raise RuntimeError("the webhook signing secret is empty")
    if isinstance(payload, bytes):
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidSignature("the body is not UTF-8") from error
    else:
        text = payload
    parsed = parse_signature_header(header)
    expected = expected_signature(text, secret, parsed.timestamp)
    wanted = expected.encode()
    if not any(hmac.compare_digest(wanted, s.encode()) for s in parsed.signatures):
        raise InvalidSignature("no signature matches the payload")
    if abs(now - parsed.timestamp) > tolerance:
        raise InvalidSignature("the signature's timestamp is outside the tolerance window")
    return text


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
