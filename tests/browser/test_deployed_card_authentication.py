"""The deployed portal when the card's bank is not satisfied: Stripe.js's ``confirmCardSetup`` and
``confirmCardPayment`` show the 3-D Secure challenge themselves and, when it fails or is closed, answer
``{error}`` with ``setup_intent_authentication_failure`` / ``payment_intent_authentication_failure``
(https://docs.stripe.com/error-codes, and Stripe.js's own message "We are unable to authenticate your payment
method. Please choose a different payment method and try again."). The portal then says what the local stack's
portal says (tests/browser/test_three_d_secure.py), in its own words, and saves or pays nothing.

The portal is served as CloudFront serves it, under its Content-Security-Policy (test_cognito_sign_in.py's
fake, which also plays Cognito and the API); Stripe.js is played by this test at https://js.stripe.com/v3/,
its confirmations failing the challenge."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.steps import PAY_NOW, PAYMENT_FAILED, SETUP_FAILED
from tests.browser.test_cognito_sign_in import COGNITO, PORTAL, FakeCognito, sign_in

pytestmark = pytest.mark.browser

STRIPE_JS_MESSAGE = (
    "We are unable to authenticate your payment method. Please choose a different payment method and try again."
)
# Stripe.js as this test plays it: a card Element that mounts, and confirmations whose challenge fails. Each call
# is recorded in window.stripeCalls.
FAKE_STRIPE_JS = (
    f"const message = {json.dumps(STRIPE_JS_MESSAGE)};"
    + """
window.stripeCalls = [];
window.Stripe = function (publishableKey) {
  const failed = (code) => ({ error: { type: "invalid_request_error", code, message } });
  return {
    elements() { return { create() { return { mount(el) { el.textContent = "4000 0027 6000 3184"; } }; } }; },
    async confirmCardSetup(secret) { window.stripeCalls.push(["confirmCardSetup", publishableKey, secret]); return failed("setup_intent_authentication_failure"); },
    async confirmCardPayment(secret) { window.stripeCalls.push(["confirmCardPayment", publishableKey, secret]); return failed("payment_intent_authentication_failure"); },
  };
};
"""
)
INVOICE = {
    "id": "in_1",
    "number": "AGENCY7-0001",
    "period": "2027-01",
    "status": "open",
    "past_due": True,
    "total": 395,
    "amount_due": 395,
    "amount_paid": 0,
    "amount_remaining": 395,
    "currency": "usd",
    "due_date": "2027-02-01T00:00:00Z",
    "created": "2027-02-01T00:00:00Z",
    "paid_at": None,
    "attempt_count": 1,
    "next_payment_attempt": None,
    "last_payment_error": {
        "code": "authentication_required",
        "message": "Your card was declined. This transaction requires authentication.",
        "payment_method": {"brand": "visa", "last4": "3184"},
    },
    "starting_balance": 0,
    "carried_to_next": 0,
}
CARD = {"id": "pm_1", "brand": "visa", "last4": "3184", "exp_month": 12, "exp_year": 2034, "primary": True}


@dataclass
class FakeApiAndCognito(FakeCognito):
    """test_cognito_sign_in.py's fake, answering the few API routes a card form and the Pay dialog use."""

    writes: list[str] = field(default_factory=list)

    def api(self, route: Any) -> None:
        request = route.request
        path = urlsplit(request.url).path
        token = (request.headers.get("authorization") or "").removeprefix("Bearer ")
        if token not in self.issued or token in self.expired:
            super().api(route)
            return
        answers: dict[tuple[str, str], tuple[int, Any]] = {
            ("GET", "/v1/account"): (
                200,
                {"partner_id": "agency-7", "has_payment_method": True, "past_due_invoices": [INVOICE["id"]]},
            ),
            ("GET", f"/v1/invoices/{INVOICE['id']}"): (200, INVOICE),
            ("GET", "/v1/payment-methods"): (200, {"items": [CARD]}),
            ("POST", "/v1/payment-methods/setup-intent"): (
                201,
                {"setup_intent_id": "seti_1", "client_secret": "seti_1_secret_2", "publishable_key": "pk_live_1"},
            ),
            ("POST", f"/v1/invoices/{INVOICE['id']}/pay"): (
                402,
                {
                    "error": {
                        "code": "authentication_required",
                        "message": "the card needs the cardholder to authenticate this payment (3-D Secure)",
                        "details": [
                            {
                                "field": "payment_method",
                                "reason": "authentication_required",
                                "payment_intent_id": "pi_1",
                                "client_secret": "pi_1_secret_2",
                                "publishable_key": "pk_live_1",
                            }
                        ],
                    }
                },
            ),
        }
        if request.method == "POST":
            self.writes.append(path)
        answer = answers.get((request.method, path))
        if answer is None:
            super().api(route)
            return
        status, body = answer
        route.fulfill(status=status, content_type="application/json", body=json.dumps(body))

    def stripe_js(self, route: Any) -> None:
        route.fulfill(status=200, content_type="text/javascript", body=FAKE_STRIPE_JS)


@pytest.fixture
def deployed(browser: Any) -> Iterator[tuple[Any, FakeApiAndCognito]]:
    fake = FakeApiAndCognito()
    context = browser.new_context()
    context.set_default_timeout(15_000)
    context.route(f"{PORTAL}/**", fake.portal)
    context.route(f"{COGNITO}/**", fake.cognito)
    context.route("https://js.stripe.com/v3/", fake.stripe_js)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: "Content Security Policy" in message.text and fake.blocked.append(message.text))
    try:
        yield page, fake
        assert errors == [], errors
        assert fake.blocked == [], fake.blocked
    finally:
        context.close()


def test_a_card_whose_challenge_fails_in_stripe_js_is_not_saved_and_the_portal_says_why(
    deployed: tuple[Any, FakeApiAndCognito],
) -> None:
    from playwright.sync_api import expect

    page, fake = deployed
    sign_in(page, fake)
    # When the partner saves a card and Stripe.js's challenge fails
    page.goto(f"{PORTAL}/#/payment-methods/new")
    expect(page.locator("#card-element")).to_have_text("4000 0027 6000 3184")
    page.get_by_role("button", name="Save payment method").click()
    # Then the form says what the local portal says, and nothing is sent to be saved
    expect(page.locator("form .form-errors")).to_have_text(SETUP_FAILED)
    assert page.evaluate("() => window.stripeCalls") == [["confirmCardSetup", "pk_live_1", "seti_1_secret_2"]]
    assert fake.writes == ["/v1/payment-methods/setup-intent"]


def test_a_payment_whose_challenge_fails_in_stripe_js_is_not_made_and_the_portal_says_why(
    deployed: tuple[Any, FakeApiAndCognito],
) -> None:
    from playwright.sync_api import expect

    page, fake = deployed
    sign_in(page, fake)
    # When the partner pays the past-due invoice from the banner and Stripe.js's challenge fails
    page.locator("[data-banner=past-due]").get_by_role("button", name=PAY_NOW).click()
    dialog = page.get_by_role("dialog", name=re.compile(r"^Pay invoice "))
    pay = dialog.get_by_role("button", name=re.compile(r"^Pay \$"))
    pay.click()
    # Then the dialog says what the local portal says, and Pay may be tried again
    expect(dialog.locator(".dialog-error")).to_have_text(
        f"Invoice {INVOICE['number']} was not paid with Visa •••• 3184: {PAYMENT_FAILED}"
    )
    expect(pay).to_be_enabled()
    assert page.evaluate("() => window.stripeCalls") == [["confirmCardPayment", "pk_live_1", "pi_1_secret_2"]]
    assert fake.writes == [f"/v1/invoices/{INVOICE['id']}/pay"]
