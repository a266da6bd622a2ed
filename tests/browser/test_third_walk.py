"""What a third walk through the portal found (issue 27, "From the walk", items 1 to 14), each as it should be now,
at 1280 and 390 px: errors that clear on success, voided months that are not spend, labels checked before sending,
internationalised and over-long URLs, validation in the portal's words, a search limit, long labels that wrap,
operators on their console, month-end counts that agree with the dry run and name who started the run, an
uncollectible invoice read as such, confirmations in the portal's own dialog, a folded By site table, plain wording
and accessible names that begin with the visible text."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Portal
from tests.browser.steps import confirm, expand, revoke_everything, row
from tests.browser.test_billing_and_invoices import start_of_next_month, wait_for
from tests.browser.test_second_walk import in_viewport
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

WIDTHS = [1280, 390]


def tab_of(portal: Portal, phone: Portal, width: int) -> Portal:
    return portal if width == 1280 else phone


def go(tab: Portal, route: str, heading: str) -> None:
    """Open ``route`` (reading it afresh when it is the page already shown) and wait for its heading."""
    url = f"{tab.stack.api_url}/#/{route}"
    if tab.page.url == url:
        tab.page.reload()
    else:
        tab.page.goto(url)
    expect(tab.page.get_by_role("heading", level=1, name=heading, exact=True)).to_be_visible()
    tab.settled()


def with_card(tab: Portal) -> None:
    """The signed-in partner saves a Visa (through the API: a phone's sidebar is behind its Menu)."""
    assert tab.api().post("/v1/payment-methods", json={"payment_method_id": "pm_card_visa"}).status_code == 201


def issued(tab: Portal, product: str = "jetpack-scan", **order: Any) -> list[str]:
    reply = tab.api().post("/v1/licenses", json={"product": product, **order})
    assert reply.status_code == 201, reply.text
    return [item["license_key"] for item in reply.json()["items"]]


def invoiced_month(tab: Portal) -> tuple[str, dict[str, Any]]:
    """A Backup license from the 2nd of next month, invoiced at month end (Stripe's attempt not yet run)."""
    stack = tab.stack
    period, following = start_of_next_month(stack)
    issued(tab, "jetpack-backup")
    stack.set_clock(f"{following}-01T00:30:00Z")
    assert stack.invoice_run(period)["complete"]
    return period, next(i for i in tab.api().get("/v1/invoices").json()["items"] if i["period"] == period)


def ops(stack: LocalStack) -> Any:
    return stack.client(f"ops-{uuid.uuid4().hex[:6]}", groups=["operators"])


# 1 -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_1_a_refused_issue_then_a_good_one_clears_the_errors_and_shows_the_success(
    portal: Portal, phone: Portal, width: int
) -> None:
    tab = tab_of(portal, phone, width)
    page = tab.page
    tab.sign_in()
    with_card(tab)
    go(tab, "issue", "Issue New License")
    # Given a 422 (a bad tag) on Issue New License
    page.get_by_label("Tags (optional)").fill("fine, not*fine")
    page.get_by_role("button", name="Issue licenses").click()
    expect(page.locator(".form-errors")).to_be_visible()
    expect(page.locator("[aria-invalid=true]")).to_have_count(1)
    # When the partner corrects it and issues
    page.get_by_label("Tags (optional)").fill("fine")
    page.get_by_role("button", name="Issue licenses").click()
    success = page.get_by_text("Issued 1 license.")
    expect(success).to_be_visible()
    # Then the old error box and field error are gone, and the success is on screen and focused
    expect(page.locator(".form-errors")).to_be_hidden()
    expect(page.locator(".field-error:visible")).to_have_count(0)
    expect(page.locator("[aria-invalid=true]")).to_have_count(0)
    expect(page.locator(".result .alert-success")).to_be_focused()
    expect(page.locator(".result .alert-success")).to_be_in_viewport()
    tab.screenshot(f"walk3-1-issued-{width}", full_page=False)


# 2 -----------------------------------------------------------------------------------------------------------


def test_2_a_voided_month_is_not_spend(portal: Portal, phone: Portal) -> None:
    stack = portal.stack
    portal.sign_in()
    with_card(portal)
    period, invoice = invoiced_month(portal)
    # Given the month's invoice voided by an operator
    assert ops(stack).post(f"/v1/invoices/{invoice['id']}/void").status_code == 200
    for tab in (portal, phone):
        if tab is phone:
            phone.sign_in(portal.partner_id)
        go(tab, f"billing?period={period}", "Billing")
        page = tab.page
        # Then Billing says the month was voided, not "Invoiced ... $x"
        expect(page.locator("[data-stat=invoiced]")).to_have_text("Void")
        expect(page.locator("[data-stat=invoice]")).to_contain_text("Void: the month's")
        expect(page.locator("[data-stat=invoice]")).to_contain_text("not counted as spend")
        # And the spend chart draws no bar for it and says it is not counted; the table too
        page.locator("[data-region=spend] table").wait_for()
        bars = page.locator(f".spend-svg:visible g[data-period='{period}']")
        expect(bars).to_have_attribute("data-status", "void")
        assert bars.locator("rect").evaluate("r => r.getBBox().width * r.getBBox().height") == 0
        expect(bars.locator("title")).to_contain_text("voided, not counted")
        expect(page.locator(f".spend-table tr[data-period='{period}']")).to_contain_text("Void: not owed, not counted")
        no_horizontal_overflow(page)
        tab.screenshot(f"walk3-2-void-{tab.page.viewport_size['width']}")


# 3 and 5 -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_3_bulk_labels_are_checked_once_before_anything_is_sent(portal: Portal, phone: Portal, width: int) -> None:
    tab = tab_of(portal, phone, width)
    page = tab.page
    tab.sign_in()
    with_card(tab)
    issued(tab, quantity=3)
    go(tab, "licenses", "Licenses")
    patches: list[str] = []
    page.on("request", lambda request: patches.append(request.url) if request.method == "PATCH" else None)
    page.get_by_label("Select all shown").check()
    # When one of the tags is bad
    page.get_by_label("Tags", exact=True).fill("good, bad!")
    page.get_by_role("button", name="Label selected").click()
    # Then nothing is sent, the tag is named under Tags, and no retry is offered
    expect(page.locator("[data-region=bulk] .form-errors")).to_contain_text("Check Tags")
    expect(page.locator("[data-region=bulk] .field-error:visible")).to_contain_text("tag 2 (bad!)")
    expect(page.get_by_role("button", name=re.compile("Retry"))).to_have_count(0)
    assert patches == []
    # And once corrected, every license is labelled
    page.get_by_label("Tags", exact=True).fill("good")
    page.get_by_role("button", name="Label selected").click()
    expect(page.get_by_text("Labelled 3 licenses.")).to_be_visible()
    assert len(patches) == 3


@pytest.mark.parametrize("width", WIDTHS)
def test_5_every_bad_field_is_named_in_the_portals_words(portal: Portal, phone: Portal, width: int) -> None:
    tab = tab_of(portal, phone, width)
    page = tab.page
    tab.sign_in()
    with_card(tab)
    (key,) = issued(tab)
    go(tab, "licenses", "Licenses")
    item = expand(tab, key)
    # When two of three tags are bad in a license's details (sent to the API, which says why for each)
    item.locator("details.labels-editor summary").click()
    item.get_by_role("textbox", name="Tags").fill("ok, bad!, " + "x" * 41)
    item.get_by_role("button", name="Save labels").click()
    # Then both are named under Tags, in the portal's words, and the message on top names the field
    error = item.locator(".label-form .field-error:visible")
    expect(error).to_contain_text("tag 2: use letters, digits")
    expect(error).to_contain_text("tag 3: too long: at most 40 characters")
    expect(item.locator(".label-form .form-errors")).to_have_text("Check Tags: it says what is wrong.")
    expect(page.get_by_text("String should")).to_have_count(0)
    # And Site owner says its limit and takes no more
    item.get_by_role("button", name="Assign to a site").click()
    owner = item.get_by_label("Site owner (optional)")
    expect(owner).to_have_attribute("maxlength", "200")
    expect(item.get_by_text("Who owns the site: an email or a name, up to 200 characters")).to_be_visible()
    tab.screenshot(f"walk3-5-words-{width}", full_page=False)


# 4 and 13 (a transfer's toast) -------------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_4_an_internationalised_url_is_sent_in_its_ascii_form_and_a_long_one_is_too_long(
    portal: Portal, phone: Portal, width: int
) -> None:
    tab = tab_of(portal, phone, width)
    page = tab.page
    tab.sign_in()
    with_card(tab)
    (key,) = issued(tab)
    go(tab, "licenses", "Licenses")
    item = expand(tab, key)
    item.get_by_role("button", name="Assign to a site").click()
    item.get_by_label("Site ID").fill("4001")
    # An address longer than the API takes is said to be too long, before anything is sent
    item.get_by_label("Site URL").fill("https://long.example/" + "p" * 2040)
    item.get_by_role("button", name="Assign", exact=True).click()
    expect(item.locator(".field-error:visible")).to_contain_text("too long: at most 2048 characters")
    # When the partner types a German address, it is assigned in its ASCII form (IDNA: "bäckerei" is
    # "xn--bckerei-5wa"), as the API stores and answers it
    item.get_by_label("Site URL").fill("https://b\u00e4ckerei.example")
    item.get_by_role("button", name="Assign", exact=True).click()
    expect(page.locator("#toast")).to_contain_text("Jetpack Scan assigned to https://xn--bckerei-5wa.example")
    expect(row(tab, key).locator(".row-site")).to_contain_text("https://xn--bckerei-5wa.example")
    assert tab.api().get(f"/v1/licenses/{key}").json()["site"]["site_url"] == "https://xn--bckerei-5wa.example"
    # 13: and a transfer says it was transferred, not assigned
    item = expand(tab, key)
    item.get_by_role("button", name="Transfer to another site").click()
    item.get_by_label("Site ID").fill("4002")
    item.get_by_label("Site URL").fill("https://florist.example")
    item.get_by_role("button", name="Transfer", exact=True).click()
    expect(page.locator("#toast")).to_contain_text("Jetpack Scan transferred to https://florist.example")


# 6 -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_6_a_search_is_limited_to_200_characters_and_says_so(portal: Portal, phone: Portal, width: int) -> None:
    tab = tab_of(portal, phone, width)
    page = tab.page
    tab.sign_in()
    search = page.get_by_label("Search licenses")
    expect(search).to_have_attribute("maxlength", "200")
    expect(page.get_by_text("Up to 200 characters")).to_be_visible()
    # An address asking for a longer search opens the page (not "could not be loaded") and says it was cut
    page.goto(f"{tab.stack.api_url}/#/licenses?search={'a' * 250}")
    expect(page.locator("[data-field=search-cut]")).to_contain_text("cut to the first 200")
    expect(page.locator(".load-error")).to_have_count(0)
    expect(search).to_have_value("a" * 200)


# 7 -----------------------------------------------------------------------------------------------------------


def test_7_a_long_label_and_a_long_toast_stay_inside_the_page(portal: Portal, phone: Portal) -> None:
    portal.sign_in()
    with_card(portal)
    (key,) = issued(portal, client="C" * 100, tags=["t" * 40])
    phone.sign_in(portal.partner_id)
    for tab in (portal, phone):
        go(tab, "licenses", "Licenses")
        expect(row(tab, key).locator("[data-fact=row-client]")).to_be_visible()
        no_horizontal_overflow(tab.page)
        # A toast carrying a long unbroken address stays inside the window
        item = expand(tab, key)
        item.get_by_role("button", name=re.compile("Assign to a site|Transfer to another site")).click()
        item.get_by_label("Site ID").fill(f"7{tab.page.viewport_size['width']}")
        item.get_by_label("Site URL").fill("https://" + "w" * 150 + ".example")
        item.get_by_role("button", name=re.compile(r"^(Assign|Transfer)$")).click()
        toast = tab.page.locator("#toast.visible")
        expect(toast).to_contain_text("w" * 20)
        box = toast.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= tab.page.viewport_size["width"]
        assert toast.evaluate("e => e.scrollWidth <= e.clientWidth"), "the toast's text overflows it"
        no_horizontal_overflow(tab.page)
        tab.screenshot(f"walk3-7-long-{tab.page.viewport_size['width']}", full_page=False)


# 8 -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_8_an_operator_lands_on_the_console(portal: Portal, phone: Portal, width: int) -> None:
    tab = tab_of(portal, phone, width)
    tab.sign_in(f"ops-{uuid.uuid4().hex[:6]}", operator=True)  # waits for the Partners heading
    expect(tab.page).to_have_url(re.compile(r"#/operator/partners$"))
    expect(tab.page.locator("[data-banner]")).to_have_count(0)  # no partner's "No payment method" banner
    expect(tab.page.get_by_role("heading", level=1, name="Licenses")).to_have_count(0)


# 9 and 11 (Start run) ----------------------------------------------------------------------------------------


def test_9_month_end_counts_agree_with_the_dry_run_and_name_who_started_it(portal: Portal, phone: Portal) -> None:
    stack = portal.stack
    period, following = start_of_next_month(stack)
    partner = f"agency-{uuid.uuid4().hex[:10]}"
    api = stack.client(partner)
    assert api.post("/v1/payment-methods", json={"payment_method_id": "pm_card_visa"}).status_code == 201
    assert api.post("/v1/licenses", json={"product": "jetpack-scan"}).status_code == 201
    stack.set_clock(f"{following}-01T00:30:00Z")
    # Given the month run by the local stack's control (what `make invoice` calls), and then a new partner whose
    # first license is issued after the month ended
    assert stack.invoice_run(period)["complete"]
    late_partner = f"agency-{uuid.uuid4().hex[:10]}"
    late = stack.client(late_partner)
    assert late.post("/v1/payment-methods", json={"payment_method_id": "pm_card_visa"}).status_code == 201
    assert late.post("/v1/licenses", json={"product": "jetpack-scan"}).status_code == 201

    # The dry run as the API computes it, every page (the portal fetches the same pages, two partners at a time)
    operator = ops(stack)
    pages = [operator.get(f"/v1/operator/invoice-runs/{period}/preview", params={"limit": 500}).json()]
    while pages[-1]["next_cursor"]:
        params = {"limit": 500, "cursor": pages[-1]["next_cursor"]}
        pages.append(operator.get(f"/v1/operator/invoice-runs/{period}/preview", params=params).json())
    states = {p["partner_id"]: p["state"] for page in pages for p in page["partners"]}
    assert states[partner] == "already_invoiced" and late_partner not in states

    for tab in (portal, phone):
        tab.sign_in(f"ops-{uuid.uuid4().hex[:6]}", operator=True)
        page = tab.page
        page.goto(f"{stack.api_url}/#/operator/month-end?period={period}")  # (its dry run goes on filling in)
        expect(page.get_by_role("heading", level=1, name="Month-end")).to_be_visible()
        # Then the run names what started it
        expect(page.locator("[data-field=started]")).to_contain_text("by the local stack's invoice-run control")
        # And its counts are the dry run's: every partner in both, nothing pending
        counted = list(states.values())
        expect(page.locator("[data-stat=planned]")).to_have_text(str(len(counted)))
        expect(page.locator("[data-stat=invoiced]")).to_have_text(str(counted.count("already_invoiced")))
        expect(page.locator("[data-stat=nothing-to-bill]")).to_have_text(str(counted.count("nothing_to_bill")))
        expect(page.locator("[data-stat=pending]")).to_have_text(str(counted.count("would_invoice")))
        assert counted.count("would_invoice") == 0, states
        tab.screenshot(f"walk3-9-month-end-{tab.page.viewport_size['width']}", full_page=False)

    for made in (partner, late_partner):  # (as leave_nothing_billable does for the signed-in partners)
        revoke_everything(stack, made)

    # 11: the month under way offers no Start run; it says the month has not ended
    go(portal, f"operator/month-end?period={following}", "Month-end")
    expect(portal.page.get_by_role("button", name=re.compile(r"^Start"))).to_have_count(0)
    expect(portal.page.locator("[data-field=not-ended]")).to_contain_text("has not ended")


# 10 and 14 ---------------------------------------------------------------------------------------------------


def test_10_an_uncollectible_invoice_reads_uncollectible_and_pay_now_is_named_by_its_words(
    portal: Portal, phone: Portal
) -> None:
    stack = portal.stack
    portal.sign_in()
    with_card(portal)
    _, invoice = invoiced_month(portal)
    assert ops(stack).post(f"/v1/invoices/{invoice['id']}/mark-uncollectible").status_code == 200
    wait_for(lambda: portal.api().get(f"/v1/invoices/{invoice['id']}").json()["status"] == "uncollectible")
    phone.sign_in(portal.partner_id)
    for tab in (portal, phone):
        go(tab, "invoices?status=uncollectible", "Invoices")
        listed = tab.page.locator(f"tr[data-invoice='{invoice['id']}']")
        expect(listed.locator(".badge")).to_have_text("Uncollectible")
        expect(listed.locator("[data-field=uncollectible]")).to_contain_text("still owed")
        # 14: Pay now's accessible name begins with what it shows
        pay = listed.get_by_role("button", name=re.compile(r"^Pay now"))
        expect(pay).to_have_text("Pay now")
        expect(pay).to_have_attribute("aria-label", f"Pay now: invoice {invoice['number']}")
        banner_pay = tab.page.locator("[data-banner=past-due] button")
        expect(banner_pay).to_have_attribute("aria-label", re.compile(rf"^{re.escape(banner_pay.inner_text())}"))
        # And the invoice's own page says it too
        listed.get_by_role("link", name=invoice["number"]).click()
        expect(tab.page.locator("[data-field=status] .badge")).to_have_text("Uncollectible")
        tab.screenshot(f"walk3-10-uncollectible-{tab.page.viewport_size['width']}", full_page=False)


# 11 ----------------------------------------------------------------------------------------------------------


def test_11_a_free_price_is_asked_about_and_cancelling_the_dialog_changes_nothing(portal: Portal) -> None:
    stack = portal.stack
    # A month well after the stack's clock (which the other tests only move forward from here)
    year, month = map(int, stack.now()[:7].split("-"))
    year, month = (year + 1, month - 7) if month > 7 else (year, month + 5)
    starting = f"{year:04d}-{month:02d}"
    page = portal.page
    portal.sign_in(f"ops-{uuid.uuid4().hex[:6]}", operator=True)
    go(portal, "operator/prices", "Manage Prices")
    page.get_by_label("Product").select_option("jetpack-anti-spam")
    page.get_by_label("Starting month").fill(starting)
    page.get_by_label("Daily price (cents)").fill("0")
    page.get_by_label("Monthly price (cents)").fill("0")
    # When the operator schedules $0/$0, the portal's dialog says the product becomes free; Escape cancels it
    page.get_by_role("button", name="Schedule change").click()
    dialog = page.get_by_role("dialog", name="Make Jetpack Akismet Anti-spam free?")
    named = datetime(year, month, 1, tzinfo=UTC).strftime("%B %Y")
    expect(dialog).to_contain_text(f"makes Jetpack Akismet Anti-spam free from {named}")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(page.locator(f"tr[data-product=jetpack-anti-spam] li[data-effective-from='{starting}-01']")).to_have_count(0)
    # And confirmed, it is scheduled (the API is told it is meant: confirm_free)
    page.get_by_role("button", name="Schedule change").click()
    confirm(page, "Make Jetpack Akismet Anti-spam free?", "Make it free")
    change = page.locator(f"tr[data-product=jetpack-anti-spam] li[data-effective-from='{starting}-01']")
    expect(change).to_contain_text("$0.00/day, $0.00/month")
    # (cancelled again, so the other tests' months keep their prices)
    change.get_by_role("button").click()
    confirm(page, "Cancel the Jetpack Akismet Anti-spam price change?", "Cancel the change")
    expect(change).to_have_count(0)


# 12 ----------------------------------------------------------------------------------------------------------


def test_12_the_by_site_table_folds_after_ten_sites(portal: Portal, phone: Portal) -> None:
    stack = portal.stack
    start_of_next_month(stack)
    portal.sign_in()
    with_card(portal)
    keys = issued(portal, quantity=12)
    api = portal.api()
    for n, key in enumerate(keys):
        site = {"site_id": f"12{n:02d}", "site_url": f"https://site-{n:02d}.example"}
        assert api.put(f"/v1/licenses/{key}/site", json=site).status_code == 200
    stack.advance("PT2H")
    phone.sign_in(portal.partner_id)
    for tab in (portal, phone):
        go(tab, "billing", "Billing")
        by_site = tab.page.locator("[data-groups=site]")
        rows = by_site.locator("tbody tr")
        expect(rows).to_have_count(12, timeout=30_000)
        expect(by_site.locator("tbody tr:visible")).to_have_count(10)
        unfold = by_site.locator("button[data-unfold=site]")
        expect(unfold).to_have_text("Show all 12 sites")
        expect(unfold).to_have_attribute("aria-expanded", "false")
        # The Total row adds up all twelve (one license-day each so far: 12)
        expect(by_site.locator("tfoot td[data-label=Licenses]")).to_have_text("12")
        height = by_site.evaluate("e => e.getBoundingClientRect().height")
        unfold.click()
        expect(by_site.locator("tbody tr:visible")).to_have_count(12)
        expect(unfold).to_have_attribute("aria-expanded", "true")
        assert by_site.evaluate("e => e.getBoundingClientRect().height") > height
        tab.screenshot(f"walk3-12-by-site-{tab.page.viewport_size['width']}")


# 13 ----------------------------------------------------------------------------------------------------------


def test_13_previews_and_the_operators_partner_page_read_in_plain_words(portal: Portal, phone: Portal) -> None:
    portal.sign_in()
    with_card(portal)
    go(portal, "issue", "Issue New License")
    portal.page.get_by_label("Quantity").fill("2")
    expect(portal.page.locator("[data-field=cost-preview]")).to_contain_text("a month for both)")
    expect(portal.page.locator("[data-field=cost-preview]")).not_to_contain_text("for all 2")
    issued(portal, "jetpack-backup")
    phone.sign_in(f"ops-{uuid.uuid4().hex[:6]}", operator=True)
    go(phone, f"operator/partners?id={portal.partner_id}", f"Partner {portal.partner_id}")
    counts = phone.page.locator("table.operator-counts tr[data-product=jetpack-backup] th")
    expect(counts).to_have_text("Jetpack VaultPress Backup")
    assert in_viewport(phone.page, "main h1")
