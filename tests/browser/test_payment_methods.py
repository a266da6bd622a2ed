"""Payment Methods in the browser: New credit card, declined cards, the ⋮ menu (set as primary, delete)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.browser.steps import add_card

if TYPE_CHECKING:
    from tests.browser.conftest import Portal

pytestmark = pytest.mark.browser


def test_cards_are_added_made_primary_and_deleted_from_the_menu(portal: Portal) -> None:
    page = portal.page
    portal.sign_in()
    portal.navigate("Payment Methods")
    expect(page.get_by_text("No payment method on file")).to_be_visible()
    portal.screenshot("payment-methods-empty")

    # When a declined card is entered, Stripe's reason is shown and nothing is saved
    add_card(portal, "pm_card_chargeDeclined")
    expect(page.locator("form .form-errors")).to_contain_text("declined")
    portal.screenshot("new-card-declined")
    assert portal.api().get("/v1/payment-methods").json()["items"] == []

    # When a Visa is saved: it is the primary card and the banner is gone
    page.get_by_label("Card", exact=True).select_option("pm_card_visa")
    page.get_by_role("button", name="Save payment method").click()
    expect(page.get_by_role("heading", level=1, name="Payment Methods")).to_be_visible()
    visa = page.locator(".payment-card", has_text="Visa ending in 4242")
    expect(visa.locator(".badge-primary")).to_be_visible()
    expect(page.locator("[data-banner=no-payment-method]")).to_have_count(0)

    # When a Mastercard is added without "Set as primary", the Visa stays primary
    add_card(portal, "pm_card_mastercard", primary=False)
    mastercard = page.locator(".payment-card", has_text="Mastercard ending in 4444")
    expect(mastercard).to_be_visible()
    expect(mastercard.locator(".badge-primary")).to_have_count(0)
    expect(page.locator(".payment-card[data-primary=true]")).to_contain_text("Visa")
    portal.screenshot("payment-methods-two-cards")

    # When the Mastercard's ⋮ menu is used from the keyboard to make it primary
    menu_button = mastercard.get_by_role("button", name="Actions for Mastercard ending in 4444")
    menu_button.focus()
    page.keyboard.press("Enter")
    expect(menu_button).to_have_attribute("aria-expanded", "true")
    expect(mastercard.get_by_role("menuitem", name="Set as primary")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(mastercard.get_by_role("menuitem", name="Delete")).to_be_focused()
    portal.screenshot("payment-methods-menu", full_page=False)
    page.keyboard.press("Escape")
    expect(menu_button).to_be_focused()
    expect(menu_button).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # "Set as primary", the first item
    mastercard = page.locator(".payment-card", has_text="Mastercard ending in 4444")
    expect(mastercard.locator(".badge-primary")).to_be_visible()
    primaries = [card["brand"] for card in portal.api().get("/v1/payment-methods").json()["items"] if card["primary"]]
    assert primaries == ["mastercard"]

    # When the primary card is deleted, the other one is promoted
    mastercard.get_by_role("button", name="Actions for Mastercard ending in 4444").click()
    mastercard.get_by_role("menuitem", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete Mastercard ending in 4444?")
    expect(dialog).to_contain_text("It is your primary card")
    dialog.get_by_role("button", name="Delete card").click()
    expect(page.locator(".payment-card")).to_have_count(1)
    expect(page.locator(".payment-card", has_text="Visa ending in 4242").locator(".badge-primary")).to_be_visible()

    # When the last card is deleted, the banner comes back
    page.locator(".payment-card").get_by_role("button", name="Actions for Visa ending in 4242").click()
    page.get_by_role("menuitem", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete Visa ending in 4242?")
    expect(dialog).to_contain_text("It is your only card")
    dialog.get_by_role("button", name="Delete card").click()
    expect(page.get_by_text("No payment method on file")).to_be_visible()
    expect(page.locator("[data-banner=no-payment-method]")).to_be_visible()
