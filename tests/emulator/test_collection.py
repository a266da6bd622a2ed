"""Automatic collection as Stripe runs it: the account's retry setting, the minimum charge, authentication, errors.

Each test's docstring names the page of Stripe's docs (or the pinned SDK's docstring) the behaviour comes from;
where the docs are silent the emulator takes the less convenient reading, and the docstring says so
(``docs/stripe-emulator.md`` lists them all).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import stripe

from local.stripe_emulator import Emulator, RunningServer, cards
from local.stripe_emulator.store import API_VERSION
from partnerhub.clock import ManualClock
from testkit import stripe_js

DAY = 86_400
SMART_RETRIES = {"tries": 8, "window_days": 14}  # Stripe's recommended Smart Retries setting


def _events(client: stripe.StripeClient, prefix: str) -> list[str]:
    """The types of the events Stripe recorded, oldest first: the order they were created in, which the events
    API gives (https://docs.stripe.com/api/events/list: "the most recently created event appearing first"), not
    the order webhooks arrive in, which Stripe does not promise."""
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


def _until(clock: ManualClock, instant: int) -> None:
    """Move the clock to ``instant`` (unix seconds), as a test that reads Stripe's next attempt from the invoice."""
    clock.set(datetime.fromtimestamp(instant, UTC))


def _expanded(client: stripe.StripeClient, invoice_id: str) -> Any:
    return client.v1.invoices.retrieve(invoice_id, {"expand": ["payments.data.payment.payment_intent"]})


def test_with_smart_retries_a_declined_attempt_is_retried_within_the_window_on_the_current_default_card(
    client: stripe.StripeClient, clock: ManualClock, emulator: Emulator
) -> None:
    """https://docs.stripe.com/billing/revenue-recovery/smart-retries: retries are a Dashboard setting ("retry the
    payment a specific number of times within a time period ... The recommended default is 8 tries within 2
    weeks"; for one-time invoices under Settings > Billing > Invoices); "When retrying, Stripe uses the first
    available payment method", the customer's default at retry time. Smart Retries choose the instants: a test
    reads ``next_payment_attempt`` and never assumes a day."""
    emulator.configure_collection(retries=SMART_RETRIES)
    customer_id, _ = _customer(client, "pm_card_chargeCustomerFail")
    invoice = _finalized(client, customer_id, 1302)
    first_attempt_at = invoice.next_payment_attempt
    # When the automatic attempt runs an hour later and the card declines
    clock.advance(timedelta(hours=1))
    failed = _expanded(client, invoice.id)
    # Then it stays open with one attempt, the error on its PaymentIntent, the next try within the first seventh
    # of the two weeks
    assert failed.status == "open" and failed.attempt_count == 1
    assert first_attempt_at < failed.next_payment_attempt <= first_attempt_at + 14 * DAY // 7
    intent = failed.payments.data[0].payment.payment_intent
    assert failed.payments.data[0].is_default and failed.payments.data[0].status == "open"
    assert intent.status == "requires_payment_method" and intent.amount == 1302
    assert intent.last_payment_error.code == "card_declined"
    assert intent.last_payment_error.payment_method.card.last4 == "0341"
    # When the first retry comes and declines too, the next one falls in the second seventh
    _until(clock, failed.next_payment_attempt)
    again = client.v1.invoices.retrieve(invoice.id)
    assert again.attempt_count == 2
    assert first_attempt_at + 2 * DAY < again.next_payment_attempt <= first_attempt_at + 4 * DAY
    # When the customer makes a good card the default, the next retry charges it without anyone paying
    good = client.v1.payment_methods.attach("pm_card_mastercard", {"customer": customer_id})
    client.v1.customers.update(customer_id, {"invoice_settings": {"default_payment_method": good.id}})
    _until(clock, again.next_payment_attempt)
    paid = _expanded(client, invoice.id)
    assert paid.status == "paid" and paid.attempt_count == 3 and paid.amount_paid == 1302
    assert paid.next_payment_attempt is None and paid.payments.data[0].status == "paid"
    charge = client.v1.charges.retrieve(paid.payments.data[0].payment.payment_intent.latest_charge)
    assert charge.payment_method == good.id and charge.payment_method_details.card.last4 == "4444"
    assert _events(client, "invoice.payment_failed") == ["invoice.payment_failed"] * 2
    assert _events(client, "charge.") == ["charge.failed", "charge.failed", "charge.succeeded"]


def test_without_the_retry_setting_a_declined_invoice_is_not_retried(
    client: stripe.StripeClient, clock: ManualClock, emulator: Emulator
) -> None:
    """Docs silent, less convenient reading: the docs do not say whether a new account retries one-off invoices
    (retries for them are a Dashboard setting of their own, https://docs.stripe.com/billing/revenue-recovery/smart-retries),
    so with the setting off a declined invoice stays open with no next attempt, however long one waits."""
    assert emulator.store.settings.describe()["retries"] is None
    customer_id, _ = _customer(client, "pm_card_chargeCustomerFail")
    invoice = _finalized(client, customer_id, 900)
    clock.advance(timedelta(hours=1))
    failed = client.v1.invoices.retrieve(invoice.id)
    assert failed.status == "open" and failed.attempt_count == 1 and failed.next_payment_attempt is None
    # A good default card changes nothing by itself: only paying the invoice does
    good = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer_id})
    client.v1.customers.update(customer_id, {"invoice_settings": {"default_payment_method": good.id}})
    clock.advance(timedelta(days=30))
    assert client.v1.invoices.retrieve(invoice.id).attempt_count == 1
    assert client.v1.invoices.pay(invoice.id).status == "paid"


def test_no_payment_method_means_no_retry(client: stripe.StripeClient, clock: ManualClock, emulator: Emulator) -> None:
    """https://docs.stripe.com/billing/revenue-recovery/smart-retries: "Stripe doesn't retry payments if: No
    payment methods are available." The attempt itself fails (``invoice.payment_failed``) and none follows."""
    emulator.configure_collection(retries=SMART_RETRIES)
    customer = client.v1.customers.create({"name": "Agency without a card"})
    invoice = _finalized(client, customer.id, 700)
    clock.advance(timedelta(hours=1))
    failed = client.v1.invoices.retrieve(invoice.id)
    assert failed.status == "open" and failed.attempt_count == 1 and failed.next_payment_attempt is None
    clock.advance(timedelta(days=15))
    assert client.v1.invoices.retrieve(invoice.id).attempt_count == 1
    assert _events(client, "invoice.payment_failed") == ["invoice.payment_failed"]
    assert _events(client, "charge.") == []


@pytest.mark.parametrize(
    ("outcome", "status"), [("leave_open", "open"), ("mark_uncollectible", "uncollectible"), ("void", "void")]
)
@pytest.mark.parametrize(("tries", "window_days"), [(8, 14), (4, 7), (2, 60)])
def test_every_try_falls_within_the_window_and_after_the_last_the_invoice_ends_as_the_setting_says(
    client: stripe.StripeClient,
    clock: ManualClock,
    emulator: Emulator,
    outcome: str,
    status: str,
    tries: int,
    window_days: int,
) -> None:
    """https://docs.stripe.com/billing/revenue-recovery/smart-retries: a number of tries within a period (1 week
    to 2 months); https://docs.stripe.com/invoicing/automatic-collection: when all retries fail, the invoice is
    left past due, marked uncollectible or voided, as configured."""
    emulator.configure_collection(retries={"tries": tries, "window_days": window_days}, after_final_attempt=outcome)
    customer_id, _ = _customer(client, "pm_card_chargeCustomerFail")
    invoice = _finalized(client, customer_id, 700)
    first_failure = invoice.next_payment_attempt
    # When the clock follows each next attempt the invoice names
    seen = 0
    current = invoice
    while current.next_payment_attempt is not None:
        assert current.next_payment_attempt <= first_failure + window_days * DAY
        _until(clock, current.next_payment_attempt)
        current = client.v1.invoices.retrieve(invoice.id)
        seen += 1
    # Then there were exactly `tries` attempts, and the invoice ended as the setting says
    assert seen == tries and current.attempt_count == tries and current.status == status
    assert _events(client, "invoice.payment_failed") == ["invoice.payment_failed"] * tries


def test_the_retry_setting_is_set_as_the_dashboard_offers_it(server: RunningServer) -> None:
    """https://docs.stripe.com/billing/revenue-recovery/smart-retries: 1 week, 2 weeks, 3 weeks, 1 month or 2
    months; anything else is refused by the control, as the Dashboard does not offer it."""
    url = f"{server.url}/_emulator/settings"
    assert requests.get(url, timeout=5).json() == {"retries": None, "after_final_attempt": "leave_open"}
    set_to = requests.post(url, json={"retries": {"tries": 8, "window_days": 14}}, timeout=5)
    assert set_to.json() == {"retries": {"tries": 8, "window_days": 14}, "after_final_attempt": "leave_open"}
    for bad in ({"retries": {"tries": 8, "window_days": 10}}, {"retries": {"tries": 0}}, {"after_final_attempt": "x"}):
        assert requests.post(url, json=bad, timeout=5).status_code == 400
    assert requests.post(url, json={"retries": None}, timeout=5).json()["retries"] is None


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
    assert _events(client, "charge.") == [] and _events(client, "payment_intent.") == []
    # When the next month's invoice is finalized, it takes the 7 cents as its starting balance
    following = _finalized(client, customer_id, 495)
    assert following.total == 495 and following.starting_balance == 7 and following.amount_due == 502
    assert following.ending_balance == 0 and client.v1.customers.retrieve(customer_id).balance == 0
    # And 49 cents is still under the minimum, 50 is charged
    assert _finalized(client, customer_id, 49).amount_due == 0
    assert _finalized(client, customer_id, 1).amount_due == 50


def test_a_card_that_always_needs_authentication_fails_off_session_and_pays_once_authenticated_with_stripe_js(
    client: stripe.StripeClient, clock: ManualClock, server: RunningServer
) -> None:
    """https://docs.stripe.com/testing#authentication-and-setup (4000 0027 6000 3184, "Always authenticate") and
    https://docs.stripe.com/billing/subscriptions/overview#requires-action: an off-session charge fails with
    ``authentication_required``, Stripe sends ``invoice.payment_action_required``, and the customer completes the
    payment by confirming the PaymentIntent's ``client_secret`` with Stripe.js, which brings the 3-D Secure
    challenge (https://docs.stripe.com/payments/3d-secure/authentication-flow): ``requires_action`` until it is
    completed, then paid. The refusal of ``invoices.pay`` (``invoice_payment_intent_requires_action``) carries no
    PaymentIntent: the docs do not promise one there (docs silent, less convenient reading), so it is read from
    the invoice's ``payments``."""
    customer_id, _ = _customer(client, "pm_card_authenticationRequired")
    invoice = _finalized(client, customer_id, 990)
    clock.advance(timedelta(hours=1))
    needs = _expanded(client, invoice.id)
    intent = needs.payments.data[0].payment.payment_intent
    assert needs.status == "open" and needs.attempt_count == 1
    assert intent.status == "requires_action" and intent.last_payment_error.code == "authentication_required"
    assert _events(client, "invoice.payment_") == ["invoice.payment_action_required", "invoice.payment_failed"]
    # Paying from the server answers that the PaymentIntent needs the customer, and does not name it
    with pytest.raises(stripe.CardError) as error:
        client.v1.invoices.pay(invoice.id)
    assert error.value.http_status == 402 and error.value.code == "invoice_payment_intent_requires_action"
    assert error.value.error is not None and getattr(error.value.error, "payment_intent", None) is None
    # Stripe.js, with the publishable key and the client secret, reads and confirms it: a challenge first
    browser = {"Authorization": "Bearer pk_test_local"}
    url = f"{server.url}/v1/payment_intents/{intent.id}"
    read = requests.get(url, params={"client_secret": intent.client_secret}, headers=browser, timeout=5)
    assert read.status_code == 200 and read.json()["status"] == "requires_action"
    wrong = requests.post(f"{url}/confirm", data={"client_secret": "pi_x_secret_y"}, headers=browser, timeout=5)
    assert wrong.status_code == 400
    confirmed = stripe_js.confirm(server.url, "payment_intents", intent.id, intent.client_secret, "pk_test_local")
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "requires_action"
    assert confirmed.json()["next_action"]["type"] == "use_stripe_sdk"
    assert client.v1.invoices.retrieve(invoice.id).status == "open"
    # When the cardholder completes the challenge, the card is charged and the invoice paid
    assert stripe_js.authenticate(confirmed.json(), "complete").status_code == 200
    done = stripe_js.read(server.url, "payment_intents", intent.id, intent.client_secret, "pk_test_local")
    assert done["status"] == "succeeded" and done["last_payment_error"] is None and done["next_action"] is None
    paid = client.v1.invoices.retrieve(invoice.id)
    assert paid.status == "paid" and paid.amount_paid == 990
    assert "invoice.paid" in _events(client, "invoice.")


def _set_up_by_stripe_js(client: stripe.StripeClient, server: RunningServer, customer_id: str, token: str) -> Any:
    """A SetupIntent for off-session use, confirmed as Stripe.js does (publishable key, client secret), its
    3-D Secure challenge completed when the card asks for one; the SetupIntent as it ends."""
    intent = client.v1.setup_intents.create({"customer": customer_id, "usage": "off_session"})
    confirmed = stripe_js.confirm(
        server.url, "setup_intents", intent.id, intent.client_secret, "pk_test_browser", payment_method=token
    )
    assert confirmed.status_code == 200, confirmed.text
    if confirmed.json()["status"] == "requires_action":
        assert stripe_js.authenticate(confirmed.json(), "complete").status_code == 200
    return client.v1.setup_intents.retrieve(intent.id)


def test_card_3155_asks_for_authentication_when_set_up_and_then_off_session_charges_succeed(
    client: stripe.StripeClient, clock: ManualClock, server: RunningServer
) -> None:
    """https://docs.stripe.com/testing#authentication-and-setup, 4000 0025 0000 3155 ("Authenticate unless set
    up"): setting it up needs authentication; once set up, off-session payments need none. Confirmed by the
    server alone (nobody to authenticate) the SetupIntent stays ``requires_action``; Stripe.js confirming it and
    the cardholder completing the challenge make it ``succeeded``."""
    customer = client.v1.customers.create({"name": "Agency"})
    # When the server confirms the SetupIntent itself, the cardholder is not there: authentication is required
    server_side = client.v1.setup_intents.create({"customer": customer.id, "usage": "off_session"})
    pending = client.v1.setup_intents.confirm(
        server_side.id, {"payment_method": "pm_card_authenticationRequiredOnSetup"}
    )
    assert pending.status == "requires_action" and pending.next_action.type == "use_stripe_sdk"
    assert "setup_intent.requires_action" in _events(client, "setup_intent.")
    # When Stripe.js confirms it with the client secret and the challenge is completed, the card is set up
    done = _set_up_by_stripe_js(client, server, customer.id, "pm_card_authenticationRequiredOnSetup")
    assert done.status == "succeeded"
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": done.payment_method}})
    # Then Stripe's off-session automatic attempt succeeds without the cardholder
    invoice = _finalized(client, customer.id, 1500)
    clock.advance(timedelta(hours=1))
    paid = client.v1.invoices.retrieve(invoice.id)
    assert paid.status == "paid" and paid.amount_paid == 1500


def test_card_3155_attached_without_being_set_up_needs_authentication_off_session(
    client: stripe.StripeClient, clock: ManualClock
) -> None:
    """Docs silent, less convenient reading: 4000 0025 0000 3155 needs authentication off session "unless set
    up"; attaching it (``payment_methods.attach``, no SetupIntent) is not setting it up, so Stripe's off-session
    attempt needs the cardholder."""
    customer_id, _ = _customer(client, "pm_card_authenticationRequiredOnSetup")
    invoice = _finalized(client, customer_id, 1500)
    clock.advance(timedelta(hours=1))
    needs = _expanded(client, invoice.id)
    assert needs.status == "open"
    assert needs.payments.data[0].payment.payment_intent.status == "requires_action"


def test_the_other_authentication_test_cards(
    client: stripe.StripeClient, clock: ManualClock, server: RunningServer
) -> None:
    """https://docs.stripe.com/testing#authentication-and-setup: 4000 0038 0000 0446 ("Already set up"): off
    session succeeds, on session asks for authentication; 4000 0082 6000 3178: authentication, then declined with
    ``insufficient_funds``."""
    # 0446: Stripe's off-session attempt succeeds; paying on session (off_session=false) needs the cardholder
    already, _ = _customer(client, "pm_card_authenticationRequiredSetupForOffSession")
    invoice = _finalized(client, already, 800)
    clock.advance(timedelta(hours=1))
    assert client.v1.invoices.retrieve(invoice.id).status == "paid"
    on_session = _finalized(client, already, 800)
    with pytest.raises(stripe.CardError) as needs:
        client.v1.invoices.pay(on_session.id, {"off_session": False})
    assert needs.value.code == "invoice_payment_intent_requires_action"
    # 3178: off session it needs authentication; authenticated with Stripe.js, it is declined for funds
    broke, _ = _customer(client, "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds")
    declined = _finalized(client, broke, 800)
    clock.advance(timedelta(hours=1))
    intent = _expanded(client, declined.id).payments.data[0].payment.payment_intent
    assert intent.status == "requires_action"
    confirmed = stripe_js.confirm(server.url, "payment_intents", intent.id, intent.client_secret, "pk_test_local")
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "requires_action"
    assert stripe_js.authenticate(confirmed.json(), "complete").status_code == 200
    after = stripe_js.read(server.url, "payment_intents", intent.id, intent.client_secret, "pk_test_local")
    assert after["status"] == "requires_payment_method"
    assert after["last_payment_error"]["decline_code"] == "insufficient_funds"
    assert client.v1.invoices.retrieve(declined.id).status == "open"


def test_a_hard_decline_is_not_charged_again_until_the_default_card_changes(
    client: stripe.StripeClient, clock: ManualClock, emulator: Emulator
) -> None:
    """The pinned SDK's ``Invoice.attempt_count``: "If a failure is returned with a non-retryable return code, the
    invoice can no longer be retried unless a new payment method is obtained. Retries will continue to be
    scheduled, and attempt_count will continue to increment, but retries will only be executed if a new payment
    method is obtained." (https://docs.stripe.com/billing/revenue-recovery/smart-retries#non-retryable-decline-codes)"""
    emulator.configure_collection(retries=SMART_RETRIES)
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
    first = client.v1.invoices.retrieve(invoice.id)
    assert first.attempt_count == 1
    _until(clock, first.next_payment_attempt)
    second = client.v1.invoices.retrieve(invoice.id)
    assert second.attempt_count == 2 and _events(client, "charge.") == ["charge.failed"]
    # Once another card is the default, the next retry charges it
    good = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": good.id}})
    _until(clock, second.next_payment_attempt)
    paid = client.v1.invoices.retrieve(invoice.id)
    assert paid.status == "paid" and paid.attempt_count == 3
    assert _events(client, "charge.") == ["charge.failed", "charge.succeeded"]


@pytest.mark.parametrize(
    "version",
    [
        API_VERSION,
        "2026-09-30.clover",
        "2025-03-31.basil",
        "2024-09-30.acacia",
        "2024-06-20",
        "2020-08-27",
        "2015-10-16",
    ],
)
def test_any_released_stripe_version_is_accepted(server: RunningServer, version: str) -> None:
    """https://docs.stripe.com/api/versioning: a request may name any version with ``Stripe-Version``; dated
    versions, named by their major release since 2024-09-30.acacia."""
    headers = {"Authorization": "Bearer sk_test_x", "Stripe-Version": version}
    reply = requests.get(f"{server.url}/v1/customers", headers=headers, timeout=5)
    assert reply.status_code == 200 and reply.headers["Stripe-Version"] == version


@pytest.mark.parametrize(
    "version", ["2099-01-01.nope", "2026-02-30.clover", "2025-03-31", "2020-08-27.acacia", "latest", ""]
)
def test_an_unreleased_or_malformed_stripe_version_is_400_and_errors_carry_request_log_url(
    server: RunningServer, version: str
) -> None:
    """https://docs.stripe.com/api/versioning and https://docs.stripe.com/api/errors: an invalid version is
    refused; every error carries ``request_log_url``."""
    headers = {"Authorization": "Bearer sk_test_x", "Stripe-Version": version}
    reply = requests.get(f"{server.url}/v1/customers", headers=headers, timeout=5)
    assert reply.status_code == 400 and "Invalid Stripe API version" in reply.json()["error"]["message"]
    missing = requests.get(
        f"{server.url}/v1/invoices/in_nope", headers={"Authorization": "Bearer sk_test_x"}, timeout=5
    )
    error = missing.json()["error"]
    assert missing.status_code == 404 and error["code"] == "resource_missing"
    log = requests.get(error["request_log_url"], timeout=5)
    assert log.status_code == 200 and log.json()["error"]["code"] == "resource_missing"


def test_refinalizing_uses_no_invented_error_code(client: stripe.StripeClient) -> None:
    """https://docs.stripe.com/error-codes: only documented codes; re-finalizing is a plain 400."""
    customer_id, _ = _customer(client, "pm_card_visa")
    invoice = _finalized(client, customer_id, 600)
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.invoices.finalize_invoice(invoice.id)
    assert error.value.http_status == 400 and error.value.code is None
    assert json.loads(error.value.http_body or "{}")["error"]["request_log_url"]
