"""Webhooks in the browser: add an endpoint choosing its events, copy the secret shown once, see deliveries and send
one again, rotate the secret, disable and enable, delete after a confirmation; a private address refused on the
URL field; operators see how many endpoints a partner has."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from testkit import receiver as hooks

if TYPE_CHECKING:
    from tests.browser.conftest import Portal

pytestmark = pytest.mark.browser
SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]{43}=$")


@pytest.fixture(scope="module")
def receiver() -> Iterator[hooks.Receiver]:
    running = hooks.start()
    yield running
    running.stop()


def open_webhooks(portal: Portal) -> None:
    """The sidebar's Developers entry, then the area's Webhooks part."""
    portal.navigate("Developers")
    parts = portal.page.get_by_role("navigation", name="Developers")
    parts.get_by_role("link", name="Webhooks", exact=True).click()
    expect(portal.page.get_by_role("heading", level=2, name="Webhooks")).to_be_visible()
    expect(parts.get_by_role("link", name="Webhooks", exact=True)).to_have_attribute("aria-current", "page")
    expect(portal.page).to_have_url(re.compile(r"#/developers/webhooks$"))
    sidebar = portal.page.get_by_role("navigation", name="Licensing")
    expect(sidebar.get_by_role("link", name="Developers", exact=True)).to_have_attribute("aria-current", "page")
    portal.settled()


def drain(portal: Portal) -> None:
    portal.stack.anonymous.post("/_local/drain", timeout=120).raise_for_status()


def test_an_endpoint_from_adding_to_deleting(portal: Portal, receiver: hooks.Receiver) -> None:
    page = portal.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    portal.sign_in()
    open_webhooks(portal)
    expect(page.locator("[data-field=no-endpoints]")).to_be_visible()
    portal.screenshot("webhooks-empty")

    # When a private address is entered, the URL field says why it cannot be used, and nothing is saved
    page.get_by_label("Endpoint URL").fill("https://10.0.0.1/hooks")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator("form .form-errors")).to_be_visible()
    expect(page.locator("#" + page.get_by_label("Endpoint URL").get_attribute("id") + "-error")).to_contain_text(
        "10.0.0.1, a private address"
    )
    assert portal.api().get("/v1/webhook-endpoints").json()["items"] == []

    # When an endpoint is added for every license event only
    path = receiver.path()
    page.get_by_label("Endpoint URL").fill(receiver.url(path))
    page.get_by_label("All events").uncheck()
    page.get_by_label("Every licenses event").check()
    expect(page.get_by_label("license.revoked")).to_be_disabled()
    page.get_by_label("Description (optional)").fill("Our CRM")
    page.get_by_role("button", name="Add endpoint").click()

    # Then its signing secret is shown once, and Copy puts it on the clipboard
    secret_card = page.locator("[data-field=secret]")
    expect(secret_card).to_be_visible()
    secret = page.get_by_role("textbox", name="Signing secret").input_value()
    assert SECRET.match(secret), secret
    page.get_by_role("button", name="Copy secret").click()
    expect(secret_card.get_by_text("Copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    portal.screenshot("webhooks-secret-once")
    endpoint = page.locator("li.endpoint")
    expect(endpoint).to_contain_text(receiver.url(path))
    expect(endpoint.locator(".endpoint-events")).to_have_text("license.*")
    # and never again: the page shown anew has no secret on it
    open_webhooks(portal)
    expect(page.locator("[data-field=secret]")).to_have_count(0)
    assert secret not in page.content()

    # When a license is issued, its event is delivered and the log shows it
    api = portal.api()
    assert api.post("/v1/payment-methods", json={"payment_method_id": "pm_card_visa"}).status_code == 201
    assert api.post("/v1/licenses", json={"product": "jetpack-backup", "quantity": 1}).status_code == 201
    drain(portal)
    receiver.wait(path, 1)
    endpoint.get_by_role("button", name="Deliveries to Our CRM").click()
    row = endpoint.locator("tr[data-delivery]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("license.issued")
    expect(row.locator(".badge")).to_have_text("Delivered")
    expect(row.locator("[data-field=attempt]")).to_have_text("1")
    expect(row.locator("[data-field=status-code]")).to_contain_text("200")
    # and "Send again" sends it once more
    row.get_by_role("button", name=re.compile("^Send license.issued")).click()
    expect(page.locator("#toast")).to_contain_text("license.issued is being sent again")
    drain(portal)
    receiver.wait(path, 2)
    endpoint.get_by_role("button", name="Deliveries to Our CRM").click()  # close
    endpoint.get_by_role("button", name="Deliveries to Our CRM").click()  # and open anew
    expect(endpoint.locator("tr[data-delivery]")).to_have_count(2)
    expect(endpoint.get_by_text("Sent again on request")).to_be_visible()
    portal.screenshot("webhooks-deliveries")

    # When the secret is rotated (after a confirmation), the new one is shown once and the old one signs 24 h more
    endpoint.get_by_role("button", name="Rotate the signing secret of Our CRM").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("keeps signing beside it for 24 hours")
    dialog.get_by_role("button", name="Rotate secret").click()
    expect(page.get_by_text("Your new signing secret")).to_be_visible()
    rotated = page.get_by_role("textbox", name="Signing secret").input_value()
    assert SECRET.match(rotated) and rotated != secret
    expect(page.locator("li.endpoint")).to_contain_text("The previous secret signs too until")

    # When it is disabled, nothing can be sent again; enabled, it can
    page.get_by_role("button", name="Disable Our CRM").click()
    expect(page.locator("li.endpoint .badge", has_text="Disabled")).to_be_visible()
    expect(page.locator("[data-field=disabled-reason]")).to_be_visible()
    page.get_by_role("button", name="Enable Our CRM").click()
    expect(page.locator("li.endpoint .badge", has_text="Enabled")).to_be_visible()

    # When Delete is chosen, a dialog asks first: Cancel keeps the endpoint, Delete endpoint removes it
    page.get_by_role("button", name="Delete Our CRM").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    portal.screenshot("webhooks-delete-confirmation", full_page=False)
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator("li.endpoint")).to_have_count(1)
    page.get_by_role("button", name="Delete Our CRM").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete endpoint").click()
    expect(page.locator("[data-field=no-endpoints]")).to_be_visible()
    assert portal.api().get("/v1/webhook-endpoints").json()["items"] == []


def test_a_failing_endpoint_shows_its_retries_and_why(portal: Portal, receiver: hooks.Receiver) -> None:
    page = portal.page
    portal.sign_in()
    api = portal.api()
    path = receiver.path(hooks.answer(503, b"maintenance"))
    made = api.post("/v1/webhook-endpoints", json={"url": receiver.url(path), "events": ["payment_method.*"]})
    assert made.status_code == 201
    assert api.post("/v1/payment-methods", json={"payment_method_id": "pm_card_visa"}).status_code == 201
    drain(portal)
    receiver.wait(path, 1)
    open_webhooks(portal)
    expect(page.locator("[data-field=failing-since]")).to_contain_text("After 5 days of failures")
    endpoint = page.locator("li.endpoint")
    endpoint.get_by_role("button", name=re.compile("^Deliveries to")).click()
    row = endpoint.locator("tr[data-delivery]")
    expect(row.locator(".badge")).to_have_text("Retrying")
    expect(row.locator("[data-field=error]")).to_contain_text("HTTP 503")
    expect(row.locator("[data-field=response]")).to_have_text("maintenance")
    expect(row.locator("[data-field=next-attempt]")).not_to_have_text("—")
    portal.screenshot("webhooks-retrying")


def test_operators_see_how_many_endpoints_a_partner_has(portal: Portal, receiver: hooks.Receiver) -> None:
    partner = f"agency-{uuid.uuid4().hex[:10]}"
    api = portal.stack.client(partner)
    assert api.post("/v1/payment-methods", json={"payment_method_id": "pm_card_visa"}).status_code == 201
    for _ in range(3):
        assert (
            api.post("/v1/webhook-endpoints", json={"url": receiver.url(receiver.path()), "events": ["*"]}).status_code
            == 201
        )
    portal.sign_in(f"ops-{uuid.uuid4().hex[:6]}", operator=True)
    portal.page.goto(f"{portal.stack.api_url}/#/operator/partners?id={partner}")
    expect(portal.page.locator("[data-stat=webhook-endpoints]")).to_have_text("3")
