"""Payment methods, company details and account standing over HTTP against the local stack and its Stripe emulator."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest
import requests

from testkit.data import COMPANY

if TYPE_CHECKING:
    from testkit.stack import ApiSession, LocalStack

SECRET_KEY = "sk_test_local"  # the local stack's Stripe key (the emulator accepts any sk_test_)


@pytest.fixture
def partner() -> str:
    return f"agency-e2e-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def api(stack: LocalStack, partner: str) -> ApiSession:
    return stack.client(partner)


def stripe_get(stack: LocalStack, path: str) -> dict[str, Any]:
    """Read the emulator's API as the Stripe dashboard would, with the secret key."""
    reply = requests.get(f"{stack.stripe_url}{path}", auth=(SECRET_KEY, ""), timeout=10)
    reply.raise_for_status()
    return dict(reply.json())


def confirm_in_browser(stack: LocalStack, api: ApiSession, token: str) -> tuple[str, str]:
    """What the portal does: ask for a SetupIntent, then confirm it with Stripe.js (publishable key)."""
    reply = api.post("/v1/payment-methods/setup-intent")
    assert reply.status_code == 201, reply.text
    intent = reply.json()
    confirmed = requests.post(
        f"{stack.stripe_url}/v1/setup_intents/{intent['setup_intent_id']}/confirm",
        data={"key": intent["publishable_key"], "client_secret": intent["client_secret"], "payment_method": token},
        timeout=10,
    )
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["status"] == "succeeded"
    customer = stripe_get(stack, f"/v1/setup_intents/{intent['setup_intent_id']}")["customer"]
    return str(body["payment_method"]), str(customer)


def add(api: ApiSession, pm: str, **extra: Any) -> requests.Response:
    return api.post("/v1/payment-methods", json={"payment_method_id": pm, **extra})


def listed(api: ApiSession) -> list[tuple[str, str, bool]]:
    reply = api.get("/v1/payment-methods")
    assert reply.status_code == 200, reply.text
    return [(c["id"], c["brand"], c["primary"]) for c in reply.json()["items"]]


def issue(api: ApiSession) -> requests.Response:
    return api.post("/v1/licenses", json={"product": "jetpack-backup", "quantity": 1})


def test_cards_from_first_to_last_and_back(stack: LocalStack, api: ApiSession) -> None:
    # Given a visa confirmed in the browser and a mastercard added by a script
    visa, customer = confirm_in_browser(stack, api, "pm_card_visa")
    reply = add(api, visa)
    assert reply.status_code == 201, reply.text
    assert reply.json()["primary"] is True
    reply = add(api, "pm_card_mastercard", primary=False)
    assert reply.status_code == 201, reply.text
    mastercard = reply.json()["id"]
    assert listed(api) == [(visa, "visa", True), (mastercard, "mastercard", False)]
    assert stripe_get(stack, f"/v1/customers/{customer}")["invoice_settings"]["default_payment_method"] == visa

    # When the mastercard becomes primary
    reply = api.post(f"/v1/payment-methods/{mastercard}/primary")
    assert reply.status_code == 200, reply.text
    # Then Stripe charges it from now on
    assert listed(api) == [(mastercard, "mastercard", True), (visa, "visa", False)]
    assert stripe_get(stack, f"/v1/customers/{customer}")["invoice_settings"]["default_payment_method"] == mastercard

    # When the primary is deleted, the visa is promoted
    reply = api.delete(f"/v1/payment-methods/{mastercard}")
    assert reply.status_code == 204 and reply.content == b""
    assert listed(api) == [(visa, "visa", True)]
    assert stripe_get(stack, f"/v1/customers/{customer}")["invoice_settings"]["default_payment_method"] == visa
    assert issue(api).status_code == 201

    # When the last card is deleted, issuing is refused
    assert api.delete(f"/v1/payment-methods/{visa}").status_code == 204
    assert listed(api) == []
    account = api.get("/v1/account").json()
    assert (account["has_payment_method"], account["can_issue_licenses"]) == (False, False)
    refused = issue(api)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "payment_method_required"

    # And once a card is added again, issuing works again
    assert add(api, "pm_card_amex").status_code == 201
    assert api.get("/v1/account").json()["can_issue_licenses"] is True
    assert issue(api).status_code == 201


def test_a_declined_card_is_refused_with_stripes_reason(api: ApiSession) -> None:
    reply = add(api, "pm_card_chargeDeclined")

    assert reply.status_code == 402
    error = reply.json()["error"]
    assert (error["code"], error["message"]) == ("card_declined", "Your card was declined.")
    assert listed(api) == []


def test_a_declined_card_in_the_browser_never_reaches_the_account(stack: LocalStack, api: ApiSession) -> None:
    intent = api.post("/v1/payment-methods/setup-intent").json()
    confirmed = requests.post(
        f"{stack.stripe_url}/v1/setup_intents/{intent['setup_intent_id']}/confirm",
        data={
            "key": intent["publishable_key"],
            "client_secret": intent["client_secret"],
            "payment_method": "pm_card_chargeDeclined",
        },
        timeout=10,
    )
    assert confirmed.status_code == 402
    assert confirmed.json()["error"]["code"] == "card_declined"
    assert listed(api) == []


def test_another_partners_card_is_not_found(stack: LocalStack, api: ApiSession) -> None:
    other = stack.client(f"agency-e2e-other-{uuid.uuid4().hex[:8]}")
    theirs = add(other, "pm_card_visa").json()["id"]
    assert add(api, "pm_card_visa").status_code == 201

    for reply in (
        add(api, theirs),
        api.post(f"/v1/payment-methods/{theirs}/primary"),
        api.delete(f"/v1/payment-methods/{theirs}"),
        api.delete("/v1/payment-methods/pm_1NoSuchCard00000000000000"),
    ):
        assert reply.status_code == 404, reply.text
        assert reply.json()["error"]["code"] == "payment_method_not_found"
    # And the other partner still has its card
    assert [c[0] for c in listed(other)] == [theirs]


def test_company_details_are_saved_and_put_on_the_stripe_customer(stack: LocalStack, api: ApiSession) -> None:
    missing = api.get("/v1/company")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "company_not_found"

    reply = api.put("/v1/company", json=COMPANY, headers={"Idempotency-Key": "company-1"})

    assert reply.status_code == 200, reply.text
    assert reply.json() == COMPANY
    assert api.get("/v1/company").json() == COMPANY
    _, customer_id = confirm_in_browser(stack, api, "pm_card_visa")
    customer = stripe_get(stack, f"/v1/customers/{customer_id}")
    assert customer["name"] == COMPANY["name"]
    assert customer["address"] == {
        "line1": "1 Market Street",
        "line2": "Suite 200",
        "city": "San Francisco",
        "state": "CA",
        "country": "US",
        "postal_code": "94105",
    }
    assert customer["invoice_settings"]["custom_fields"] == [
        {"name": "Contact", "value": "Ann Baker"},
        {"name": "Website", "value": "https://bakerywebstudio.example"},
    ]
    # The same key with other details is refused, and nothing changes
    reused = api.put("/v1/company", json={**COMPANY, "name": "Other"}, headers={"Idempotency-Key": "company-1"})
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert api.get("/v1/company").json()["name"] == COMPANY["name"]


def test_invalid_company_details_name_each_field(api: ApiSession) -> None:
    body = {**COMPANY, "country": "ZZ", "website": "bakery"}
    del body["city"]

    reply = api.put("/v1/company", json=body)

    assert reply.status_code == 422
    assert sorted(d["field"] for d in reply.json()["error"]["details"]) == ["city", "country", "website"]
    assert api.get("/v1/company").status_code == 404


def test_the_account_of_a_new_partner(api: ApiSession, partner: str) -> None:
    reply = api.get("/v1/account")
    assert reply.status_code == 200
    assert reply.json() == {
        "partner_id": partner,
        "has_payment_method": False,
        "can_issue_licenses": False,
        "can_assign_licenses": True,
        "past_due_invoices": [],
    }
