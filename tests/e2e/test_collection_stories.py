"""Invoice collection as Stripe runs it, over HTTP against the local stack with the clock and real webhooks.

Month-end finalizes each invoice ``open``; Stripe's automatic attempt runs an hour later on the stack's clock and
its news arrives by signed webhook. The stories: a normal month; a decline, a new primary card and Stripe's own
retry paying it; a month under Stripe's 50-cent minimum carried into the next; a card that needs 3-D Secure;
and the decline story again with every webhook held back, then delivered shuffled and twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests

from tests.e2e.test_past_due_story import account, eventually

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
    # Then the decline arrives: past due, with the reason, the card, and Stripe's next attempt a day later
    failed = settled(api, "2028-02", "the decline", past_due=True)
    assert failed["status"] == "open" and failed["attempt_count"] == 1
    assert failed["last_payment_error"]["code"] == "card_declined"
    assert failed["last_payment_error"]["payment_method"] == {"brand": "visa", "last4": "0341"}
    assert failed["next_payment_attempt"] == "2028-03-02T01:15:00Z"
    assert account(api)["past_due_invoices"] == [failed["id"]]
    assert api.post("/v1/licenses", json={"product": "jetpack-scan", "quantity": 1}).status_code == 402
    # When the partner adds a working card as primary, and nobody presses Pay
    assert api.post("/v1/payment-methods", json={"payment_method_id": "pm_card_mastercard"}).status_code == 201
    # Then Stripe's retry a day later charges the new default card and the standing clears by webhook
    api = after_the_attempt(stack, partner_id, "P1D")
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
    reply = api.post(f"/v1/invoices/{needs['id']}/pay")
    assert reply.status_code == 402, reply.text
    error = reply.json()["error"]
    assert error["code"] == "authentication_required"
    (detail,) = error["details"]
    assert detail["client_secret"].startswith(detail["payment_intent_id"] + "_secret_")
    assert detail["publishable_key"].startswith("pk_test_")
    # And the browser confirms the PaymentIntent with the publishable key, as Stripe.js does
    confirmed = requests.post(
        f"{stack.stripe_url}/v1/payment_intents/{detail['payment_intent_id']}/confirm",
        data={"client_secret": detail["client_secret"], "key": detail["publishable_key"]},
        timeout=10,
    )
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "succeeded", confirmed.text
    # Then invoice.paid clears the standing
    paid = settled(api, "2028-05", "paid after authentication", status="paid")
    assert paid["past_due"] is False and paid["amount_paid"] == 7 * 17
    eventually(lambda: not account(api)["past_due_invoices"], "the partner unblocked")


def test_held_shuffled_and_duplicated_webhooks_reach_the_same_end_state(stack: LocalStack, restore_clock: None) -> None:
    control = f"{stack.stripe_url}/_emulator/webhooks"
    # Given every webhook held back from the start of the decline story
    requests.post(f"{control}/hold", json={"hold": True}, timeout=10).raise_for_status()
    try:
        stack.set_clock("2028-06-20T09:00:00Z")
        partner_id, api = decline_then_retry(stack, "2028-06", "2028-07-01")
        # While nothing has arrived, the invoice still shows what month-end saw
        assert invoice_of(api, "2028-06")["past_due"] is False
        assert api.post("/v1/payment-methods", json={"payment_method_id": "pm_card_mastercard"}).status_code == 201
        api = after_the_attempt(stack, partner_id, "P1D")
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
