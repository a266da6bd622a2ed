"""Month-end invoicing over HTTP against the local stack: several partners issue, transfer and revoke licenses
in May 2027; the run gives exactly one correct invoice each, a second run changes nothing, every PDF downloads."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import requests

from tests.e2e.test_past_due_story import eventually

if TYPE_CHECKING:
    from testkit.stack import ApiSession, LocalStack

PERIOD = "2027-05"
SECRET_KEY = "sk_test_local"


def with_card(stack: LocalStack) -> tuple[str, ApiSession]:
    """A partner who confirmed a visa in the portal and saved it as primary."""
    partner_id = f"agency-inv-{uuid.uuid4().hex[:10]}"
    api = stack.client(partner_id)
    intent = api.post("/v1/payment-methods/setup-intent").json()
    confirmed = requests.post(
        f"{stack.stripe_url}/v1/setup_intents/{intent['setup_intent_id']}/confirm",
        data={
            "key": intent["publishable_key"],
            "client_secret": intent["client_secret"],
            "payment_method": "pm_card_visa",
        },
        timeout=10,
    )
    assert confirmed.status_code == 200, confirmed.text
    saved = api.post("/v1/payment-methods", json={"payment_method_id": confirmed.json()["payment_method"]})
    assert saved.status_code in (200, 201), saved.text
    return partner_id, api


def issue(api: ApiSession, product: str, quantity: int) -> list[str]:
    reply = api.post("/v1/licenses", json={"product": product, "quantity": quantity})
    assert reply.status_code == 201, reply.text
    return [item["license_key"] for item in reply.json()["items"]]


def assign(api: ApiSession, key: str, site: str) -> None:
    reply = api.put(f"/v1/licenses/{key}/site", json={"site_id": site, "site_url": f"https://{site}.example"})
    assert reply.status_code == 200, reply.text


def revoke(api: ApiSession, key: str) -> None:
    assert api.post(f"/v1/licenses/{key}/revoke").status_code == 200


def invoices(api: ApiSession) -> list[dict[str, Any]]:
    reply = api.get("/v1/invoices")
    assert reply.status_code == 200, reply.text
    return [item for item in reply.json()["items"] if item["period"] == PERIOD]


def stripe_invoices_of(stack: LocalStack, invoice: dict[str, Any]) -> list[dict[str, Any]]:
    auth = (SECRET_KEY, "")
    found = requests.get(f"{stack.stripe_url}/v1/invoices/{invoice['id']}", auth=auth, timeout=10).json()
    listed = requests.get(
        f"{stack.stripe_url}/v1/invoices", params={"customer": found["customer"], "limit": 100}, auth=auth, timeout=10
    ).json()["data"]
    return [i for i in listed if i["metadata"].get("period") == PERIOD]


def test_month_end_gives_one_correct_invoice_per_partner_and_a_second_run_changes_nothing(stack: LocalStack) -> None:
    # Given three partners busy in May 2027
    stack.set_clock("2027-05-01T08:00:00Z")
    partners = [with_card(stack) for _ in range(3)]
    keys = {pid: issue(api, "jetpack-backup", 2) + issue(api, "jetpack-scan", 1) for pid, api in partners}
    for pid, api in partners:
        assign(api, keys[pid][0], f"{pid}-shop")
    stack.set_clock("2027-05-11T10:00:00Z")
    partners = [(pid, stack.client(pid)) for pid, _ in partners]  # tokens live an hour of stack time
    for pid, api in partners:
        assign(api, keys[pid][0], f"{pid}-blog")  # a transfer
        revoke(api, keys[pid][1])
    stack.set_clock("2027-05-20T23:30:00Z")
    partners = [(pid, stack.client(pid)) for pid, _ in partners]
    for pid, api in partners:
        revoke(api, keys[pid][2])
        issue(api, "jetpack-boost", 1)

    # When June begins and month-end runs
    stack.set_clock("2027-06-01T00:15:00Z")
    run = stack.invoice_run(PERIOD)
    partners = [(pid, stack.client(pid)) for pid, _ in partners]

    # Then each partner has exactly one open invoice; Stripe's automatic attempt an hour later pays it
    assert run["complete"] and run["failed"] == 0 and run["dead_lettered"] == 0, run
    for _pid, api in partners:
        (invoice,) = invoices(api)
        assert invoice["status"] == "open" and invoice["past_due"] is False and invoice["number"]
    stack.advance("PT1H")
    partners = [(pid, stack.client(pid)) for pid, _ in partners]
    first: dict[str, dict[str, Any]] = {}
    for pid, api in partners:
        eventually(lambda api=api: invoices(api)[0]["status"] == "paid", "the invoice paid by webhook")
        (invoice,) = invoices(api)
        assert invoice["status"] == "paid" and invoice["past_due"] is False and invoice["number"]
        detail = api.get(f"/v1/invoices/{invoice['id']}").json()
        estimate = api.get("/v1/billing", params={"period": PERIOD}).json()
        expected = sorted(
            (p["product"], p["license_days"], p["cost_to_date"]) for p in estimate["products"] if p["license_days"]
        )
        assert sorted((ln["product"], ln["license_days"], ln["amount"]) for ln in detail["lines"]) == expected
        assert detail["total"] == estimate["totals"]["cost_to_date"] == sum(ln["amount"] for ln in detail["lines"])
        assert len(stripe_invoices_of(stack, invoice)) == 1
        first[pid] = detail

    # When it runs again, nothing changes
    again = stack.invoice_run(PERIOD)
    assert again["complete"] and again["failed"] == 0, again
    for pid, api in partners:
        (invoice,) = invoices(api)
        assert api.get(f"/v1/invoices/{invoice['id']}").json() == first[pid]
        assert len(stripe_invoices_of(stack, invoice)) == 1

    # And every invoice's PDF downloads
    for pid, api in partners:
        reply = api.get(f"/v1/invoices/{first[pid]['id']}/pdf")
        assert reply.status_code == 200 and reply.content.startswith(b"%PDF"), reply.status_code


def test_another_partners_invoice_is_404_and_an_unended_month_is_refused(stack: LocalStack) -> None:
    stack.set_clock("2027-07-02T09:00:00Z")
    owner, owner_api = with_card(stack)
    issue(owner_api, "jetpack-scan", 1)
    stack.set_clock("2027-08-01T00:15:00Z")
    assert stack.invoice_run("2027-07")["complete"]
    owner_api = stack.client(owner)
    (invoice,) = [i for i in owner_api.get("/v1/invoices").json()["items"] if i["period"] == "2027-07"]

    stranger = stack.client(f"agency-inv-{uuid.uuid4().hex[:10]}")
    assert stranger.get(f"/v1/invoices/{invoice['id']}").status_code == 404
    assert stranger.get(f"/v1/invoices/{invoice['id']}/pdf", allow_redirects=False).status_code == 404
    assert stranger.post(f"/v1/invoices/{invoice['id']}/pay").status_code == 404

    # A month not ended yet is refused with a 409 that says so, before the planner runs
    refused = stack.anonymous.post("/_local/invoice-run", json={"period": "2027-08"}, timeout=60)
    assert refused.status_code == 409
    assert refused.json() == {
        "code": "period_not_ended",
        "message": "2027-08 has not ended yet (it ends 2027-09-01T00:00:00Z); only a month that has ended can be invoiced",
    }
