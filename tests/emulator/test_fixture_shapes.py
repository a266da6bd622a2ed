"""The emulator's objects have the shape of Stripe's own example objects (fixtures3.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import stripe

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "stripe" / "fixtures3.json"


@pytest.fixture(scope="module")
def fixtures() -> dict[str, Any]:
    if not FIXTURES.exists():
        pytest.skip(f"Stripe's fixtures3.json is not at {FIXTURES}; it lives outside the project")
    resources: dict[str, Any] = json.loads(FIXTURES.read_text())["resources"]
    return resources


def _raw(obj: stripe.StripeObject) -> dict[str, Any]:
    """The JSON the emulator sent, before the SDK turned it into objects."""
    assert obj.last_response is not None
    body: dict[str, Any] = json.loads(obj.last_response.body)
    return body


def _same_nested_objects(ours: Any, theirs: Any, path: str) -> None:
    """Where both sides hold a nested hash with an ``object`` value, the values agree (recursively)."""
    if not (isinstance(ours, dict) and isinstance(theirs, dict)):
        return
    if "object" in ours and "object" in theirs:
        assert ours["object"] == theirs["object"], path
    for key, value in ours.items():
        if key in theirs:
            if isinstance(value, list) and isinstance(theirs[key], list) and value and theirs[key]:
                _same_nested_objects(value[0], theirs[key][0], f"{path}.{key}[0]")
            else:
                _same_nested_objects(value, theirs[key], f"{path}.{key}")


def _compare(ours: dict[str, Any], theirs: dict[str, Any], kind: str) -> None:
    assert ours["object"] == theirs["object"]
    extra = set(ours) - set(theirs)
    assert not extra, f"{kind} has keys Stripe's object lacks: {sorted(extra)}"
    missing = set(theirs) - set(ours)
    assert not missing, f"{kind} lacks Stripe's keys: {sorted(missing)}"
    # An event's data.object is whatever changed; the fixture's example event carries a plan.
    nested = {k: v for k, v in ours.items() if not (kind == "event" and k == "data")}
    _same_nested_objects(nested, theirs, kind)


def test_objects_match_stripe_fixtures(client: stripe.StripeClient, fixtures: dict[str, Any]) -> None:
    # Given one of everything the emulator makes
    customer = client.v1.customers.create({"name": "Ada", "address": {"line1": "1 St"}})
    intent = client.v1.setup_intents.create({"customer": customer.id})
    confirmed = client.v1.setup_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    pm = client.v1.payment_methods.retrieve(confirmed.payment_method)
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": pm.id}})
    item = client.v1.invoice_items.create({"customer": customer.id, "amount": 1000, "currency": "usd"})
    invoice = client.v1.invoices.create({"customer": customer.id, "pending_invoice_items_behavior": "include"})
    paid = client.v1.invoices.finalize_invoice(invoice.id, {"auto_advance": True})
    line = client.v1.invoices.line_items.list(invoice.id)
    event = client.v1.events.retrieve(client.v1.events.list({"limit": 1}).data[0].id)
    objects = {
        "customer": _raw(client.v1.customers.retrieve(customer.id)),
        "payment_method": _raw(pm),
        "setup_intent": _raw(confirmed),
        "invoice": _raw(paid),
        "invoiceitem": _raw(client.v1.invoice_items.retrieve(item.id)),
        "line_item": _raw(line)["data"][0],
        "event": _raw(event),
    }
    # Then each has exactly Stripe's top-level keys, and nested objects agree on their type
    for kind, ours in objects.items():
        _compare(ours, fixtures[kind], kind)
    # And the invoice's embedded lines are line items like the fixture's
    _compare(objects["invoice"]["lines"]["data"][0], fixtures["invoice"]["lines"]["data"][0], "invoice.lines[0]")
    assert objects["invoice"]["lines"]["object"] == fixtures["invoice"]["lines"]["object"] == "list"


def test_payment_objects_match_stripe_fixtures(
    client: stripe.StripeClient, fixtures: dict[str, Any], clock: Any, customer_with_card: tuple[str, str]
) -> None:
    """The PaymentIntent, Charge and InvoicePayment behind an invoice's automatic collection."""
    from datetime import timedelta

    customer_id, _ = customer_with_card
    client.v1.invoice_items.create({"customer": customer_id, "amount": 1000, "currency": "usd"})
    invoice = client.v1.invoices.create({"customer": customer_id, "pending_invoice_items_behavior": "include"})
    client.v1.invoices.finalize_invoice(invoice.id, {"auto_advance": True})
    clock.advance(timedelta(hours=1))
    paid = client.v1.invoices.retrieve(invoice.id, {"expand": ["payments"]})
    payment = _raw(paid)["payments"]["data"][0]
    intent = client.v1.payment_intents.retrieve(payment["payment"]["payment_intent"])
    objects = {
        "invoice_payment": payment,
        "payment_intent": _raw(intent),
        "charge": _raw(client.v1.charges.retrieve(intent.latest_charge)),
    }
    for kind, ours in objects.items():
        _compare(ours, fixtures[kind], kind)
