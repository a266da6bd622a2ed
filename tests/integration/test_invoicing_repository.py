"""The invoice repository's contract: records from Stripe objects, pointers, the partner's standing kept in step."""

from __future__ import annotations

import os
from typing import Any

import pytest

from local.resources import LocalResources
from partnerhub import clients
from partnerhub.repository.invoices import DynamoInvoiceRepository
from partnerhub.repository.partners import DynamoPartnerRepository

PERIOD = "2026-10"


@pytest.fixture
def invoices(aws: LocalResources) -> DynamoInvoiceRepository:
    return DynamoInvoiceRepository(os.environ["TABLE_NAME"], clients.dynamodb())


def stripe_invoice(partner_id: str, invoice_id: str, status: str, attempts: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "id": invoice_id,
        "object": "invoice",
        "status": status,
        "number": None if status == "draft" else "ABCD-0001",
        "total": 1234,
        "amount_due": 1234,
        "amount_paid": 1234 if status == "paid" else 0,
        "currency": "usd",
        "due_date": None,
        "created": 1793491200,
        "attempt_count": attempts,
        "hosted_invoice_url": None,
        "invoice_pdf": None if status == "draft" else f"http://stripe.local/{invoice_id}/pdf",
        "status_transitions": {"paid_at": 1793491300 if status == "paid" else None},
        "customer": "cus_123",
        "metadata": {"partner_id": partner_id, "period": PERIOD},
        **extra,
    }


def test_an_invoice_known_by_its_metadata_gets_a_record_and_a_pointer(
    invoices: DynamoInvoiceRepository, partner_id: str
) -> None:
    record = invoices.apply_stripe_invoice(stripe_invoice(partner_id, f"in_{partner_id}", "draft"))

    assert record is not None and record.status == "draft" and record.step == "drafted"
    assert invoices.find_by_stripe_id(f"in_{partner_id}") == record
    assert invoices.get(partner_id, f"in_{partner_id}") == record
    assert record.created == "2026-11-01T00:00:00Z"


def test_an_unknown_invoice_writes_nothing(invoices: DynamoInvoiceRepository, partner_id: str) -> None:
    obj = stripe_invoice(partner_id, f"in_x{partner_id}", "open", metadata={})

    assert invoices.apply_stripe_invoice(obj) is None
    assert invoices.find_by_stripe_id(f"in_x{partner_id}") is None


def test_another_partners_invoice_is_not_found(invoices: DynamoInvoiceRepository, partner_id: str) -> None:
    invoices.apply_stripe_invoice(stripe_invoice(partner_id, f"in_{partner_id}", "open"))

    assert invoices.get("agency-someone-else", f"in_{partner_id}") is None


def test_a_failed_payment_makes_the_partner_past_due_and_paying_clears_it(
    invoices: DynamoInvoiceRepository, partner_id: str
) -> None:
    partners = DynamoPartnerRepository(os.environ["TABLE_NAME"], clients.dynamodb())
    invoice_id = f"in_{partner_id}"
    invoices.apply_stripe_invoice(stripe_invoice(partner_id, invoice_id, "open", attempts=1))
    assert partners.standing(partner_id).past_due_invoices == (invoice_id,)

    record = invoices.apply_stripe_invoice(stripe_invoice(partner_id, invoice_id, "paid", attempts=2))

    assert record is not None and record.status == "paid" and not record.past_due
    assert partners.standing(partner_id).past_due_invoices == ()


def test_a_stale_object_never_moves_the_record_back(invoices: DynamoInvoiceRepository, partner_id: str) -> None:
    partners = DynamoPartnerRepository(os.environ["TABLE_NAME"], clients.dynamodb())
    invoice_id = f"in_{partner_id}"
    invoices.apply_stripe_invoice(stripe_invoice(partner_id, invoice_id, "paid", attempts=2))

    after_stale = invoices.apply_stripe_invoice(stripe_invoice(partner_id, invoice_id, "open", attempts=1))

    assert after_stale is not None and after_stale.status == "paid"
    assert partners.standing(partner_id).past_due_invoices == ()


def test_the_list_pages_newest_month_first_and_filters_by_status(
    invoices: DynamoInvoiceRepository, partner_id: str
) -> None:
    for month, status in (("2026-07", "paid"), ("2026-08", "open"), ("2026-09", "paid")):
        obj = stripe_invoice(partner_id, f"in_{month}_{partner_id}", status)
        obj["metadata"] = {"partner_id": partner_id, "period": month}
        invoices.apply_stripe_invoice(obj)
    invoices.start(partner_id, "2026-10")
    invoices.mark_nothing_to_bill(partner_id, "2026-10")

    first = invoices.list_for_partner(partner_id, limit=2)
    second = invoices.list_for_partner(partner_id, limit=2, cursor=first.next_cursor)
    paid = invoices.list_for_partner(partner_id, status="paid")

    assert [r.period for r in first.items] == ["2026-09", "2026-08"]
    assert [r.period for r in second.items] == ["2026-07"] and second.next_cursor is None
    assert [r.period for r in paid.items] == ["2026-09", "2026-07"]
