"""Re-billing clients in the browser: labels on issue, in a license's details and on many at once, the client
and tag filters, the month by client and by site, the CSV statement read back, and the 12-month spend chart."""

from __future__ import annotations

import csv
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import EXPORT_PART_BYTES, LAPTOP, PHONE, SCREENSHOTS
from tests.browser.steps import add_saved_card, expand, issue, month_end_with_stripes_attempt, row
from tests.browser.test_billing_and_invoices import dollars, start_of_next_month, wait_for
from tests.browser.test_walkthrough import no_horizontal_overflow

if TYPE_CHECKING:
    from tests.browser.conftest import Portal

pytestmark = pytest.mark.browser


def issue_labelled(portal: Portal, product_name: str, quantity: int, client: str, tags: str) -> list[str]:
    """Issue New License with the optional client and tags filled in."""
    page = portal.page
    portal.navigate("Issue New License")
    product = page.get_by_label("Product")
    product.select_option(product.locator("option", has_text=product_name).first.get_attribute("value"))
    page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_label("Client (optional)").fill(client)
    page.get_by_label("Tags (optional)").fill(tags)
    page.get_by_role("button", name="Issue licenses").click()
    plural = "" if quantity == 1 else "s"
    expect(page.get_by_text(f"Issued {quantity} license{plural} for {client}.")).to_be_visible()
    return page.locator(".issued code").all_inner_texts()


def labels_of(portal: Portal, key: str) -> tuple[str | None, list[str]]:
    body = portal.api().get(f"/v1/licenses/{key}").json()
    return body["client"], body["tags"]


def month_name(period: str) -> str:
    """``2027-01`` → ``January 2027``."""
    names = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October"]
    names += ["November", "December"]
    return f"{names[int(period[5:]) - 1]} {period[:4]}"


def cents(text: str) -> int:
    """``$1,234.50`` → 123450 (the portal's own display, read back digit by digit)."""
    match = re.fullmatch(r"\$([\d,]+)\.(\d\d)", text.strip())
    assert match, text
    return int(match[1].replace(",", "")) * 100 + int(match[2])


def test_labels_on_issue_in_details_on_many_at_once_and_as_filters(portal: Portal) -> None:
    page = portal.page
    portal.sign_in()
    add_saved_card(portal)

    # When an order's tag is refused, the 422 is said under the Tags field and nothing is issued
    portal.navigate("Issue New License")
    page.get_by_label("Tags (optional)").fill("ok, -bad tag!")
    page.get_by_role("button", name="Issue licenses").click()
    expect(page.get_by_label("Tags (optional)")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field-error:not([hidden])")).to_have_text(re.compile(r"^tag 2: use letters, digits"))
    assert portal.api().get("/v1/licenses/counts").json()["all"] == 0

    # When two licenses are issued for a client with tags, and three more without labels
    labelled = issue_labelled(portal, "Jetpack VaultPress Backup", 2, "Acme Bakery", "retainer, eu, retainer")
    portal.screenshot("rebill-issue-labelled")
    page.set_viewport_size(PHONE)
    expect(page.get_by_label("Client (optional)")).to_be_visible()
    no_horizontal_overflow(page)
    portal.screenshot("rebill-issue-labelled-phone")
    page.set_viewport_size(LAPTOP)
    plain = issue(portal, "Jetpack Scan", 3)

    # Then the order's labels are on both licenses (the repeated tag once), and on none of the others
    assert [labels_of(portal, key) for key in labelled] == [("Acme Bakery", ["retainer", "eu"])] * 2
    assert [labels_of(portal, key) for key in plain] == [(None, [])] * 3

    # And the list shows them in the rows
    portal.navigate("Licenses")
    for key in labelled:
        expect(row(portal, key).locator("[data-fact=row-client]")).to_have_text("Client: Acme Bakery")
        expect(row(portal, key).locator("[data-fact=row-tags] .tag")).to_have_text(["retainer", "eu"])
    expect(row(portal, plain[0]).locator("[data-fact=row-labels]")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text("null")
    portal.screenshot("rebill-licenses-labelled")

    # When a bad tag is saved in a license's details, the API's 422 is said under the Tags field
    item = expand(portal, plain[0])
    item.get_by_text("Edit client and tags").click()
    editor = item.get_by_role("form", name="Client and tags")
    editor.get_by_label("Client").fill("Blue Cafe")
    editor.get_by_label("Tags").fill("monthly, no!")
    editor.get_by_role("button", name="Save labels").click()
    tags_input = editor.get_by_label("Tags")
    expect(tags_input).to_have_attribute("aria-invalid", "true")
    tags_error = editor.locator(".field-error:not([hidden])")
    expect(tags_error).to_have_count(1)
    expect(tags_error).to_contain_text("tag 2")
    assert tags_error.get_attribute("id") == f"{tags_input.get_attribute('id')}-error"
    assert labels_of(portal, plain[0]) == (None, [])  # nothing changed
    portal.screenshot("rebill-details-422")

    # When it is corrected and saved
    tags_input.fill("monthly")
    editor.get_by_role("button", name="Save labels").click()
    expect(item.locator("[data-fact=client]")).to_have_text("Blue Cafe")
    expect(item.locator("[data-fact=tags]")).to_have_text("monthly")
    expect(row(portal, plain[0]).locator("[data-fact=row-client]")).to_have_text("Client: Blue Cafe")
    assert labels_of(portal, plain[0]) == ("Blue Cafe", ["monthly"])
    item.locator("details.history summary").click()
    expect(item.locator("details.history li").last).to_contain_text("Labelled to client Blue Cafe, tags monthly by You")
    portal.screenshot("rebill-details-saved")

    # When two unlabelled licenses are selected and labelled at once, the first PATCH failing on its way
    first_patch: dict[str, Any] = {}
    keys_sent: list[tuple[str, str]] = []

    def flaky(route: Any) -> None:
        request = route.request
        if request.method != "PATCH":
            route.continue_()
            return
        key = request.url.rsplit("/", 1)[-1]
        keys_sent.append((key, request.headers["idempotency-key"]))
        if not first_patch:
            first_patch["key"] = key
            route.fulfill(
                status=503,
                content_type="application/json",
                body='{"error": {"code": "unavailable", "message": "Service unavailable"}}',
            )
            return
        route.continue_()

    page.route(re.compile(r".*/v1/licenses/[^/?]+$"), flaky)
    expect(page.get_by_label("Select all shown")).to_be_visible()
    expect(page.get_by_role("form", name="Label the selected licenses")).to_be_hidden()  # until one is selected
    page.get_by_label(f"Select Jetpack Scan {plain[1]}").check()
    page.get_by_label(f"Select Jetpack Scan {plain[2]}").check()
    bulk = page.get_by_role("form", name="Label the selected licenses")
    expect(page.locator(".bulk-count")).to_have_text("2 selected")
    bulk.get_by_label("Client").fill("Corner Shop")
    bulk.get_by_label("Tags").fill("q3, eu")
    bulk.get_by_role("button", name="Label selected").click()

    # Then one is labelled, the failure is listed with its license, and a retry is offered
    result = bulk.locator(".bulk-result")
    expect(result).to_contain_text("Labelled 1 of 2; 1 failed")
    expect(result.locator(f"li[data-key='{first_patch['key']}']")).to_contain_text("Service unavailable")
    portal.screenshot("rebill-bulk-failure")

    # When the failed one is retried, it is sent with the same Idempotency-Key (safe to retry) and succeeds
    result.get_by_role("button", name="Retry the 1 that failed").click()
    expect(result).to_contain_text("Labelled 1 license.")
    first_keys = [k for license_key, k in keys_sent if license_key == first_patch["key"]]
    assert len(first_keys) == 2 and first_keys[0] == first_keys[1], keys_sent
    page.unroute(re.compile(r".*/v1/licenses/[^/?]+$"))
    assert [labels_of(portal, key) for key in plain[1:]] == [("Corner Shop", ["q3", "eu"])] * 2
    for key in plain[1:]:
        expect(row(portal, key).locator("[data-fact=row-client]")).to_have_text("Client: Corner Shop")
    portal.screenshot("rebill-bulk-done")

    # When every license on the page is selected and given a tag, each one's tags become that tag
    page.get_by_label("Select all shown").check()
    expect(page.locator(".bulk-count")).to_have_text("5 selected")
    bulk.get_by_label("Client").fill("")
    bulk.get_by_label("Tags").fill("2026")
    bulk.get_by_role("button", name="Label selected").click()
    expect(bulk.locator(".bulk-result")).to_contain_text("Labelled 5 licenses.")
    clients = {"Acme Bakery": labelled, "Blue Cafe": plain[:1], "Corner Shop": plain[1:]}
    for client, keys in clients.items():
        for key in keys:
            assert labels_of(portal, key) == (client, ["2026"])  # the clients stayed as they were

    # When the list is filtered by client, only that client's licenses are listed, and the hash says so
    filters = page.locator("details.label-filters")
    expect(filters).not_to_have_attribute("open", "")  # folded while no label filter is in force
    filters.get_by_text("Client and tag filters").click()
    filters.get_by_label("Client", exact=True).fill("Corner Shop")
    filters.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"#/licenses\?client=Corner\+Shop$"))
    expect(page.locator("li.license")).to_have_count(2)
    expect(page.locator("[data-region=label-filters]")).to_contain_text("Client: Corner Shop")
    assert sorted(page.locator("li.license").evaluate_all("(items) => items.map((li) => li.dataset.key)")) == sorted(
        plain[1:]
    )
    portal.screenshot("rebill-filter-client")
    page.set_viewport_size(PHONE)
    no_horizontal_overflow(page)
    portal.screenshot("rebill-filter-client-phone")
    page.set_viewport_size(LAPTOP)

    # And by a tag (kept with the client filter in the hash), then by the tag alone
    portal.open("licenses?tag=2026")
    portal.settled()
    expect(page.locator("li.license")).to_have_count(5)
    portal.open("licenses?client=Acme+Bakery&tag=2026")
    portal.settled()
    expect(page.locator("li.license")).to_have_count(2)
    expect(page.get_by_label("Tag", exact=True)).to_have_value("2026")  # the filters unfolded, filled from the hash
    expect(page.get_by_label("Client", exact=True).first).to_have_value("Acme Bakery")
    portal.open("licenses?tag=retainer")
    portal.settled()
    expect(page.locator("li.license")).to_have_count(0)  # every tag was replaced by 2026
    expect(page.locator("li.empty")).to_have_text("No licenses have these labels.")

    # And on a phone the labelled rows, the selection bar and the details fit the screen
    portal.open("licenses")
    portal.settled()
    page.set_viewport_size(PHONE)
    page.get_by_label(f"Select Jetpack Scan {plain[0]}").check()
    expand(portal, plain[0]).get_by_text("Edit client and tags").click()
    no_horizontal_overflow(page)
    portal.screenshot("rebill-licenses-phone")


def read_statement(path: str) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def download(portal: Portal, button: str) -> tuple[str, list[dict[str, str]], str]:
    page = portal.page
    with page.expect_download() as info:
        page.get_by_role("button", name=button).click()
    saved = info.value
    status = page.locator(".download-status")
    expect(status).to_contain_text("Saved")
    return saved.suggested_filename, read_statement(str(saved.path())), status.inner_text()


def column_cents(table: Any, label: str) -> list[int]:
    return [cents(text) for text in table.locator(f"tbody td[data-label='{label}']").all_inner_texts()]


def test_billing_by_client_and_site_the_csv_statement_and_the_spend_chart(portal: Portal) -> None:
    stack = portal.stack
    period, following = start_of_next_month(stack)
    page = portal.page
    portal.sign_in()
    add_saved_card(portal)

    # Given six licenses for two clients and two unlabelled, two of them on sites, one moved between sites
    acme = issue_labelled(portal, "Jetpack VaultPress Backup", 3, "Acme Bakery", "retainer")
    blue = issue_labelled(portal, "Jetpack Scan", 1, "Blue Cafe", "monthly")
    plain = issue(portal, "Jetpack Boost", 2)
    api = portal.api()
    assert api.put(f"/v1/licenses/{acme[0]}/site", json={"site_id": "s-1", "site_url": "https://acme.example"}).ok
    stack.advance("P2DT1H")
    api = portal.api()  # a fresh token after the clock moved
    assert api.put(f"/v1/licenses/{acme[0]}/site", json={"site_id": "s-2", "site_url": "https://two.example"}).ok
    assert api.put(f"/v1/licenses/{blue[0]}/site", json={"site_id": "s-3", "site_url": "https://blue.example"}).ok
    stack.advance("P1D")

    # Then Billing shows the month by client and by site, each table adding up to the page's totals
    portal.navigate("Billing")
    to_date = cents(page.locator("[data-stat=cost-to-date]").inner_text())
    projected = cents(page.locator("[data-stat=projected]").inner_text())
    licenses = int(page.locator("[data-stat=licenses]").inner_text())
    days = int(page.locator("tr[data-product=totals] td[data-label=License-days]").inner_text())
    assert licenses == 6 and to_date > 0
    by_client = page.locator("[data-groups=client] table")
    by_site = page.locator("[data-groups=site] table")
    expect(by_client.locator("tbody tr")).to_have_count(3)  # Acme Bakery, Blue Cafe, no client
    expect(by_client.locator("tbody tr th")).to_have_text(["Acme Bakery", "Blue Cafe", "No client"])
    for table in (by_client, by_site):
        assert sum(column_cents(table, "Cost to date")) == to_date
        assert sum(column_cents(table, "Projected")) == projected
        assert sum(int(t) for t in table.locator("tbody td[data-label=Licenses]").all_inner_texts()) == licenses
        assert sum(int(t) for t in table.locator("tbody td[data-label=License-days]").all_inner_texts()) == days
        total = table.locator("tfoot")
        expect(total.locator("td[data-label='Cost to date']")).to_have_text(dollars(to_date))
        expect(total.locator("td[data-label=Projected]")).to_have_text(dollars(projected))
        expect(total.locator("td[data-label=Licenses]")).to_have_text(str(licenses))
    # The sites: s-1 (Acme's first two days), s-2, s-3, and the licenses never assigned
    expect(by_site.locator("tbody tr")).to_have_count(4)
    site_days = dict(
        zip(
            by_site.locator("tbody tr").evaluate_all("(rows) => rows.map((r) => r.dataset.group)"),
            [int(t) for t in by_site.locator("tbody td[data-label=License-days]").all_inner_texts()],
            strict=True,
        )
    )
    # Worked by hand: issued on the 2nd at 10:00, moved on the 4th at 11:00, the 5th at 11:00 now.
    # Acme's first: the 2nd and 3rd on s-1, the 4th and 5th on s-2. Blue's: the 2nd and 3rd unassigned, then s-3.
    # Unassigned: Acme's other two and Boost's two for 4 days each, plus Blue's first 2 days = 18.
    assert site_days == {"s-1": 2, "s-2": 2, "s-3": 2, "": 18}, site_days
    portal.screenshot("rebill-billing-groups")

    # When the statement is downloaded per license, it is one file joined from its parts, and its amounts add
    # up to the estimate to date (read back with Python's csv module)
    name, rows, said = download(portal, "Download CSV (per license)")
    assert name == f"partnerhub-billing-{period}.csv"
    assert sorted(r["license_key"] for r in rows) == sorted(acme + blue + plain)  # no repeated header row
    assert sum(int(r["amount"]) for r in rows) == to_date
    assert {r["license_key"]: r["client"] for r in rows} == {
        **dict.fromkeys(acme, "Acme Bakery"),
        **dict.fromkeys(blue, "Blue Cafe"),
        **dict.fromkeys(plain, ""),
    }
    parts = int(re.search(r"joined from (\d+) parts", said)[1])  # type: ignore[index]
    assert parts >= 2, f"parts of {EXPORT_PART_BYTES} bytes should split six licenses: {said}"
    # And per site: one row per license and site, summing the same
    name, site_rows, _ = download(portal, "Download CSV (per site)")
    assert name == f"partnerhub-billing-{period}-by-site.csv"
    # Acme's first has two sites (s-1, s-2), Blue's two (none for its first two days, then s-3)
    assert sorted((r["license_key"], r["site_id"]) for r in site_rows) == sorted(
        [(acme[0], "s-1"), (acme[0], "s-2"), (blue[0], ""), (blue[0], "s-3")] + [(key, "") for key in acme[1:] + plain]
    )
    assert sum(int(r["amount"]) for r in site_rows) == to_date
    assert sum(int(r["license_days"]) for r in site_rows) == days
    portal.screenshot("rebill-billing-downloaded")

    # When the month ends, is invoiced and Stripe's attempt has paid it
    month_end_with_stripes_attempt(portal, period, following)
    wait_for(lambda: [i["status"] for i in portal.api().get("/v1/invoices").json()["items"]] == ["paid"])
    (invoice,) = portal.api().get("/v1/invoices").json()["items"]

    # Then the closed month's statement adds up to the invoice's total
    portal.open(f"billing?period={period}")
    expect(page.get_by_text("Invoiced for the month")).to_be_visible()
    portal.settled()
    _, rows, _ = download(portal, "Download CSV (per license)")
    assert sum(int(r["amount"]) for r in rows) == invoice["total"]
    for kind, heading in (("client", "Client"), ("site", "Site")):
        table = page.locator(f"[data-groups={kind}] table")
        assert sum(column_cents(table, "Invoiced")) == invoice["total"]
        expect(table.locator("thead th")).to_have_text([heading, "Licenses", "License-days", "Invoiced"])

    # And this month's Billing shows 12 months of spend: an SVG with a title and description, its bars labelled,
    # the same numbers in a table, the invoiced month linking to its invoice, this month projected
    portal.open("billing")
    portal.settled()
    charts = page.locator("[data-region=spend] svg[role=img]")
    expect(charts).to_have_count(2)  # columns on a wide screen, rows on a phone; one shown at a time
    expect(charts.locator("visible=true")).to_have_count(1)
    chart = charts.locator("visible=true")
    expect(chart).to_have_attribute("aria-labelledby", "spend-title-columns")
    expect(chart).to_have_attribute("aria-describedby", "spend-desc-columns")
    expect(page.get_by_role("img", name="Spend over the past year")).to_have_count(1)  # the one shown
    expect(chart.locator("title#spend-title-columns")).to_have_text("Spend over the past year")
    expect(chart.locator("desc#spend-desc-columns")).to_contain_text(
        f"{month_name(period)}: {dollars(invoice['total'])}"
    )
    expect(chart.locator("g.spend-bar")).to_have_count(12)
    expect(chart.locator("g.spend-bar.projected")).to_have_count(1)
    expect(chart.locator(f"g.spend-bar.projected[data-period='{following}'] text.spend-year")).to_have_text("projected")
    last_bar = chart.locator(f"g.spend-bar[data-period='{period}']")
    expect(last_bar.locator("text.spend-amount")).to_have_text(dollars(invoice["total"]).removesuffix(".00"))
    expect(last_bar.locator("title")).to_have_text(f"{month_name(period)}: {dollars(invoice['total'])}")
    spend = page.locator("[data-region=spend] table")
    expect(spend.locator("tbody tr")).to_have_count(12)
    history = portal.api().get("/v1/billing/history").json()["items"]
    assert spend.locator("tbody tr").evaluate_all("(rows) => rows.map((r) => r.dataset.period)") == [
        item["period"] for item in history
    ]
    this_month = spend.locator(f"tr[data-period='{following}']")
    expect(this_month.locator("td[data-label=Status]")).to_have_text("This month (projected)")
    last_month = spend.locator(f"tr[data-period='{period}']")
    expect(last_month.locator("td[data-label=Amount]")).to_have_text(dollars(invoice["total"]))
    expect(last_month.locator("td[data-label=Status]")).to_have_text("Paid")
    earlier = spend.locator("tbody tr").nth(5)
    expect(earlier.locator("td[data-label=Amount]")).to_have_text("$0.00")
    expect(earlier.locator("td[data-label=Invoice]")).to_have_text("—")
    portal.screenshot("rebill-spend-chart")
    page.set_viewport_size(PHONE)
    no_horizontal_overflow(page)
    rows_chart = charts.locator("visible=true")
    expect(rows_chart).to_have_attribute("aria-labelledby", "spend-title-rows")
    expect(rows_chart.locator(f"g.spend-bar[data-period='{period}'] text.spend-amount")).to_have_text(
        dollars(invoice["total"]).removesuffix(".00")
    )
    expect(rows_chart.locator("g.spend-bar.projected text.spend-amount")).to_contain_text("projected")
    page.locator("[data-region=spend]").screenshot(path=str(SCREENSHOTS / "rebill-spend-chart-phone.png"))
    portal.screenshot("rebill-billing-phone")
    page.set_viewport_size(LAPTOP)

    # When the month's invoice link is followed, Invoices marks that invoice's row
    link = last_month.get_by_role("link", name=f"Invoice {invoice['number']}")
    assert parse_qs(urlparse(link.get_attribute("href") or "").fragment.split("?", 1)[1]) == {
        "invoice": [invoice["id"]]
    }
    link.click()
    expect(page.get_by_role("heading", level=1, name="Invoices")).to_be_visible()
    expect(page.locator(f"tr[data-invoice='{invoice['id']}']")).to_have_attribute("aria-current", "true")
