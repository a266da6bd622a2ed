"""The invoices API over the real handler and the events in events/invoices: list, detail, PDF, pay now."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from partnerhub.repository.partners import DynamoPartnerRepository
from tests.integration import test_invoicing_flow as shared
from tests.integration.test_invoicing_flow import MONTH_END, PERIOD, Month, at, busy_partner
from tests.support.events import load_event

# The month's fixtures: one emulator and one Stripe client for both modules' tests.
emulator, stripe_server, sdk, stripe_connection, stack, month, _calm = (
    shared.emulator,
    shared.stripe_server,
    shared.sdk,
    shared.stripe_connection,
    shared.stack,
    shared.month,
    shared._calm,
)


def call(month: Month, name: str, partner_id: str, **kwargs: Any) -> Any:
    return month.function("invoices")(load_event(f"invoices/{name}", partner_id=partner_id, **kwargs))


def pay(month: Month, partner_id: str, invoice_id: str, key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key or uuid.uuid4().hex}
    return call(month, "pay", partner_id, path={"invoice_id": invoice_id}, headers=headers)


@pytest.fixture
def invoiced(month: Month) -> tuple[str, str]:
    partner_id = busy_partner(month)
    month.run()
    record = month.invoices.record(partner_id, PERIOD)
    assert record is not None and record.invoice_id
    return partner_id, record.invoice_id


def test_the_list_comes_from_the_table_with_the_spec_fields(month: Month, invoiced: tuple[str, str]) -> None:
    partner_id, invoice_id = invoiced

    reply = call(month, "list", partner_id, query={})

    assert reply.status == 200
    assert reply.body["next_cursor"] is None
    (item,) = reply.body["items"]
    assert item["id"] == invoice_id and item["period"] == PERIOD and item["status"] == "paid"
    assert {
        "id",
        "number",
        "period",
        "status",
        "past_due",
        "total",
        "amount_due",
        "currency",
        "due_date",
        "created",
    } <= set(item)
    assert call(month, "list", partner_id, query={"status": "open"}).body["items"] == []


def test_a_bad_status_or_limit_is_a_422(month: Month, partner_id: str, stack: Any) -> None:
    assert call(month, "list", partner_id, query={"status": "lost"}).status == 422
    assert call(month, "list", partner_id, query={"limit": "0"}).status == 422
    assert call(month, "list", partner_id, query={"cursor": "not-a-cursor"}).status == 422


def test_the_detail_has_one_line_per_product_as_billed(month: Month, invoiced: tuple[str, str]) -> None:
    partner_id, invoice_id = invoiced

    reply = call(month, "get", partner_id, path={"invoice_id": invoice_id})

    assert reply.status == 200
    lines = [(ln["product"], ln["licenses"], ln["license_days"], ln["amount"]) for ln in reply.body["lines"]]
    assert lines == month.expected_lines(partner_id)
    assert all(ln["description"].startswith(ln["name"]) for ln in reply.body["lines"])
    assert all({"daily_price", "monthly_price"} <= set(ln) for ln in reply.body["lines"])


def test_another_partners_invoice_is_not_found(month: Month, invoiced: tuple[str, str]) -> None:
    _, invoice_id = invoiced
    stranger = f"agency-{uuid.uuid4().hex[:12]}"

    for name in ("get", "pdf"):
        reply = call(month, name, stranger, path={"invoice_id": invoice_id})
        assert reply.status == 404 and reply.body["error"]["code"] == "invoice_not_found"
    assert pay(month, stranger, invoice_id).status == 404
    assert call(month, "get", stranger, path={"invoice_id": "in_doesnotexist"}).status == 404


def test_the_pdf_redirects_to_a_real_pdf(month: Month, invoiced: tuple[str, str]) -> None:
    partner_id, invoice_id = invoiced

    reply = call(month, "pdf", partner_id, path={"invoice_id": invoice_id})

    assert reply.status == 302
    import requests

    assert requests.get(reply.headers["Location"], timeout=10).content.startswith(b"%PDF")


def test_a_failed_charge_makes_the_partner_past_due_until_paid_with_a_good_card(month: Month) -> None:
    # Given a partner whose card is charged and declined at month end
    partner_id = month.partner("pm_card_chargeCustomerFail")
    month.issue(partner_id, "jetpack-security", 2, at(5))
    month.run()
    record = month.invoices.record(partner_id, PERIOD)
    assert record is not None and record.invoice_id and record.status == "open" and record.past_due
    partners = DynamoPartnerRepository(month.table)
    assert partners.standing(partner_id).past_due_invoices == (record.invoice_id,)
    listed = call(month, "list", partner_id, query={}).body["items"]
    assert listed[0]["past_due"] is True

    # When the partner pays again with the same card: 402 with Stripe's message, still past due
    declined = pay(month, partner_id, record.invoice_id)
    assert declined.status == 402 and declined.body["error"]["code"] == "card_declined"
    assert declined.body["error"]["message"]
    assert partners.standing(partner_id).past_due_invoices == (record.invoice_id,)

    # When a good card becomes primary and the partner pays: paid, and past due is cleared
    month.use_card(partner_id, "pm_card_visa")
    key = uuid.uuid4().hex
    paid = pay(month, partner_id, record.invoice_id, key)
    assert paid.status == 200 and paid.body["status"] == "paid" and paid.body["past_due"] is False
    assert partners.standing(partner_id).past_due_invoices == ()

    # The same request replays; paying a paid invoice again is a conflict
    assert pay(month, partner_id, record.invoice_id, key).body == paid.body
    again = pay(month, partner_id, record.invoice_id)
    assert again.status == 409 and again.body["error"]["code"] == "invoice_not_payable"
    assert MONTH_END
