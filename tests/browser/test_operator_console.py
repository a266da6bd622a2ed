"""The operators' console in the browser: only the operators group sees it; Manage Prices schedules and cancels a
change; Partners finds a partner by company name, shows its standing, voids its invoice and records an external
license; Month-end shows the dry run (fetched page by page, saying how far it has got), starts the run and follows
it to the end; the Audit Log lists what was done. Each page is photographed at desktop (1280) and phone (390) widths."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import PREVIEW_PAGE_SIZE
from tests.browser.steps import confirm, expand
from tests.browser.test_billing_and_invoices import wait_for
from tests.e2e.test_invoicing_http import with_card

if TYPE_CHECKING:
    from testkit.stack import LocalStack
    from tests.browser.conftest import Portal

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
    # The address says what is shown
    expect(portal.page).to_have_url(re.compile(r"#/licenses$"))


def test_an_operator_schedules_and_cancels_a_price(portal: Portal, phone: Portal) -> None:
    portal.stack.set_clock("2026-08-10T12:00:00Z")
    page = portal.page
    portal.sign_in(f"ops-{uuid.uuid4().hex[:6]}", operator=True)
    nav = page.get_by_role("navigation", name="Licensing")
    for link in CONSOLE:
        expect(nav.get_by_role("link", name=link, exact=True)).to_be_visible()
    portal.navigate("Manage Prices")

    # The starting month offered is the one after the service's time (August 2026), not the browser's
    expect(page.get_by_label("Starting month")).to_have_value("2026-09")

    # When the operator schedules Boost at 12 cents a day, 300 a month, from December 2026
    page.get_by_label("Product").select_option("jetpack-boost")
    page.get_by_label("Starting month").fill("2026-12")
    page.get_by_label("Daily price (cents)").fill("12")
    page.get_by_label("Monthly price (cents)").fill("300")
    page.get_by_role("button", name="Schedule change").click()

    # Then the catalog lists it
    change = page.locator("tr[data-product=jetpack-boost] li[data-effective-from='2026-12-01']")
    expect(change).to_contain_text("$0.12/day, $3.00/month from Dec 1, 2026")
    expect(page.locator("[data-banner]")).to_have_count(0)  # the partner's banners stay on the partner's pages
    portal.screenshot("operator-prices")

    # A monthly price below the daily one is refused with the field named
    page.get_by_label("Daily price (cents)").fill("50")
    page.get_by_label("Monthly price (cents)").fill("40")
    page.get_by_role("button", name="Schedule change").click()
    expect(page.locator(".form-errors")).to_be_visible()
    expect(page.get_by_text("must not be below the daily price")).to_be_visible()
    # Editing a field clears the old answer (the browser's own check may block the next submit)
    page.get_by_label("Monthly price (cents)").fill("")
    expect(page.locator(".form-errors")).to_be_hidden()
    expect(page.get_by_text("must not be below the daily price")).to_be_hidden()

    # Scheduling December again asks first (the portal's dialog), and says it replaces the change scheduled then
    page.get_by_label("Product").select_option("jetpack-boost")
    page.get_by_label("Starting month").fill("2026-12")
    page.get_by_label("Daily price (cents)").fill("13")
    page.get_by_label("Monthly price (cents)").fill("310")
    page.get_by_role("button", name="Schedule change").click()
    said = confirm(page, "Replace the Jetpack Boost change for December 2026?", "Replace it")
    assert "replaces the Jetpack Boost change scheduled for December 2026 ($0.12/day, $3.00/month)" in said, said
    expect(change).to_contain_text("$0.13/day, $3.10/month from Dec 1, 2026")
    # The toast names the product and the prices
    expect(page.locator("#toast")).to_contain_text("Jetpack Boost: $0.13/day, $3.10/month from December 2026")

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
    confirm(page, "Cancel the Jetpack Boost price change?", "Cancel the change")
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
    said = confirm(page, f"Void invoice {invoice['number']}?", "Void invoice")
    assert "$9.90 left to pay is written off" in said, said
    expect(page.locator(f"tr[data-invoice='{invoice['id']}'][data-status=void]")).to_be_visible()
    assert api.get(f"/v1/invoices/{invoice['id']}").json()["status"] == "void"

    # And records an external license on a connected site
    page.get_by_label("Product").select_option("jetpack-scan")
    page.get_by_label("Site id").fill("9001")
    page.get_by_label("Site URL").fill("https://connected.example")
    # A malformed key is refused in words, not as a pattern
    page.get_by_label("License key (optional)").fill("scan-abc")
    page.get_by_role("button", name="Record license").click()
    expect(page.locator(".form-errors")).to_be_visible()
    expect(page.get_by_text("must look like <product slug>_")).to_be_visible()
    expect(page.get_by_text("^[")).to_have_count(0)
    page.get_by_label("License key (optional)").fill("")
    page.get_by_role("button", name="Record license").click()
    expect(page.locator("tr[data-product=jetpack-scan]")).to_be_visible()
    external = api.get("/v1/licenses", params={"search": "connected.example"}).json()["items"]
    assert [(lic["product"], lic["source"]) for lic in external] == [("jetpack-scan", "external")]

    # The partner reads it as Recorded by an Operator (not Issued by another user of the account)
    phone.sign_in(partner)
    phone.settled()
    item = expand(phone, external[0]["license_key"])
    item.locator("details.history summary").click()
    (event,) = item.locator("details.history li").all()
    expect(event).to_contain_text("Recorded")
    expect(event).to_contain_text("by Operator")
    expect(event).not_to_contain_text("Another user")
    phone.page.get_by_role("button", name="Sign out").click()

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

    # When the run is started (after the portal's dialog asks), progress follows it to the end (other tests may have
    # run September already: then it is "Start again")
    page.get_by_role("button", name=re.compile(r"^Start (run|again)$")).click()
    confirm(page, re.compile(r"month-end invoicing for September 2026\?$"), re.compile(r"^Start (run|again)$"))
    expect(page.locator("[data-stat=pending]")).to_have_text("0", timeout=60_000)
    expect(page.locator("[data-stat=failed]")).to_have_text("0")
    # The operator's start is named by email, not by id: as the month's starter, or as its last plan when another
    # test's run started September first (read again once the planner has noted the plan it was asked for)
    ops = stack.client(f"ops-{uuid.uuid4().hex[:6]}", groups=["operators"])
    wait_for(lambda: ops.get("/v1/operator/invoice-runs/2026-09").json()["last_planned_by_name"] is not None)
    page.reload()
    named = page.locator("[data-field=started], [data-field=last-planned]").filter(has_text="@partners.local")
    expect(named).to_have_count(1)
    portal.screenshot("operator-month-end-progress")
    (invoice,) = api.get("/v1/invoices").json()["items"]
    assert (invoice["period"], invoice["total"]) == ("2026-09", 990)

    # And the dry run now says the partner is invoiced
    page.reload()
    expect(mine).to_have_attribute("data-state", "already_invoiced")

    # A month that has not ended cannot be previewed, and, never run, has nothing pending: it is Not started
    go(portal, "operator/month-end?period=2026-10", "Month-end")
    expect(page.get_by_text("has not ended yet")).to_be_visible()
    expect(page.locator("[data-stat=pending]")).to_have_text("Not started")

    # Without a month in the address, the page shows the month before the service's time (1 Oct 2026), not the
    # browser's
    go(portal, "operator/month-end", "Month-end")
    expect(page.get_by_label("Month")).to_have_value("2026-09")

    phone.sign_in(f"ops-{uuid.uuid4().hex[:6]}", operator=True)
    go(phone, "operator/month-end?period=2026-09", "Month-end")
    expect(phone.page.locator(f"tr[data-partner='{partner}']")).to_be_visible()
    # The footer says "Grand total" once on a phone; no partner banner on the console
    footer = phone.page.locator(".operator-preview tfoot tr")
    expect(footer.locator("th")).to_be_hidden()  # the cell's own label says it
    expect(footer.locator("td")).to_have_attribute("data-label", "Grand total")
    expect(phone.page.locator("[data-banner]")).to_have_count(0)
    phone.screenshot("operator-month-end-phone")


def dollars(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def test_a_dry_run_of_several_pages_shows_every_partner_and_the_months_totals(portal: Portal) -> None:
    stack = portal.stack
    mine = [invoiced_partner(stack, f"Quokka Web {uuid.uuid4().hex[:6]}")[0] for _ in range(PREVIEW_PAGE_SIZE + 1)]
    operator = f"ops-{uuid.uuid4().hex[:6]}"
    ops = stack.client(operator, groups=["operators"])
    # What the API says, page after page (as large as it allows)
    pages = [ops.get("/v1/operator/invoice-runs/2026-09/preview", params={"limit": 500}).json()]
    while pages[-1]["next_cursor"]:
        cursor = pages[-1]["next_cursor"]
        pages.append(
            ops.get("/v1/operator/invoice-runs/2026-09/preview", params={"limit": 500, "cursor": cursor}).json()
        )
    partners = [p for page in pages for p in page["partners"]]
    assert len(partners) > PREVIEW_PAGE_SIZE

    # The portal asks in pages of two (the stack's OPERATOR_PREVIEW_PAGE_SIZE); the second is held back a moment
    page = portal.page
    asked: list[str] = []
    held: list[Any] = []

    def hold_the_second(route: Any) -> None:
        asked.append(route.request.url)
        if len(asked) == 2:
            held.append(route)
        else:
            route.continue_()

    page.route(re.compile(r".*/v1/operator/invoice-runs/2026-09/preview.*"), hold_the_second)
    portal.sign_in(operator, operator=True)
    page.goto(f"{stack.api_url}/#/operator/month-end?period=2026-09")
    status = page.locator("[data-field=preview-status]")
    # While it computes, it says how far it has got, in a live region
    expect(status).to_have_text(f"{PREVIEW_PAGE_SIZE} partners computed so far…")
    expect(status).to_have_attribute("role", "status")
    assert held, asked
    held[0].continue_()

    # Then every partner is listed once, in order, and the totals are the month's, summed over every page
    rows = page.locator(".operator-preview tbody tr[data-partner]")
    expect(rows).to_have_count(len(partners), timeout=60_000)
    assert rows.evaluate_all("rows => rows.map((r) => r.dataset.partner)") == [p["partner_id"] for p in partners]
    for partner in mine:
        expect(page.locator(f"tr[data-partner='{partner}']")).to_have_attribute("data-state", "would_invoice")
    to_invoice = sum(p["total"] for p in partners if p["state"] == "would_invoice")
    expect(page.locator("[data-stat=to-invoice]")).to_have_text(dollars(to_invoice))
    expect(page.locator("[data-stat=grand-total]")).to_have_text(dollars(sum(p["total"] for p in partners)))
    expect(status).to_have_count(0)
    assert len(asked) >= 2 and all("limit=" not in url for url in asked), asked
    assert all("cursor=" in url for url in asked[1:]), asked
    page.unroute(re.compile(r".*/v1/operator/invoice-runs/2026-09/preview.*"))


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
    # The request reads as key: value pairs, not JSON; Who names the operator by the token's email, sub beneath
    request = rows.nth(1).locator("dl.audit-request")
    expect(request.locator("dt", has_text="effective_from")).to_have_count(1)
    expect(request.locator("dd", has_text="2027-09-01")).to_have_count(1)
    expect(rows.nth(1)).not_to_contain_text("{")
    expect(rows.first.locator(".audit-name")).to_have_text(f"{operator}@partners.local")
    expect(rows.first.locator(".audit-sub")).to_have_text(re.compile(r"^operator:"))
    expect(rows.first).to_contain_text("product:jetpack-videopress")
    # At 1280 the request column is wide enough for a pair on one line (not a few characters a line)
    pair_height = request.locator("dd").first.evaluate("e => e.getBoundingClientRect().height")
    line_height = request.locator("dd").first.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
    assert pair_height < 1.5 * line_height, (pair_height, line_height)
    portal.screenshot("operator-audit")

    phone.sign_in(operator, operator=True)
    go(phone, "operator/audit", "Audit Log")
    expect(phone.page.locator("tbody tr").first).to_have_attribute("data-action", "price.cancel")
    # At 390 every row stays inside the table's box (nothing cut off on the right)
    overflow = phone.page.evaluate(
        """() => {
          const box = document.querySelector('.table-wrap').getBoundingClientRect();
          return [...document.querySelectorAll('.operator-audit tbody tr, .operator-audit tbody td')]
            .map(e => e.getBoundingClientRect().right - box.right).filter(d => d > 1);
        }"""
    )
    assert overflow == [], overflow
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
        page.get_by_role("button", name=re.compile(r"^Start (run|again)$")).click()
        confirm(page, re.compile(r"month-end invoicing for November 2026\?$"), re.compile(r"^Start (run|again)$"))
        # Then the run fails five times per partner-month and its messages land in the dead-letter queue
        expect(page.locator("[data-stat=pending]")).to_have_text("0", timeout=180_000)
        # ... every one of them: none is still being retried by the queue (other tests' partners are billed too)
        page.wait_for_function(
            """() => {
                const failed = document.querySelector("[data-stat=failed]")?.textContent.trim();
                const dead = document.querySelector("[data-stat=dead-lettered]")?.textContent.trim();
                return failed && failed !== "0" && failed === dead;
            }""",
            timeout=180_000,
        )
        retry = page.get_by_role("button", name=re.compile(r"^Retry \d+ failed$"))
        expect(retry).to_be_visible(timeout=60_000)
        failure = page.locator(f".failures li[data-partner='{partner}']")
        expect(failure).to_contain_text("create_draft")
        # Said once: the partner and step lead the line, the cause follows (not "invoicing ... stopped at" again)
        expect(failure).not_to_contain_text("invoicing ")
        assert failure.inner_text().count("stopped at") == 1, failure.inner_text()
        portal.screenshot("operator-month-end-dead-letters")
    finally:
        requests.delete(f"{stack.stripe_url}/_emulator/faults", timeout=10)

    # When Stripe is back and the operator retries, the run finishes with nothing failed
    retry.click()
    expect(page.locator("[data-stat=failed]")).to_have_text("0", timeout=120_000)
    expect(page.locator("[data-stat=dead-lettered]")).to_have_text("0")
    invoices = stack.client(partner).get("/v1/invoices").json()["items"]
    assert [(i["period"], i["total"]) for i in invoices] == [("2026-11", 395)]  # min(30 x 14 = 420, 395)


def test_at_390_an_actions_refusal_shows_beside_it_and_the_row_is_redrawn(phone: Portal) -> None:
    stack = phone.stack
    marker = uuid.uuid4().hex[:6]
    first, first_api = invoiced_partner(stack, f"Wombat Works {marker}")
    second, second_api = invoiced_partner(stack, f"Numbat Labs {marker}")
    assert stack.invoice_run("2026-09")["complete"]
    (one,) = [i for i in first_api.get("/v1/invoices").json()["items"] if i["period"] == "2026-09"]
    (two,) = [i for i in second_api.get("/v1/invoices").json()["items"] if i["period"] == "2026-09"]
    operator = f"ops-{uuid.uuid4().hex[:6]}"
    ops = stack.client(operator, groups=["operators"])
    page = phone.page
    phone.sign_in(operator, operator=True)

    # Mark uncollectible: the button's name begins with its visible text; the row then reads Uncollectible
    go(phone, f"operator/partners?id={first}", f"Partner {first}")
    page.get_by_role("button", name=f"Mark uncollectible: invoice {one['number']}").click()
    confirm(page, f"Mark invoice {one['number']} uncollectible?", "Mark uncollectible")
    row = page.locator(f"tr[data-invoice='{one['id']}'][data-status=uncollectible]")
    expect(row.locator(".badge")).to_have_text("Uncollectible")
    note = page.locator(".stat .stat-note").first
    if page.locator("[data-stat=standing] .badge-past-due").count():
        expect(note).to_contain_text(one["number"])
        expect(note).not_to_contain_text(one["id"])

    # A stale page: the invoice is voided elsewhere, then Mark uncollectible is refused (409) next to the row
    go(phone, f"operator/partners?id={second}", f"Partner {second}")
    assert ops.post(f"/v1/invoices/{two['id']}/void").status_code == 200
    page.get_by_role("button", name=f"Mark uncollectible: invoice {two['number']}").click()
    confirm(page, f"Mark invoice {two['number']} uncollectible?", "Mark uncollectible")
    redrawn = page.locator(f"tr[data-invoice='{two['id']}'][data-status=void]")
    message = redrawn.locator(".action-error")
    expect(message).to_be_visible()
    expect(message).to_be_in_viewport()
    # The redrawn void row offers no action and no empty "Actions" label
    expect(redrawn.get_by_role("button")).to_have_count(0)
    phone.screenshot("operator-partner-action-error-phone")


def test_at_390_a_refused_price_cancel_shows_beside_it(phone: Portal) -> None:
    stack = phone.stack
    stack.set_clock("2027-02-10T12:00:00Z")
    operator = f"ops-{uuid.uuid4().hex[:6]}"
    ops = stack.client(operator, groups=["operators"])
    body = {"daily_price": 15, "monthly_price": 400, "effective_from": "2027-05-01"}
    assert ops.put("/v1/prices/jetpack-videopress", json=body).status_code == 200
    phone.sign_in(operator, operator=True)
    go(phone, "operator/prices", "Manage Prices")
    page = phone.page

    # Cancelled elsewhere meanwhile: the Cancel is refused beside the row, which is redrawn without the change
    assert ops.delete("/v1/prices/jetpack-videopress/scheduled/2027-05-01").status_code == 200
    page.get_by_role("button", name="Cancel the Jetpack VideoPress price from May 1, 2027").click()
    confirm(page, "Cancel the Jetpack VideoPress price change?", "Cancel the change")
    row = page.locator("tr[data-product=jetpack-videopress]")
    message = row.locator(".action-error")
    expect(message).to_be_visible()
    expect(message).to_be_in_viewport()
    expect(row.locator("li[data-effective-from='2027-05-01']")).to_have_count(0)
    phone.screenshot("operator-prices-cancel-error-phone")
