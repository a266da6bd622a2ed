"""Connected sites in the browser at 1280 and 390 px: the Sites page (search, each site with its licenses, View Site
and Debug Site, issue to a site, disconnect with a confirmation, pages of 25), issuing to sites with the typeahead
(keyboard only, and connecting a new site on the spot), the refusal that names a site, and the assign form's
typeahead."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from tests.browser.steps import expand, row

if TYPE_CHECKING:
    from tests.browser.conftest import Portal

pytestmark = pytest.mark.browser

BAKERY = {
    "site_id": "184472401",
    "site_url": "https://client-bakery.example",
    "site_owner": "ann@client-bakery.example",
}
FLORIST = {"site_id": "184472999", "site_url": "https://client-florist.example"}


def with_card(portal: Portal) -> Any:
    """The partner's API session, with a card on file (a Given step: the card pages have tests of their own)."""
    api = portal.api()
    assert api.post("/v1/payment-methods", json={"payment_method_id": "pm_card_visa"}).status_code == 201
    return api


def site_row(portal: Portal, site_id: str) -> Any:
    return portal.page.locator(f"li.site[data-site-id='{site_id}']")


def no_horizontal_overflow(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"


def test_the_sites_page_lists_each_site_with_its_licenses_searches_and_disconnects_with_a_confirmation(
    portal: Portal,
) -> None:
    page = portal.page
    portal.sign_in()
    api = with_card(portal)
    # Given a Backup license assigned to the bakery (which connects it)
    (license,) = api.post("/v1/licenses", json={"product": "jetpack-backup"}).json()["items"]
    assert api.put(f"/v1/licenses/{license['license_key']}/site", json=BAKERY).status_code == 200

    # When the partner connects the florist on the Sites page
    portal.navigate("Sites")
    page.get_by_role("button", name="Connect a site").click()
    form = page.get_by_role("form", name="Connect a site")
    form.get_by_label("Site ID").fill(FLORIST["site_id"])
    form.get_by_label("Site URL").fill(FLORIST["site_url"])
    form.get_by_role("button", name="Connect site").click()
    expect(page.locator("#toast")).to_contain_text(f"Site {FLORIST['site_url']} connected")

    # Then both are listed: the bakery with its license, the florist with none
    bakery, florist = site_row(portal, BAKERY["site_id"]), site_row(portal, FLORIST["site_id"])
    expect(bakery.get_by_role("heading", name=BAKERY["site_url"])).to_be_visible()
    expect(bakery.locator("[data-fact=site-owner]")).to_have_text(BAKERY["site_owner"])
    expect(bakery.locator(f"li[data-key='{license['license_key']}']")).to_contain_text("Jetpack VaultPress Backup")
    expect(bakery.get_by_role("link", name=re.compile("^View Site"))).to_have_attribute("href", BAKERY["site_url"])
    expect(bakery.get_by_role("link", name=re.compile("^Debug Site"))).to_have_attribute(
        "href", re.compile(r"jptools\.wordpress\.com/debug/\?url=https%3A%2F%2Fclient-bakery\.example")
    )
    expect(florist).to_contain_text("No active licenses")
    # A site holding a license offers no disconnect; a free one does
    expect(bakery.get_by_role("button", name=re.compile("^Disconnect"))).to_have_count(0)
    expect(florist.get_by_role("button", name=re.compile("^Disconnect"))).to_be_visible()
    portal.screenshot("sites")

    # When they search
    page.get_by_label("Search sites").fill("flor")
    page.get_by_label("Search sites").press("Enter")
    expect(page.locator("li.site")).to_have_count(1)
    expect(florist).to_be_visible()
    page.get_by_label("Search sites").fill("nowhere")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_text("No connected site matches")).to_be_visible()
    page.get_by_label("Search sites").fill("")
    page.get_by_label("Search sites").press("Enter")
    expect(page.locator("li.site")).to_have_count(2)

    # When they disconnect the florist: a dialog (not the browser's confirm) that Cancel leaves untouched
    florist.get_by_role("button", name=re.compile("^Disconnect")).click()
    dialog = page.get_by_role("dialog", name="Disconnect this site?")
    expect(dialog).to_contain_text(FLORIST["site_url"])
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    portal.screenshot("sites-disconnect-dialog", full_page=False)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    expect(florist).to_be_visible()
    florist.get_by_role("button", name=re.compile("^Disconnect")).click()
    page.get_by_role("dialog", name="Disconnect this site?").get_by_role("button", name="Disconnect site").click()

    # Then it is gone, and the bakery stays
    expect(florist).to_have_count(0)
    expect(bakery).to_be_visible()
    assert [s["site_id"] for s in api.get("/v1/sites").json()["items"]] == [BAKERY["site_id"]]


def test_issue_to_a_site_from_its_row_and_to_several_by_keyboard_with_a_refusal_naming_the_site(
    portal: Portal,
) -> None:
    page = portal.page
    portal.sign_in()
    api = with_card(portal)
    for site in (BAKERY, FLORIST):
        assert api.post("/v1/sites", json=site).status_code == 200

    # When the partner follows "Issue to this site" on the florist's row and issues Jetpack Scan to it
    portal.navigate("Sites")
    site_row(portal, FLORIST["site_id"]).get_by_role("link", name=re.compile("^Issue to this site")).click()
    expect(page.get_by_role("heading", level=1, name="Issue New License")).to_be_visible()
    expect(page.get_by_label("Connected sites: one license to each, assigned at once")).to_be_checked()
    expect(page.locator(f".site-chip[data-site-id='{FLORIST['site_id']}']")).to_be_visible()
    expect(page.get_by_label("Quantity")).to_be_hidden()
    product = page.get_by_label("Product")
    product.select_option(product.locator("option", has_text="Jetpack Scan").first.get_attribute("value"))
    expect(page.locator("[data-field=cost-preview]")).to_contain_text("1 ×")
    portal.screenshot("issue-to-a-site")
    page.get_by_role("button", name="Issue to these sites").click()

    # Then the license is issued to it and assigned at once
    expect(page.get_by_text("Issued 1 license to 1 site.")).to_be_visible()
    expect(page.locator(".issued")).to_contain_text(FLORIST["site_url"])
    (scan,) = api.get("/v1/licenses").json()["items"]
    assert (scan["product"], scan["status"], scan["site"]["site_id"]) == (
        "jetpack-scan",
        "assigned",
        FLORIST["site_id"],
    )
    # and its history says where it was issued to
    portal.navigate("Licenses")
    item = expand(portal, scan["license_key"])
    item.locator("details.history summary").click()
    expect(item.locator("details.history li")).to_have_text(
        re.compile(f"Issued to {re.escape(FLORIST['site_url'])} by You")
    )
    portal.navigate("Issue New License")
    page.get_by_label("Connected sites: one license to each, assigned at once").check()
    product = page.get_by_label("Product")
    product.select_option(product.locator("option", has_text="Jetpack Scan").first.get_attribute("value"))

    # When they choose both sites with the keyboard alone: type, arrow down, Enter
    search = page.get_by_role("combobox", name="Find connected sites")
    search.focus()
    page.keyboard.type("client-")
    listbox = page.get_by_role("listbox", name="Connected sites")
    expect(listbox.get_by_role("option")).to_have_count(2)
    expect(search).to_have_attribute("aria-expanded", "true")
    # the florist holds Scan already, and the option says so while Scan is the product
    expect(listbox.get_by_role("option", name=re.compile("client-florist"))).to_contain_text(
        "Holds Jetpack Scan already"
    )
    page.keyboard.press("ArrowDown")
    first = listbox.get_by_role("option").first
    expect(first).to_have_attribute("aria-selected", "true")
    expect(search).to_have_attribute("aria-activedescendant", first.get_attribute("id") or "")
    page.keyboard.press("Enter")
    expect(search).to_have_attribute("aria-expanded", "false")
    page.keyboard.type("florist")
    expect(listbox.get_by_role("option")).to_have_count(1)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator(".site-chip")).to_have_count(2)
    expect(page.get_by_text("2 sites chosen: one license each")).to_be_visible()
    page.get_by_role("button", name="Issue to these sites").click()

    # Then the order is refused as a whole, naming the site that holds Scan; nothing is issued
    summary = page.locator(".form-errors")
    expect(summary).to_contain_text(FLORIST["site_id"])
    expect(summary).to_contain_text("holds an active license")
    assert api.get("/v1/licenses/counts").json()["all"] == 1
    portal.screenshot("issue-to-sites-refused")

    # When they drop the florist and connect a new site on the spot, then issue again
    page.get_by_role("button", name=f"Remove {FLORIST['site_url']}").click()
    page.get_by_text("A site that is not connected yet").click()
    page.get_by_label("Site ID").fill("184473100")
    page.get_by_label("Site URL").fill("https://client-dentist.example")
    page.get_by_role("button", name="Connect and choose").click()
    expect(page.locator(".site-chip[data-site-id='184473100']")).to_be_visible()
    page.get_by_role("button", name="Issue to these sites").click()

    # Then both get one, the old error is gone, and the Sites page shows them
    expect(page.get_by_text("Issued 2 licenses to 2 sites.")).to_be_visible()
    expect(summary).to_be_hidden()
    portal.navigate("Sites")
    for site_id in (BAKERY["site_id"], "184473100"):
        expect(site_row(portal, site_id).locator(".site-licenses")).to_contain_text("Jetpack Scan")
    portal.screenshot("sites-after-issuing")


def test_the_assign_form_finds_a_connected_site_and_fills_its_address(portal: Portal) -> None:
    portal.sign_in()
    api = with_card(portal)
    assert api.post("/v1/sites", json=BAKERY).status_code == 200
    (license,) = api.post("/v1/licenses", json={"product": "jetpack-boost"}).json()["items"]
    key = license["license_key"]

    # When the partner opens the license's assign form and types part of the bakery's address
    portal.navigate("Licenses")
    item = expand(portal, key)
    item.get_by_role("button", name="Assign to a site").click()
    site_id = item.get_by_role("combobox", name="Site ID")
    site_id.press_sequentially("bakery")
    option = item.get_by_role("option", name=re.compile("client-bakery"))
    expect(option).to_be_visible()
    portal.screenshot("assign-typeahead")
    site_id.press("ArrowDown")
    site_id.press("Enter")

    # Then its ID, address and owner are filled in, and assigning puts the license there
    expect(site_id).to_have_value(BAKERY["site_id"])
    expect(item.get_by_label("Site URL")).to_have_value(BAKERY["site_url"])
    expect(item.get_by_label("Site owner (optional)")).to_have_value(BAKERY["site_owner"])
    item.get_by_role("button", name="Assign", exact=True).click()
    expect(row(portal, key)).to_have_attribute("data-status", "assigned")
    assert api.get(f"/v1/licenses/{key}").json()["site"] == BAKERY


def test_a_long_list_of_sites_comes_in_pages(portal: Portal) -> None:
    page = portal.page
    portal.sign_in()
    api = portal.api()
    for n in range(30):
        site = {"site_id": f"s{n:03d}", "site_url": f"https://client-{n:03d}.example"}
        assert api.post("/v1/sites", json=site).status_code == 200

    portal.navigate("Sites")

    expect(page.locator("li.site")).to_have_count(25)
    expect(page.get_by_text("25 sites shown, more below")).to_be_visible()
    page.get_by_role("button", name="Load more sites").click()
    expect(page.locator("li.site")).to_have_count(30)
    expect(page.get_by_role("button", name="Load more sites")).to_be_hidden()
    expect(page.get_by_text("30 sites shown")).to_be_visible()


def test_sites_and_issuing_to_sites_on_a_phone(phone: Portal) -> None:
    page = phone.page
    phone.sign_in()
    api = with_card(phone)
    long_owner = "owner-with-a-very-long-address-" + "x" * 60 + "@client.example"
    for site in (BAKERY, {**FLORIST, "site_owner": long_owner}):
        assert api.post("/v1/sites", json=site).status_code == 200
    (license,) = api.post("/v1/licenses", json={"product": "jetpack-backup"}).json()["items"]
    assert api.put(f"/v1/licenses/{license['license_key']}/site", json=BAKERY).status_code == 200

    # The Sites page fits the screen, long owners and license keys wrap
    phone.open("sites")
    expect(page.get_by_role("heading", level=1, name="Sites")).to_be_visible()
    expect(page.locator("li.site")).to_have_count(2)
    phone.settled()
    no_horizontal_overflow(page)
    phone.screenshot("phone-sites")

    # Issuing to a site by touch: the typeahead's options are tapped
    site_row(phone, FLORIST["site_id"]).get_by_role("link", name=re.compile("^Issue to this site")).click()
    expect(page.get_by_role("heading", level=1, name="Issue New License")).to_be_visible()
    page.get_by_role("combobox", name="Find connected sites").press_sequentially("bakery")
    page.get_by_role("option", name=re.compile("client-bakery")).tap()
    expect(page.locator(".site-chip")).to_have_count(2)
    phone.settled()
    no_horizontal_overflow(page)
    phone.screenshot("phone-issue-to-sites")
    page.get_by_label("Product").select_option("jetpack-scan")
    page.get_by_role("button", name="Issue to these sites").click()
    expect(page.get_by_text("Issued 2 licenses to 2 sites.")).to_be_visible()
