"""The operators' console in the browser: only the operators group sees it; Manage Prices schedules and cancels a
change; Partners finds a partner by company name, shows its standing, voids its invoice and records an external
license; Month-end shows the dry run, starts the run and follows it to the end; the Audit Log lists what was done.
Each page is photographed at desktop (1280) and phone (390) widths."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.test_invoicing_http import with_card

if TYPE_CHECKING:
    from tests.browser.conftest import Portal
    from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.browser

CONSOLE = ["Manage Prices", "Partners", "Month-end", "Audit Log"]


def go(portal: Portal, route: str, heading: str) -> None:
    portal.page.goto(f"{portal.stack.api_url}/#/{route}")
    expect(portal.page.get_by_role("heading", level=1, name=heading)).to_be_visible()
    portal.settled()


def company(name: str) -> dict[str, str]:
    return {
        "name": name,
        "contact_first_name": "Ann",
        "contact_last_name": "Baker",
        "website": "https://bakery.example",
        "address_line1": "1 Market St",
        "city": "San Francisco",
        "country": "US",
        "postal_code": "94105",
    }


def invoiced_partner(stack: LocalStack, name: str) -> tuple[str, Any]:
    """A partner with a company, a card and two Backup licenses from 1 Sept 2026 09:00; the clock ends on
    1 Oct 2026 00:20, so September can be invoiced."""
    stack.set_clock("2026-09-01T09:00:00Z")
    partner, api = with_card(stack)
    assert api.put("/v1/company", json=company(name)).status_code == 200
    assert api.post("/v1/licenses", json={"product": "jetpack-backup", "quantity": 2}).status_code == 201
    stack.set_clock("2026-10-01T00:20:00Z")
    return partner, stack.client(partner)  # a token of the new now


def test_a_partner_sees_no_console_and_cannot_open_it(portal: Portal) -> None:
    portal.sign_in()
    nav = portal.page.get_by_role("navigation", name="Licensing")
    for link in CONSOLE:
        expect(nav.get_by_role("link", name=link, exact=True)).to_have_count(0)
    portal.page.goto(f"{portal.stack.api_url}/#/operator/audit")
    expect(portal.page.get_by_role("heading", level=1, name="Licenses")).to_be_visible()


def test_an_operator_schedules_and_cancels_a_price(portal: Portal, phone: Portal) -> None:
    portal.stack.set_clock("2026-08-10T12:00:00Z")
    page = portal.page
    portal.sign_in(f"ops-{uuid.uuid4().hex[:6]}", operator=True)
    nav = page.get_by_role("navigation", name="Licensing")
    for link in CONSOLE:
        expect(nav.get_by_role("link", name=link, exact=True)).to_be_visible()
    portal.navigate("Manage Prices")

    # When the operator schedules Boost at 12 cents a day, 300 a month, from December 2026
    page.get_by_label("Product").select_option("jetpack-boost")
    page.get_by_label("Starting month").fill("2026-12")
    page.get_by_label("Daily price (cents)").fill("12")
    page.get_by_label("Monthly price (cents)").fill("300")
    page.get_by_role("button", name="Schedule change").click()

    # Then the catalog lists it
    change = page.locator("tr[data-product=jetpack-boost] li[data-effective-from='2026-12-01']")
    expect(change).to_contain_text("$0.12/day, $3.00/month from Dec 1, 2026")
    portal.screenshot("operator-prices")

    # A monthly price below the daily one is refused with the field named
    page.get_by_label("Daily price (cents)").fill("50")
    page.get_by_label("Monthly price (cents)").fill("40")
    page.get_by_role("button", name="Schedule change").click()
    expect(page.locator(".form-errors")).to_be_visible()
    expect(page.get_by_text("must not be below daily_price")).to_be_visible()

    # On a phone the page reads as stacked rows
    phone.stack.set_clock("2026-08-10T12:00:00Z")
    phone.sign_in(f"ops-{uuid.uuid4().hex[:6]}", operator=True)
    go(phone, "operator/prices", "Manage Prices")
    expect(phone.page.locator("tr[data-product=jetpack-boost] li[data-effective-from='2026-12-01']")).to_be_visible()
    phone.screenshot("operator-prices-phone")

    # When it is cancelled, it is gone
    page.reload()
    expect(change).to_be_visible()
    change.get_by_role("button", name="Cancel the Jetpack Boost price from Dec 1, 2026").click()
    expect(change).to_have_count(0)
    expect(page.get_by_text("the change from Dec 1, 2026 is cancelled")).to_be_visible()


def test_an_operator_finds_a_partner_voids_its_invoice_and_records_an_external_license(
    portal: Portal, phone: Portal
) -> None:
    stack = portal.stack
    marker = uuid.uuid4().hex[:6]
    partner, api = invoiced_partner(stack, f"Quokka Studio {marker}")
    run = stack.invoice_run("2026-09")
    assert run["complete"], run
    (invoice,) = [i for i in api.get("/v1/invoices").json()["items"] if i["period"] == "2026-09"]

    page = portal.page
    page.on("dialog", lambda dialog: dialog.accept())
    portal.sign_in(f"ops-{uuid.uuid4().hex[:6]}", operator=True)
    portal.navigate("Partners")

    # When the operator searches by a piece of the company name, in another case
    page.get_by_label("Partner id or company name").fill(f"QUOKKA studio {marker}")
    page.get_by_role("button", name="Search").click()
    row = page.locator(f"tr[data-partner='{partner}']")
    expect(row).to_contain_text(f"Quokka Studio {marker}")
    expect(row).to_contain_text("In good standing")
    expect(page.locator("tbody tr")).to_have_count(1)
    portal.screenshot("operator-partners")

    # And opens it: standing, counts, the September invoice
    row.get_by_role("link", name=partner).click()
    expect(page.get_by_role("heading", level=1, name=f"Partner {partner}")).to_be_visible()
    expect(page.locator("[data-stat=licenses]")).to_have_text("2")
    expect(page.locator("[data-stat=card]")).to_have_text("On file")
    invoice_row = page.locator(f"tr[data-invoice='{invoice['id']}']")
    expect(invoice_row).to_contain_text("$9.90")  # 2 x min(30 x 17 = 510, 495)
    portal.screenshot("operator-partner-detail")

    # When it voids the invoice (after confirming)
    invoice_row.get_by_role("button", name=f"Void invoice {invoice['number']}").click()
    expect(page.locator(f"tr[data-invoice='{invoice['id']}'][data-status=void]")).to_be_visible()
    assert api.get(f"/v1/invoices/{invoice['id']}").json()["status"] == "void"

    # And records an external license on a connected site
    page.get_by_label("Product").select_option("jetpack-scan")
    page.get_by_label("Site id").fill("9001")
    page.get_by_label("Site URL").fill("https://connected.example")
    page.get_by_role("button", name="Record license").click()
    expect(page.locator("tr[data-product=jetpack-scan]")).to_be_visible()
    external = api.get("/v1/licenses", params={"search": "connected.example"}).json()["items"]
    assert [(lic["product"], lic["source"]) for lic in external] == [("jetpack-scan", "external")]

    phone.sign_in(f"ops-{uuid.uuid4().hex[:6]}", operator=True)
    go(phone, f"operator/partners?id={partner}", f"Partner {partner}")
    phone.screenshot("operator-partner-detail-phone")
    go(phone, f"operator/partners?search={marker}", "Partners")
    expect(phone.page.locator(f"tr[data-partner='{partner}']")).to_be_visible()
    phone.screenshot("operator-partners-phone")


def test_an_operator_previews_starts_and_follows_month_end(portal: Portal, phone: Portal) -> None:
    stack = portal.stack
    partner, api = invoiced_partner(stack, f"Wombat Web {uuid.uuid4().hex[:6]}")
    page = portal.page
    portal.sign_in(f"ops-{uuid.uuid4().hex[:6]}", operator=True)
    go(portal, "operator/month-end?period=2026-09", "Month-end")

    # The dry run: two Backup licenses all September = 2 x min(30 x 17, 495) = 990 cents
    mine = page.locator(f"tr[data-partner='{partner}']")
    expect(mine).to_have_attribute("data-state", "would_invoice")
    expect(mine).to_contain_text("$9.90")
    expect(page.locator("[data-stat=to-invoice]")).not_to_have_text("$0.00")
    portal.screenshot("operator-month-end-preview")
    assert api.get("/v1/invoices").json()["items"] == []  # the dry run wrote nothing

    # When the run is started, progress follows it to the end
    page.get_by_role("button", name="Start run").click()
    expect(page.locator("[data-stat=pending]")).to_have_text("0", timeout=60_000)
    expect(page.locator("[data-stat=failed]")).to_have_text("0")
    expect(page.get_by_text("Started by hand")).to_be_visible()
    portal.screenshot("operator-month-end-progress")
    (invoice,) = api.get("/v1/invoices").json()["items"]
    assert (invoice["period"], invoice["total"]) == ("2026-09", 990)

    # And the dry run now says the partner is invoiced
    page.reload()
    expect(mine).to_have_attribute("data-state", "already_invoiced")

    # A month that has not ended cannot be previewed
    go(portal, "operator/month-end?period=2026-10", "Month-end")
    expect(page.get_by_text("has not ended yet")).to_be_visible()

    phone.sign_in(f"ops-{uuid.uuid4().hex[:6]}", operator=True)
    go(phone, "operator/month-end?period=2026-09", "Month-end")
    expect(phone.page.locator(f"tr[data-partner='{partner}']")).to_be_visible()
    phone.screenshot("operator-month-end-phone")


def test_the_audit_log_lists_operator_actions_newest_first(portal: Portal, phone: Portal) -> None:
    stack = portal.stack
    # (later on the stack clock than anything the other tests here did: the log is ordered by that clock)
    stack.set_clock("2027-06-11T12:00:00Z")
    operator = f"ops-{uuid.uuid4().hex[:6]}"
    ops = stack.client(operator, groups=["operators"])
    body = {"daily_price": 9, "monthly_price": 250, "effective_from": "2027-09-01"}
    assert ops.put("/v1/prices/jetpack-videopress", json=body).status_code == 200
    stack.advance("PT1M")
    assert ops.delete("/v1/prices/jetpack-videopress/scheduled/2027-09-01").status_code == 200

    portal.sign_in(operator, operator=True)
    portal.navigate("Audit Log")
    rows = portal.page.locator("tbody tr")
    expect(rows.first).to_have_attribute("data-action", "price.cancel")
    expect(rows.nth(1)).to_have_attribute("data-action", "price.schedule")
    expect(rows.nth(1)).to_contain_text('"effective_from":"2027-09-01"')
    expect(rows.first).to_contain_text("product:jetpack-videopress")
    portal.screenshot("operator-audit")

    phone.sign_in(operator, operator=True)
    go(phone, "operator/audit", "Audit Log")
    expect(phone.page.locator("tbody tr").first).to_have_attribute("data-action", "price.cancel")
    phone.screenshot("operator-audit-phone")


def test_an_operator_retries_a_months_dead_letters(portal: Portal) -> None:
    # Given a partner with a Scan license all November 2026, and Stripe refusing every invoice creation
    stack = portal.stack
    stack.set_clock("2026-11-01T09:00:00Z")
    partner, _ = with_card(stack)
    assert (
        stack.client(partner).post("/v1/licenses", json={"product": "jetpack-scan", "quantity": 1}).status_code == 201
    )
    stack.set_clock("2026-12-01T00:20:00Z")
    plan = {"server_error": 1.0, "path_prefix": "/v1/invoices", "methods": ["POST"]}
    assert requests.post(f"{stack.stripe_url}/_emulator/faults", json=plan, timeout=10).status_code == 200
    page = portal.page
    try:
        portal.sign_in(f"ops-{uuid.uuid4().hex[:6]}", operator=True)
        go(portal, "operator/month-end?period=2026-11", "Month-end")
        page.get_by_role("button", name="Start run").click()
        # Then the run fails five times per partner-month and its messages land in the dead-letter queue
        expect(page.locator("[data-stat=pending]")).to_have_text("0", timeout=180_000)
        retry = page.get_by_role("button", name=re.compile(r"^Retry \d+ failed$"))
        expect(retry).to_be_visible(timeout=60_000)
        expect(page.locator(f".failures li[data-partner='{partner}']")).to_contain_text("create_draft")
        portal.screenshot("operator-month-end-dead-letters")
    finally:
        requests.delete(f"{stack.stripe_url}/_emulator/faults", timeout=10)

    # When Stripe is back and the operator retries, the run finishes with nothing failed
    retry.click()
    expect(page.locator("[data-stat=failed]")).to_have_text("0", timeout=120_000)
    expect(page.locator("[data-stat=dead-lettered]")).to_have_text("0")
    invoices = stack.client(partner).get("/v1/invoices").json()["items"]
    assert [(i["period"], i["total"]) for i in invoices] == [("2026-11", 395)]  # min(30 x 14 = 420, 395)
