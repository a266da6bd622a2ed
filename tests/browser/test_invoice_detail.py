"""An invoice opens from Invoices to its lines (licenses, license-days, daily and monthly price, amount, where the
monthly cap applied), the balance carried in from a month under Stripe's minimum charge, its payments and attempts,
and its PDF, which reads like Stripe's; Help is one click away on every page, signed in or not, with the support
contact and the partner's documentation. At 1280 and 390 px."""

from __future__ import annotations

import calendar
import io
import itertools
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
import requests
from playwright.sync_api import expect
from pypdf import PdfReader

from tests.browser.conftest import Portal
from tests.browser.steps import add_saved_card, revoke_everything
from tests.browser.test_billing_and_invoices import dollars, wait_for
from tests.browser.test_walkthrough import no_horizontal_overflow

if TYPE_CHECKING:
    from testkit.stack import LocalStack

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def leave_nothing_billable(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test, its partners hold no active license: the shared stack's later month-end runs do not bill
    them again (every run plans every billable partner), so later tests' waits on Stripe are not slowed by them."""
    yield
    for value in list(request.node.funcargs.values()):
        if isinstance(value, Portal) and not value.partner_id.startswith("ops-"):
            revoke_everything(value.stack, value.partner_id)


def next_month(period: str) -> str:
    year, month = map(int, period.split("-"))
    return f"{year + 1}-01" if month == 12 else f"{year:04d}-{month + 1:02d}"


def days_in(period: str) -> int:
    year, month = map(int, period.split("-"))
    return calendar.monthrange(year, month)[1]


def two_months_ahead(stack: LocalStack) -> tuple[str, str]:
    """A month M after the stack's clock whose next month has at least 30 days (so a Backup license active all of it
    reaches its cap), and that next month; the clock is moved to M's 1st, 00:30."""
    now = datetime.fromisoformat(stack.now().replace("Z", "+00:00"))
    period = next_month(f"{now.year:04d}-{now.month:02d}")
    while days_in(next_month(period)) < 30:
        period = next_month(period)
    stack.set_clock(f"{period}-01T00:30:00Z")
    return period, next_month(period)


def month_end(portal: Portal, period: str) -> dict[str, Any]:
    """Month-end for ``period`` at 00:30 on the 1st after it, then Stripe's automatic attempt an hour later; the
    partner's invoice for the month once Stripe's outcome is in."""
    stack = portal.stack
    stack.set_clock(f"{next_month(period)}-01T00:30:00Z")
    assert stack.invoice_run(period)["complete"]
    stack.advance("PT1H")

    def settled() -> dict[str, Any] | None:
        found = [i for i in portal.api().get("/v1/invoices").json()["items"] if i["period"] == period]
        return found[0] if found and found[0]["status"] == "paid" else None

    wait_for(lambda: settled() is not None)
    invoice = settled()
    assert invoice is not None
    return invoice


def test_an_invoice_opens_to_its_lines_the_balance_carried_in_its_payments_and_its_pdf(
    portal: Portal, phone: Portal
) -> None:
    stack = portal.stack
    first, second = two_months_ahead(stack)
    page = portal.page
    portal.sign_in()
    add_saved_card(portal)
    api = portal.api()
    prices = {p["product"]: p for p in api.get("/v1/prices").json()["items"]}
    backup, scan = prices["jetpack-backup"], prices["jetpack-scan"]

    # Given in the first month one Scan license from the 1st 00:30 to the 3rd 00:30: 3 days, under Stripe's 50c minimum
    (scan_key,) = [i["license_key"] for i in api.post("/v1/licenses", json={"product": "jetpack-scan"}).json()["items"]]
    stack.advance("P2D")
    assert portal.api().post(f"/v1/licenses/{scan_key}/revoke").status_code == 200
    small = 3 * scan["daily_price"]
    assert small < 50
    carried = month_end(portal, first)
    assert (carried["total"], carried["carried_to_next"], carried["amount_paid"]) == (small, small, 0)

    # And in the second month two Backup licenses all month (each reaches its cap) and a Scan from the 20th 00:30
    api = portal.api()
    assert api.post("/v1/licenses", json={"product": "jetpack-backup", "quantity": 2}).status_code == 201
    stack.set_clock(f"{second}-20T00:30:00Z")
    assert portal.api().post("/v1/licenses", json={"product": "jetpack-scan"}).status_code == 201
    month_days = days_in(second)
    backup_days, scan_days = 2 * month_days, month_days - 19
    backup_amount = 2 * min(month_days * backup["daily_price"], backup["monthly_price"])
    assert backup_amount < backup_days * backup["daily_price"]  # the cap applies
    scan_amount = scan_days * scan["daily_price"]
    assert scan_amount < scan["monthly_price"]  # it does not
    total = backup_amount + scan_amount
    invoice = month_end(portal, second)
    assert (invoice["total"], invoice["starting_balance"], invoice["amount_paid"]) == (total, small, total + small)

    # When the partner opens it from Invoices
    portal.navigate("Invoices")
    page.locator(f"tr[data-invoice='{invoice['id']}']").get_by_role("link", name=invoice["number"]).click()
    expect(page.get_by_role("heading", level=1, name=f"Invoice {invoice['number']}")).to_be_visible()
    portal.settled()

    # Then each line says its licenses, license-days, prices, amount, and whether the monthly cap applied
    lines = page.locator("table.invoice-lines")
    backup_row, scan_row = lines.locator("tr[data-product=jetpack-backup]"), lines.locator("tr[data-product=jetpack-scan]")
    expect(backup_row.locator("th")).to_contain_text("Jetpack VaultPress Backup")
    cells = {"Licenses": "2", "License-days": str(backup_days), "Daily price": dollars(backup["daily_price"])}
    cells |= {"Monthly cap": dollars(backup["monthly_price"])}
    for label, text in cells.items():
        expect(backup_row.locator(f"td[data-label='{label}']")).to_have_text(text)
    expect(backup_row.locator("td[data-label=Amount]")).to_have_text(f"{dollars(backup_amount)}Monthly cap applied")
    expect(scan_row.locator("td[data-label='License-days']")).to_have_text(str(scan_days))
    expect(scan_row.locator("td[data-label=Amount]")).to_have_text(dollars(scan_amount))
    expect(scan_row.locator("[data-field=cap]")).to_have_count(0)
    # And the month's total, the balance carried in from the first month, and the amount due
    expect(lines.locator("tr[data-product=total] td")).to_have_text(dollars(total))
    expect(lines.locator("tr[data-product=starting-balance] td")).to_have_text(dollars(small))
    expect(lines.locator("tr[data-product=amount-due] td")).to_have_text(dollars(total + small))
    expect(page.locator("[data-field=starting-balance]")).to_contain_text(dollars(small))
    # And its payment: one attempt, paid in full on the Visa
    payments = page.locator("[data-region=payments]")
    expect(payments.locator("[data-field=attempts]")).to_have_text("1 payment attempt so far.")
    (payment,) = payments.locator("tbody tr").all()
    expect(payment.locator("td[data-label=Card]")).to_have_text("Visa •••• 4242")
    expect(payment.locator("td[data-label=Amount]")).to_have_text(dollars(total + small))
    expect(payment.locator("td[data-label=Status]")).to_have_text("Paid")
    no_horizontal_overflow(page)
    portal.screenshot("invoice-detail")

    # And its PDF reads like Stripe's: each product's line, its license-days as the quantity, the amount
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename == f"invoice-{invoice['number']}.pdf"
    with open(download.path(), "rb") as pdf:
        text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.read())).pages).split())
    assert f"Jetpack VaultPress Backup \u2014 2 licenses, {backup_days} license-days" in text, text
    assert f" {backup_days} " in text and f"{backup_amount // 100}.{backup_amount % 100:02d} USD" in text
    assert f"Jetpack Scan \u2014 1 license, {scan_days} license-days" in text
    assert "?" not in text

    # The month under the minimum says nothing was charged and where its amount went
    page.get_by_role("link", name="All invoices").click()
    page.locator(f"tr[data-invoice='{carried['id']}']").get_by_role("link", name=carried["number"]).click()
    expect(page.get_by_role("heading", level=1, name=f"Invoice {carried['number']}")).to_be_visible()
    expect(page.locator("[data-field=carried]")).to_contain_text("added to next month's invoice")
    expect(page.locator("[data-field=no-payments]")).to_contain_text("under Stripe's minimum charge")

    # At 390 px the same invoice reads as stacked rows, nothing wider than the screen
    phone.sign_in(portal.partner_id)
    phone.page.goto(f"{stack.api_url}/#/invoices?id={invoice['id']}")
    expect(phone.page.get_by_role("heading", level=1, name=f"Invoice {invoice['number']}")).to_be_visible()
    phone.settled()
    expect(phone.page.locator("tr[data-product=jetpack-backup] [data-field=cap]")).to_be_visible()
    no_horizontal_overflow(phone.page)
    phone.screenshot("invoice-detail-phone")


def test_another_partners_invoice_does_not_open(portal: Portal) -> None:
    portal.sign_in()
    portal.page.goto(f"{portal.stack.api_url}/#/invoices?id=in_someone_elses")
    expect(portal.page.get_by_role("alert")).to_contain_text("no such invoice")
    expect(portal.page.get_by_role("heading", level=1, name="Invoice")).to_be_visible()


@pytest.mark.parametrize("width", [1280, 390])
def test_help_is_on_every_page_with_the_support_contact_and_the_partners_docs(
    portal: Portal, phone: Portal, width: int
) -> None:
    tab = portal if width == 1280 else phone
    page = tab.page
    # Signed out, the sign-in page has Help too, and it opens without signing in
    tab.open()
    expect(page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
    help_link = page.get_by_role("banner").get_by_role("link", name="Help")
    expect(help_link).to_be_visible()
    help_link.click()
    expect(page.get_by_role("heading", level=1, name="Help")).to_be_visible()
    expect(page.locator("[data-field=support-email]")).to_have_attribute("href", "mailto:support@partnerhub.local")
    # Signed in, every page has it in the top bar
    tab.sign_in()
    for route, heading in (("billing", "Billing"), ("invoices", "Invoices"), ("company", "Company Details")):
        page.goto(f"{tab.stack.api_url}/#/{route}")
        expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
        expect(page.get_by_role("banner").get_by_role("link", name="Help")).to_be_visible()
    page.get_by_role("banner").get_by_role("link", name="Help").click()
    expect(page.get_by_role("heading", level=1, name="Help")).to_be_visible()
    expect(page.get_by_role("banner").get_by_role("link", name="Help")).to_have_attribute("aria-current", "page")

    # The docs a partner can use: billing rules, invoices, the API (whose OpenAPI document the stack serves)
    topics = page.get_by_role("navigation", name="Help topics")
    for name in ("Billing rules", "Invoices", "API"):
        expect(topics.get_by_role("link", name=name, exact=True)).to_be_visible()
    topics.get_by_role("link", name="API", exact=True).click()
    expect(page.get_by_role("heading", level=2, name="API")).to_be_in_viewport()
    expect(page.locator("#help-billing")).to_contain_text("monthly cap")
    expect(page.locator("#help-invoices")).to_contain_text("license-days")
    expect(page.locator("[data-field=api-base]")).to_have_text(f"{tab.stack.api_url}/v1")
    openapi = page.locator("[data-field=openapi]").get_attribute("href")
    assert openapi is not None and requests.get(openapi, timeout=10).json()["openapi"].startswith("3.")
    no_horizontal_overflow(page)
    # At 390 the top bar holds the menu, the brand, Sign out and Help without overlap
    if width == 390:
        boxes = [page.locator(sel).bounding_box() for sel in ("#menu-toggle", "#sign-out", "#help-link")]
        assert all(box is not None for box in boxes)
        lefts = sorted((b["x"], b["x"] + b["width"]) for b in boxes if b)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(lefts)), lefts
        assert max(b["x"] + b["width"] for b in boxes if b) <= 390
    tab.screenshot(f"help-{width}")
