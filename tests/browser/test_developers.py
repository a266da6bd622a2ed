"""The Developers page in the browser: API keys made with a name, scopes and an expiry, the key shown once with a
warning and copied, listed with its prefix, scopes, dates and last use, and revoked through a confirmation dialog;
operators see how many keys a partner holds, never the keys."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
import requests
from playwright.sync_api import expect

if TYPE_CHECKING:
    from testkit.stack import LocalStack
    from tests.browser.conftest import Portal

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("an_early_clock")]


@pytest.fixture
def an_early_clock(portal_stack: LocalStack) -> Iterator[None]:
    """Keys are made and revoked in mid-2026 on the stack's clock, and the clock is put back after: the audit entries
    they write stay older than those of the operators' console tests, which read the log newest first."""
    was = portal_stack.now()
    portal_stack.set_clock("2026-06-15T10:00:00Z")
    try:
        yield
    finally:
        portal_stack.set_clock(was)


def stack_today(portal: Portal) -> date:
    return datetime.fromisoformat(portal.stack.now().replace("Z", "+00:00")).date()


def call_with(portal: Portal, secret: str, path: str = "/v1/licenses/counts") -> requests.Response:
    return requests.get(portal.stack.api_url + path, headers={"Authorization": f"Bearer {secret}"}, timeout=30)


def test_a_key_is_made_copied_once_used_and_revoked(portal: Portal) -> None:
    page = portal.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal.stack.api_url)
    portal.sign_in()
    portal.navigate("Developers")
    expect(page.get_by_text("No API keys yet.")).to_be_visible()
    # The area's two parts are linked from its header, API keys shown (the sidebar's Developers entry is current)
    parts = page.get_by_role("navigation", name="Developers")
    expect(parts.get_by_role("link", name="API keys", exact=True)).to_have_attribute("aria-current", "page")
    expect(parts.get_by_role("link", name="Webhooks", exact=True)).to_have_attribute("href", "#/developers/webhooks")
    expect(page.locator("section#webhook-endpoints")).to_have_count(0)  # no empty placeholder for the webhooks

    # When no scope is chosen, the form says so and nothing is made
    page.get_by_label("Name").fill("Nightly license sync")
    page.get_by_label("Read").uncheck()
    page.get_by_role("button", name="Create API key").click()
    expect(page.get_by_text("Choose at least one scope.")).to_be_visible()
    assert portal.api().get("/v1/api-keys").json()["items"] == []

    # When a key that may read and handle licenses, expiring in 30 days, is created
    expires = stack_today(portal) + timedelta(days=30)
    page.get_by_label("Read").check()
    page.get_by_label("Licenses").check()
    page.get_by_label("Expires on (optional)").fill(expires.isoformat())
    page.get_by_role("button", name="Create API key").click()

    # Then the key is shown once, with a clear warning, and copies to the clipboard
    panel = page.locator(".secret-panel")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("It is shown only this once")
    secret = page.get_by_label("Your API key").input_value()
    assert re.fullmatch(r"phk_[A-Za-z0-9]{40}", secret)
    page.get_by_role("button", name="Copy key").click()
    expect(page.get_by_text("Key copied to the clipboard")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    portal.screenshot("developers-new-key")

    # And it is listed by its prefix, scopes and dates, never used yet
    row = page.locator("tr[data-status=active]")
    expect(row.locator("th")).to_have_text("Nightly license sync")
    expect(row).to_contain_text(f"{secret[:12]}…")
    expect(row).to_contain_text("read, licenses")
    expect(row.locator("td[data-label=Expires]")).to_contain_text(expires.strftime("%b %-d, %Y"))
    expect(row.locator("td[data-label='Last used']")).to_have_text("Never")

    # When Done is pressed, the key is gone from the page for good
    page.get_by_role("button", name="Done").click()
    expect(panel).to_have_count(0)
    assert secret not in page.content()

    # When a script uses it, its last use shows on the page
    assert call_with(portal, secret).status_code == 200
    portal.navigate("Developers")
    expect(page.locator("tr[data-status=active] td[data-label='Last used']")).not_to_have_text("Never")
    assert secret not in page.content()

    # When Revoke is pressed, a dialog asks first; Cancel keeps the key
    page.get_by_role("button", name="Revoke Nightly license sync").click()
    dialog = page.get_by_role("dialog", name="Revoke Nightly license sync?")
    expect(dialog).to_contain_text("stop working within 60 seconds")
    portal.screenshot("developers-revoke-dialog", full_page=False)
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert portal.api().get("/v1/api-keys").json()["items"][0]["revoked_at"] is None

    # And confirming revokes it: the row says so, and the key stops working once the authorizer's cache lets go
    page.get_by_role("button", name="Revoke Nightly license sync").click()
    page.get_by_role("dialog", name="Revoke Nightly license sync?").get_by_role("button", name="Revoke key").click()
    expect(page.locator("tr[data-status=revoked]")).to_contain_text("Revoked")
    expect(page.get_by_role("button", name="Revoke Nightly license sync")).to_have_count(0)
    was = portal.stack.now()
    try:
        portal.stack.advance("PT61S")
        refused = call_with(portal, secret)
        assert refused.status_code == 401 and refused.json()["error"]["message"] == "the API key has been revoked"
    finally:
        portal.stack.set_clock(was)
    portal.screenshot("developers-revoked")


def test_a_bad_name_is_named_by_its_field(portal: Portal) -> None:
    page = portal.page
    portal.sign_in()
    portal.navigate("Developers")
    page.get_by_role("button", name="Create API key").click()
    expect(page.locator("form .form-errors")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    assert portal.api().get("/v1/api-keys").json()["items"] == []


def test_the_developers_page_on_a_phone(phone: Portal) -> None:
    phone.sign_in()
    assert (
        phone.api().post("/v1/api-keys", json={"name": "Deploy hook", "scopes": ["read", "sites"]}).status_code == 201
    )
    phone.open("developers")
    expect(phone.page.get_by_role("heading", level=1, name="Developers")).to_be_visible()
    phone.settled()
    expect(phone.page.locator("tr[data-status=active]")).to_contain_text("Deploy hook")
    assert phone.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    phone.screenshot("developers-phone")


def test_operators_see_how_many_keys_a_partner_holds(portal: Portal) -> None:
    # Given a partner with a company, two keys made and one of them revoked
    partner = f"agency-{uuid.uuid4().hex[:10]}"
    api = portal.stack.client(partner)
    assert (
        api.put(
            "/v1/company",
            json={
                "name": "Scripted Agency",
                "contact_first_name": "Ada",
                "contact_last_name": "Lovelace",
                "website": "https://scripted.example",
                "address_line1": "1 Main St",
                "city": "Paris",
                "country": "FR",
                "postal_code": "75001",
            },
        ).status_code
        == 200
    )
    made = [api.post("/v1/api-keys", json={"name": f"k{n}", "scopes": ["read"]}).json() for n in range(2)]
    assert api.delete(f"/v1/api-keys/{made[0]['id']}").status_code == 200

    # When an operator opens the partner's page
    portal.sign_in(f"ops-{partner}", operator=True)
    portal.page.goto(f"{portal.stack.api_url}/#/operator/partners?id={partner}")
    expect(portal.page.get_by_role("heading", level=1, name=f"Partner {partner}")).to_be_visible()

    # Then it says how many keys, and shows none of them
    expect(portal.page.locator("[data-stat=api-keys]")).to_have_text("1 active")
    expect(portal.page.locator(".stat", has_text="API keys")).to_contain_text("0 expired · 1 revoked")
    text = portal.page.content()
    assert not any(key["prefix"] in text or key["secret"] in text for key in made)
