"""Steps several browser tests share, done through the portal as a partner would do them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from playwright.sync_api import expect

if TYPE_CHECKING:
    from tests.browser.conftest import Portal


def add_card(portal: Portal, card: str = "pm_card_visa", *, primary: bool = True) -> None:
    """Payment Methods → New credit card → a test card → Save payment method."""
    page = portal.page
    portal.navigate("Payment Methods")
    page.get_by_role("link", name="New credit card").first.click()
    expect(page.get_by_role("heading", level=1, name="New credit card")).to_be_visible()
    page.get_by_label("Card", exact=True).select_option(card)
    checkbox = page.get_by_label("Set as primary payment method")
    if not primary:
        checkbox.uncheck()
    page.get_by_role("button", name="Save payment method").click()


CHALLENGE = "Authenticate with your bank"
# What the portal says when the card's bank was not satisfied (js/stripe.js), locally and deployed alike
SETUP_FAILED = "Authentication with your card's bank failed, so the card was not saved. Try again, or use another card."
PAYMENT_FAILED = "authentication with your card's bank failed, so nothing was charged. Try again, or choose another card."
PAY_NOW = re.compile(r"^Pay (.* )?now")  # a Pay now button, whichever invoice its accessible name goes on to name


def challenge(portal: Portal):  # type: ignore[no-untyped-def]
    """The 3-D Secure challenge the local stack shows as Stripe's test page does (js/three-d-secure.js)."""
    dialog = portal.page.get_by_role("dialog", name=CHALLENGE)
    expect(dialog).to_be_visible()
    return dialog


def authenticate(portal: Portal, answer: str = "Complete authentication") -> None:
    """Answer the 3-D Secure challenge: "Complete authentication" or "Fail authentication"."""
    dialog = challenge(portal)
    dialog.get_by_role("button", name=answer).click()
    expect(portal.page.get_by_role("dialog", name=CHALLENGE)).to_have_count(0)


def add_saved_card(portal: Portal) -> None:
    """A working Visa as the primary card, and back on Payment Methods once it is saved."""
    add_card(portal)
    expect(portal.page.get_by_role("heading", level=1, name="Payment Methods")).to_be_visible()


def month_end_with_stripes_attempt(portal: Portal, period: str, following: str) -> None:
    """Month-end invoicing of ``period`` on the 1st of ``following``, then the hour after which Stripe makes its
    automatic payment attempt (its outcome lands asynchronously: wait for it)."""
    portal.stack.set_clock(f"{following}-01T01:00:00Z")
    assert portal.stack.invoice_run(period)["complete"]
    portal.stack.advance("PT1H")


def issue(portal: Portal, product_name: str, quantity: int) -> list[str]:
    """Issue New License → product, quantity → the issued license codes."""
    page = portal.page
    portal.navigate("Issue New License")
    product = page.get_by_label("Product")
    value = product.locator("option", has_text=product_name).first.get_attribute("value")
    product.select_option(value)
    page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_role("button", name="Issue licenses").click()
    expect(page.get_by_text(f"Issued {quantity} license")).to_be_visible()
    return page.locator(".issued code").all_inner_texts()


def row(portal: Portal, license_key: str):  # type: ignore[no-untyped-def]
    return portal.page.locator(f"li.license[data-key='{license_key}']")


def expand(portal: Portal, license_key: str):  # type: ignore[no-untyped-def]
    item = row(portal, license_key)
    toggle = item.get_by_role("button", name="Details for")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(item.get_by_text("License code", exact=True)).to_be_visible()
    return item


def confirm(page: Any, title: str | re.Pattern[str], button: str) -> Any:
    """The portal's own confirmation dialog (never the browser's ``confirm()``): it is open, named by its title,
    focus starts on Cancel; ``button`` goes ahead. The dialog's text, for the caller to check."""
    dialog = page.get_by_role("dialog", name=title)
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel", exact=True)).to_be_focused()
    said = dialog.inner_text()
    dialog.get_by_role("button", name=button, exact=True).click()
    expect(dialog).to_have_count(0)
    return said


def revoke_everything(stack: Any, partner_id: str) -> None:
    """Revoke every license the partner still holds, so that later tests' month-end runs on the shared stack have
    nothing to bill it for (and Stripe nothing to collect) in the months after this test."""
    if not partner_id:
        return
    api = stack.client(partner_id)
    cursor = None
    while True:
        page = api.get("/v1/licenses", params={"status": "all", "limit": 100, **({"cursor": cursor} if cursor else {})})
        if page.status_code != 200:
            return
        for license_ in page.json()["items"]:
            if license_["status"] != "revoked" and license_["source"] == "portal":
                api.post(f"/v1/licenses/{license_['license_key']}/revoke")
        cursor = page.json().get("next_cursor")
        if not cursor:
            return
