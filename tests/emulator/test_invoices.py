"""Invoice items and invoices through the official SDK: collection, transitions, PDFs, snapshots."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import requests
import stripe

from partnerhub.clock import ManualClock


def _events(client: stripe.StripeClient, prefix: str = "invoice.") -> list[str]:
    """The types of the events Stripe recorded, oldest first: the order they were created in, which the events
    API gives (https://docs.stripe.com/api/events/list: "the most recently created event appearing first"), not
    the order webhooks arrive in, which Stripe does not promise."""
    listed = client.v1.events.list({"limit": 100})
    return [e.type for e in reversed(listed.data) if e.type.startswith(prefix)]


def test_invoice_flow_finalize_opens_and_the_automatic_attempt_pays_an_hour_later(
    client: stripe.StripeClient, customer_with_card: tuple[str, str], clock: ManualClock
) -> None:
    """https://docs.stripe.com/invoicing/integration/workflow-transitions: finalizing an auto-advancing invoice
    makes it ``open``; Stripe attempts payment about an hour later (automatic collection)."""
    customer_id, _pm_id = customer_with_card
    # Given two pending items: a fixed amount and seats at a decimal unit price
    client.v1.invoice_items.create(
        {
            "customer": customer_id,
            "amount": 1500,
            "currency": "eur",
            "description": "Setup",
            "metadata": {"kind": "setup"},
        }
    )
    seats = client.v1.invoice_items.create(
        {
            "customer": customer_id,
            "currency": "eur",
            "description": "Seats",
            "quantity": 3,
            "unit_amount_decimal": "333.5",
            "period": {"start": 1_700_000_000, "end": 1_700_086_400},
        }
    )
    assert seats.amount == 1001 and seats.quantity == 3 and seats.pricing.unit_amount_decimal == Decimal("333.5")
    # When an auto-advancing invoice takes them in and is finalized
    draft = client.v1.invoices.create(
        {
            "customer": customer_id,
            "pending_invoice_items_behavior": "include",
            "auto_advance": True,
            "description": "March",
            "metadata": {"billing_run": "r1"},
        }
    )
    assert draft.status == "draft" and draft.number is None and draft.total == 2501
    opened = client.v1.invoices.finalize_invoice(draft.id)
    # Then it is open, nothing attempted yet, the attempt due one hour after finalization
    finalized_at = opened.status_transitions.finalized_at
    assert opened.status == "open" and opened.attempt_count == 0 and opened.attempted is False
    assert opened.next_payment_attempt == finalized_at + 3600
    assert (opened.amount_due, opened.amount_paid, opened.amount_remaining) == (2501, 0, 2501)
    assert opened.number.startswith(client.v1.customers.retrieve(customer_id).invoice_prefix + "-0001")
    assert [line.amount for line in opened.lines.data] == [1500, 1001]
    assert opened.lines.data[1].parent.invoice_item_details.invoice_item == seats.id
    assert _events(client) == ["invoice.created", "invoice.finalized", "invoice.updated"]
    # And its PaymentIntent exists from finalization, for the amount due, waiting for a payment method
    intent = client.v1.invoices.retrieve(draft.id, {"expand": ["payments.data.payment.payment_intent"]})
    assert intent.payments.data[0].payment.payment_intent.status == "requires_payment_method"
    assert _events(client, "payment_intent.") == ["payment_intent.created"]
    # When 59 minutes pass, still nothing; at the hour the default card is charged
    clock.advance(timedelta(minutes=59))
    assert client.v1.invoices.retrieve(draft.id).status == "open"
    clock.advance(timedelta(minutes=1))
    paid = client.v1.invoices.retrieve(draft.id)
    assert paid.status == "paid" and paid.attempt_count == 1 and paid.attempted is True
    assert (paid.amount_due, paid.amount_paid, paid.amount_remaining) == (2501, 2501, 0)
    assert paid.status_transitions.paid_at == finalized_at + 3600 and paid.next_payment_attempt is None
    assert _events(client) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.updated",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.updated",
    ]
    assert _events(client, "payment_intent.") == ["payment_intent.created", "payment_intent.succeeded"]
    assert _events(client, "charge.") == ["charge.succeeded"]
    # And the lines endpoint pages the same lines
    lines = client.v1.invoices.line_items.list(draft.id, {"limit": 1})
    assert lines.has_more and lines.data[0].amount == 1500
    assert client.v1.customers.retrieve(customer_id).next_invoice_sequence == 2


def test_charge_failure_leaves_invoice_open_then_pay_with_new_card(client: stripe.StripeClient) -> None:
    """https://docs.stripe.com/api/invoices/pay: paying attempts at once; a decline is a 402 ``card_error``
    and the invoice stays open. Only the first attempt and automatic retries count in ``attempt_count``."""
    # Given a customer whose default card attaches but fails every charge
    customer = client.v1.customers.create({"name": "Bob"})
    failing = client.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": failing.id}})
    client.v1.invoice_items.create({"customer": customer.id, "amount": 900, "currency": "usd"})
    invoice = client.v1.invoices.create({"customer": customer.id, "pending_invoice_items_behavior": "include"})
    opened = client.v1.invoices.finalize_invoice(invoice.id, {"auto_advance": True})
    assert opened.status == "open" and opened.attempt_count == 0
    # When it is paid now: the decline is a 402, the invoice open with one attempt
    with pytest.raises(stripe.CardError) as error:
        client.v1.invoices.pay(invoice.id)
    assert error.value.error.decline_code == "generic_decline" and error.value.code == "card_declined"
    failed = client.v1.invoices.retrieve(invoice.id)
    assert failed.status == "open" and failed.attempt_count == 1 and failed.amount_remaining == 900
    assert "invoice.payment_failed" in _events(client)
    # And paying again by hand does not count as another scheduled attempt
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(invoice.id)
    assert client.v1.invoices.retrieve(invoice.id).attempt_count == 1
    # When the customer adds a good card and the invoice is paid with it
    good = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    paid = client.v1.invoices.pay(invoice.id, {"payment_method": good.id})
    # Then it is paid, through the invoice's one PaymentIntent
    assert paid.status == "paid" and paid.amount_paid == 900 and paid.attempt_count == 1
    assert _events(client, "charge.") == ["charge.failed", "charge.failed", "charge.succeeded"]


def test_void_and_uncollectible_transitions(client: stripe.StripeClient, customer_with_card: tuple[str, str]) -> None:
    """https://docs.stripe.com/invoicing/overview#invoice-statuses: open may become uncollectible or void;
    uncollectible may still be paid or voided; paid and void are final. A refusal of pay, void or
    mark_uncollectible on an invoice in the wrong state carries a message and no ``code``: Stripe's recorded
    answer to paying a paid invoice has none, and ``invoice_not_editable`` means editing
    (https://docs.stripe.com/error-codes#invoice-not-editable), not these transitions."""
    customer_id, _ = customer_with_card

    def open_invoice() -> str:
        client.v1.invoice_items.create({"customer": customer_id, "amount": 100, "currency": "usd"})
        invoice = client.v1.invoices.create({"customer": customer_id, "pending_invoice_items_behavior": "include"})
        return client.v1.invoices.finalize_invoice(invoice.id, {"auto_advance": False}).id

    # Open → uncollectible → paid is allowed
    first = open_invoice()
    marked = client.v1.invoices.mark_uncollectible(first)
    assert marked.status == "uncollectible" and marked.status_transitions.marked_uncollectible_at is not None
    assert client.v1.invoices.pay(first).status == "paid"
    # Open → void; then void is final
    second = open_invoice()
    voided = client.v1.invoices.void_invoice(second)
    assert voided.status == "void" and voided.status_transitions.voided_at is not None
    for illegal in (
        client.v1.invoices.pay,
        client.v1.invoices.mark_uncollectible,
        client.v1.invoices.void_invoice,
        client.v1.invoices.finalize_invoice,
    ):
        with pytest.raises(stripe.InvalidRequestError) as error:
            illegal(second)
        assert error.value.http_status == 400
    # Paid is final too, and a draft cannot be voided
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.void_invoice(first)
    draft = client.v1.invoices.create({"customer": customer_id})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.void_invoice(draft.id)
    assert _events(client).count("invoice.voided") == 1
    assert _events(client).count("invoice.marked_uncollectible") == 1
    # And no refusal carries an error code: Stripe answers a message only
    for refused in (
        lambda: client.v1.invoices.pay(first),
        lambda: client.v1.invoices.void_invoice(first),
        lambda: client.v1.invoices.mark_uncollectible(first),
        lambda: client.v1.invoices.pay(second),
        lambda: client.v1.invoices.void_invoice(draft.id),
        lambda: client.v1.invoices.mark_uncollectible(draft.id),
    ):
        with pytest.raises(stripe.InvalidRequestError) as refusal:
            refused()
        assert refusal.value.http_status == 400 and refusal.value.code is None and refusal.value.user_message
    # Filtering by status finds each
    assert [i.id for i in client.v1.invoices.list({"customer": customer_id, "status": "void"}).data] == [second]


def test_finalized_invoice_keeps_customer_snapshot_and_serves_pdf(client: stripe.StripeClient) -> None:
    """https://docs.stripe.com/invoicing/customer#customer-details: a finalized invoice keeps the customer's
    details as they were; ``send_invoice`` invoices are due ``days_until_due`` after finalization."""
    # Given a customer with an address, and a finalized send_invoice invoice
    customer = client.v1.customers.create(
        {"name": "Ada Lovelace", "address": {"line1": "12 St James", "city": "London", "country": "GB"}}
    )
    client.v1.invoice_items.create(
        {"customer": customer.id, "amount": 4200, "currency": "gbp", "description": "Licences"}
    )
    invoice = client.v1.invoices.create(
        {
            "customer": customer.id,
            "collection_method": "send_invoice",
            "days_until_due": 14,
            "pending_invoice_items_behavior": "include",
            "custom_fields": [{"name": "VAT", "value": "GB1"}],
        }
    )
    final = client.v1.invoices.finalize_invoice(invoice.id)
    assert final.status == "open" and final.due_date == final.status_transitions.finalized_at + 14 * 86_400
    # When the customer later moves and renames
    client.v1.customers.update(customer.id, {"name": "A. King", "address": {"line1": "1 New Rd"}})
    # Then the finalized invoice still shows the old details, and a new draft the new ones
    again = client.v1.invoices.retrieve(invoice.id)
    assert again.customer_name == "Ada Lovelace" and again.customer_address.line1 == "12 St James"
    assert client.v1.invoices.create({"customer": customer.id}).customer_name == "A. King"
    # And its PDF is a real PDF served by the emulator
    pdf = requests.get(again.invoice_pdf, timeout=5)
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert requests.get(again.hosted_invoice_url, timeout=5).status_code == 200


def test_invoice_item_rules(client: stripe.StripeClient, customer_with_card: tuple[str, str]) -> None:
    """https://docs.stripe.com/api/invoiceitems/create: amounts or unit prices times quantities; items of a
    finalized invoice cannot change (``invoice_not_editable``)."""
    customer_id, _ = customer_with_card
    # The pinned API version has no top-level unit_amount on invoice items
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.invoice_items.create(
            {
                "customer": customer_id,
                "unit_amount": 5,  # type: ignore[typeddict-unknown-key]
                "currency": "usd",
            }
        )
    assert error.value.code == "parameter_unknown"
    # price_data works, and quantities multiply in integer cents
    item = client.v1.invoice_items.create(
        {
            "customer": customer_id,
            "quantity": 7,
            "price_data": {"currency": "usd", "product": "prod_x", "unit_amount": 250},
        }
    )
    assert item.amount == 1750 and item.pricing.price_details.product == "prod_x"
    # Items on a draft can be deleted; once finalized they cannot
    invoice = client.v1.invoices.create({"customer": customer_id})
    on_draft = client.v1.invoice_items.create(
        {"customer": customer_id, "amount": 10, "currency": "usd", "invoice": invoice.id}
    )
    client.v1.invoice_items.delete(on_draft.id)
    kept = client.v1.invoice_items.create(
        {"customer": customer_id, "amount": 20, "currency": "usd", "invoice": invoice.id}
    )
    assert client.v1.invoices.retrieve(invoice.id).total == 20
    client.v1.invoices.update(invoice.id, {"description": "updated while draft"})
    client.v1.invoices.finalize_invoice(invoice.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoice_items.delete(kept.id)
    with pytest.raises(stripe.InvalidRequestError) as not_editable:
        client.v1.invoices.update(invoice.id, {"collection_method": "send_invoice"})
    assert not_editable.value.code == "invoice_not_editable"
    # The pending item is still pending
    pending = client.v1.invoice_items.list({"customer": customer_id, "pending": True})
    assert [i.id for i in pending.data] == [item.id]


def test_expand_customer_on_invoice(client: stripe.StripeClient, customer_with_card: tuple[str, str]) -> None:
    """https://docs.stripe.com/api/expanding_objects: ``expand[]`` replaces an id with its object."""
    customer_id, pm_id = customer_with_card
    invoice = client.v1.invoices.create({"customer": customer_id, "default_payment_method": pm_id})
    expanded = client.v1.invoices.retrieve(invoice.id, {"expand": ["customer", "default_payment_method"]})
    assert expanded.customer.id == customer_id and expanded.default_payment_method.card.last4 == "4242"
    assert expanded.lines.object == "list"


def test_invoice_updated_and_customer_updated_are_sent_when_the_objects_change(
    client: stripe.StripeClient, customer_with_card: tuple[str, str], clock: ManualClock
) -> None:
    """https://docs.stripe.com/api/events/types: ``invoice.updated`` "occurs whenever an invoice changes",
    ``customer.updated`` "whenever any property of a customer changes", each with ``previous_attributes``.
    Finalizing moves the customer's ``next_invoice_sequence``, so it changes the customer too."""
    customer_id, _ = customer_with_card
    draft = client.v1.invoices.create({"customer": customer_id, "currency": "usd"})
    # Given a draft that takes one line: its totals change
    client.v1.invoice_items.create({"customer": customer_id, "invoice": draft.id, "amount": 1200, "currency": "usd"})
    # When it is finalized and then paid by Stripe's attempt
    client.v1.invoices.finalize_invoice(draft.id, {"auto_advance": True})
    clock.advance(timedelta(hours=1))
    client.v1.invoices.retrieve(draft.id)
    # Then each change came with invoice.updated naming what it was before
    updates = [e for e in reversed(client.v1.events.list({"type": "invoice.updated", "limit": 100}).data)]
    previous = [e.data.previous_attributes.to_dict() for e in updates]
    assert previous[0]["total"] == 0 and updates[0].data.object.total == 1200
    assert previous[1]["status"] == "draft" and updates[1].data.object.status == "open"
    assert previous[2]["status"] == "open" and updates[2].data.object.status == "paid"
    # And finalizing moved the customer's invoice sequence: customer.updated with what it was
    moved = [
        e
        for e in client.v1.events.list({"type": "customer.updated", "limit": 100}).data
        if "next_invoice_sequence" in e.data.previous_attributes
    ]
    assert [e.data.previous_attributes.next_invoice_sequence for e in moved] == [1]
    assert moved[0].data.object.next_invoice_sequence == 2
