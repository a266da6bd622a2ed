"""What a second walk through the portal at 1280 px and 390 px asked for: pages that open at their top (heading, main
button and past-due banner in view), a skip link that is not a route, an invoice table that fits, a badge that keeps
its shape, an offer to make the card that paid the primary one, per-filter empty invoices, Issue New License that
says when it is unavailable, the Billing note on licenses revoked before they were active, focus after saving, the
tabs' focus ring, target sizes, the partner named on a phone, the card that becomes primary named, card titles
aligned, phone totals and test-card labels that fit."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from tests.browser.steps import add_card, add_saved_card, issue, month_end_with_stripes_attempt
from tests.browser.test_billing_and_invoices import start_of_next_month, wait_for
from tests.browser.test_walkthrough import no_horizontal_overflow

if TYPE_CHECKING:
    from tests.browser.conftest import Portal

pytestmark = pytest.mark.browser


def in_viewport(page: Any, selector: str) -> bool:
    """The element's box lies wholly inside the window (not scrolled off, not under the sticky top bar)."""
    return bool(
        page.evaluate(
            """(selector) => {
                const box = document.querySelector(selector).getBoundingClientRect();
                const bar = document.querySelector('.topbar').getBoundingClientRect().bottom;
                return box.top >= bar && box.bottom <= innerHeight && box.left >= 0 && box.right <= innerWidth;
            }""",
            selector,
        )
    )


def past_due(portal: Portal) -> dict[str, Any]:
    """A partner whose only card declines every charge, with last month's invoice past due; that invoice."""
    stack = portal.stack
    period, following = start_of_next_month(stack)
    portal.sign_in()
    add_card(portal, "pm_card_chargeCustomerFail")
    expect(portal.page.get_by_role("heading", level=1, name="Payment Methods")).to_be_visible()
    issue(portal, "Jetpack Boost", 1)
    month_end_with_stripes_attempt(portal, period, following)  # Stripe's automatic attempt, declined
    wait_for(lambda: portal.api().get("/v1/account").json()["past_due_invoices"])
    (invoice,) = portal.api().get("/v1/invoices").json()["items"]
    return dict(invoice)


def test_pages_open_at_their_top_and_issue_new_license_says_why_it_is_unavailable(
    portal: Portal, phone: Portal
) -> None:
    invoice = past_due(portal)
    phone.sign_in(portal.partner_id)
    for tab, width in ((portal, 1280), (phone, 390)):
        page = tab.page
        page.reload()
        tab.settled()
        for link in ("Licenses", "Billing", "Invoices", "Licenses"):
            # Coming from the foot of the page before
            page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
            if tab is phone:
                page.get_by_role("button", name="Menu").click()
            tab.navigate(link)
            # Then the page is at its top: banner, heading and main button in view; focus is on main
            assert page.evaluate("window.scrollY") == 0, f"{link} at {width} px opened scrolled down"
            assert in_viewport(page, "[data-banner=past-due]"), f"the banner is off screen on {link} at {width} px"
            assert in_viewport(page, "main h1"), f"the heading is off screen on {link} at {width} px"
            expect(page.locator("main")).to_be_focused()
            if link in ("Licenses", "Billing"):
                # And Issue New License is no main button while past due: it says why, and leads to the Issue page
                action = page.locator("main .page-header [data-issue]")
                expect(action).to_have_attribute("data-issue", "unavailable")
                expect(action).not_to_have_class(re.compile(r"button-primary"))
                expect(page.locator("main .page-header .issue-reason")).to_have_text(
                    "Paused until the past-due invoice is paid"
                )
                expect(action).to_have_attribute("aria-describedby", "issue-action-reason")
                assert in_viewport(page, "main .page-header [data-issue]")
            tab.screenshot(f"walk2-{link}-top-{width}", full_page=False)
    assert invoice["number"]

    # Without a card it says to add one first; with a working card it is the main button again
    fresh = portal.page
    fresh.get_by_role("button", name="Sign out").click()
    expect(fresh.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
    portal.sign_in()
    portal.navigate("Billing")
    expect(fresh.locator("main .page-header .issue-reason")).to_have_text("Add a payment method first")
    add_saved_card(portal)
    portal.navigate("Licenses")
    expect(fresh.locator("main .page-header [data-issue]")).to_have_attribute("data-issue", "available")
    expect(fresh.locator("main .page-header [data-issue]")).to_have_class(re.compile(r"button-primary"))


def test_skip_to_content_moves_focus_to_main_and_stays_on_the_page(portal: Portal) -> None:
    page = portal.page
    portal.sign_in()
    portal.navigate("Billing")
    # When, from the top of the page, the keyboard reaches Skip to content and presses Enter
    page.reload()  # (nothing focused, at the top of the page)
    expect(page.get_by_role("heading", level=1, name="Billing")).to_be_visible()
    portal.settled()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    # Then focus is on main, and the page (and its address) is still Billing
    expect(page.locator("main")).to_be_focused()
    portal.settled()
    assert page.evaluate("location.hash") == "#/billing"
    expect(page.get_by_role("heading", level=1, name="Billing")).to_be_visible()
    expect(page.get_by_role("heading", level=1, name="Licenses")).to_have_count(0)
    # And the next Tab goes on inside the page, not back to the sidebar
    page.keyboard.press("Tab")
    assert page.evaluate("document.querySelector('main').contains(document.activeElement)")
    portal.screenshot("walk2-after-skip", full_page=False)


def test_invoices_fit_the_screen_and_paying_with_another_card_offers_to_make_it_primary(
    portal: Portal, phone: Portal
) -> None:
    invoice = past_due(portal)
    page = portal.page
    portal.navigate("Invoices")
    row = page.locator(f"tr[data-invoice='{invoice['id']}']")

    # At 1280 px the table fits: Pay now is on screen without scrolling sideways, and dates keep to one line
    pay = row.get_by_role("button", name=f"Pay now: invoice {invoice['number']}")
    box = pay.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= 1280, f"Pay now is off screen: {box}"
    assert page.evaluate(
        "(() => { const w = document.querySelector('.table-wrap'); return w.scrollWidth <= w.clientWidth; })()"
    )
    no_horizontal_overflow(page)
    for cell in ("td[data-label='Due date']", "[data-field=next-attempt]"):
        lines = row.locator(cell).evaluate(
            """(el) => {
                const text = document.createRange();
                text.selectNodeContents(el);
                return Math.round(text.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight));
            }"""
        )
        assert lines == 1, f"{cell} wraps onto {lines} lines"
    expect(row.locator("[data-field=month]")).not_to_have_text("")
    portal.screenshot("walk2-invoices-1280", full_page=False)

    # At 390 px the row stacks, nothing is wider than the phone, and the Past due badge keeps its shape
    phone.sign_in(portal.partner_id)
    phone.page.get_by_role("button", name="Menu").click()
    phone.navigate("Invoices")
    badge = phone.page.locator(f"tr[data-invoice='{invoice['id']}'] .badge-past-due")
    expect(badge).to_have_text("Past due")
    badge_box = badge.bounding_box()
    assert badge_box is not None and badge_box["height"] < 30, f"the badge is {badge_box} (stretched)"
    assert badge_box["width"] < 100
    no_horizontal_overflow(phone.page)
    phone_pay = phone.page.locator(f"tr[data-invoice='{invoice['id']}']").get_by_role(
        "button", name=re.compile("Pay now")
    )
    phone_box = phone_pay.bounding_box()
    assert phone_box is not None and phone_box["x"] + phone_box["width"] <= 390
    phone.screenshot("walk2-invoices-390", full_page=False)

    # When they add a working card (not primary) and pay the invoice with it
    add_card(portal, "pm_card_mastercard", primary=False)
    expect(page.get_by_role("heading", level=1, name="Payment Methods")).to_be_visible()
    portal.navigate("Invoices")
    row.get_by_role("button", name=f"Pay now: invoice {invoice['number']}").click()
    dialog = page.get_by_role("dialog", name=f"Pay invoice {invoice['number']}")
    dialog.get_by_label("Mastercard •••• 4444").check()
    dialog.get_by_role("button", name=re.compile(r"^Pay \$")).click()
    expect(dialog).to_have_count(0)

    # Then the success message offers to make that card the primary one (the failing card still is)
    toast = page.locator("#toast")
    expect(toast).to_contain_text(f"Invoice {invoice['number']} paid with Mastercard •••• 4444")
    offer = toast.get_by_role("button", name="Make Mastercard •••• 4444 your primary card")
    expect(offer).to_be_visible()
    primaries = [c["last4"] for c in portal.api().get("/v1/payment-methods").json()["items"] if c["primary"]]
    assert primaries == ["0341"]
    portal.screenshot("walk2-offer-primary", full_page=False)
    offer.click()
    expect(toast).to_contain_text("Mastercard •••• 4444 is now your primary card")
    primaries = [c["last4"] for c in portal.api().get("/v1/payment-methods").json()["items"] if c["primary"]]
    assert primaries == ["4444"]

    # And with the Open filter and none open, Invoices says so (not "No invoices yet") and offers them all
    portal.open("invoices?status=open")
    empty = page.locator("[data-field=no-invoices]")
    expect(empty).to_contain_text("No open invoices")
    expect(empty).not_to_contain_text("No invoices yet")
    portal.screenshot("walk2-no-open-invoices", full_page=False)
    empty.get_by_role("link", name="Show all invoices").click()
    expect(page.locator(f"tr[data-invoice='{invoice['id']}']")).to_have_attribute("data-status", "paid")
    expect(page.get_by_label("Status")).to_have_value("")


def test_billing_leaves_out_a_license_revoked_the_instant_it_was_issued_and_says_so(portal: Portal) -> None:
    stack = portal.stack
    start_of_next_month(stack)
    page = portal.page
    portal.sign_in()
    add_saved_card(portal)
    # Given two Scan licenses, one revoked at the instant it was issued (the clock stands still): no active time
    _, instant = issue(portal, "Jetpack Scan", 2)
    assert portal.api().post(f"/v1/licenses/{instant}/revoke").status_code == 200
    # Then Licenses counts both, one revoked
    portal.navigate("Licenses")
    expect(page.get_by_role("tab", name=re.compile(r"^All\s+2"))).to_be_visible()
    expect(page.get_by_role("tab", name=re.compile(r"^Revoked\s+1"))).to_be_visible()
    # And Billing counts only the one with active time, and says why the figures differ
    portal.navigate("Billing")
    expect(page.locator("tr[data-product=jetpack-scan] td[data-label=Total]")).to_have_text("1")
    expect(page.locator("tr[data-product=jetpack-scan] td[data-label=Revoked]")).to_have_text("0")
    expect(page.locator("[data-field=billing-note]")).to_contain_text(
        "Licenses revoked before they were active are not counted"
    )
    portal.screenshot("walk2-billing-revoked-at-once", full_page=False)


def test_focus_targets_and_the_phone_details(portal: Portal, phone: Portal) -> None:
    page = portal.page
    portal.sign_in()

    # Saving Company Details keeps focus (on the success message), not on the page's body
    portal.navigate("Company Details")
    values = {
        "Company name": "Walk LLC",
        "Contact first name": "Ann",
        "Contact last name": "Baker",
        "Company website": "https://walk.example",
        "Address": "1 Main Street",
        "City": "Springfield",
        "Country": "US",
        "ZIP / postal code": "12345",
    }
    for label, value in values.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Update Details").click()
    saved = page.locator(".alert-success")
    expect(saved).to_contain_text("Company details updated")
    expect(saved).to_be_focused()

    # Sign out is at least a 24 px target
    sign_out = page.get_by_role("button", name="Sign out").bounding_box()
    assert sign_out is not None and sign_out["height"] >= 24, sign_out

    # Card marks share one width, so the card titles line up
    add_saved_card(portal)
    portal.stack.advance("PT1M")  # (cards added at different times: the newest one is promoted)
    add_card(portal, "pm_card_amex", primary=False)
    expect(page.get_by_role("heading", level=1, name="Payment Methods")).to_be_visible()
    portal.stack.advance("PT1M")
    add_card(portal, "pm_card_mastercard", primary=False)
    expect(page.locator(".payment-card")).to_have_count(3)
    marks = [box["width"] for box in (m.bounding_box() for m in page.locator(".brand-mark").all()) if box]
    titles = [box["x"] for box in (t.bounding_box() for t in page.locator(".card-title").all()) if box]
    assert len(set(marks)) == 1 and len(titles) == 3 and max(titles) - min(titles) < 1, (marks, titles)
    portal.screenshot("walk2-cards-aligned", full_page=False)

    # Deleting the primary card names the card that becomes primary (the most recently added one)
    visa = page.locator(".payment-card", has_text="Visa ending in 4242")
    visa.get_by_role("button", name="Actions for Visa ending in 4242").click()
    page.get_by_role("menuitem", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete Visa ending in 4242?")
    expect(dialog.locator("[data-field=next-primary]")).to_contain_text("Mastercard ending in 4444")
    portal.screenshot("walk2-delete-primary", full_page=False)
    dialog.get_by_role("button", name="Delete card").click()
    expect(dialog).to_have_count(0)
    primaries = [c["last4"] for c in portal.api().get("/v1/payment-methods").json()["items"] if c["primary"]]
    assert primaries == ["4444"]

    # On a phone: the header names the partner; the tabs' focus ring is not clipped by their strip
    phone.sign_in(portal.partner_id)
    ppage = phone.page
    who = ppage.locator("#who-name")
    expect(who).to_be_visible()
    expect(who).to_have_text(f"Partner {portal.partner_id}")
    who_box = who.bounding_box()
    assert who_box is not None and who_box["x"] + who_box["width"] <= 390
    ppage.get_by_role("tab", name=re.compile(r"^All")).focus()
    ppage.keyboard.press("ArrowRight")
    focused = ppage.get_by_role("tab", name=re.compile(r"^Assigned"))
    expect(focused).to_be_focused()
    ring_inside = ppage.evaluate(
        """() => {
            const tab = document.activeElement, strip = tab.closest('.tabs');
            const style = getComputedStyle(tab);
            const reach = parseFloat(style.outlineWidth) + parseFloat(style.outlineOffset);
            const t = tab.getBoundingClientRect(), s = strip.getBoundingClientRect();
            return style.outlineStyle !== 'none' && t.top - reach >= s.top && t.left - reach >= s.left
                && t.right + reach <= s.right;
        }"""
    )
    assert ring_inside, "the focus ring reaches past the tab strip (clipped)"
    phone.screenshot("walk2-phone-header-and-tab-focus", full_page=False)

    # Billing's Total row reads as one block (no box around each of its cells)
    ppage.get_by_role("button", name="Menu").click()
    phone.navigate("Billing")
    borders = ppage.locator("tr[data-product=totals] td").evaluate_all(
        "(cells) => cells.map((c) => parseFloat(getComputedStyle(c).borderTopWidth))"
    )
    assert borders and set(borders) == {0.0}, borders

    # Every local test card's name fits the select on a phone
    ppage.get_by_role("button", name="Menu").click()
    phone.navigate("Payment Methods")
    ppage.get_by_role("link", name="New credit card").first.click()
    select = ppage.get_by_label("Card", exact=True)
    expect(select).to_be_visible()
    fits = select.evaluate(
        """(select) => {
            const style = getComputedStyle(select);
            const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 20;
            const ctx = document.createElement('canvas').getContext('2d');
            ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
            return [...select.options].filter((o) => ctx.measureText(o.text).width > room).map((o) => o.text);
        }"""
    )
    assert fits == [], f"cut off at 390 px: {fits}"
    phone.screenshot("walk2-test-cards-390", full_page=False)
