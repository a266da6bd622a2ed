"""3-D Secure in the portal on the local stack: the card's bank asks for a challenge, shown as Stripe's test page
shows it (Complete authentication / Fail authentication), when a card that authenticates on setup is saved and
when an invoice is paid with a card that authenticates every charge; a failure saves or charges nothing and says
so in the portal's words, and the partner may try again. At 1280 and 390 px."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.browser.steps import (
    CHALLENGE,
    PAY_NOW,
    PAYMENT_FAILED,
    SETUP_FAILED,
    add_card,
    authenticate,
    challenge,
    issue,
    month_end_with_stripes_attempt,
)
from tests.browser.test_billing_and_invoices import dollars, start_of_next_month, wait_for

if TYPE_CHECKING:
    from tests.browser.conftest import Portal

pytestmark = pytest.mark.browser

PHONE_WIDTH = 390


def cards(portal: Portal) -> list[str]:
    return [card["last4"] for card in portal.api().get("/v1/payment-methods").json()["items"]]


def fits_the_screen(portal: Portal, dialog) -> None:  # type: ignore[no-untyped-def]
    box = dialog.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE_WIDTH, box
    for name in ("Complete authentication", "Fail authentication"):
        button = dialog.get_by_role("button", name=name)
        expect(button).to_be_in_viewport()
        size = button.bounding_box()
        assert size is not None and size["height"] >= 24 and size["x"] + size["width"] <= PHONE_WIDTH, size


def test_a_card_that_authenticates_when_saved_is_saved_only_once_the_challenge_is_completed(
    portal: Portal, phone: Portal
) -> None:
    page = portal.page
    portal.sign_in()

    # When the partner saves the card that asks for authentication when it is set up (4000 0025 0000 3155)
    add_card(portal, "pm_card_authenticationRequiredOnSetup")
    # Then the bank's challenge comes first, a modal dialog with the focus inside it
    dialog = challenge(portal)
    expect(dialog).to_contain_text("confirm that this card may be saved for future payments")
    expect(dialog.get_by_role("button", name="Complete authentication")).to_be_focused()
    portal.screenshot("three-d-secure-setup-challenge", full_page=False)

    # When they fail it: nothing is saved, and the form says so in the portal's words, focused
    dialog.get_by_role("button", name="Fail authentication").click()
    expect(page.get_by_role("dialog", name=CHALLENGE)).to_have_count(0)
    summary = page.locator("form .form-errors")
    expect(summary).to_have_text(SETUP_FAILED)
    expect(summary).to_be_focused()
    assert cards(portal) == []
    portal.screenshot("three-d-secure-setup-failed")

    # When they try again and close the challenge with Escape: closing it is failing it, as with Stripe's
    page.get_by_role("button", name="Save payment method").click()
    challenge(portal)
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name=CHALLENGE)).to_have_count(0)
    expect(summary).to_have_text(SETUP_FAILED)
    assert cards(portal) == []

    # When they try once more and complete it: the card is saved, and primary
    page.get_by_role("button", name="Save payment method").click()
    authenticate(portal)
    expect(page.get_by_role("heading", level=1, name="Payment Methods")).to_be_visible()
    expect(page.locator(".payment-card", has_text="Visa ending in 3155").locator(".badge-primary")).to_be_visible()
    assert cards(portal) == ["3155"]

    # On a phone the challenge fits the screen, and completing it saves the card
    phone.sign_in()
    phone.open("payment-methods/new")
    expect(phone.page.get_by_role("heading", level=1, name="New credit card")).to_be_visible()
    phone.page.get_by_label("Card", exact=True).select_option("pm_card_authenticationRequiredOnSetup")
    phone.page.get_by_role("button", name="Save payment method").click()
    fits_the_screen(phone, challenge(phone))
    phone.screenshot("three-d-secure-setup-challenge-phone", full_page=False)
    authenticate(phone)
    expect(phone.page.get_by_role("heading", level=1, name="Payment Methods")).to_be_visible()
    assert cards(phone) == ["3155"]


def test_an_invoice_paid_with_a_card_that_authenticates_every_charge_is_paid_only_once_the_challenge_is_completed(
    portal: Portal, phone: Portal
) -> None:
    stack = portal.stack
    period, following = start_of_next_month(stack)
    page = portal.page

    # Given two partners (one on a laptop, one on a phone) whose card needs 3-D Secure on every charge
    # (4000 0027 6000 3184), each with a license, and Stripe's off-session attempt that needed them
    portal.sign_in()
    add_card(portal, "pm_card_authenticationRequired")
    authenticate(portal)
    expect(page.get_by_role("heading", level=1, name="Payment Methods")).to_be_visible()
    issue(portal, "Jetpack Scan", 1)
    phone.sign_in()
    assert phone.api().post("/v1/payment-methods", json={"payment_method_id": "pm_card_authenticationRequired"}).ok
    assert phone.api().post("/v1/licenses", json={"product": "jetpack-scan", "quantity": 1}).ok
    month_end_with_stripes_attempt(portal, period, following)
    wait_for(lambda: portal.api().get("/v1/account").json()["past_due_invoices"])
    wait_for(lambda: phone.api().get("/v1/account").json()["past_due_invoices"])
    (invoice_id,) = portal.api().get("/v1/account").json()["past_due_invoices"]
    invoice = portal.api().get(f"/v1/invoices/{invoice_id}").json()

    # When they press Pay now on Invoices, then Pay with the card: the bank's challenge for that payment
    portal.navigate("Invoices")
    page.locator("tr[data-invoice]").get_by_role("button", name=PAY_NOW).click()
    dialog = page.get_by_role("dialog", name=re.compile(r"^Pay invoice "))
    pay = dialog.get_by_role("button", name=re.compile(r"^Pay \$"))
    pay.click()
    check = challenge(portal)
    expect(check).to_contain_text(f"confirm the payment of {dollars(invoice['amount_remaining'])}")
    expect(check.get_by_role("button", name="Complete authentication")).to_be_focused()
    portal.screenshot("three-d-secure-payment-challenge", full_page=False)

    # When they fail it: nothing is charged, the Pay dialog says so in the portal's words and offers Pay again
    check.get_by_role("button", name="Fail authentication").click()
    expect(page.get_by_role("dialog", name=CHALLENGE)).to_have_count(0)
    expect(dialog.locator(".dialog-error")).to_have_text(
        f"Invoice {invoice['number']} was not paid with Visa •••• 3184: {PAYMENT_FAILED}"
    )
    expect(pay).to_be_enabled()
    expect(pay).to_be_focused()
    portal.screenshot("three-d-secure-payment-failed", full_page=False)
    unpaid = portal.api().get(f"/v1/invoices/{invoice_id}").json()
    assert unpaid["status"] == "open" and unpaid["amount_paid"] == 0
    assert portal.api().get("/v1/account").json()["past_due_invoices"] == [invoice_id]

    # When they press Pay again and complete the challenge: paid, and the banner is gone
    pay.click()
    authenticate(portal)
    expect(page.locator("#toast")).to_contain_text(f"Invoice {invoice['number']} paid with Visa •••• 3184")
    expect(page.locator("tr[data-invoice]")).to_have_attribute("data-status", "paid")
    expect(page.locator("[data-banner=past-due]")).to_have_count(0)
    assert portal.api().get(f"/v1/invoices/{invoice_id}").json()["amount_paid"] == invoice["amount_remaining"]

    # On a phone the challenge over the Pay dialog fits the screen, and completing it pays the invoice
    phone.open("invoices")
    phone.page.locator("tr[data-invoice]").get_by_role("button", name=PAY_NOW).click()
    phone.page.get_by_role("dialog", name=re.compile(r"^Pay invoice ")).get_by_role(
        "button", name=re.compile(r"^Pay \$")
    ).click()
    fits_the_screen(phone, challenge(phone))
    phone.screenshot("three-d-secure-payment-challenge-phone", full_page=False)
    authenticate(phone)
    expect(phone.page.locator("tr[data-invoice]")).to_have_attribute("data-status", "paid")
    assert phone.api().get("/v1/account").json()["past_due_invoices"] == []
