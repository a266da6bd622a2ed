"""PaymentIntents, Charges and InvoicePayments: the payments behind an invoice (the mechanics; the routes are
in :mod:`.payment_intents`).

Stripe makes an invoice's PaymentIntent, and its default InvoicePayment, when it finalizes the invoice (the
pinned SDK's ``InvoicePayment.is_default``: "Stripe automatically creates a default InvoicePayment when the
invoice is finalized"; ``payment_settings``: "the PaymentIntent that is generated when the invoice is
finalized"). Every attempt (automatic, ``invoices.pay``, or Stripe.js confirming the intent with its
``client_secret``) charges through it. A charge of a declining card fails (``charge.failed``,
``payment_intent.payment_failed``); a card that needs authentication leaves the intent ``requires_action``
(``payment_intent.requires_action``) until the customer confirms it on session, as Stripe.js does after the
3-D Secure challenge. https://docs.stripe.com/payments/paymentintents/lifecycle
"""

from __future__ import annotations

from typing import Any

from ..cards import DECLINES
from ..errors import StripeError
from ..store import Store
from . import challenges, payment_methods

AUTHENTICATION_MESSAGE = "Your card was declined. This transaction requires authentication."
# What a PaymentIntent says after its challenge failed: Stripe's own words, as its recorded answers carry them
# (stripe/stripe-android's ``PaymentIntentFixtures.PI_WITH_LAST_PAYMENT_ERROR``, a ``type`` of
# ``invalid_request_error`` and no charge); https://docs.stripe.com/error-codes#payment-intent-authentication-failure.
AUTHENTICATION_FAILED_MESSAGE = (
    "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new "
    "PaymentMethod to attempt to fulfill this PaymentIntent again."
)


def _card_details(store: Store, pm: dict[str, Any]) -> dict[str, Any]:
    card = pm.get("card") or {}
    return {
        "amount_authorized": None,
        "authorization_code": None,
        "brand": card.get("brand"),
        "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": None},
        "country": card.get("country"),
        "exp_month": card.get("exp_month"),
        "exp_year": card.get("exp_year"),
        "extended_authorization": {"status": "disabled"},
        "fingerprint": card.get("fingerprint"),
        "funding": card.get("funding"),
        "incremental_authorization": {"status": "unavailable"},
        "installments": None,
        "last4": card.get("last4"),
        "mandate": None,
        "multicapture": {"status": "unavailable"},
        "network": card.get("brand"),
        "network_token": {"used": False},
        "network_transaction_id": None,
        "overcapture": {"maximum_amount_capturable": 0, "status": "unavailable"},
        "regulated_status": None,
        "three_d_secure": None,
        "transaction_link_id": None,
        "wallet": None,
    }


def _charge(
    store: Store, intent: dict[str, Any], pm: dict[str, Any], failure: tuple[str, str, str] | None
) -> dict[str, Any]:
    """A Charge for one attempt; ``failure`` is (code, decline_code, message)."""
    paid = failure is None
    code, reason, message = failure or (None, None, None)
    charge_id = store.new_id("ch")
    charge: dict[str, Any] = {
        "amount": intent["amount"],
        "amount_captured": intent["amount"] if paid else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": store.new_id("txn") if paid else None,
        "billing_details": pm.get("billing_details"),
        "calculated_statement_descriptor": "LOCAL EMULATOR",
        "captured": paid,
        "created": store.now(),
        "currency": intent["currency"],
        "customer": intent["customer"],
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": code,
        "failure_message": message,
        "fraud_details": {},
        "id": charge_id,
        "livemode": False,
        "metadata": {},
        "object": "charge",
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network" if paid else "declined_by_network",
            "reason": reason,
            "risk_level": "normal",
            "seller_message": "Payment complete." if paid else "The bank did not return any further details.",
            "type": "authorized" if paid else "issuer_declined",
        },
        "paid": paid,
        "payment_intent": intent["id"],
        "payment_method": pm["id"],
        "payment_method_details": {"card": _card_details(store, pm), "type": "card"},
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "refunds": {"data": [], "has_more": False, "object": "list", "url": f"/v1/charges/{charge_id}/refunds"},
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded" if paid else "failed",
        "transfer_data": None,
        "transfer_group": None,
    }
    store.add("charge", charge)
    store.emit("charge.succeeded" if paid else "charge.failed", "charge", charge)
    return charge


def for_invoice(store: Store, invoice: dict[str, Any]) -> dict[str, Any]:
    """The invoice's PaymentIntent (and its default InvoicePayment), made when the invoice is finalized; its
    amount follows the invoice's ``amount_remaining`` while it is unpaid."""
    private = store.private[invoice["id"]]
    if private.get("payment_intent"):
        existing: dict[str, Any] = store.objects["payment_intent"][private["payment_intent"]]
        if existing["status"] in ("requires_payment_method", "requires_confirmation", "requires_action"):
            existing["amount"] = invoice["amount_remaining"]
        return existing
    now = store.now()
    intent_id = store.new_id("pi")
    intent: dict[str, Any] = {
        "amount": invoice["amount_remaining"],
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{intent_id}_secret_{store.token(25)}",
        "confirmation_method": "automatic",
        "created": now,
        "currency": invoice["currency"],
        "customer": invoice["customer"],
        "customer_account": None,
        "description": f"Payment for Invoice {invoice['number']}" if invoice.get("number") else None,
        "excluded_payment_method_types": None,
        "id": intent_id,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "managed_payments": None,
        "metadata": {},
        "next_action": None,
        "object": "payment_intent",
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }
    store.add("payment_intent", intent)
    store.private[intent_id] = {"invoice": invoice["id"]}
    payment: dict[str, Any] = {
        "amount_paid": None,
        "amount_requested": invoice["amount_remaining"],
        "created": now,
        "currency": invoice["currency"],
        "id": store.new_id("inpay"),
        "invoice": invoice["id"],
        "is_default": True,
        "livemode": False,
        "object": "invoice_payment",
        "payment": {"payment_intent": intent_id, "type": "payment_intent"},
        "status": "open",
        "status_transitions": {"canceled_at": None, "paid_at": None},
    }
    store.add("invoice_payment", payment)
    private["payment_intent"] = intent_id
    private["invoice_payment"] = payment["id"]
    store.emit("payment_intent.created", "payment_intent", intent)
    return intent


def invoice_payments(store: Store, invoice_id: str) -> list[dict[str, Any]]:
    return [p for p in store.objects["invoice_payment"].values() if p["invoice"] == invoice_id]


def needs_authentication(store: Store, pm: dict[str, Any], *, on_session: bool) -> bool:
    """Whether a charge of ``pm`` asks the cardholder to authenticate
    (https://docs.stripe.com/testing#authentication-and-setup: always, unless set up, or on session only)."""
    card = payment_methods.card_of(store, pm)
    return card.attach_decline is None and card.needs_authentication(
        on_session=on_session, set_up=payment_methods.is_set_up(store, pm)
    )


def charge(
    store: Store, intent: dict[str, Any], pm: dict[str, Any], *, on_session: bool, authenticated: bool = False
) -> StripeError | None:
    """Charge ``pm`` through ``intent``: None when it succeeded, else the error of the failed attempt.

    ``on_session``: the customer is present. A card whose issuer asks for authentication succeeds once
    ``authenticated`` (its 3-D Secure challenge completed, which only the customer, on session, can do), and
    otherwise needs action; a declining card then declines.
    """
    card = payment_methods.card_of(store, pm)
    intent["payment_method"] = pm["id"]
    rendered_pm = store.render("payment_method", pm)
    if needs_authentication(store, pm, on_session=on_session) and not (on_session and authenticated):
        return _requires_action(store, intent, rendered_pm)
    code = card.charge_decline or card.attach_decline
    if code is not None:
        error_code, message = DECLINES[code]
        failed = _charge(store, intent, pm, (error_code, code, message))
        intent.update(
            status="requires_payment_method",
            latest_charge=failed["id"],
            next_action=None,
            last_payment_error={
                "charge": failed["id"],
                "code": error_code,
                "decline_code": code,
                "doc_url": f"https://stripe.com/docs/error-codes/{error_code.replace('_', '-')}",
                "message": message,
                "payment_method": rendered_pm,
                "type": "card_error",
            },
        )
        store.emit("payment_intent.payment_failed", "payment_intent", intent)
        error = payment_methods.decline(code, rendered_pm)
        error.extra["charge"] = failed["id"]
        error.extra["payment_intent"] = store.render("payment_intent", intent)
        return error
    succeeded = _charge(store, intent, pm, None)
    intent.update(
        status="succeeded",
        amount_received=intent["amount"],
        latest_charge=succeeded["id"],
        last_payment_error=None,
        next_action=None,
    )
    store.emit("payment_intent.succeeded", "payment_intent", intent)
    payment_id = store.private.get(intent["id"], {}).get("invoice")
    for payment in invoice_payments(store, payment_id or ""):
        if payment["payment"]["payment_intent"] == intent["id"]:
            payment.update(status="paid", amount_paid=intent["amount"])
            payment["status_transitions"]["paid_at"] = store.now()
    return None


def _requires_action(store: Store, intent: dict[str, Any], rendered_pm: dict[str, Any]) -> StripeError:
    """An attempt the cardholder is not there to authenticate: the customer confirms the intent again on session
    (Stripe.js's ``confirmCardPayment``, https://docs.stripe.com/billing/subscriptions/overview#requires-action),
    which brings a new challenge; an earlier one no longer stands."""
    challenges.forget(store, intent)
    intent.update(
        status="requires_action",
        next_action={
            "type": "use_stripe_sdk",
            "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": "", "source": ""},
        },
        last_payment_error={
            "code": "authentication_required",
            "decline_code": "authentication_required",
            "doc_url": "https://stripe.com/docs/error-codes/authentication-required",
            "message": AUTHENTICATION_MESSAGE,
            "payment_method": rendered_pm,
            "type": "card_error",
        },
    )
    store.emit("payment_intent.requires_action", "payment_intent", intent)
    return StripeError(
        402,
        "card_error",
        AUTHENTICATION_MESSAGE,
        code="authentication_required",
        decline_code="authentication_required",
        extra={"payment_intent": store.render("payment_intent", intent), "payment_method": rendered_pm},
    )


def authentication_failed(store: Store, intent: dict[str, Any], pm: dict[str, Any]) -> None:
    """The cardholder failed (or closed) the 3-D Secure challenge: nothing is charged, the intent wants another
    payment method and says why (https://docs.stripe.com/error-codes#payment-intent-authentication-failure)."""
    intent.update(
        status="requires_payment_method",
        payment_method=None,
        next_action=None,
        last_payment_error={
            "code": "payment_intent_authentication_failure",
            "doc_url": "https://stripe.com/docs/error-codes/payment-intent-authentication-failure",
            "message": AUTHENTICATION_FAILED_MESSAGE,
            "payment_method": store.render("payment_method", pm),
            "type": "invalid_request_error",
        },
    )
    store.emit("payment_intent.payment_failed", "payment_intent", intent)


def cancel_for_invoice(store: Store, invoice: dict[str, Any]) -> None:
    """A voided (or out-of-band paid) invoice cancels its unfinished PaymentIntent."""
    intent_id = store.private[invoice["id"]].get("payment_intent")
    if not intent_id:
        return
    intent = store.objects["payment_intent"][intent_id]
    if intent["status"] in ("succeeded", "canceled"):
        return
    intent.update(status="canceled", canceled_at=store.now(), cancellation_reason="void_invoice", next_action=None)
    for payment in invoice_payments(store, invoice["id"]):
        payment["status"] = "canceled"
        payment["status_transitions"]["canceled_at"] = store.now()
    store.emit("payment_intent.canceled", "payment_intent", intent)
