"""The month-end worker decides a failed Stripe write from what Stripe holds, never by waiting for the key to expire.

In-memory fakes: a store of partner-month records, and a Stripe whose idempotency layer saves each key's first
answer (https://docs.stripe.com/api/idempotent_requests: "Subsequent requests with the same key return the same
result, including 500 errors"). The real adapter against the emulator is in tests/integration/test_invoicing_flow.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from partnerhub.clock import ManualClock
from partnerhub.domain.invoicing import InvoiceRecord, InvoiceRunFailed, MonthEndInvoicer, Outcome, Step
from partnerhub.errors import UpstreamError

PERIOD = "2026-10"
LINES = [
    {"product": "backup", "amount": 495, "licenses": 1, "license_days": 31, "description": "Backup"},
    {"product": "scan", "amount": 84, "licenses": 1, "license_days": 6, "description": "Scan"},
]


class Store:
    """The partner-month records, as ``repository.invoices`` keeps them."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], InvoiceRecord] = {}

    def record(self, partner_id: str, period: str) -> InvoiceRecord | None:
        return self.records.get((partner_id, period))

    def start(self, partner_id: str, period: str) -> InvoiceRecord:
        return self.records.setdefault((partner_id, period), InvoiceRecord(partner_id, period))

    def _set(self, partner_id: str, period: str, **changes: Any) -> None:
        self.records[(partner_id, period)] = replace(self.records[(partner_id, period)], **changes)

    def mark_draft_requested(self, partner_id: str, period: str, lines: list[dict[str, Any]]) -> None:
        self._set(partner_id, period, draft_requested=True, lines=tuple(lines))

    def mark_itemized(self, partner_id: str, period: str) -> None:
        self._set(partner_id, period, step=Step.ITEMIZED)

    def mark_nothing_to_bill(self, partner_id: str, period: str) -> None:
        self._set(partner_id, period, step=Step.NOTHING_TO_BILL)

    def apply_stripe_invoice(self, invoice: Mapping[str, Any]) -> InvoiceRecord | None:
        partner_id, period = invoice["metadata"]["partner_id"], invoice["metadata"]["period"]
        step = Step.DRAFTED if invoice["status"] == "draft" else Step.FINALIZED
        current = self.records[(partner_id, period)]
        if current.step is Step.ITEMIZED and step is Step.DRAFTED:
            step = Step.ITEMIZED
        self._set(partner_id, period, invoice_id=invoice["id"], status=invoice["status"], step=step)
        return self.records[(partner_id, period)]

    def record_failure(self, partner_id: str, period: str, step: str, message: str, at: datetime) -> None:
        self._set(partner_id, period, failure={"step": step, "error": message})

    def clear_failure(self, partner_id: str, period: str) -> None:
        self._set(partner_id, period, failure=None)

    def next_key_generation(self, partner_id: str, period: str, seen: int) -> int:
        record = self.records[(partner_id, period)]
        if record.key_generation == seen:
            self._set(partner_id, period, key_generation=seen + 1)
        return self.records[(partner_id, period)].key_generation


class Stripe:
    """Invoices and items; ``fail`` names the writes answered with a saved 500, ``after`` whether they happened."""

    def __init__(self, fail: dict[str, bool]) -> None:
        self.fail = dict(fail)  # operation -> carried out before the 500?
        self.saved: dict[str, str] = {}  # idempotency key -> the operation's saved 500
        self.invoices: dict[str, dict[str, Any]] = {}
        self.items: list[tuple[str, str]] = []  # (invoice id, product)
        self.requests: list[str] = []

    def _request(self, operation: str, key: str, effect: Any) -> Any:
        self.requests.append(key)
        if key in self.saved:
            raise UpstreamError(f"{operation}: replayed 500", answered=True)
        if operation in self.fail:
            carried_out = self.fail.pop(operation)
            self.saved[key] = operation
            if carried_out:
                effect()
            raise UpstreamError(f"{operation}: 500", answered=True)
        return effect()

    def create_draft(self, customer: str, partner_id: str, period: str, description: str, generation: int = 0) -> Any:
        def make() -> dict[str, Any]:
            invoice = {"id": f"in_{len(self.invoices) + 1}", "status": "draft"}
            invoice["metadata"] = {"partner_id": partner_id, "period": period}
            self.invoices[invoice["id"]] = invoice
            return dict(invoice)

        return self._request("create_draft", f"invoice:{partner_id}:{period}:{generation}", make)

    def find_draft(self, customer: str, partner_id: str, period: str) -> Any:
        found = [i for i in self.invoices.values() if i["metadata"] == {"partner_id": partner_id, "period": period}]
        return dict(found[0]) if found else None

    def line_products(self, invoice_id: str) -> set[str]:
        return {product for on, product in self.items if on == invoice_id}

    def add_line(
        self, customer: str, invoice_id: str, partner_id: str, period: str, line: Mapping[str, Any], generation: int = 0
    ) -> None:
        product = str(line["product"])
        key = f"line:{partner_id}:{period}:{product}:{generation}"
        self._request(f"add_line:{product}", key, lambda: self.items.append((invoice_id, product)))

    def finalize(self, invoice_id: str, partner_id: str, period: str, generation: int = 0) -> Any:
        def open_it() -> dict[str, Any]:
            self.invoices[invoice_id]["status"] = "open"
            return dict(self.invoices[invoice_id])

        return self._request("finalize", f"finalize:{partner_id}:{period}:{generation}", open_it)

    def finalized(self, invoice_id: str) -> Any:
        invoice = self.invoices[invoice_id]
        return None if invoice["status"] == "draft" else dict(invoice)


class Customers:
    def customer(self, partner_id: str) -> str:
        return f"cus_{partner_id}"


def invoicer(store: Store, stripe: Stripe) -> MonthEndInvoicer:
    return MonthEndInvoicer(
        store,
        stripe,
        Customers(),
        licenses=lambda partner_id, period: [],
        catalog=lambda: ([], []),
        clock=ManualClock(datetime(2026, 11, 1, 0, 15, tzinfo=UTC)),
    )


def prepared(store: Store) -> None:
    """The month's lines, as the run keeps them before asking for the draft."""
    store.start("p", PERIOD)
    store.mark_draft_requested("p", PERIOD, LINES)
    store.records[("p", PERIOD)] = replace(store.records[("p", PERIOD)], draft_requested=False)


@pytest.mark.parametrize("carried_out", [True, False], ids=["made-then-500", "500-before-making"])
@pytest.mark.parametrize("operation", ["create_draft", "add_line:scan", "finalize"])
def test_a_write_answered_with_a_saved_500_is_decided_from_what_stripe_holds(operation: str, carried_out: bool) -> None:
    # Given Stripe answers one write of the month with a 500 it saves under the key (having made it or not)
    store, stripe = Store(), Stripe({operation: carried_out})
    prepared(store)
    # When the worker runs the partner-month once
    outcome = invoicer(store, stripe).run("p", PERIOD)
    # Then the month is invoiced in that run: one invoice, one line per product, finalized
    assert outcome is Outcome.INVOICED
    assert len(stripe.invoices) == 1 and sorted(stripe.items) == [("in_1", "backup"), ("in_1", "scan")]
    assert stripe.invoices["in_1"]["status"] == "open"
    # And the keys moved on only when the write had not happened: a new request, never a second object
    record = store.records[("p", PERIOD)]
    assert record.step is Step.FINALIZED and record.failure is None
    assert record.key_generation == (0 if carried_out else 1)
    answered_500 = [key for key in stripe.requests if key in stripe.saved]
    assert len(answered_500) == 1  # the failed request only: its key was never asked again


def test_a_write_that_fails_again_under_the_next_key_goes_back_to_the_queue() -> None:
    # Given Stripe fails the scan line twice, under its key and under the next one
    store, stripe = Store(), Stripe({"add_line:scan": False})
    prepared(store)
    original = stripe._request

    def twice(operation: str, key: str, effect: Any) -> Any:
        if operation == "add_line:scan" and key.endswith(":1"):
            stripe.saved[key] = operation
        return original(operation, key, effect)

    stripe._request = twice  # type: ignore[method-assign]
    # When the worker runs, it stops at the lines: the message returns to the queue with the reason on the record
    with pytest.raises(InvoiceRunFailed) as failed:
        invoicer(store, stripe).run("p", PERIOD)
    assert failed.value.step == "add_lines"
    record = store.records[("p", PERIOD)]
    assert record.failure is not None and record.key_generation == 1
    # And the next delivery of the message moves the keys on once more and completes, with no duplicate line
    assert invoicer(store, stripe).run("p", PERIOD) is Outcome.INVOICED
    assert sorted(stripe.items) == [("in_1", "backup"), ("in_1", "scan")]
    assert store.records[("p", PERIOD)].key_generation == 2


def test_a_timeout_with_no_answer_is_not_decided_by_reading() -> None:
    # Given the draft's creation times out with no answer (the request may still be running at Stripe)
    store, stripe = Store(), Stripe({})
    prepared(store)

    def no_answer(*args: Any, **kwargs: Any) -> Any:
        raise UpstreamError("timed out", answered=False)

    stripe.create_draft = no_answer  # type: ignore[method-assign]
    # When the worker runs, Then it neither reads nor moves the keys: the message goes back to the queue
    with pytest.raises(InvoiceRunFailed):
        invoicer(store, stripe).run("p", PERIOD)
    assert store.records[("p", PERIOD)].key_generation == 0 and stripe.invoices == {}
