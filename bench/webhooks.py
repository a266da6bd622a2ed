"""Stripe's events at the webhook route, one kind at a time: the calls each costs and its warm latency.

Stripe sends ``invoice.updated`` beside nearly every other invoice event and ``customer.updated`` whenever a
customer changes (finalizing an invoice moves its invoice sequence), so most deliveries are of these two; they
should cost one cheap path each: the signature, the event's dedupe claim, and no Stripe call unless the event
shows something the records do not hold yet. Each kind is delivered ``n`` times (a new event id each, so the
dedupe never short-cuts it) for a partner with one finalized invoice, against the same run's ``GetItem``
baseline; ``invoice.paid`` (a Stripe read and a transaction) and a ``customer.updated`` that changes the default
card (two Stripe reads and the card mirror) are the full paths beside them. ``python -m bench webhooks`` runs
this section alone and replaces it in ``bench/results.md``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.harness import Bench, Calls
from bench.latency import WARMUP, Latency, baseline, percentile
from bench.routes import invoiced

ROUTE = "POST /v1/webhooks/stripe"


@dataclass
class EventCost:
    """One kind of event: what its last delivery called, and its warm latency."""

    name: str
    event_type: str
    calls: Calls | None = None
    status: int | None = None
    samples: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def p50(self) -> float:
        return percentile(self.samples, 50)

    @property
    def p99(self) -> float:
        return percentile(self.samples, 99)


def signed_event(bench: Bench, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """What ``Bench.event`` needs to send a new Stripe event of ``event_type``, signed at the stack's time."""
    from local.resources import stripe_webhook_secret
    from local.stripe_emulator import sign

    now = int(bench.stack.clock.now().timestamp())
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    event = {
        "id": f"evt_bench{secrets.token_hex(8)}",
        "object": "event",
        "type": event_type,
        "created": now,
        "livemode": False,
        "data": data,
    }
    payload = json.dumps(event).encode()
    return {
        "partner_id": None,
        "raw_body": payload,
        "headers": {"stripe-signature": sign(payload, stripe_webhook_secret(), now)},
    }


def _kinds(bench: Bench) -> list[tuple[str, str, dict[str, Any], dict[str, Any] | None]]:
    """(name, type, object, previous attributes) of each kind measured, for one partner's finalized invoice."""
    from partnerhub.repository.partners import DynamoPartnerRepository

    partner, invoice_id = invoiced(bench)
    customer = DynamoPartnerRepository(bench.table, bench.dynamodb()).stripe_customer_id(partner)
    if customer is None:
        raise RuntimeError("the set-up partner has no Stripe customer")
    stripe_invoice = _stripe_invoice(bench, invoice_id)
    # The invoice as Stripe holds it now (its automatic attempt may have run): the record catches up with the first
    # delivery, a warm-up one, and every later delivery finds the state recorded.
    state = {"id": invoice_id, "object": "invoice", **{k: stripe_invoice[k] for k in ("status", "attempt_count")}}
    sequence = int(stripe_invoice.get("number", "x-0").rsplit("-", 1)[-1] or 0)
    return [
        ("invoice.updated, its state already recorded", "invoice.updated", state, {"webhooks_delivered_at": None}),
        (
            "invoice.updated, an invoice that is not ours",
            "invoice.updated",
            {**state, "id": "in_bench_elsewhere"},
            None,
        ),
        (
            "customer.updated, the invoice sequence moved",
            "customer.updated",
            {"id": customer, "object": "customer"},
            {"next_invoice_sequence": sequence},
        ),
        ("invoice.paid (full path: Stripe read, transaction)", "invoice.paid", state, None),
        (
            "customer.updated, the default card changed (full path: card sync)",
            "customer.updated",
            {"id": customer, "object": "customer"},
            {"invoice_settings": {"default_payment_method": None}},
        ),
    ]


def _stripe_invoice(bench: Bench, invoice_id: str) -> dict[str, Any]:
    import requests

    reply = requests.get(f"{bench.stripe_url()}/v1/invoices/{invoice_id}", auth=("sk_test_local", ""), timeout=30)
    reply.raise_for_status()
    return dict(reply.json())


def measure(
    bench: Bench, n: int, seconds_per_kind: float = 6.0, log: Callable[[str], None] = print
) -> tuple[Latency, list[EventCost]]:
    base = baseline(bench, n)
    log(f"  webhooks: GetItem p50 {base.p50 * 1000:.2f} ms")
    rows: list[EventCost] = []
    try:
        kinds = _kinds(bench)
    except Exception as exc:
        return base, [EventCost("set-up", "-", error=f"{type(exc).__name__}: {exc}"[:200])]
    for name, event_type, obj, previous in kinds:
        row = EventCost(name, event_type)
        rows.append(row)
        try:
            deadline = time.monotonic() + seconds_per_kind
            for i in range(WARMUP + n):
                if len(row.samples) >= min(n, 30) and time.monotonic() > deadline:
                    break
                reply = bench.invoke(ROUTE, **signed_event(bench, event_type, obj, previous))
                if reply.status >= 400:
                    raise RuntimeError(f"answered {reply.status}: {str(reply.body)[:120]}")
                row.calls, row.status = reply.calls, reply.status  # the last delivery's: the steady state
                if i >= WARMUP:
                    row.samples.append(reply.seconds)
        except Exception as exc:
            row.error = f"{type(exc).__name__}: {exc}"[:200]
            row.samples.clear()
        log(f"  webhooks: {name}: {row.error or f'p50 {row.p50 * 1000:.1f} ms over {len(row.samples)} deliveries'}")
    return base, rows
