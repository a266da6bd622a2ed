"""The PaymentIntent, Charge and InvoicePayment routes: read them, and confirm an invoice's PaymentIntent as
Stripe.js does (``confirmCardPayment`` with the publishable key and the ``client_secret``), 3-D Secure included.
https://docs.stripe.com/payments/paymentintents/lifecycle
"""

from __future__ import annotations

from typing import Any

from ..errors import StripeError, invalid
from ..forms import Bool, Str, schema
from ..listing import paginate
from ..routing import Context, Route, check_client_secret
from ..store import Store
from . import challenges, intents, invoices, payment_methods


def _retrieve(ctx: Context, params: dict[str, Any], intent_id: str) -> dict[str, Any]:
    intent = ctx.store.get("payment_intent", intent_id, "intent")
    check_client_secret(ctx, intent, params, "PaymentIntent")
    return ctx.store.render("payment_intent", intent)


def _confirm(ctx: Context, params: dict[str, Any], intent_id: str) -> dict[str, Any]:
    """Stripe.js's ``confirmCardPayment(client_secret)``: the customer is present. A card whose issuer asks for
    authentication leaves the intent ``requires_action`` with a 3-D Secure challenge (:mod:`.challenges`), and
    nothing is charged until the challenge is completed
    (https://docs.stripe.com/payments/3d-secure/authentication-flow); the earlier confirmation's
    ``last_payment_error`` is cleared, as the pinned SDK's ``PaymentIntent`` says ("It will be cleared if the
    PaymentIntent is later updated for any reason")."""
    store = ctx.store
    intent = store.get("payment_intent", intent_id, "intent")
    check_client_secret(ctx, intent, params, "PaymentIntent")
    if intent["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action"):
        raise invalid(
            f"You cannot confirm this PaymentIntent because it has a status of {intent['status']}.",
            code="payment_intent_unexpected_state",
        )
    if params.get("payment_method"):
        pm = payment_methods.resolve(store, params["payment_method"])
        if pm["customer"] is None and intent["customer"]:
            payment_methods.attach(store, pm, intent["customer"])
    elif intent["payment_method"]:
        pm = store.get("payment_method", intent["payment_method"], "payment_method")
    else:
        raise invalid(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            code="payment_intent_unexpected_state",
        )
    if intents.needs_authentication(store, pm, on_session=True):
        challenges.require_action(store, ctx.base_url, "payment_intent", intent, pm)
        intent["last_payment_error"] = None
        store.emit("payment_intent.requires_action", "payment_intent", intent)
        return store.render("payment_intent", intent)
    error = _charge_on_session(store, intent, pm, authenticated=False)
    if error is not None:
        raise error
    return store.render("payment_intent", intent)


def _charge_on_session(
    store: Store, intent: dict[str, Any], pm: dict[str, Any], *, authenticated: bool
) -> StripeError | None:
    error = intents.charge(store, intent, pm, on_session=True, authenticated=authenticated)
    invoice_id = store.private.get(intent["id"], {}).get("invoice")
    if invoice_id is not None:
        invoices.intent_settled(store, invoice_id, intent, error)
    return error


def after_challenge(store: Store, intent: dict[str, Any], *, completed: bool) -> None:
    """The cardholder's answer to the intent's 3-D Secure challenge: completed, the card is charged (and may
    still decline, as 4000 0082 6000 3178 does for funds) and a success pays the invoice; failed, nothing is
    charged and the intent wants a payment method again (``payment_intent_authentication_failure``)."""
    pm = store.get("payment_method", intent["payment_method"], "payment_method")
    if completed:
        _charge_on_session(store, intent, pm, authenticated=True)
    else:
        intents.authentication_failed(store, intent, pm)


def _retrieve_charge(ctx: Context, params: dict[str, Any], charge_id: str) -> dict[str, Any]:
    return ctx.store.render("charge", ctx.store.get("charge", charge_id, "charge"))


def _list_invoice_payments(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.store
    items = [
        p
        for p in store.newest_first("invoice_payment")
        if params.get("invoice") in (None, p["invoice"]) and params.get("status") in (None, p["status"])
    ]
    return paginate(items, params, "/v1/invoice_payments", lambda p: store.render("invoice_payment", p))


def _retrieve_invoice_payment(ctx: Context, params: dict[str, Any], payment_id: str) -> dict[str, Any]:
    return ctx.store.render("invoice_payment", ctx.store.get("invoice_payment", payment_id))


_STRIPE_JS = {
    "client_secret": Str(),
    "key": Str(),
    "_stripe_version": Str(),
    "use_stripe_sdk": Bool(),
    "return_url": Str(),
    "expected_payment_method_type": Str(),
}

ROUTES = [
    Route("GET", "/v1/payment_intents/<intent_id>", _retrieve, schema(_STRIPE_JS), publishable=True),
    Route(
        "POST",
        "/v1/payment_intents/<intent_id>/confirm",
        _confirm,
        schema({**_STRIPE_JS, "payment_method": Str(), "off_session": Bool()}),
        publishable=True,
    ),
    Route("GET", "/v1/charges/<charge_id>", _retrieve_charge, schema({})),
    Route(
        "GET",
        "/v1/invoice_payments",
        _list_invoice_payments,
        schema({"invoice": Str(), "status": Str()}, listing=True),
    ),
    Route("GET", "/v1/invoice_payments/<payment_id>", _retrieve_invoice_payment, schema({})),
]
