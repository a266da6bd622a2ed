"""3-D Secure as Stripe.js meets it: a challenge the cardholder completes or fails, on a card's setup or payment.

Each test's docstring names the page of Stripe's docs (or Stripe's recorded answer) the behaviour comes from;
where the docs are silent the emulator takes the less convenient reading, and the docstring says so
(``docs/stripe-emulator.md`` lists them all).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
import stripe

from local.stripe_emulator import RunningServer
from partnerhub.clock import ManualClock
from testkit import stripe_js

PK = "pk_test_browser"


def _events(client: stripe.StripeClient, prefix: str) -> list[str]:
    """The types of the events recorded, oldest first (the events API lists them by creation)."""
    listed = client.v1.events.list({"limit": 100})
    return [e.type for e in reversed(listed.data) if e.type.startswith(prefix)]


def _setup_intent(client: stripe.StripeClient) -> tuple[str, Any]:
    customer = client.v1.customers.create({"name": "Agency"})
    return customer.id, client.v1.setup_intents.create({"customer": customer.id, "usage": "off_session"})


def _confirm_setup(server: RunningServer, intent: Any, token: str) -> dict[str, Any]:
    reply = stripe_js.confirm(server.url, "setup_intents", intent.id, intent.client_secret, PK, payment_method=token)
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def _open_invoice_needing_the_cardholder(
    client: stripe.StripeClient, clock: ManualClock, amount: int
) -> tuple[Any, Any]:
    """An invoice whose automatic attempt on 4000 0027 6000 3184 needed the cardholder, and its PaymentIntent."""
    customer = client.v1.customers.create({"name": "Agency"})
    pm = client.v1.payment_methods.attach("pm_card_authenticationRequired", {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": pm.id}})
    draft = client.v1.invoices.create({"customer": customer.id, "auto_advance": False, "currency": "usd"})
    client.v1.invoice_items.create({"customer": customer.id, "invoice": draft.id, "amount": amount, "currency": "usd"})
    invoice = client.v1.invoices.finalize_invoice(draft.id, {"auto_advance": True})
    clock.advance(timedelta(hours=1))
    expanded = client.v1.invoices.retrieve(invoice.id, {"expand": ["payments.data.payment.payment_intent"]})
    return invoice, expanded.payments.data[0].payment.payment_intent


def test_a_card_that_authenticates_on_setup_asks_stripe_js_for_the_challenge_and_is_saved_once_completed(
    client: stripe.StripeClient, server: RunningServer
) -> None:
    """https://docs.stripe.com/testing#authentication-and-setup (4000 0025 0000 3155, "Authenticate unless set
    up"), https://docs.stripe.com/payments/3d-secure/authentication-flow: Stripe.js's ``confirmCardSetup`` sends
    ``use_stripe_sdk=true``; the SetupIntent is ``requires_action`` with a ``use_stripe_sdk`` next action that
    Stripe.js follows to the challenge, and nothing is saved until the cardholder completes it."""
    customer_id, intent = _setup_intent(client)
    # When Stripe.js confirms it with the publishable key and the client secret
    pending = _confirm_setup(server, intent, "pm_card_authenticationRequiredOnSetup")
    # Then the challenge comes first: nothing is attached yet
    assert pending["status"] == "requires_action" and pending["last_setup_error"] is None
    action = pending["next_action"]
    assert action["type"] == "use_stripe_sdk" and action["use_stripe_sdk"]["type"] == "three_d_secure_redirect"
    assert action["use_stripe_sdk"]["stripe_js"].startswith(f"{server.url}/_emulator/three_d_secure/src_")
    assert client.v1.customers.payment_methods.list(customer_id).data == []
    # When the cardholder completes it
    answered = stripe_js.authenticate(pending, "complete")
    assert answered.status_code == 200 and answered.json()["status"] == "succeeded"
    # Then the card is saved to the customer and set up for off-session payments
    done = stripe_js.read(server.url, "setup_intents", intent.id, intent.client_secret, PK)
    assert done["status"] == "succeeded" and done["next_action"] is None
    saved = client.v1.customers.payment_methods.list(customer_id).data
    assert [pm.id for pm in saved] == [done["payment_method"]] and saved[0].card.last4 == "3155"
    assert _events(client, "setup_intent.") == [
        "setup_intent.created",
        "setup_intent.requires_action",
        "setup_intent.succeeded",
    ]


def test_a_failed_setup_challenge_saves_nothing_and_the_card_may_be_tried_again(
    client: stripe.StripeClient, server: RunningServer
) -> None:
    """https://docs.stripe.com/error-codes#setup-intent-authentication-failure ("The provided payment method has
    failed authentication. Provide a new payment method to attempt to fulfill this SetupIntent again"): the
    SetupIntent goes back to ``requires_payment_method`` with ``last_setup_error``, whose message and ``type``
    are those of Stripe's recorded answer (stripe/stripe-ios's ``STPSetupIntentTest``: "The latest attempt to set
    up the payment method has failed because authentication failed.", ``invalid_request_error``), and
    ``setup_intent.setup_failed`` is sent (https://docs.stripe.com/api/events/types). Confirming it again brings
    a new challenge; the old one no longer takes an answer."""
    customer_id, intent = _setup_intent(client)
    first = _confirm_setup(server, intent, "pm_card_authenticationRequired")
    # When the cardholder fails the challenge
    answered = stripe_js.authenticate(first, "fail")
    assert answered.status_code == 200 and answered.json()["status"] == "requires_payment_method"
    # Then nothing is saved, and the SetupIntent says why
    failed = stripe_js.read(server.url, "setup_intents", intent.id, intent.client_secret, PK)
    assert failed["status"] == "requires_payment_method"
    assert failed["payment_method"] is None and failed["next_action"] is None
    error = failed["last_setup_error"]
    assert error["code"] == "setup_intent_authentication_failure" and error["type"] == "invalid_request_error"
    assert (
        error["message"] == "The latest attempt to set up the payment method has failed because authentication failed."
    )
    assert error["payment_method"]["card"]["last4"] == "3184"
    assert client.v1.customers.payment_methods.list(customer_id).data == []
    assert _events(client, "setup_intent.")[-1] == "setup_intent.setup_failed"
    # When the partner tries again: a new challenge, and the failed one is no longer pending
    second = _confirm_setup(server, intent, "pm_card_authenticationRequired")
    assert second["status"] == "requires_action" and second["last_setup_error"] is None
    assert stripe_js.authenticate(first, "complete").status_code == 400
    assert stripe_js.authenticate(second, "complete").json()["status"] == "succeeded"
    assert len(client.v1.customers.payment_methods.list(customer_id).data) == 1


def test_a_failed_payment_challenge_charges_nothing_and_a_second_try_pays(
    client: stripe.StripeClient, clock: ManualClock, server: RunningServer
) -> None:
    """https://docs.stripe.com/error-codes#payment-intent-authentication-failure: a failed challenge leaves the
    invoice's PaymentIntent ``requires_payment_method`` with ``last_payment_error`` as Stripe's recorded answer
    gives it (stripe/stripe-android's ``PaymentIntentFixtures.PI_WITH_LAST_PAYMENT_ERROR``: "The provided
    PaymentMethod has failed authentication. …", ``invalid_request_error``, no charge) and
    ``payment_intent.payment_failed`` (https://docs.stripe.com/api/events/types); the invoice stays open, unpaid.
    The customer may confirm it again with the card (https://docs.stripe.com/payments/paymentintents/lifecycle),
    which brings a new challenge."""
    invoice, intent = _open_invoice_needing_the_cardholder(client, clock, 1250)
    confirmed = stripe_js.confirm(server.url, "payment_intents", intent.id, intent.client_secret, PK)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "requires_action"
    # The earlier off-session error is cleared by the new confirmation (the pinned SDK's PaymentIntent)
    assert confirmed.json()["last_payment_error"] is None
    card = confirmed.json()["payment_method"]
    # When the cardholder fails the challenge
    answered = stripe_js.authenticate(confirmed.json(), "fail")
    assert answered.status_code == 200 and answered.json()["status"] == "requires_payment_method"
    # Then nothing is charged: the invoice is open and unpaid, the PaymentIntent says why
    failed = stripe_js.read(server.url, "payment_intents", intent.id, intent.client_secret, PK)
    assert failed["status"] == "requires_payment_method" and failed["payment_method"] is None
    assert failed["amount_received"] == 0 and failed["latest_charge"] is None
    error = failed["last_payment_error"]
    assert error["code"] == "payment_intent_authentication_failure" and error["type"] == "invalid_request_error"
    assert error["message"].startswith("The provided PaymentMethod has failed authentication.")
    assert error["payment_method"]["id"] == card and "charge" not in error
    still = client.v1.invoices.retrieve(invoice.id)
    assert still.status == "open" and still.amount_paid == 0 and still.amount_remaining == 1250
    assert _events(client, "payment_intent.")[-1] == "payment_intent.payment_failed"
    # When the customer confirms it again with the card and completes the new challenge, the invoice is paid
    again = stripe_js.confirm(server.url, "payment_intents", intent.id, intent.client_secret, PK, payment_method=card)
    assert again.status_code == 200 and again.json()["status"] == "requires_action"
    assert stripe_js.authenticate(again.json(), "complete").json()["status"] == "succeeded"
    paid = client.v1.invoices.retrieve(invoice.id)
    assert paid.status == "paid" and paid.amount_paid == 1250


def test_the_challenge_page_takes_one_answer_with_its_own_secret(
    client: stripe.StripeClient, clock: ManualClock, server: RunningServer
) -> None:
    """Docs silent on the hosted challenge's own refusals: less convenient reading. An unknown challenge and a
    wrong secret get the same 404 (the answer never says which), an outcome other than complete or fail is a
    400, and a challenge takes one answer: answered, or overtaken by another attempt (Stripe's own off-session
    attempt, which needs the cardholder again, https://docs.stripe.com/billing/subscriptions/overview#requires-action),
    it is a 400 and changes nothing."""
    invoice, intent = _open_invoice_needing_the_cardholder(client, clock, 700)
    confirmed = stripe_js.confirm(server.url, "payment_intents", intent.id, intent.client_secret, PK).json()
    page = confirmed["next_action"]["use_stripe_sdk"]["stripe_js"]
    source = confirmed["next_action"]["use_stripe_sdk"]["source"]
    # The page shows what is authenticated and both answers
    shown = requests.get(page, timeout=5)
    assert shown.status_code == 200 and shown.headers["Content-Type"].startswith("text/html")
    assert "Complete authentication" in shown.text and "Fail authentication" in shown.text and "7.00 USD" in shown.text
    # Refused: a wrong secret, an unknown challenge, an outcome that is neither
    wrong = requests.post(
        f"{server.url}/_emulator/three_d_secure/{source}", data={"outcome": "complete", "client_secret": "x"}, timeout=5
    )
    unknown = requests.post(
        f"{server.url}/_emulator/three_d_secure/src_unknown", data={"outcome": "complete"}, timeout=5
    )
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json()["error"]["code"] == unknown.json()["error"]["code"] == "resource_missing"
    assert stripe_js.authenticate(confirmed, "maybe").status_code == 400
    assert stripe_js.read(server.url, "payment_intents", intent.id, intent.client_secret, PK)["status"] == (
        "requires_action"
    )
    # When Stripe's own attempt (off session) comes before the answer, the challenge no longer takes one
    with pytest.raises(stripe.CardError) as refused:
        client.v1.invoices.pay(invoice.id)
    assert refused.value.code == "invoice_payment_intent_requires_action"
    late = stripe_js.authenticate(confirmed, "complete")
    assert late.status_code == 400 and late.json()["error"]["code"] == "payment_intent_unexpected_state"
    assert client.v1.invoices.retrieve(invoice.id).status == "open"
