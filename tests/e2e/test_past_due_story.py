"""The past-due story over HTTP against the local stack, with the emulator's real signed webhooks.

A partner whose only card declines every charge is invoiced at month end; the failed payment arrives by
webhook and blocks issuing and assigning with 402 ``past_due_invoice``; the partner adds a working card,
pays the invoice, and is unblocked. Webhooks are asynchronous: the account is polled with a bounded wait.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests

if TYPE_CHECKING:
    from testkit.stack import ApiSession, LocalStack

WAIT_SECONDS = 10.0
SECRET_KEY = "sk_test_local"  # the local stack's Stripe key


@pytest.fixture
def restore_clock(stack: LocalStack) -> Iterator[None]:
    """The stack is shared by the whole session: put its clock back afterwards."""
    before = stack.now()
    yield
    stack.set_clock(before)


def eventually(check: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    """Poll ``check`` until it returns something truthy, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.1)


def account(api: ApiSession) -> dict[str, Any]:
    reply = api.get("/v1/account")
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def issue(api: ApiSession, quantity: int = 1) -> requests.Response:
    return api.post("/v1/licenses", json={"product": "jetpack-backup", "quantity": quantity})


def assign(api: ApiSession, key: str, site_id: str) -> requests.Response:
    return api.put(f"/v1/licenses/{key}/site", json={"site_id": site_id, "site_url": f"https://{site_id}.example"})


def webhook_attempts(stack: LocalStack, event_type: str) -> list[dict[str, Any]]:
    reply = requests.get(f"{stack.stripe_url}/_emulator/webhooks/attempts", timeout=10)
    reply.raise_for_status()
    body = reply.json()
    attempts = body["attempts"] if isinstance(body, dict) else body
    return [a for a in attempts if a["event_type"] == event_type]


def past_due_partner(stack: LocalStack) -> tuple[ApiSession, str, list[str]]:
    """A partner whose only card declines, invoiced for January 2027: (API session, invoice id, license keys)."""
    partner = f"agency-e2e-{uuid.uuid4().hex[:10]}"

    # Given a partner whose only card attaches fine but declines every charge, with licenses in January
    stack.set_clock("2027-01-05T09:00:00Z")
    api = stack.client(partner)
    added = api.post("/v1/payment-methods", json={"payment_method_id": "pm_card_chargeCustomerFail"})
    assert added.status_code == 201, added.text
    issued = issue(api, 2)
    assert issued.status_code == 201, issued.text
    keys = [lic["license_key"] for lic in issued.json()["items"]]
    assert assign(api, keys[0], "bakery").status_code == 200

    # When February comes, January is invoiced (open), and Stripe's attempt an hour later is declined
    stack.set_clock("2027-02-01T00:15:00Z")
    run = stack.invoice_run("2027-01")
    assert run.get("complete", True), run
    stack.advance("PT1H")
    api = stack.client(partner)  # a fresh token at the new time

    # Then the failed payment arrives by webhook and the partner is past due
    past_due = eventually(lambda: account(api)["past_due_invoices"], "the partner to be past due")
    assert len(past_due) == 1
    invoice_id = str(past_due[0])
    eventually(
        lambda: [a for a in webhook_attempts(stack, "invoice.payment_failed") if a["status"] == 200],
        "invoice.payment_failed delivered and acknowledged",
    )
    return api, invoice_id, keys


def test_a_declined_month_end_charge_blocks_the_partner_until_the_invoice_is_paid(
    stack: LocalStack, restore_clock: None
) -> None:
    api, invoice_id, keys = past_due_partner(stack)
    now = account(api)
    assert now["can_issue_licenses"] is False and now["can_assign_licenses"] is False

    listed = api.get("/v1/invoices").json()["items"]
    [invoice] = [i for i in listed if i["id"] == invoice_id]
    assert invoice["period"] == "2027-01" and invoice["status"] == "open" and invoice["past_due"] is True

    # And issuing and assigning are refused with 402 past_due_invoice, while the assigned site keeps its license
    for refused in (issue(api), assign(api, keys[1], "florist")):
        assert refused.status_code == 402, refused.text
        assert refused.json()["error"]["code"] == "past_due_invoice"
    assert api.get(f"/v1/licenses/{keys[0]}").json()["site"]["site_id"] == "bakery"

    # When the partner adds a working card as primary and pays the invoice
    visa = api.post("/v1/payment-methods", json={"payment_method_id": "pm_card_visa", "primary": True})
    assert visa.status_code == 201, visa.text
    paid = api.post(f"/v1/invoices/{invoice_id}/pay")
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid"

    # Then the invoice is paid and the partner unblocked (the webhook agrees, whenever it lands)
    eventually(lambda: not account(api)["past_due_invoices"], "the partner to be unblocked")
    eventually(
        lambda: [a for a in webhook_attempts(stack, "invoice.paid") if a["status"] == 200],
        "invoice.paid delivered and acknowledged",
    )
    assert account(api)["can_issue_licenses"] is True
    assert api.get(f"/v1/invoices/{invoice_id}").json()["status"] == "paid"
    assert issue(api).status_code == 201
    assert assign(api, keys[1], "florist").status_code == 200


def test_an_invoice_paid_outside_the_portal_unblocks_the_partner_by_webhook_alone(
    stack: LocalStack, restore_clock: None
) -> None:
    api, invoice_id, _ = past_due_partner(stack)
    visa = api.post("/v1/payment-methods", json={"payment_method_id": "pm_card_visa", "primary": True})
    assert visa.status_code == 201, visa.text
    assert account(api)["past_due_invoices"] == [invoice_id]

    # When the invoice is paid in Stripe directly (its hosted page, the dashboard): only a webhook tells us
    paid = requests.post(f"{stack.stripe_url}/v1/invoices/{invoice_id}/pay", auth=(SECRET_KEY, ""), timeout=10)
    assert paid.status_code == 200, paid.text

    # Then invoice.paid arrives and the partner is unblocked
    eventually(lambda: not account(api)["past_due_invoices"], "invoice.paid to unblock the partner")
    assert account(api)["can_issue_licenses"] is True
    assert api.get(f"/v1/invoices/{invoice_id}").json()["status"] == "paid"
