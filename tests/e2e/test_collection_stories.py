"""Invoice collection as Stripe runs it, over HTTP against the local stack with the clock and real webhooks.

Month-end finalizes each invoice ``open``; Stripe's automatic attempt runs an hour later on the stack's clock and
its news arrives by signed webhook, concurrently and in no particular order. The local account is set up as
docs/invoicing.md's "Before launch" asks (Smart Retries, 8 tries within 2 weeks, for one-off invoices): Stripe
chooses when it retries, so the stories read ``next_payment_attempt`` and never assume a day. The stories: a
normal month; a decline, a new primary card and Stripe's own retry paying it; a month under Stripe's 50-cent
minimum carried into the next; a card that needs 3-D Secure; the decline story with every webhook held back,
then delivered shuffled and twice; the partner pressing Pay while Stripe's own retry pays the invoice and its
webhook is late; and a 500 Stripe replays under an invoice item's idempotency key on the month-end run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import requests

from testkit import stripe_js
from tests.e2e.test_past_due_story import SECRET_KEY, account, eventually

if TYPE_CHECKING:
    from testkit.stack import ApiSession, LocalStack


@pytest.fixture
def restore_clock(stack: LocalStack) -> Iterator[None]:
    before = stack.now()
    yield
    stack.set_clock(before)


def new_partner(stack: LocalStack, card: str) -> tuple[str, ApiSession]:
    partner_id = f"agency-col-{uuid.uuid4().hex[:10]}"
    api = stack.client(partner_id)
    added = api.post("/v1/payment-methods", json={"payment_method_id": card})
    assert added.status_code == 201, added.text
    return partner_id, api


def issue(api: ApiSession, product: str = "jetpack-backup", quantity: int = 1) -> list[str]:
    reply = api.post("/v1/licenses", json={"product": product, "quantity": quantity})
    assert reply.status_code == 201, reply.text
    return [item["license_key"] for item in reply.json()["items"]]


def invoice_of(api: ApiSession, period: str) -> dict[str, Any]:
    reply = api.get("/v1/invoices")
    assert reply.status_code == 200, reply.text
    (found,) = [item for item in reply.json()["items"] if item["period"] == period]
    return dict(api.get(f"/v1/invoices/{found['id']}").json())


def month_end(stack: LocalStack, partner_id: str, period: str, first_of_next: str) -> tuple[ApiSession, dict[str, Any]]:
    """The 1st of the next month at 00:15: month-end runs; the partner's invoice is open and not past due."""
    stack.set_clock(f"{first_of_next}T00:15:00Z")
    run = stack.invoice_run(period)
    assert run["complete"] and run["failed"] == 0, run
    api = stack.client(partner_id)
    invoice = invoice_of(api, period)
    assert invoice["status"] == "open" and invoice["past_due"] is False and invoice["attempt_count"] == 0
    assert invoice["due_date"] is not None and invoice["next_payment_attempt"] is not None
    assert invoice["amount_paid"] == 0 and invoice["amount_remaining"] == invoice["amount_due"]
    return api, invoice


def after_the_attempt(stack: LocalStack, partner_id: str, duration: str = "PT1H") -> ApiSession:
    stack.advance(duration)
    return stack.client(partner_id)


def stripe_invoice(stack: LocalStack, invoice_id: str) -> dict[str, Any]:
    """The invoice as Stripe holds it (what the webhooks will eventually bring)."""
    reply = requests.get(f"{stack.stripe_url}/v1/invoices/{invoice_id}", auth=(SECRET_KEY, ""), timeout=10)
    reply.raise_for_status()
    return dict(reply.json())


def at_stripes_next_attempt(stack: LocalStack, partner_id: str, invoice_id: str) -> ApiSession:
    """The clock moved to the instant Stripe chose for its next attempt (Smart Retries choose it; read it)."""
    when = stripe_invoice(stack, invoice_id)["next_payment_attempt"]
    assert when is not None, "Stripe schedules no retry"
    stack.set_clock(datetime.fromtimestamp(when, UTC).isoformat().replace("+00:00", "Z"))
    return stack.client(partner_id)


def settled(api: ApiSession, period: str, what: str, **expected: Any) -> dict[str, Any]:
    """The invoice once the webhooks brought it to ``expected`` (they are asynchronous)."""

    def check() -> dict[str, Any] | None:
        invoice = invoice_of(api, period)
        return invoice if all(invoice[k] == v for k, v in expected.items()) else None

    result: dict[str, Any] = eventually(check, what)
    return result


def test_a_normal_month_is_open_then_paid_by_stripes_automatic_attempt(stack: LocalStack, restore_clock: None) -> None:
    # Given a partner with a visa and a backup license through January 2028
    stack.set_clock("2028-01-10T09:00:00Z")
    partner_id, api = new_partner(stack, "pm_card_visa")
    issue(api)
    # When February begins, January's invoice is open: finalizing does not charge
    api, opened = month_end(stack, partner_id, "2028-01", "2028-02-01")
    assert opened["total"] == 22 * 17 == opened["amount_due"]
    # When Stripe's attempt runs an hour later, the invoice.paid webhook makes it paid
    api = after_the_attempt(stack, partner_id)
    paid = settled(api, "2028-01", "January paid", status="paid")
    assert paid["amount_paid"] == 374 and paid["amount_remaining"] == 0 and paid["paid_at"] is not None
    assert paid["attempt_count"] == 1 and paid["next_payment_attempt"] is None and paid["last_payment_error"] is None
    assert paid["past_due"] is False and account(api)["can_issue_licenses"] is True


def decline_then_retry(stack: LocalStack, period: str, first_of_next: str) -> tuple[str, ApiSession]:
    """A declining card at month end; the partner adds a visa as primary; Stripe's next retry charges it."""
    partner_id, api = new_partner(stack, "pm_card_chargeCustomerFail")
    issue(api, "jetpack-scan")
    month_end(stack, partner_id, period, first_of_next)
    api = after_the_attempt(stack, partner_id)
    return partner_id, api


def test_a_decline_makes_the_partner_past_due_and_stripes_retry_on_the_new_primary_card_clears_it(
    stack: LocalStack, restore_clock: None
) -> None:
    # Given a partner whose card declines, invoiced for February 2028
    stack.set_clock("2028-02-20T09:00:00Z")
    partner_id, api = decline_then_retry(stack, "2028-02", "2028-03-01")
    # Then the decline arrives: past due, with the reason, the card, and Stripe's next attempt, which Smart Retries
    # place within the first of the seven shares of their two weeks
    failed = settled(api, "2028-02", "the decline", past_due=True)
    assert failed["status"] == "open" and failed["attempt_count"] == 1
    assert failed["last_payment_error"]["code"] == "card_declined"
    assert failed["last_payment_error"]["payment_method"] == {"brand": "visa", "last4": "0341"}
    first_attempt = datetime(2028, 3, 1, 1, 15, tzinfo=UTC)
    next_attempt = datetime.fromisoformat(failed["next_payment_attempt"])
    assert first_attempt < next_attempt <= first_attempt + timedelta(days=2)
    assert account(api)["past_due_invoices"] == [failed["id"]]
    assert api.post("/v1/licenses", json={"product": "jetpack-scan", "quantity": 1}).status_code == 402
    # When the partner adds a working card as primary, and nobody presses Pay
    assert api.post("/v1/payment-methods", json={"payment_method_id": "pm_card_mastercard"}).status_code == 201
    # Then Stripe's retry, when it comes, charges the new default card and the standing clears by webhook
    api = at_stripes_next_attempt(stack, partner_id, failed["id"])
    paid = settled(api, "2028-02", "the retry to pay", status="paid")
    assert paid["past_due"] is False and paid["attempt_count"] == 2 and paid["amount_paid"] == 10 * 14
    assert paid["last_payment_error"] is None
    eventually(lambda: account(api)["can_issue_licenses"], "the partner unblocked")


def test_a_month_under_the_minimum_charge_is_paid_with_nothing_charged_and_carried_into_the_next(
    stack: LocalStack, restore_clock: None
) -> None:
    # Given one anti-spam license (7 cents a day) active on one day of March 2028
    stack.set_clock("2028-03-31T09:00:00Z")
    partner_id, api = new_partner(stack, "pm_card_visa")
    (key,) = issue(api, "jetpack-anti-spam")
    stack.advance("PT1H")
    assert stack.client(partner_id).post(f"/v1/licenses/{key}/revoke").status_code == 200
    # When month-end runs: 7 cents is under Stripe's 50-cent minimum, so the invoice is paid with nothing charged
    stack.set_clock("2028-04-01T00:15:00Z")
    assert stack.invoice_run("2028-03")["complete"]
    api = stack.client(partner_id)
    small = settled(api, "2028-03", "March settled", status="paid")
    assert small["total"] == 7 and small["amount_paid"] == 0 and small["amount_due"] == 0
    assert small["carried_to_next"] == 7 and small["past_due"] is False
    # Given a backup license in April (from the 21st: 10 days)
    stack.set_clock("2028-04-21T09:00:00Z")
    api = stack.client(partner_id)
    issue(api)
    # When April is invoiced, the 7 cents come in as its starting balance and are collected with it
    api, april = month_end(stack, partner_id, "2028-04", "2028-05-01")
    assert april["total"] == 170 and april["starting_balance"] == 7 and april["amount_due"] == 177
    assert april["total"] == api.get("/v1/billing", params={"period": "2028-04"}).json()["totals"]["cost_to_date"]
    api = after_the_attempt(stack, partner_id)
    paid = settled(api, "2028-04", "April paid", status="paid")
    assert paid["amount_paid"] == 177 and paid["carried_to_next"] == 0


def test_a_card_that_needs_authentication_is_paid_after_the_partner_authenticates(
    stack: LocalStack, restore_clock: None
) -> None:
    # Given a partner whose card needs 3-D Secure on every charge, invoiced for May 2028
    stack.set_clock("2028-05-25T09:00:00Z")
    partner_id, api = new_partner(stack, "pm_card_authenticationRequired")
    issue(api)
    month_end(stack, partner_id, "2028-05", "2028-06-01")
    # When Stripe's off-session attempt needs the cardholder: past due, authentication_required
    api = after_the_attempt(stack, partner_id)
    needs = settled(api, "2028-05", "authentication required", past_due=True)
    assert needs["last_payment_error"]["code"] == "authentication_required"
    # When the partner presses Pay now: 402 authentication_required, with what Stripe.js needs
    detail = pay_needing_authentication(api, needs["id"])
    assert detail["client_secret"].startswith(detail["payment_intent_id"] + "_secret_")
    assert detail["publishable_key"].startswith("pk_test_")
    # And the browser confirms the PaymentIntent as Stripe.js does, and the partner fails the challenge
    failed = authenticate_in_browser(stack, detail, "fail")
    # Then nothing is charged: the PaymentIntent says why, the invoice is still past due
    assert failed["status"] == "requires_payment_method"
    assert failed["last_payment_error"]["code"] == "payment_intent_authentication_failure"
    assert failed["amount_received"] == 0
    assert api.get(f"/v1/invoices/{needs['id']}").json()["status"] == "open"
    assert account(api)["past_due_invoices"] == [needs["id"]]
    # When the partner presses Pay now again and completes the challenge
    retried = authenticate_in_browser(stack, pay_needing_authentication(api, needs["id"]), "complete")
    assert retried["status"] == "succeeded"
    # Then invoice.paid clears the standing
    paid = settled(api, "2028-05", "paid after authentication", status="paid")
    assert paid["past_due"] is False and paid["amount_paid"] == 7 * 17
    eventually(lambda: not account(api)["past_due_invoices"], "the partner unblocked")


def pay_needing_authentication(api: ApiSession, invoice_id: str) -> dict[str, Any]:
    """Pay now with a card that needs the cardholder: the 402's detail, with what Stripe.js needs."""
    reply = api.post(f"/v1/invoices/{invoice_id}/pay")
    assert reply.status_code == 402, reply.text
    error = reply.json()["error"]
    assert error["code"] == "authentication_required"
    (detail,) = error["details"]
    return dict(detail)


def authenticate_in_browser(stack: LocalStack, detail: dict[str, Any], outcome: str) -> dict[str, Any]:
    """What the portal does with the 402's detail (Stripe.js's ``confirmCardPayment``): confirm, answer the
    3-D Secure challenge with ``outcome``, read the PaymentIntent as it ended."""
    intent, secret, key = detail["payment_intent_id"], detail["client_secret"], detail["publishable_key"]
    confirmed = stripe_js.confirm(stack.stripe_url, "payment_intents", intent, secret, key)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "requires_action", confirmed.text
    assert stripe_js.authenticate(confirmed.json(), outcome).status_code == 200
    return stripe_js.read(stack.stripe_url, "payment_intents", intent, secret, key)


def test_held_shuffled_and_duplicated_webhooks_reach_the_same_end_state(stack: LocalStack, restore_clock: None) -> None:
    control = f"{stack.stripe_url}/_emulator/webhooks"
    # Given every webhook held back from the start of the decline story
    requests.post(f"{control}/hold", json={"hold": True}, timeout=10).raise_for_status()
    try:
        stack.set_clock("2028-06-20T09:00:00Z")
        partner_id, api = decline_then_retry(stack, "2028-06", "2028-07-01")
        # While nothing has arrived, the invoice still shows what month-end saw
        held = invoice_of(api, "2028-06")
        assert held["past_due"] is False
        assert api.post("/v1/payment-methods", json={"payment_method_id": "pm_card_mastercard"}).status_code == 201
        api = at_stripes_next_attempt(stack, partner_id, held["id"])
    finally:
        # When they are delivered late, shuffled and each twice
        released = requests.post(
            f"{control}/release", json={"order": "shuffled", "seed": 11, "duplicate": True}, timeout=10
        )
        released.raise_for_status()
    # Then the end state is the in-order one: paid by Stripe's retry, not past due
    paid = settled(api, "2028-06", "the shuffled story to settle", status="paid")
    assert paid["past_due"] is False and paid["attempt_count"] == 2 and paid["amount_paid"] == 11 * 14
    eventually(lambda: not account(api)["past_due_invoices"], "the partner unblocked")


def test_pay_pressed_while_stripes_own_retry_pays_and_the_webhook_is_late_is_409_never_a_5xx(
    stack: LocalStack, restore_clock: None
) -> None:
    control = f"{stack.stripe_url}/_emulator/webhooks"
    # Given a partner past due after Stripe's first attempt declined, who then saves a working card as primary
    stack.set_clock("2028-08-20T09:00:00Z")
    partner_id, api = decline_then_retry(stack, "2028-08", "2028-09-01")
    failed = settled(api, "2028-08", "the decline", past_due=True)
    assert api.post("/v1/payment-methods", json={"payment_method_id": "pm_card_visa"}).status_code == 201
    # And every webhook from now on late
    requests.post(f"{control}/hold", json={"hold": True}, timeout=10).raise_for_status()
    try:
        # When the partner presses Pay at the moment Stripe's own retry charges the new default card
        api = at_stripes_next_attempt(stack, partner_id, failed["id"])
        reply = api.post(f"/v1/invoices/{failed['id']}/pay", headers={"Idempotency-Key": uuid.uuid4().hex})
        # Then the answer is a 409 (the invoice is paid, whatever words Stripe refused with), never a 5xx
        assert reply.status_code == 409, reply.text
        assert reply.json()["error"]["code"] == "invoice_not_payable"
        assert stripe_invoice(stack, failed["id"])["status"] == "paid"
    finally:
        # When the webhooks arrive, late
        requests.post(f"{control}/release", json={"order": "shuffled", "seed": 3}, timeout=10).raise_for_status()
    # Then the invoice is paid once and the standing is clear (the refusal already read Stripe's invoice; the
    # webhooks agree)
    paid = settled(api, "2028-08", "paid by Stripe's retry", status="paid")
    assert paid["past_due"] is False and paid["amount_paid"] == 12 * 14 and paid["attempt_count"] == 2
    eventually(lambda: not account(api)["past_due_invoices"], "the standing clear")
    assert account(api)["can_issue_licenses"] is True


@pytest.mark.parametrize("fault", ["server_error", "fail_after_commit"], ids=["nothing-made", "made-then-500"])
def test_a_500_replayed_under_an_invoice_items_key_still_completes_the_month_the_same_day(
    stack: LocalStack, restore_clock: None, fault: str
) -> None:
    """https://docs.stripe.com/api/idempotent_requests: Stripe replays a 500 under its key for 24 hours."""
    faults = f"{stack.stripe_url}/_emulator/faults"
    # Given a partner with Backup and Scan licenses in October 2028
    stack.set_clock("2028-10-10T09:00:00Z")
    partner_id, api = new_partner(stack, "pm_card_visa")
    issue(api, "jetpack-backup")
    issue(api, "jetpack-scan")
    # And Stripe answering the month's first invoice item with a 500 it saves under the item's key
    stack.set_clock("2028-11-01T00:15:00Z")
    plan = {fault: 1.0, "limit": 1, "path_prefix": "/v1/invoiceitems", "methods": ["POST"]}
    requests.post(faults, json=plan, timeout=10).raise_for_status()
    try:
        # When month-end runs
        run = stack.invoice_run("2028-10")
    finally:
        injected = requests.get(faults, timeout=10).json()["injected"]
        requests.delete(faults, timeout=10)
    # Then it completes that same day, nothing dead-lettered, the 500 having really been answered
    assert run["complete"] and run["failed"] == 0 and run["dead_lettered"] == 0, run
    assert [i["status"] == 500 or i["after_commit"] for i in injected] == [True]
    assert stack.now().startswith("2028-11-01")
    # And there is one invoice, with one line per product and no duplicate, in the API and in Stripe
    api = stack.client(partner_id)
    invoice = invoice_of(api, "2028-10")
    assert sorted(line["product"] for line in invoice["lines"]) == ["jetpack-backup", "jetpack-scan"]
    assert invoice["total"] == 22 * 17 + 22 * 14
    lines = requests.get(
        f"{stack.stripe_url}/v1/invoices/{invoice['id']}/lines", auth=(SECRET_KEY, ""), timeout=10
    ).json()["data"]
    assert sorted(line["metadata"]["product"] for line in lines) == ["jetpack-backup", "jetpack-scan"]
    customer = stripe_invoice(stack, invoice["id"])["customer"]
    invoices = requests.get(
        f"{stack.stripe_url}/v1/invoices", params={"customer": customer}, auth=(SECRET_KEY, ""), timeout=10
    ).json()["data"]
    assert [i["id"] for i in invoices] == [invoice["id"]]


def test_a_card_that_asks_for_authentication_when_saved_is_then_charged_off_session(
    stack: LocalStack, restore_clock: None
) -> None:
    """https://docs.stripe.com/testing#authentication-and-setup, 4000 0025 0000 3155: authentication when the card
    is set up, none for the off-session payments after."""
    # Given a partner who saves the card as the portal does: a SetupIntent confirmed by Stripe.js, its 3-D Secure
    # challenge completed, then added
    stack.set_clock("2028-12-20T09:00:00Z")
    partner_id = f"agency-col-{uuid.uuid4().hex[:10]}"
    api = stack.client(partner_id)
    intent = api.post("/v1/payment-methods/setup-intent").json()
    secret, key = intent["client_secret"], intent["publishable_key"]
    confirmed = stripe_js.confirm(
        stack.stripe_url,
        "setup_intents",
        intent["setup_intent_id"],
        secret,
        key,
        payment_method="pm_card_authenticationRequiredOnSetup",
    )
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "requires_action", confirmed.text
    assert stripe_js.authenticate(confirmed.json(), "complete").status_code == 200
    saved = stripe_js.read(stack.stripe_url, "setup_intents", intent["setup_intent_id"], secret, key)
    assert saved["status"] == "succeeded"
    added = api.post("/v1/payment-methods", json={"payment_method_id": saved["payment_method"]})
    assert added.status_code == 201, added.text
    assert added.json()["last4"] == "3155"
    issue(api)
    # When December is invoiced and Stripe's automatic attempt runs, off session
    month_end(stack, partner_id, "2028-12", "2029-01-01")
    api = after_the_attempt(stack, partner_id)
    # Then it is paid without the partner, never past due
    paid = settled(api, "2028-12", "paid off session", status="paid")
    assert paid["amount_paid"] == 12 * 17 and paid["past_due"] is False and paid["attempt_count"] == 1


def test_without_a_card_stripes_attempt_fails_and_is_not_retried_until_the_partner_pays(
    stack: LocalStack, restore_clock: None
) -> None:
    """https://docs.stripe.com/billing/revenue-recovery/smart-retries: "Stripe doesn't retry payments if: No
    payment methods are available.\""""
    # Given a partner billed for January 2029 who deleted its only card before month end
    stack.set_clock("2029-01-20T09:00:00Z")
    partner_id, api = new_partner(stack, "pm_card_visa")
    issue(api)
    (card,) = api.get("/v1/payment-methods").json()["items"]
    assert api.delete(f"/v1/payment-methods/{card['id']}").status_code == 204
    month_end(stack, partner_id, "2029-01", "2029-02-01")
    # When Stripe's attempt finds no payment method
    api = after_the_attempt(stack, partner_id)
    failed = settled(api, "2029-01", "the failed attempt", past_due=True)
    # Then the partner is past due and Stripe schedules nothing more, however long one waits
    assert failed["status"] == "open" and failed["attempt_count"] == 1 and failed["next_payment_attempt"] is None
    stack.advance("P15D")
    api = stack.client(partner_id)
    assert invoice_of(api, "2029-01")["attempt_count"] == 1
    # When the partner adds a card (Stripe still retries nothing) and pays
    assert api.post("/v1/payment-methods", json={"payment_method_id": "pm_card_visa"}).status_code == 201
    assert invoice_of(api, "2029-01")["status"] == "open"
    paid = api.post(f"/v1/invoices/{failed['id']}/pay", headers={"Idempotency-Key": uuid.uuid4().hex})
    # Then it is paid and the standing clears
    assert paid.status_code == 200 and paid.json()["status"] == "paid", paid.text
    eventually(lambda: not account(api)["past_due_invoices"], "the standing clear")
