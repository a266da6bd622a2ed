"""Billing and invoices in the browser: the estimate moving with the clock, an invoice's PDF, past-due standing."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from tests.browser.steps import add_card, add_saved_card, authenticate, issue, month_end_with_stripes_attempt

if TYPE_CHECKING:
    from testkit.stack import LocalStack
    from tests.browser.conftest import Portal

pytestmark = pytest.mark.browser


def start_of_next_month(stack: LocalStack) -> tuple[str, str]:
    """Move the stack clock forward to 10:00 on the 2nd of next month; that month and the one after it."""
    now = datetime.fromisoformat(stack.now().replace("Z", "+00:00"))
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    stack.set_clock(datetime(year, month, 2, 10, tzinfo=UTC).isoformat().replace("+00:00", "Z"))
    following = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:04d}-{month:02d}", f"{following[0]:04d}-{following[1]:02d}"


def dollars(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def test_the_estimate_grows_with_each_day_a_license_is_active(portal: Portal) -> None:
    stack = portal.stack
    period, _ = start_of_next_month(stack)
    page = portal.page
    portal.sign_in()
    add_saved_card(portal)
    daily = next(p for p in portal.api().get("/v1/prices").json()["items"] if p["product"] == "jetpack-backup")[
        "daily_price"
    ]

    # Given two Backup licenses issued on the 2nd
    issue(portal, "Jetpack VaultPress Backup", 2)

    # Then at the very instant of issue nothing has been used yet (the stack clock stands still)
    portal.navigate("Billing")
    expect(page.get_by_label("Month")).to_have_value(period)
    expect(page.locator("[data-stat=cost-to-date]")).to_have_text("$0.00")
    expect(page.locator("[data-stat=licenses]")).to_have_text("2")

    # When an hour passes, today counts for both
    stack.advance("PT1H")
    page.reload()
    expect(page.locator("[data-stat=cost-to-date]")).to_have_text(dollars(2 * daily))
    expect(page.locator("[data-stat=licenses]")).to_have_text("2")
    backup = page.locator("tr[data-product=jetpack-backup]")
    expect(backup.locator("td[data-label=Unassigned]")).to_have_text("2")
    expect(backup.locator("td[data-label=License-days]")).to_have_text("2")  # so far
    portal.screenshot("billing-day-1")

    # When three days pass
    stack.advance("P3D")
    page.reload()

    # Then four days of both are billed to date
    expect(page.locator("[data-stat=cost-to-date]")).to_have_text(dollars(2 * 4 * daily))
    expect(backup.locator("td[data-label=License-days]")).to_have_text("8")
    portal.screenshot("billing-day-4")


def test_an_invoice_is_listed_and_its_pdf_downloads(portal: Portal) -> None:
    stack = portal.stack
    period, following = start_of_next_month(stack)
    page = portal.page
    portal.sign_in()
    add_saved_card(portal)
    issue(portal, "Jetpack Scan", 1)

    # When the month ends and month-end invoicing runs
    stack.set_clock(f"{following}-01T01:00:00Z")
    summary = stack.invoice_run(period)
    assert summary["complete"], summary

    # Then Invoices lists it open with its number, due date and Stripe's attempt still to come
    portal.navigate("Invoices")
    invoice = page.locator("tr[data-invoice]")
    expect(invoice).to_have_count(1)
    expect(invoice).to_have_attribute("data-status", "open")
    number = invoice.locator("[data-field=number]").inner_text()
    assert number not in ("", "—")
    expect(invoice.locator("td[data-label='Due date']")).not_to_have_text("—")
    expect(invoice.locator("[data-field=next-attempt]")).not_to_have_text("—")
    expect(invoice.locator("[data-field=paid-at]")).to_have_text("—")
    portal.screenshot("invoices-open")

    # When Stripe's automatic attempt has run an hour later, it is paid: paid date, amount paid, nothing left
    stack.advance("PT1H")
    wait_for(
        lambda: portal.api().get(f"/v1/invoices/{invoice.get_attribute('data-invoice')}").json()["status"] == "paid"
    )
    page.reload()
    expect(invoice).to_have_attribute("data-status", "paid")
    expect(invoice.locator("[data-field=paid-at]")).not_to_have_text("—")
    expect(invoice.locator("[data-field=amount-remaining]")).to_have_text("$0.00")
    expect(invoice.locator("[data-field=amount-paid]")).to_have_text(
        invoice.locator("td[data-label=Total]").inner_text()
    )
    expect(invoice.get_by_role("button", name="Pay now")).to_have_count(0)
    portal.screenshot("invoices")
    with page.expect_download() as download_info:
        invoice.get_by_role("button", name="Download").click()
    download = download_info.value
    assert download.suggested_filename == f"invoice-{number}.pdf"
    with open(download.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"


def test_a_failed_charge_shows_the_past_due_banner_until_the_invoice_is_paid(portal: Portal) -> None:
    stack = portal.stack
    period, following = start_of_next_month(stack)
    page = portal.page
    portal.sign_in()

    # Given a card that saves but declines every charge, and a license billed for a month
    add_card(portal, "pm_card_chargeCustomerFail")
    expect(page.get_by_role("heading", level=1, name="Payment Methods")).to_be_visible()
    issue(portal, "Jetpack Boost", 1)
    # And Stripe's automatic attempt an hour later is declined
    month_end_with_stripes_attempt(portal, period, following)
    wait_for(lambda: portal.api().get("/v1/account").json()["past_due_invoices"])
    (listed,) = portal.api().get("/v1/invoices").json()["items"]

    # Then the past-due banner names the invoice by its number (not its Stripe id) and says what is blocked
    page.reload()
    banner = page.locator("[data-banner=past-due]")
    expect(banner).to_contain_text("Past-due invoice")
    expect(banner).to_contain_text(f"Invoice {listed['number']} is past due")
    expect(banner).not_to_contain_text(listed["id"])
    expect(banner).to_contain_text("cannot issue new licenses or assign licenses")
    portal.screenshot("banner-past-due")

    # And the issue form is disabled, saying why and linking the way out
    portal.navigate("Issue New License")
    refused = page.locator("[data-field=issue-refused]")
    expect(refused).to_contain_text("An invoice is past due")
    expect(refused.get_by_role("link", name="Pay the past-due invoice")).to_be_visible()
    expect(page.get_by_role("button", name="Issue licenses")).to_be_disabled()
    portal.screenshot("issue-refused-past-due")

    # And the Invoices page shows the failure, its card and Stripe's next attempt
    portal.navigate("Invoices")
    invoice = page.locator("tr[data-invoice]")
    expect(invoice.get_by_text("Past due")).to_be_visible()
    expect(invoice.locator("[data-field=failure]")).to_contain_text("Your card was declined.")
    expect(invoice.locator("[data-field=failure]")).to_contain_text("Visa •••• 0341")
    expect(invoice.locator("[data-field=next-attempt]")).not_to_have_text("—")
    portal.screenshot("invoices-past-due")

    # And Payment Methods flags the card the payment failed on
    portal.navigate("Payment Methods")
    failing = page.locator(".payment-card", has_text="Visa ending in 0341")
    expect(failing).to_have_attribute("data-failed", "true")
    expect(failing.get_by_text("Payment failed")).to_be_visible()
    expect(failing.locator("[data-field=card-failure]")).to_contain_text(
        f"The last payment of invoice {listed['number']} failed on this card: Your card was declined."
    )
    portal.screenshot("payment-methods-failed-card")
    failing.get_by_role("button", name=f"Pay invoice {listed['number']} now").click()
    expect(page.get_by_role("dialog", name=f"Pay invoice {listed['number']}")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)

    # When they press the banner's Pay now: a dialog names the card that failed; paying with it is refused
    banner.get_by_role("button", name=f"Pay now: invoice {listed['number']}").click()
    dialog = page.get_by_role("dialog", name=f"Pay invoice {listed['number']}")
    expect(dialog).to_contain_text("The last attempt failed on Visa •••• 0341: Your card was declined.")
    expect(dialog.get_by_label("Visa •••• 0341")).to_be_checked()
    expect(dialog.locator("[data-card]").first).to_contain_text("Last payment failed")
    portal.screenshot("pay-dialog-failed-card", full_page=False)
    dialog.get_by_role("button", name=re.compile(r"^Pay \$")).click()
    expect(dialog.locator(".dialog-error")).to_contain_text(
        f"Invoice {listed['number']} was not paid with Visa •••• 0341"
    )
    expect(dialog.locator(".dialog-error")).to_contain_text("declined")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert portal.api().get("/v1/account").json()["past_due_invoices"]

    # When they add a working card that is not primary, the banner offers to pay with it
    add_card(portal, "pm_card_mastercard", primary=False)
    expect(page.get_by_role("heading", level=1, name="Payment Methods")).to_be_visible()
    expect(banner).to_contain_text(f"You added a card. Pay invoice {listed['number']} with it now?")
    portal.screenshot("banner-offer-after-card")

    # And Pay now chooses that card (the primary one is the card that failed), and paying with it clears the banner
    banner.get_by_role("button", name=f"Pay now: invoice {listed['number']}").click()
    expect(dialog.get_by_label("Mastercard •••• 4444")).to_be_checked()
    dialog.get_by_label("Visa •••• 0341").check()
    dialog.get_by_label("Mastercard •••• 4444").check()
    dialog.get_by_role("button", name=re.compile(r"^Pay \$")).click()
    expect(page.locator("[data-banner=past-due]")).to_have_count(0)
    expect(page.locator("#toast")).to_contain_text(f"Invoice {listed['number']} paid with Mastercard •••• 4444")
    assert portal.api().get("/v1/account").json()["past_due_invoices"] == []
    # The primary card declines every charge, so the invoice was paid with the card chosen in the dialog
    primaries = [c["last4"] for c in portal.api().get("/v1/payment-methods").json()["items"] if c["primary"]]
    assert primaries == ["0341"]
    portal.navigate("Invoices")
    expect(page.locator("tr[data-invoice]")).to_have_attribute("data-status", "paid")
    expect(page.locator("tr[data-invoice] [data-field=failure]")).to_have_count(0)


def test_a_card_that_needs_authentication_is_paid_after_authenticating_in_the_portal(portal: Portal) -> None:
    stack = portal.stack
    period, following = start_of_next_month(stack)
    page = portal.page
    portal.sign_in()

    # Given a card that needs 3-D Secure on every charge (and when it is saved); Stripe's off-session attempt
    # could not complete
    add_card(portal, "pm_card_authenticationRequired")
    authenticate(portal)
    expect(page.get_by_role("heading", level=1, name="Payment Methods")).to_be_visible()
    issue(portal, "Jetpack Scan", 1)
    month_end_with_stripes_attempt(portal, period, following)
    wait_for(lambda: portal.api().get("/v1/account").json()["past_due_invoices"])

    # When they press Pay now on the Invoices page and complete the card's challenge
    portal.navigate("Invoices")
    invoice = page.locator("tr[data-invoice]")
    expect(invoice.locator("[data-field=failure]")).to_contain_text("requires authentication")
    invoice.get_by_role("button", name="Pay now").click()
    dialog = page.get_by_role("dialog", name=re.compile(r"^Pay invoice "))
    expect(dialog.get_by_label(re.compile(r"•••• 3184"))).to_be_checked()
    dialog.get_by_role("button", name=re.compile(r"^Pay \$")).click()
    authenticate(portal)

    # Then the invoice is paid and the banner is gone
    expect(page.locator("tr[data-invoice]")).to_have_attribute("data-status", "paid")
    expect(page.locator("[data-banner=past-due]")).to_have_count(0)
    portal.screenshot("invoices-paid-after-authentication")


def wait_for(check: Callable[[], Any], timeout: float = 30.0) -> None:
    """The webhooks are asynchronous: wait (bounded) until the API reflects them. The bound is generous: every
    month-end run on the session's shared stack invoices every earlier test's partner still billable, and Stripe's
    webhooks for all of them arrive before this test's own."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the API did not catch up with Stripe's webhooks in time")
        time.sleep(0.1)
