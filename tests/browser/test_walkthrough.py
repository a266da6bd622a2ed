"""What a page-by-page walk through the portal at 1280 px and 390 px asked for: consistent invoice figures, a closed
month that says what was invoiced, revoked licenses counted on Billing, a cost preview on Issue New License, readable
history and list totals, confirmations, loading and error states, toasts that cover nothing, and the favicon."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LAPTOP, PHONE
from tests.browser.steps import add_card, add_saved_card, expand, issue, month_end_with_stripes_attempt, row
from tests.browser.test_billing_and_invoices import dollars, start_of_next_month, wait_for

if TYPE_CHECKING:
    from tests.browser.conftest import Portal

pytestmark = pytest.mark.browser


def no_horizontal_overflow(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def price_of(portal: Portal, product: str) -> dict[str, Any]:
    return next(p for p in portal.api().get("/v1/prices").json()["items"] if p["product"] == product)


def test_a_closed_month_says_what_was_invoiced_and_a_paid_invoice_shows_consistent_figures(portal: Portal) -> None:
    stack = portal.stack
    period, following = start_of_next_month(stack)
    page = portal.page
    portal.sign_in()
    add_saved_card(portal)

    # Given two Scan licenses, one revoked an hour later
    _, second = issue(portal, "Jetpack Scan", 2)
    stack.advance("PT1H")
    assert portal.api().post(f"/v1/licenses/{second}/revoke").status_code == 200

    # Then its collapsed row says when it was revoked
    portal.navigate("Licenses")
    revoked_on = portal.api().get(f"/v1/licenses/{second}").json()["revoked_at"]
    expect(row(portal, second).locator("[data-fact=row-revoked] time")).to_have_attribute(
        "datetime", revoked_on.replace("Z", ".000Z")
    )

    # And this month's Billing counts the revoked one, so the columns add up to the total
    portal.navigate("Billing")
    scan = page.locator("tr[data-product=jetpack-scan]")
    expect(scan.locator("td[data-label=Assigned]")).to_have_text("0")
    expect(scan.locator("td[data-label=Unassigned]")).to_have_text("1")
    expect(scan.locator("td[data-label=Revoked]")).to_have_text("1")
    expect(scan.locator("td[data-label=Total]")).to_have_text("2")
    expect(page.locator("tr[data-product=totals] td[data-label=Revoked]")).to_have_text("1")
    expect(page.get_by_text("Estimate to date")).to_be_visible()
    expect(page.locator(".stat-note").first).to_contain_text("0 assigned · 1 unassigned · 1 revoked")
    portal.screenshot("walk-billing-revoked-column")

    # When the month is over, invoiced and paid by Stripe's attempt an hour later
    month_end_with_stripes_attempt(portal, period, following)
    wait_for(lambda: [i["status"] for i in portal.api().get("/v1/invoices").json()["items"]] == ["paid"])
    (invoice,) = portal.api().get("/v1/invoices").json()["items"]

    # Then Billing for that month says what was invoiced (no estimate, no projection) and links the invoice
    portal.open(f"billing?period={period}")
    expect(page.get_by_role("heading", level=1, name="Billing")).to_be_visible()
    portal.settled()
    expect(page.get_by_text("Invoiced for the month")).to_be_visible()
    expect(page.locator("[data-stat=invoiced]")).to_have_text(dollars(invoice["total"]))
    expect(page.locator("main")).not_to_contain_text("Estimate to date")
    expect(page.locator("main")).not_to_contain_text("Projected")
    expect(page.locator("table.billing caption")).to_contain_text("closed")
    expect(page.locator("tr[data-product=totals] td[data-label=Invoiced]")).to_have_text(dollars(invoice["total"]))
    link = page.locator("[data-stat=invoice]").get_by_role("link", name=f"Invoice {invoice['number']}")
    expect(page.locator("[data-stat=invoice]")).to_contain_text("Paid")
    portal.screenshot("walk-billing-closed-month")
    page.set_viewport_size(PHONE)
    no_horizontal_overflow(page)
    portal.screenshot("walk-billing-closed-month-phone")
    page.set_viewport_size(LAPTOP)

    # When its invoice link is followed, Invoices marks that invoice
    link.click()
    expect(page.get_by_role("heading", level=1, name="Invoices")).to_be_visible()
    marked = page.locator(f"tr[data-invoice='{invoice['id']}']")
    expect(marked).to_have_attribute("aria-current", "true")

    # And the paid invoice's figures agree: nothing called due, paid and due dates, all of it paid, nothing left
    expect(page.locator("main")).not_to_contain_text("Amount due")
    expect(marked.locator("[data-field=paid-at]")).not_to_have_text("—")
    expect(marked.locator("td[data-label='Due date']")).not_to_have_text("—")
    expect(marked.locator("td[data-label=Total]")).to_have_text(dollars(invoice["total"]))
    expect(marked.locator("[data-field=amount-paid]")).to_have_text(dollars(invoice["total"]))
    expect(marked.locator("[data-field=amount-remaining]")).to_have_text("$0.00")
    expect(marked.get_by_role("button", name="Pay now")).to_have_count(0)
    portal.screenshot("walk-invoice-paid")
    page.set_viewport_size(PHONE)
    expect(marked.locator("[data-field=paid-at]")).to_be_visible()
    no_horizontal_overflow(page)
    portal.screenshot("walk-invoice-paid-phone")


def test_issue_new_license_previews_the_cost_and_the_product_select_fits(portal: Portal) -> None:
    page = portal.page
    portal.sign_in()
    add_saved_card(portal)
    scan = price_of(portal, "jetpack-scan")
    backup = price_of(portal, "jetpack-backup")

    # When they choose three Scan licenses, the preview gives the daily price times three and the monthly cap
    portal.navigate("Issue New License")
    product = page.get_by_label("Product")
    product.select_option("jetpack-scan")
    page.get_by_label("Quantity").fill("3")
    preview = page.locator("[data-field=cost-preview]")
    expect(preview).to_contain_text(f"3 × {dollars(scan['daily_price'])}/day = {dollars(3 * scan['daily_price'])}/day")
    expect(preview).to_contain_text(
        f"Each license costs at most {dollars(scan['monthly_price'])} in a month"
        f" (at most {dollars(3 * scan['monthly_price'])} a month for all 3)"
    )
    # And one of another product
    product.select_option("jetpack-backup")
    page.get_by_label("Quantity").fill("1")
    expect(preview).to_contain_text(f"1 × {dollars(backup['daily_price'])}/day = {dollars(backup['daily_price'])}/day")
    expect(preview).to_contain_text(f"Each license costs at most {dollars(backup['monthly_price'])} in a month.")
    portal.screenshot("walk-issue-preview")

    # Then the product select shows the longest product name whole, at 1280 px and at 390 px
    for size, name in ((LAPTOP, "walk-issue-select"), (PHONE, "walk-issue-select-phone")):
        page.set_viewport_size(size)
        fits = page.evaluate(
            """() => {
              const select = document.querySelector("select[name=product]");
              const form = select.closest("form").getBoundingClientRect();
              const box = select.getBoundingClientRect();
              const probe = document.createElement("span");
              probe.style.font = getComputedStyle(select).font;
              probe.style.whiteSpace = "nowrap";
              probe.textContent = select.options[select.selectedIndex].text;
              document.body.append(probe);
              const text = probe.getBoundingClientRect().width;
              probe.remove();
              return { inside: box.left >= form.left && box.right <= form.right, room: box.width - text };
            }"""
        )
        assert fits["inside"], f"the select leaves its form at {size}"
        assert fits["room"] > 30, f"the product name does not fit the select at {size}: {fits}"
        no_horizontal_overflow(page)
        portal.screenshot(name)


def test_history_names_people_rows_show_site_and_the_list_counts_its_total(portal: Portal, phone: Portal) -> None:
    page = portal.page
    partner = portal.sign_in()
    add_saved_card(portal)

    # Given 27 licenses, one of them assigned through the portal
    keys = issue(portal, "Jetpack Boost", 27)
    assigned = keys[0]
    put = portal.api().put(
        f"/v1/licenses/{assigned}/site", json={"site_id": "site-991", "site_url": "https://bakery.example"}
    )
    assert put.status_code == 200, put.text
    assigned_on = portal.api().get(f"/v1/licenses/{assigned}").json()["assigned_at"]

    # Then the list says how many of the tab's total it shows, and Load more brings the rest
    portal.navigate("Licenses")
    status = page.locator(".list-status")
    expect(status).to_have_text("25 of 27 licenses")
    page.get_by_role("button", name="Load more").click()
    expect(status).to_have_text("27 of 27 licenses")
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    page.get_by_role("tab", name=re.compile(r"^Assigned\s+1")).click()
    expect(status).to_have_text("1 of 1 license")

    # And the collapsed row shows the site id and the date it was assigned
    item = row(portal, assigned)
    expect(item.locator("[data-fact=row-site-id]")).to_have_text("Site ID site-991")
    expected_day = page.evaluate(
        "(at) => new Intl.DateTimeFormat('en-US', {year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC'})"
        ".format(new Date(at))",
        assigned_on,
    )
    expect(item.locator("[data-fact=row-assigned]")).to_have_text(f"Assigned {expected_day}")

    # And the history says "You" for the signed-in user, not a user id
    item = expand(portal, assigned)
    item.locator("details.history summary").click()
    entries = item.locator("details.history li")
    expect(entries).to_have_count(2)
    expect(entries.nth(0)).to_contain_text("Issued")
    expect(entries.nth(0)).to_contain_text("by You")
    expect(entries.nth(1)).to_contain_text("by You")
    expect(item.locator("details.history")).not_to_contain_text("user:")
    portal.screenshot("walk-license-history")
    # Other actors are named by their kind
    names = page.evaluate(
        """async () => {
          const { actorName } = await import("/js/pages/licenses.js");
          return [actorName("user:me", "user:me"), actorName("user:someone-else", "user:me"),
                  actorName("operator:ops-1", "user:me"), actorName("system", "user:me"),
                  actorName("stripe", "user:me")];
        }"""
    )
    assert names == ["You", "Another user of your account", "Operator", "Stripe/system", "Stripe/system"]

    # On a phone the tab row is cut off, and says so until it is scrolled to its end
    phone.sign_in(partner)
    tabs = phone.page.locator(".scroll-cue")
    expect(tabs).to_have_attribute("data-clipped", "end")
    expect(tabs.locator(".scroll-cue-arrow")).to_be_visible()
    phone.screenshot("walk-phone-tabs-clipped", full_page=False)
    phone.page.locator(".tabs").evaluate("(el) => { el.scrollLeft = el.scrollWidth; }")
    expect(tabs).to_have_attribute("data-clipped", "")
    expect(tabs.locator(".scroll-cue-arrow")).to_be_hidden()
    no_horizontal_overflow(phone.page)


def test_unassigning_and_deleting_a_card_ask_first_and_the_mastercard_mark_reads_whole(portal: Portal) -> None:
    page = portal.page
    portal.sign_in()
    add_card(portal, "pm_card_visa")
    # (the save finished and its list is shown before the next card: two saves never race)
    expect(page.locator(".payment-card")).to_have_count(1)
    add_card(portal, "pm_card_mastercard")
    expect(page.locator(".payment-card")).to_have_count(2)

    # The Mastercard's mark says its name, whole
    mark = page.locator(".payment-card", has_text="Mastercard ending in 4444").locator(".brand-mark")
    expect(mark).to_have_text("Mastercard")
    assert mark.evaluate("(el) => el.scrollWidth <= el.clientWidth"), "the mark's text is cut"
    expect(page.locator(".payment-card", has_text="Visa ending in 4242").locator(".brand-mark")).to_have_text("VISA")
    portal.screenshot("walk-card-marks")

    # When the primary card's Delete is chosen, a dialog asks first; Cancel keeps it and returns focus
    mastercard = page.locator(".payment-card", has_text="Mastercard ending in 4444")
    menu = mastercard.get_by_role("button", name="Actions for Mastercard ending in 4444")
    menu.click()
    mastercard.get_by_role("menuitem", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete Mastercard ending in 4444?")
    # (the only other card: it becomes primary, and the dialog names it)
    expect(dialog).to_contain_text("It is your primary card: Visa ending in 4242")
    expect(dialog).to_contain_text("becomes primary and pays future invoices")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    portal.screenshot("walk-delete-card-confirm", full_page=False)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(menu).to_be_focused()
    assert len(portal.api().get("/v1/payment-methods").json()["items"]) == 2

    # When Unassign License is pressed, a dialog asks first; Cancel keeps the site
    (key,) = issue(portal, "Jetpack Boost", 1)
    assert (
        portal.api()
        .put(f"/v1/licenses/{key}/site", json={"site_id": "site-5", "site_url": "https://five.example"})
        .status_code
        == 200
    )
    portal.navigate("Licenses")
    item = expand(portal, key)
    item.get_by_role("button", name="Unassign License").click()
    dialog = page.get_by_role("dialog", name="Unassign this license?")
    expect(dialog).to_contain_text("stops working on https://five.example (site ID site-5)")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    portal.screenshot("walk-unassign-confirm", full_page=False)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert portal.api().get(f"/v1/licenses/{key}").json()["status"] == "assigned"


def test_loading_errors_retry_sidebar_reload_toasts_and_favicon(portal: Portal, phone: Portal) -> None:
    page = portal.page
    not_found: list[str] = []
    page.on("response", lambda response: not_found.append(response.url) if response.status == 404 else None)
    portal.sign_in()
    portal.settled()

    # The favicon is linked and served
    assert page.locator("link[rel=icon]").get_attribute("href") == "favicon.ico"
    icon = portal.stack.anonymous.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/")
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file's header
    assert not [url for url in not_found if "favicon" in url]

    # While a page loads: a skeleton and aria-busy, not a bare "Loading…"
    release: list[Any] = []
    page.route("**/v1/billing*", lambda route: release.append(route))  # noqa: PLW0108 - Playwright needs a function
    page.get_by_role("navigation", name="Licensing").get_by_role("link", name="Billing").click()
    expect(page.locator("main")).to_have_attribute("aria-busy", "true")
    expect(page.locator("main .skeleton")).to_be_visible()
    expect(page.locator("main p.loading")).to_have_count(0)
    portal.screenshot("walk-loading-skeleton", full_page=False)
    while not release:  # the held request reaches the handler while Playwright is being called
        page.wait_for_timeout(50)
    release[0].continue_()
    page.unroute("**/v1/billing*")
    expect(page.get_by_role("heading", level=1, name="Billing")).to_be_visible()
    expect(page.locator("main")).to_have_attribute("aria-busy", "false")

    # When the server fails, the page says so clearly and offers Retry, which loads it once the server is back
    page.route(
        "**/v1/billing*",
        lambda route: route.fulfill(
            status=500, content_type="application/json", body='{"message": "Internal Server Error"}'
        ),
    )
    page.reload()
    failure = page.locator("main .load-error")
    expect(failure).to_contain_text("This page could not be loaded: the server had a problem (500)")
    retry = failure.get_by_role("button", name="Retry")
    expect(retry).to_be_visible()
    portal.screenshot("walk-server-error")
    page.unroute("**/v1/billing*")
    retry.click()
    expect(page.locator("main .load-error")).to_have_count(0)
    expect(page.locator("[data-stat=cost-to-date]")).to_be_visible()

    # Clicking the current page's sidebar link reloads it: a license issued meanwhile shows up
    portal.navigate("Licenses")
    expect(page.get_by_role("tab", name=re.compile(r"^All\s+0"))).to_be_visible()
    add_saved_card(portal)
    portal.navigate("Licenses")
    assert portal.api().post("/v1/licenses", json={"product": "jetpack-boost", "quantity": 1}).status_code == 201
    portal.navigate("Licenses")
    expect(page.get_by_role("tab", name=re.compile(r"^All\s+1"))).to_be_visible()

    # A toast covers none of the page's controls at 1280 px (it sits at the foot of the sidebar)
    (key,) = [li.get_attribute("data-key") for li in page.locator("li.license").all()]
    item = expand(portal, str(key))
    item.get_by_role("button", name="Copy").click()
    toast = page.locator("#toast")
    expect(toast).to_be_visible()
    box = toast.bounding_box()
    assert box is not None
    controls = page.locator(
        "main button:visible, main a:visible, main input:visible, main select:visible, "
        "#banners a:visible, #banners button:visible, nav a:visible, header button:visible"
    )
    covered = [
        control.inner_text() or control.get_attribute("name")
        for control in controls.all()
        if (other := control.bounding_box()) is not None and overlaps(box, other)
    ]
    assert covered == [], f"the toast covers {covered}"
    portal.screenshot("walk-toast", full_page=False)

    # At 390 px, with the page scrolled: the toast is a bar along the bottom of the screen; the control just used and
    # the top bar stay clear of it, and the page has room below its end, so its last control can be scrolled clear
    phone.sign_in(portal.partner_id)
    ppage = phone.page
    item = expand(phone, str(key))
    copy = item.get_by_role("button", name="Copy")
    copy.scroll_into_view_if_needed()
    # the page scrolled down until the Copy button is just under the top bar (where the old sticky toast landed)
    ppage.evaluate(
        "(el) => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 120)", copy.element_handle()
    )
    assert ppage.evaluate("window.scrollY") > 0, "the page did not scroll"
    copy.click()
    toast = ppage.locator("#toast")
    expect(toast).to_be_visible()
    bar = toast.bounding_box()
    assert bar is not None
    assert abs(bar["y"] + bar["height"] - PHONE["height"]) <= 1 and bar["width"] >= PHONE["width"] - 1, bar
    used = copy.bounding_box()
    assert used is not None and not overlaps(bar, used), f"the toast covers the Copy button: {bar} {used}"
    header = ppage.locator("header.topbar").bounding_box()
    assert header is not None and not overlaps(bar, header)
    room = ppage.evaluate("parseFloat(getComputedStyle(document.body).paddingBottom)")
    assert room >= bar["height"] - 1, f"the page has {room} px below its end for a {bar['height']} px toast"
    phone.screenshot("walk-toast-phone-scrolled", full_page=False)
    ppage.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    last = ppage.locator("main button:visible, main a:visible").last.bounding_box()
    assert last is not None and not overlaps(bar, last), f"the page's last control is under the toast: {last}"

    # And when the control used sits where the bar comes up (a shorter screen, Copy at its very foot), the page
    # scrolls it clear of the bar
    ppage.set_viewport_size({"width": PHONE["width"], "height": 480})
    ppage.evaluate(
        "(el) => window.scrollBy(0, el.getBoundingClientRect().bottom - innerHeight + 2)", copy.element_handle()
    )
    before = ppage.evaluate("window.scrollY")
    assert before > 0
    copy.click()
    expect(toast).to_be_visible()
    bar = toast.bounding_box()
    used = copy.bounding_box()
    assert bar is not None and used is not None
    assert abs(bar["y"] + bar["height"] - 480) <= 1, bar
    assert not overlaps(bar, used), f"the toast covers the Copy button just used: {bar} {used}"
    assert ppage.evaluate("window.scrollY") > before, "the page was not scrolled to clear the control"
    phone.screenshot("walk-toast-phone-short-screen", full_page=False)
