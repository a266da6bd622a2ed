"""How to call each API route meaningfully, many times in a row: set-up (not timed) and one request per call.

A route with a scenario here gets a realistic request (a license that exists, a site to move it to,
a card to delete). Any other route in ``template.yaml`` falls back to its sample event in
``events/`` (path, query, body and groups as the sample has them) for a fresh paying partner, and
its status code is reported, so a new route shows up in the table instead of being left out.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.harness import ROOT, Bench, Reply

EVENTS = ROOT / "events"
OPERATORS = ("operators",)
PRODUCT = "jetpack-backup"


@dataclass
class Step:
    """One call: ``prepare`` runs first, untimed; then the request is made (and measured)."""

    request: dict[str, Any]
    prepare: Callable[[], None] | None = None


@dataclass
class Plan:
    """Up to ``n`` steps, produced lazily: set-up between steps happens as the iterator advances (untimed)."""

    steps: Iterator[Step]
    source: str = "scenario"
    notes: list[str] = field(default_factory=list)
    repeatable: bool = True


def _key() -> dict[str, str]:
    return {"idempotency-key": secrets.token_hex(12)}


def _site(i: int) -> dict[str, str]:
    return {"site_id": f"site-{i}-{secrets.token_hex(3)}", "site_url": f"https://client-{i}.example.com"}


def issue(bench: Bench, partner: str, quantity: int, product: str = PRODUCT) -> list[str]:
    """Issue licenses through the API, 100 at a time; their keys."""
    keys: list[str] = []
    while quantity > 0:
        batch = min(100, quantity)
        reply = bench.invoke(
            "POST /v1/licenses", partner_id=partner, body={"product": product, "quantity": batch}, headers=_key()
        )
        _expect(reply, 201, "POST /v1/licenses")
        keys += [item["license_key"] for item in reply.body["items"]]
        quantity -= batch
    return keys


def add_card(bench: Bench, partner: str, payment_method: str = "pm_card_visa") -> str:
    reply = bench.invoke(
        "POST /v1/payment-methods",
        partner_id=partner,
        body={"payment_method_id": payment_method, "primary": True},
        headers=_key(),
    )
    _expect(reply, 201, "POST /v1/payment-methods")
    return str(reply.body["id"])


def invoiced(bench: Bench, payment_method: str = "pm_card_visa") -> tuple[str, str]:
    """A partner with one finalized invoice, for June 2025 (a month nothing else in the bench touches): a
    license issued then and the month-end worker run for that partner-month; the clock is put back after."""
    from datetime import UTC, datetime

    clock = bench.stack.clock
    was = clock.now()
    try:
        clock.set(datetime(2025, 6, 15, 12, tzinfo=UTC))
        partner = bench.paying_partner()
        add_card(bench, partner, payment_method)
        issue(bench, partner, 1)
        clock.set(datetime(2025, 7, 1, 0, 20, tzinfo=UTC))
        worker = next(f for f in bench.template.functions if "worker" in f.lower())
        body = json.dumps({"partner_id": partner, "period": "2025-06"})
        record = {
            "messageId": secrets.token_hex(8),
            "receiptHandle": secrets.token_hex(8),
            "body": body,
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench",
            "awsRegion": "us-east-1",
        }
        result = bench.invoke_function(worker, {"Records": [record]})
        if result and result.get("batchItemFailures"):
            raise RuntimeError(f"set-up month-end failed: {result}")
        reply = bench.invoke("GET /v1/invoices", partner_id=partner)
        _expect(reply, 200, "GET /v1/invoices")
        return partner, str(reply.body["items"][0]["id"])
    finally:
        clock.set(was)


def _invoice_detail(bench: Bench, n: int) -> Plan:
    partner, invoice = invoiced(bench)
    return Plan(Step({"partner_id": partner, "path": {"invoice_id": invoice}}) for _ in range(n))


def _pay(bench: Bench, n: int) -> Plan:
    def step() -> Step:
        # A card that declines at month end leaves the invoice open; the timed call pays it with a good card.
        partner, invoice = invoiced(bench, "pm_card_chargeCustomerFail")
        add_card(bench, partner, "pm_card_visa")
        return Step({"partner_id": partner, "path": {"invoice_id": invoice}, "headers": _key()})

    return Plan((step() for _ in range(n)), notes=["an open invoice after a declined month-end charge (untimed)"])


def _expect(reply: Reply, status: int, what: str) -> None:
    if reply.status != status:
        raise RuntimeError(f"set-up call {what} answered {reply.status}: {reply.body}")


# -- the scenarios -----------------------------------------------------------------------------------


def _list(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    issue(bench, partner, 60)
    return Plan((Step({"partner_id": partner, "query": {"limit": "50"}}) for _ in range(n)), notes=["60 licenses"])


def _counts(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    issue(bench, partner, 5)
    return Plan(Step({"partner_id": partner}) for _ in range(n))


def _issue(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    body = {"product": PRODUCT, "quantity": 1}
    return Plan(Step({"partner_id": partner, "body": body, "headers": _key()}) for _ in range(n))


def _detail(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    (key,) = issue(bench, partner, 1)
    return Plan(Step({"partner_id": partner, "path": {"license_key": key}}) for _ in range(n))


def _assign(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    (key,) = issue(bench, partner, 1)
    steps = (
        Step({"partner_id": partner, "path": {"license_key": key}, "body": _site(i), "headers": _key()})
        for i in range(n)
    )
    return Plan(steps, notes=["the first call assigns, the rest transfer"])


def _unassign(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    (key,) = issue(bench, partner, 1)

    def assign(i: int) -> Callable[[], None]:
        def run() -> None:
            reply = bench.invoke(
                "PUT /v1/licenses/{license_key}/site",
                partner_id=partner,
                path={"license_key": key},
                body=_site(i),
                headers=_key(),
            )
            _expect(reply, 200, "PUT /v1/licenses/{license_key}/site")

        return run

    steps = (
        Step({"partner_id": partner, "path": {"license_key": key}, "headers": _key()}, prepare=assign(i))
        for i in range(n)
    )
    return Plan(steps)


def _revoke(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()

    def steps() -> Iterator[Step]:
        made = 0
        while made < n:
            for key in issue(bench, partner, min(50, n - made)):
                made += 1
                yield Step({"partner_id": partner, "path": {"license_key": key}, "headers": _key()})

    return Plan(steps(), notes=["licenses issued 50 at a time between calls"])


def _external(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    steps = (
        Step(
            {
                "partner_id": None,
                "groups": OPERATORS,
                "path": {"partner_id": partner},
                "body": {"product": PRODUCT, "site": _site(i)},
                "headers": _key(),
            }
        )
        for i in range(n)
    )
    return Plan(steps)


def _label(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    (key,) = issue(bench, partner, 1)
    steps = (
        Step(
            {
                "partner_id": partner,
                "path": {"license_key": key},
                "body": {"client": f"Client {'AB'[i % 2]}", "tags": ["retainer", f"q{i % 4 + 1}"]},
                "headers": _key(),
            }
        )
        for i in range(n)
    )
    return Plan(steps, notes=["each call changes the client and a tag"])


def _operator_invoice_action(bench: Bench, n: int) -> Plan:
    """An operator's void or mark-uncollectible, each on an invoice still open after a declined month-end
    charge (made untimed, a month-end run per call)."""

    def step() -> Step:
        _, invoice = invoiced(bench, "pm_card_chargeCustomerFail")
        return Step({"partner_id": None, "groups": OPERATORS, "path": {"invoice_id": invoice}, "headers": _key()})

    return Plan((step() for _ in range(n)), notes=["an open invoice after a declined month-end charge (untimed)"])


def _operator_partner(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    issue(bench, partner, 3)
    steps = (Step({"partner_id": None, "groups": OPERATORS, "path": {"partner_id": partner}}) for _ in range(n))
    return Plan(steps, notes=["a partner with 3 licenses"])


def _preview(bench: Bench, n: int) -> Plan:
    """One page of the month-end dry run for the last ended month: the first 20 billable partners by id (20
    more are issued licenses first, so the page is full), computed as the worker would bill them."""
    now = bench.stack.clock.now()
    last_month = (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    for _ in range(20):
        issue(bench, bench.paying_partner(), 2)
    request = {"partner_id": None, "groups": OPERATORS, "path": {"period": last_month}, "query": {"limit": "20"}}
    return Plan((Step(request) for _ in range(n)), notes=["a page of 20 partners"])


def _next_months_price(bench: Bench) -> dict[str, Any]:
    """An operator's ``PUT /v1/prices/{product}`` of the bench product from the first of next month."""
    now = bench.stack.clock.now()
    first_of_next = (now.replace(day=1) + timedelta(days=32)).replace(day=1)
    body = {"daily_price": 17, "monthly_price": 495, "effective_from": first_of_next.date().isoformat()}
    return {"partner_id": None, "groups": OPERATORS, "path": {"product": PRODUCT}, "body": body}


def _cancel_scheduled_price(bench: Bench, n: int) -> Plan:
    price = _next_months_price(bench)

    def schedule() -> None:
        _expect(bench.invoke("PUT /v1/prices/{product}", **price, headers=_key()), 200, "PUT /v1/prices/{product}")

    path = {"product": PRODUCT, "effective_from": price["body"]["effective_from"]}
    steps = (
        Step({"partner_id": None, "groups": OPERATORS, "path": path, "headers": _key()}, prepare=schedule)
        for _ in range(n)
    )
    return Plan(steps, notes=["a price scheduled for next month before each call (untimed)"])


def _prices(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    return Plan(Step({"partner_id": partner}) for _ in range(n))


def _schedule_price(bench: Bench, n: int) -> Plan:
    price = _next_months_price(bench)
    steps = (Step({**price, "headers": _key()}) for _ in range(n))
    return Plan(steps, notes=["the same price version each call"])


def _estimate(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    issue(bench, partner, 20)
    return Plan((Step({"partner_id": partner}) for _ in range(n)), notes=["20 licenses"])


def _list_cards(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    add_card(bench, partner)
    add_card(bench, partner, "pm_card_mastercard")
    return Plan((Step({"partner_id": partner}) for _ in range(n)), notes=["2 cards"])


def _setup_intent(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    return Plan(Step({"partner_id": partner, "headers": _key()}) for _ in range(n))


def _add_card(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    body = {"payment_method_id": "pm_card_visa", "primary": True}
    return Plan(Step({"partner_id": partner, "body": body, "headers": _key()}) for _ in range(n))


def _make_primary(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    cards = [add_card(bench, partner), add_card(bench, partner, "pm_card_mastercard")]
    steps = (
        Step({"partner_id": partner, "path": {"payment_method_id": cards[i % 2]}, "headers": _key()}) for i in range(n)
    )
    return Plan(steps, notes=["alternates between two cards"])


def _delete_card(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    steps = (
        Step({"partner_id": partner, "path": {"payment_method_id": add_card(bench, partner)}, "headers": _key()})
        for _ in range(n)
    )
    return Plan(steps, notes=["a card added (untimed) before each call"])


def _sample_company() -> dict[str, Any]:
    sample = _samples().get("PUT /v1/company")
    if sample and sample.get("body"):
        return dict(json.loads(sample["body"]))
    return {
        "name": "Agency",
        "contact_first_name": "Ada",
        "contact_last_name": "Lovelace",
        "website": "https://agency.example.com",
        "address_line1": "1 Main St",
        "city": "Springfield",
        "country": "US",
        "postal_code": "12345",
    }


def _get_company(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    reply = bench.invoke("PUT /v1/company", partner_id=partner, body=_sample_company(), headers=_key())
    _expect(reply, 200, "PUT /v1/company")
    return Plan(Step({"partner_id": partner}) for _ in range(n))


def _put_company(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    add_card(bench, partner)
    body = _sample_company()
    steps = (
        Step({"partner_id": partner, "body": {**body, "name": f"Agency {i}"}, "headers": _key()}) for i in range(n)
    )
    return Plan(steps, notes=["partner with a Stripe customer"])


def _account(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    return Plan(Step({"partner_id": partner}) for _ in range(n))


def _connect(bench: Bench, partner: str, site: dict[str, str]) -> None:
    reply = bench.invoke("POST /v1/sites", partner_id=partner, body=site, headers=_key())
    _expect(reply, 200, "POST /v1/sites")


def _list_sites(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    for i in range(60):
        _connect(bench, partner, _site(i))
    for key, i in zip(issue(bench, partner, 20), range(20), strict=True):  # a third of them hold a license
        site = _site(i)
        _connect(bench, partner, site)
        reply = bench.invoke(
            "PUT /v1/licenses/{license_key}/site", partner_id=partner, path={"license_key": key}, body=site
        )
        _expect(reply, 200, "PUT /v1/licenses/{license_key}/site")
    steps = (Step({"partner_id": partner, "query": {"limit": "50"}}) for _ in range(n))
    return Plan(steps, notes=["80 sites, 20 holding a license; a page of 50"])


def _connect_site(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()
    steps = (Step({"partner_id": partner, "body": _site(i), "headers": _key()}) for i in range(n))
    return Plan(steps, notes=["a new site each call"])


def _disconnect_site(bench: Bench, n: int) -> Plan:
    partner = bench.paying_partner()

    def step(site: dict[str, str]) -> Step:
        request = {"partner_id": partner, "path": {"site_id": site["site_id"]}, "headers": _key()}
        return Step(request, prepare=lambda: _connect(bench, partner, site))

    return Plan((step(_site(i)) for i in range(n)), notes=["a site connected just before, holding nothing"])


def _webhook(bench: Bench, n: int) -> Plan:
    steps = (_webhook_step(bench) for _ in range(n))
    return Plan(steps, notes=["a signed customer.updated event of an unknown customer, new id each call"])


def _webhook_step(bench: Bench) -> Step:
    from local.resources import stripe_webhook_secret
    from local.stripe_emulator import sign

    now = int(bench.stack.clock.now().timestamp())
    event = {
        "id": f"evt_bench{secrets.token_hex(8)}",
        "object": "event",
        "type": "customer.updated",
        "created": now,
        "livemode": False,
        "data": {"object": {"id": f"cus_bench{secrets.token_hex(4)}", "object": "customer"}},
    }
    payload = json.dumps(event).encode()
    signature = sign(payload, stripe_webhook_secret(), now)
    return Step({"partner_id": None, "raw_body": payload, "headers": {"stripe-signature": signature}})


SCENARIOS: dict[str, Callable[[Bench, int], Plan]] = {
    "GET /v1/licenses": _list,
    "GET /v1/licenses/counts": _counts,
    "POST /v1/licenses": _issue,
    "GET /v1/licenses/{license_key}": _detail,
    "PUT /v1/licenses/{license_key}/site": _assign,
    "DELETE /v1/licenses/{license_key}/site": _unassign,
    "POST /v1/licenses/{license_key}/revoke": _revoke,
    "POST /v1/partners/{partner_id}/external-licenses": _external,
    "GET /v1/prices": _prices,
    "PUT /v1/prices/{product}": _schedule_price,
    "GET /v1/billing": _estimate,
    "GET /v1/payment-methods": _list_cards,
    "POST /v1/payment-methods/setup-intent": _setup_intent,
    "POST /v1/payment-methods": _add_card,
    "POST /v1/payment-methods/{payment_method_id}/primary": _make_primary,
    "DELETE /v1/payment-methods/{payment_method_id}": _delete_card,
    "GET /v1/company": _get_company,
    "PUT /v1/company": _put_company,
    "GET /v1/account": _account,
    "POST /v1/webhooks/stripe": _webhook,
    "GET /v1/invoices/{invoice_id}": _invoice_detail,
    "GET /v1/invoices/{invoice_id}/pdf": _invoice_detail,
    "POST /v1/invoices/{invoice_id}/pay": _pay,
    "PATCH /v1/licenses/{license_key}": _label,
    "POST /v1/invoices/{invoice_id}/void": _operator_invoice_action,
    "POST /v1/invoices/{invoice_id}/mark-uncollectible": _operator_invoice_action,
    "GET /v1/operator/partners/{partner_id}": _operator_partner,
    "GET /v1/operator/invoice-runs/{period}/preview": _preview,
    "DELETE /v1/prices/{product}/scheduled/{effective_from}": _cancel_scheduled_price,
    "GET /v1/sites": _list_sites,
    "POST /v1/sites": _connect_site,
    "DELETE /v1/sites/{site_id}": _disconnect_site,
}


def _samples() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(EVENTS.glob("*/*.json")):
        try:
            event = json.loads(Path(path).read_text(encoding="utf-8"))
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("routeKey"), str):
            found.setdefault(event["routeKey"], event)
    return found


def _from_sample(bench: Bench, route_key: str, n: int) -> Plan:
    sample = _samples().get(route_key)
    if sample is None:
        raise LookupError("no scenario and no sample event in events/")
    caller = ((sample.get("requestContext") or {}).get("authorizer") or {}).get("lambda") or {}
    groups = tuple(str(caller.get("groups", "")).split())
    partner = bench.paying_partner()
    body = sample.get("body")
    request = {
        "partner_id": partner,
        "groups": groups,
        "path": dict(sample.get("pathParameters") or {}),
        "query": dict(sample.get("queryStringParameters") or {}),
        "raw_body": body.encode() if isinstance(body, str) else None,
    }
    method = route_key.split(" ", 1)[0]
    steps = (Step({**request, "headers": _key() if method != "GET" else {}}) for _ in range(n))
    return Plan(steps, source="sample event", notes=["from its sample event, for a fresh partner"])


def plan_for(bench: Bench, route_key: str, n: int) -> Plan:
    scenario = SCENARIOS.get(route_key)
    if scenario is None:
        return _from_sample(bench, route_key, n)
    return scenario(bench, n)


def is_license_route(path: str) -> bool:
    return path.startswith(("/v1/licenses", "/v1/sites")) or path.endswith("/external-licenses")
