"""Automatic collection as Stripe runs it: retries, the minimum charge, authentication, PaymentIntents, errors."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import requests
import stripe

from local.stripe_emulator import Emulator, RunningServer, cards
from local.stripe_emulator.resources.invoices import settings
from local.stripe_emulator.store import API_VERSION
from partnerhub.clock import ManualClock

DAY = 86_400


def _events(client: stripe.StripeClient, prefix: str) -> list[str]:
    listed = client.v1.events.list({"limit": 100})
    return [e.type for e in reversed(listed.data) if e.type.startswith(prefix)]


def _customer(client: stripe.StripeClient, token: str) -> tuple[str, str]:
    customer = client.v1.customers.create({"name": "Agency"})
    pm = client.v1.payment_methods.attach(token, {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": pm.id}})
    return customer.id, pm.id


def _finalized(client: stripe.StripeClient, customer_id: str, amount: int) -> Any:
    draft = client.v1.invoices.create({"customer": customer_id, "auto_advance": False, "currency": "usd"})
    client.v1.invoice_items.create({"customer": customer_id, "invoice": draft.id, "amount": amount, "currency": "usd"})
    return client.v1.invoices.finalize_invoice(draft.id, {"auto_advance": True})


@pytest.fixture(autouse=True)
def _default_outcome() -> Any:
    yield
    settings.after_final_attempt = "leave_open"


def test_a_declined_attempt_is_retried_on_the_customers_current_default_card(
    client: stripe.StripeClient, clock: ManualClock
) -> None:
    """https://docs.stripe.com/billing/revenue-recovery/smart-retries: a failed payment is retried on a
    schedule (8 tries within 2 weeks by default), using the customer's default payment method at retry time."""
    customer_id, _ = _customer(client, "pm_card_chargeCustomerFail")
    invoice = _finalized(client, customer_id, 1302)
    first_attempt_at = invoice.status_transitions.finalized_at + 3600
    # When the automatic attempt runs an hour later and the card declines
    clock.advance(timedelta(hours=1))
    failed = client.v1.invoices.retrieve(invoice.id, {"expand": ["payments.data.payment.payment_intent"]})
    # Then it stays open with one attempt, the next one day later, and the error on its PaymentIntent
    assert failed.status == "open" and failed.attempt_count == 1
    assert failed.next_payment_attempt == first_attempt_at + 1 * DAY
    intent = failed.payments.data[0].payment.payment_intent
    assert failed.payments.data[0].is_default and failed.payments.data[0].status == "open"
    assert intent.status == "requires_payment_method" and intent.amount == 1302
    assert intent.last_payment_error.code == "card_declined"
    assert intent.last_payment_error.payment_method.card.last4 == "0341"
    # When the first retry declines too: the second is two more days later (day 3)
    clock.advance(timedelta(days=1))
    again = client.v1.invoices.retrieve(invoice.id)
    assert again.attempt_count == 2 and again.next_payment_attempt == first_attempt_at + 3 * DAY
    # When the customer makes a good card the default, the next retry charges it without anyone paying
    good = client.v1.payment_methods.attach("pm_card_mastercard", {"customer": customer_id})
    client.v1.customers.update(customer_id, {"invoice_settings": {"default_payment_method": good.id}})
    clock.advance(timedelta(days=2))
    paid = client.v1.invoices.retrieve(invoice.id, {"expand": ["payments.data.payment.payment_intent"]})
    assert paid.status == "paid" and paid.attempt_count == 3 and paid.amount_paid == 1302
    assert paid.next_payment_attempt is None and paid.payments.data[0].status == "paid"
    charge = client.v1.charges.retrieve(paid.payments.data[0].payment.payment_intent.latest_charge)
    assert charge.payment_method == good.id and charge.payment_method_details.card.last4 == "4444"
    assert _events(client, "invoice.payment_failed") == ["invoice.payment_failed"] * 2
    assert _events(client, "charge.") == ["charge.failed", "charge.failed", "charge.succeeded"]


@pytest.mark.parametrize(
    ("outcome", "status"), [("leave_open", "open"), ("mark_uncollectible", "uncollectible"), ("void", "void")]
)
def test_after_the_last_retry_the_invoice_ends_as_the_setting_says(
    client: stripe.StripeClient, clock: ManualClock, outcome: str, status: str
) -> None:
    """https://docs.stripe.com/invoicing/automatic-collection: when all retries fail, the invoice is left past
    due, marked uncollectible or voided, as configured. Eight tries in all, the last on day 14."""
    settings.after_final_attempt = outcome
    customer_id, _ = _customer(client, "pm_card_chargeCustomerFail")
    invoice = _finalized(client, customer_id, 700)
    # When the clock passes the whole schedule at once, the missed tries run one after another
    clock.advance(timedelta(hours=1, days=14))
    final = client.v1.invoices.retrieve(invoice.id)
    assert final.attempt_count == 8 and final.next_payment_attempt is None and final.status == status
    assert _events(client, "invoice.payment_failed") == ["invoice.payment_failed"] * 8


def test_an_amount_under_the_minimum_charge_is_paid_with_nothing_charged_and_carried_to_the_next_invoice(
    client: stripe.StripeClient,
) -> None:
    """https://docs.stripe.com/billing/customer/balance: when the amount due is less than the minimum
    chargeable amount, the invoice is marked paid and the amount moved to the customer's balance as a debit,
    applied to the next invoice finalized (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts:
    50 cents in usd)."""
    customer_id, _ = _customer(client, "pm_card_visa")
    # When a 7-cent invoice is finalized
    small = _finalized(client, customer_id, 7)
    # Then it is paid, nothing charged, the 7 cents on the customer's balance
    assert small.status == "paid" and small.amount_paid == 0 and small.amount_due == 0 and small.total == 7
    assert small.starting_balance == 0 and small.ending_balance == 7
    assert client.v1.customers.retrieve(customer_id).balance == 7
    assert _events(client, "charge.") == []
    # When the next month's invoice is finalized, it takes the 7 cents as its starting balance
    following = _finalized(client, customer_id, 495)
    assert following.total == 495 and following.starting_balance == 7 and following.amount_due == 502
    assert following.ending_balance == 0 and client.v1.customers.retrieve(customer_id).balance == 0
    # And 49 cents is still under the minimum, 50 is charged
    assert _finalized(client, customer_id, 49).amount_due == 0
    assert _finalized(client, customer_id, 1).amount_due == 50


def test_a_card_that_needs_authentication_fails_off_session_and_pays_once_confirmed_with_the_publishable_key(
    client: stripe.StripeClient, clock: ManualClock, server: RunningServer
) -> None:
    """https://docs.stripe.com/billing/subscriptions/overview#requires-action and
    https://docs.stripe.com/testing#authentication-and-setup: an off-session charge of a card that requires
    authentication fails with ``authentication_required``, Stripe sends ``invoice.payment_action_required``, and
    the customer completes the payment by confirming the PaymentIntent's ``client_secret`` with Stripe.js."""
    customer_id, _ = _customer(client, "pm_card_authenticationRequired")
    invoice = _finalized(client, customer_id, 990)
    clock.advance(timedelta(hours=1))
    needs = client.v1.invoices.retrieve(invoice.id, {"expand": ["payments.data.payment.payment_intent"]})
    intent = needs.payments.data[0].payment.payment_intent
    assert needs.status == "open" and needs.attempt_count == 1
    assert intent.status == "requires_action" and intent.last_payment_error.code == "authentication_required"
    assert _events(client, "invoice.payment_") == ["invoice.payment_action_required", "invoice.payment_failed"]
    # Paying from the server answers that the PaymentIntent needs the customer
    with pytest.raises(stripe.CardError) as error:
        client.v1.invoices.pay(invoice.id)
    assert error.value.http_status == 402 and error.value.code == "invoice_payment_intent_requires_action"
    assert error.value.error.payment_intent.id == intent.id
    # Stripe.js, with the publishable key and the client secret, reads and confirms it
    browser = {"Authorization": "Bearer pk_test_local"}
    url = f"{server.url}/v1/payment_intents/{intent.id}"
    read = requests.get(url, params={"client_secret": intent.client_secret}, headers=browser, timeout=5)
    assert read.status_code == 200 and read.json()["status"] == "requires_action"
    wrong = requests.post(f"{url}/confirm", data={"client_secret": "pi_x_secret_y"}, headers=browser, timeout=5)
    assert wrong.status_code == 400
    confirmed = requests.post(
        f"{url}/confirm", data={"client_secret": intent.client_secret}, headers=browser, timeout=5
    )
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "succeeded"
    paid = client.v1.invoices.retrieve(invoice.id)
    assert paid.status == "paid" and paid.amount_paid == 990
    assert "invoice.paid" in _events(client, "invoice.")


def test_a_hard_decline_is_not_charged_again_until_the_default_card_changes(
    client: stripe.StripeClient, clock: ManualClock, emulator: Emulator
) -> None:
    """https://docs.stripe.com/billing/revenue-recovery/smart-retries#non-retryable-decline-codes: after a hard
    decline, retries are scheduled and counted but only executed once a new payment method is obtained."""
    customer = client.v1.customers.create({"name": "Agency"})
    emulator_pm = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    invoice = _finalized(client, customer.id, 800)
    # The card on file is reported stolen at the first attempt (Stripe's stolen-card token already declines
    # when it is saved, so the stored card's behaviour is changed instead)
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": emulator_pm.id}})
    emulator.store.private[emulator_pm.id]["card"] = cards.TestCard(
        "4000000000009979", "visa", charge_decline="stolen_card"
    )
    clock.advance(timedelta(hours=1))
    assert client.v1.invoices.retrieve(invoice.id).attempt_count == 1
    clock.advance(timedelta(days=1))
    assert client.v1.invoices.retrieve(invoice.id).attempt_count == 2
    assert _events(client, "charge.") == ["charge.failed"]
    # Once another card is the default, the next retry (day 3) charges it
    good = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": good.id}})
    clock.advance(timedelta(days=2))
    paid = client.v1.invoices.retrieve(invoice.id)
    assert paid.status == "paid" and paid.attempt_count == 3
    assert _events(client, "charge.") == ["charge.failed", "charge.succeeded"]


def test_an_unknown_stripe_version_is_400_and_errors_carry_request_log_url(server: RunningServer) -> None:
    """https://docs.stripe.com/api/versioning and https://docs.stripe.com/api/errors: an invalid version is
    refused; every error carries ``request_log_url``."""
    headers = {"Authorization": "Bearer sk_test_x", "Stripe-Version": "2099-01-01.nope"}
    reply = requests.get(f"{server.url}/v1/customers", headers=headers, timeout=5)
    assert reply.status_code == 400 and "Invalid Stripe API version" in reply.json()["error"]["message"]
    missing = requests.get(
        f"{server.url}/v1/invoices/in_nope", headers={"Authorization": "Bearer sk_test_x"}, timeout=5
    )
    error = missing.json()["error"]
    assert missing.status_code == 404 and error["code"] == "resource_missing"
    log = requests.get(error["request_log_url"], timeout=5)
    assert log.status_code == 200 and log.json()["error"]["code"] == "resource_missing"
    pinned = requests.get(f"{server.url}/v1/customers", headers={**headers, "Stripe-Version": API_VERSION}, timeout=5)
    assert pinned.status_code == 200


def test_refinalizing_uses_no_invented_error_code(client: stripe.StripeClient) -> None:
    """https://docs.stripe.com/error-codes: only documented codes; re-finalizing is a plain 400."""
    customer_id, _ = _customer(client, "pm_card_visa")
    invoice = _finalized(client, customer_id, 600)
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.invoices.finalize_invoice(invoice.id)
    assert error.value.http_status == 400 and error.value.code is None
    assert json.loads(error.value.http_body or "{}")["error"]["request_log_url"]
