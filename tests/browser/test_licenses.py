"""Licensing in the browser: issue, assign, search, filter, unassign, revoke; refusals with their way out."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.browser.steps import add_card, add_saved_card, expand, issue, row

if TYPE_CHECKING:
    from tests.browser.conftest import Portal

pytestmark = pytest.mark.browser


def test_without_a_card_the_issue_form_is_disabled_with_the_reason_and_the_way_out(portal: Portal) -> None:
    # Given a partner with no payment method
    portal.sign_in()
    portal.navigate("Issue New License")

    # Then the form says why issuing would be refused, links the way out, and cannot be sent
    refused = portal.page.locator("[data-field=issue-refused]")
    expect(refused).to_contain_text("You cannot issue licenses right now")
    expect(refused).to_contain_text("no payment method")
    expect(refused.get_by_role("link", name="Add a payment method")).to_be_visible()
    expect(portal.page.get_by_role("button", name="Issue licenses")).to_be_disabled()
    expect(portal.page.get_by_label("Product")).to_be_disabled()
    expect(portal.page.get_by_label("Quantity")).to_be_disabled()
    portal.screenshot("issue-refused-no-card")

    # And the way out leads to adding a card
    refused.get_by_role("link", name="Add a payment method").click()
    expect(portal.page.get_by_role("heading", level=1, name="New credit card")).to_be_visible()
    assert portal.api().get("/v1/licenses/counts").json()["all"] == 0


def test_a_partner_adds_a_card_issues_assigns_searches_unassigns_and_revokes(portal: Portal) -> None:
    page = portal.page
    portal.sign_in()

    # Given a card on file (added through the portal: SetupIntent confirmed against the emulator)
    add_card(portal, "pm_card_visa")
    expect(page.get_by_role("heading", level=1, name="Payment Methods")).to_be_visible()
    expect(page.locator("[data-banner=no-payment-method]")).to_have_count(0)

    # When they issue three Jetpack Backup licenses
    keys = issue(portal, "Jetpack VaultPress Backup", 3)
    assert len(keys) == 3
    assert all(key.startswith("jetpack-backup_") for key in keys)
    portal.screenshot("issue-done")

    # Then Licensing lists them, unassigned
    portal.navigate("Licenses")
    expect(page.get_by_role("tab", name=re.compile(r"^All\s+3"))).to_be_visible()
    expect(page.get_by_role("tab", name=re.compile(r"^Unassigned\s+3"))).to_be_visible()
    first, second, third = keys

    # When the first is assigned to a site through its details
    item = expand(portal, first)
    item.get_by_role("button", name="Assign to a site").click()
    item.get_by_label("Site ID").fill("site-4242")
    item.get_by_label("Site URL").fill("https://bakery.example")
    item.get_by_label("Site owner (optional)").fill("Bea Baker")
    item.get_by_role("button", name="Assign", exact=True).click()

    # Then it shows as assigned, with site id, owner, View Site and Debug Site
    expect(row(portal, first)).to_have_attribute("data-status", "assigned")
    item = expand(portal, first)
    expect(item.locator("[data-fact=site-id]")).to_have_text("site-4242")
    expect(item.locator("[data-fact=site-owner]")).to_have_text("Bea Baker")
    expect(item.get_by_role("link", name="View Site")).to_have_attribute("href", "https://bakery.example")
    expect(item.get_by_role("link", name="Debug Site")).to_have_attribute("href", re.compile(r"bakery\.example"))
    expect(item.locator("code.license-code")).to_have_text(first)
    portal.screenshot("license-expanded")

    # When they filter on Assigned
    page.get_by_role("tab", name=re.compile("^Assigned")).click()
    expect(page.locator("li.license")).to_have_count(1)
    expect(row(portal, first)).to_be_visible()

    # When they search by the site URL and by a piece of a license code
    page.get_by_role("tab", name=re.compile("^All")).click()
    expect(page.locator("li.license")).to_have_count(3)
    page.get_by_label("Search licenses").fill("bakery")
    page.get_by_label("Search licenses").press("Enter")
    expect(page.locator("li.license")).to_have_count(1)
    expect(row(portal, first)).to_be_visible()
    portal.screenshot("licenses-search")
    page.get_by_label("Search licenses").fill(second[-12:])
    page.get_by_role("button", name="Search").click()
    expect(page.locator("li.license")).to_have_count(1)
    expect(row(portal, second)).to_be_visible()
    page.get_by_label("Search licenses").fill("no-such-site")
    page.get_by_label("Search licenses").press("Enter")
    expect(page.get_by_text("No licenses match")).to_be_visible()
    page.get_by_label("Search licenses").fill("")
    page.get_by_label("Search licenses").press("Enter")
    expect(page.locator("li.license")).to_have_count(3)

    # When the assigned one is unassigned
    item = expand(portal, first)
    item.get_by_role("button", name="Unassign License").click()
    dialog = page.get_by_role("dialog", name="Unassign this license?")
    expect(dialog).to_contain_text("site-4242")
    dialog.get_by_role("button", name="Unassign license").click()
    expect(row(portal, first)).to_have_attribute("data-status", "unassigned")
    expect(page.get_by_role("tab", name=re.compile(r"^Assigned\s+0"))).to_be_visible()

    # Then it can go to another site
    item = expand(portal, first)
    item.get_by_role("button", name="Assign to a site").click()
    item.get_by_label("Site ID").fill("site-77")
    item.get_by_label("Site URL").fill("https://florist.example")
    item.get_by_role("button", name="Assign", exact=True).click()
    expect(row(portal, first)).to_have_attribute("data-status", "assigned")
    history = portal.api().get(f"/v1/licenses/{first}").json()["history"]
    assert [event["type"] for event in history] == ["issued", "assigned", "unassigned", "assigned"]

    # When the third is revoked: a confirmation first, Cancel keeps it
    item = expand(portal, third)
    item.get_by_role("button", name="Revoke").click()
    dialog = page.get_by_role("dialog", name="Revoke this license?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    portal.screenshot("revoke-confirm", full_page=False)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    expect(row(portal, third)).to_have_attribute("data-status", "unassigned")
    item.get_by_role("button", name="Revoke").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke license").click()

    # Then it is listed under Revoked only, and has no actions left
    expect(row(portal, third)).to_have_attribute("data-status", "revoked")
    page.get_by_role("tab", name=re.compile(r"^Revoked\s+1")).click()
    expect(page.locator("li.license")).to_have_count(1)
    item = expand(portal, third)
    expect(item.get_by_role("button", name="Revoke")).to_have_count(0)
    expect(item.get_by_role("button", name="Assign to a site")).to_have_count(0)
    portal.screenshot("licenses-revoked")
    counts = portal.api().get("/v1/licenses/counts").json()
    assert (counts["assigned"], counts["unassigned"], counts["revoked"]) == (1, 1, 1)


def test_assigning_to_a_url_the_api_refuses_shows_the_reason_next_to_the_field(portal: Portal) -> None:
    portal.sign_in()
    add_saved_card(portal)
    (key,) = issue(portal, "Jetpack Scan", 1)
    portal.navigate("Licenses")
    item = expand(portal, key)
    item.get_by_role("button", name="Assign to a site").click()
    item.get_by_label("Site ID").fill("site-1")
    # A URL the browser accepts but the API does not: the API's reason is shown under the field
    item.get_by_label("Site URL").fill("ftp://files.example")
    item.get_by_role("button", name="Assign", exact=True).click()
    site_url = item.get_by_label("Site URL")
    expect(site_url).to_have_attribute("aria-invalid", "true")
    expect(site_url).to_be_focused()
    expect(item.locator(".field-error:not([hidden])")).to_have_text(
        "must be an absolute http(s) URL (RFC 3986: ASCII, other characters percent-encoded)"
    )
    expect(item.get_by_label("Site ID")).not_to_have_attribute("aria-invalid", "true")
    portal.screenshot("assign-field-error")
    assert portal.api().get(f"/v1/licenses/{key}").json()["status"] == "unassigned"
