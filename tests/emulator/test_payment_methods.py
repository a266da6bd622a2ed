"""SetupIntents and PaymentMethods through the official SDK, with secret and publishable keys."""

from __future__ import annotations

from typing import Any

import pytest
import stripe


def test_setup_intent_confirmed_with_secret_key_attaches_a_new_payment_method(client: stripe.StripeClient) -> None:
    # Given a customer and a SetupIntent for cards
    customer = client.v1.customers.create({"name": "Ada"})
    intent = client.v1.setup_intents.create(
        {
            "customer": customer.id,
            "payment_method_types": ["card"],
            "usage": "off_session",
            "metadata": {"flow": "portal"},
        }
    )
    assert intent.status == "requires_payment_method" and intent.client_secret.startswith(intent.id + "_secret_")
    # When it is confirmed with Stripe's visa test token
    confirmed = client.v1.setup_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    # Then it succeeded with a new pm_ attached to the customer, carrying the test card's details
    assert confirmed.status == "succeeded"
    assert confirmed.payment_method.startswith("pm_") and confirmed.payment_method != "pm_card_visa"
    pm = client.v1.payment_methods.retrieve(confirmed.payment_method)
    assert pm.customer == customer.id
    assert (pm.card.brand, pm.card.last4, pm.card.funding, pm.card.country) == ("visa", "4242", "credit", "US")
    assert pm.card.exp_year > 2000


def test_setup_intent_confirmed_by_stripe_js_with_publishable_key_and_client_secret(
    client: stripe.StripeClient, client_for: Any
) -> None:
    # Given a SetupIntent made by the server
    customer = client.v1.customers.create({"name": "Ada"})
    intent = client.v1.setup_intents.create({"customer": customer.id, "payment_method_types": ["card"]})
    browser = client_for("pk_test_browser")
    # When the browser retrieves and confirms it with the publishable key and the client secret
    seen = browser.v1.setup_intents.retrieve(intent.id, {"client_secret": intent.client_secret})
    confirmed = browser.v1.setup_intents.confirm(
        intent.id, {"client_secret": intent.client_secret, "payment_method": "pm_card_mastercard"}
    )
    # Then it succeeds and the server sees the new card on the customer
    assert seen.id == intent.id
    assert confirmed.status == "succeeded"
    cards = client.v1.customers.payment_methods.list(customer.id, {"type": "card"})
    assert [(c.id, c.card.last4) for c in cards.data] == [(confirmed.payment_method, "4444")]
    # And a wrong client secret or none at all is refused
    with pytest.raises(stripe.InvalidRequestError):
        browser.v1.setup_intents.confirm(intent.id, {"client_secret": intent.id + "_secret_wrong"})
    with pytest.raises(stripe.PermissionError):
        browser.v1.setup_intents.retrieve(intent.id)


def test_declined_card_fails_setup_with_card_error(client: stripe.StripeClient) -> None:
    # Given a SetupIntent
    customer = client.v1.customers.create({"name": "Ada"})
    intent = client.v1.setup_intents.create({"customer": customer.id})
    # When confirmed with the declining test card
    with pytest.raises(stripe.CardError) as error:
        client.v1.setup_intents.confirm(intent.id, {"payment_method": "pm_card_chargeDeclined"})
    # Then it is a 402 card_error with Stripe's codes, and the intent waits for another method
    assert error.value.http_status == 402
    assert error.value.code == "card_declined"
    assert error.value.error.decline_code == "generic_decline"
    assert error.value.error.type == "card_error"
    after = client.v1.setup_intents.retrieve(intent.id)
    assert after.status == "requires_payment_method"
    assert after.last_setup_error.decline_code == "generic_decline"
    assert client.v1.customers.payment_methods.list(customer.id).data == []
    # And attaching the same card directly is declined as well
    with pytest.raises(stripe.CardError):
        client.v1.payment_methods.attach("pm_card_chargeDeclined", {"customer": customer.id})


def test_attach_detach_and_list(client: stripe.StripeClient) -> None:
    # Given a customer with two cards, the first its default
    customer = client.v1.customers.create({"name": "Ada"})
    visa = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    amex = client.v1.payment_methods.attach("pm_card_amex", {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": visa.id}})
    listed = client.v1.payment_methods.list({"customer": customer.id, "type": "card"})
    assert [pm.id for pm in listed.data] == [amex.id, visa.id]
    assert amex.card.last4 == "8431" and amex.card.brand == "amex"
    # When the default card is detached
    detached = client.v1.payment_methods.detach(visa.id)
    # Then it is gone from the list, the default is unset, and it cannot be attached again
    assert detached.customer is None
    assert [pm.id for pm in client.v1.customers.payment_methods.list(customer.id).data] == [amex.id]
    assert client.v1.customers.retrieve(customer.id).invoice_settings.default_payment_method is None
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_methods.attach(visa.id, {"customer": customer.id})
    # And each use of a token makes a distinct payment method
    again = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    assert again.id != visa.id and again.card.fingerprint == visa.card.fingerprint


def test_default_payment_method_must_belong_to_customer(client: stripe.StripeClient) -> None:
    ada = client.v1.customers.create({"name": "Ada"})
    bob = client.v1.customers.create({"name": "Bob"})
    bobs = client.v1.payment_methods.attach("pm_card_visa", {"customer": bob.id})
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.update(ada.id, {"invoice_settings": {"default_payment_method": bobs.id}})
    assert error.value.param == "invoice_settings[default_payment_method]"


def test_customer_created_with_a_token_as_default(client: stripe.StripeClient) -> None:
    # Stripe's common pattern: payment_method plus the same token as invoice default
    customer = client.v1.customers.create(
        {
            "name": "Ada",
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    default = customer.invoice_settings.default_payment_method
    assert default.startswith("pm_") and default != "pm_card_visa"
    assert client.v1.payment_methods.retrieve(default).customer == customer.id
