"""Calls per request: the DynamoDB and Stripe calls each API route makes, and whether that meets the target.

Targets (from the issue):

* a read answers in one or two DynamoDB calls, and writes nothing;
* a mutation is one write (a TransactWriteItems, or one single-item write) plus at most one read, plus
  the idempotency bookkeeping Powertools does when an ``Idempotency-Key`` is sent: a PutItem of the
  INPROGRESS record and an UpdateItem to COMPLETED, two calls on the ``IDEMPOTENCY`` partition;
* no Stripe call on any license command or read.

The counts are deterministic: one partner, no concurrency, the same request each run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.harness import Bench, Calls
from bench.routes import is_license_route, plan_for

IDEMPOTENCY_BOOKKEEPING = 2  # PutItem (INPROGRESS) + UpdateItem (COMPLETED)


@dataclass
class RouteCalls:
    route_key: str
    function: str
    status: int | None = None
    calls: Calls | None = None
    verdict: str = ""
    error: str | None = None
    source: str = "scenario"


def verdict(route_key: str, calls: Calls) -> tuple[bool, str]:
    """Whether ``calls`` meets the route's target, and the target in words."""
    method, path = route_key.split(" ", 1)
    problems: list[str] = []
    if is_license_route(path) and calls.stripe_total:
        problems.append(f"{calls.stripe_total} Stripe call(s) on a license route")
    if path.startswith("/v1/webhooks"):
        target = "report only (Stripe's own dedupe, no idempotency header)"
        return not problems, target if not problems else "; ".join(problems)
    if method == "GET":
        target = "≤ 2 reads, no writes"
        if calls.reads > 2:
            problems.append(f"{calls.reads} reads")
        if calls.writes or calls.bookkeeping:
            problems.append(f"{calls.writes + calls.bookkeeping} writes")
    else:
        target = f"1 write + ≤ 1 read + {IDEMPOTENCY_BOOKKEEPING} idempotency"
        if calls.writes != 1:
            problems.append(f"{calls.writes} writes ({calls.transactions} transactions)")
        if calls.reads > 1:
            problems.append(f"{calls.reads} reads")
        if calls.bookkeeping != IDEMPOTENCY_BOOKKEEPING:
            problems.append(f"{calls.bookkeeping} idempotency calls")
    if is_license_route(path):
        target += ", 0 Stripe"
    return not problems, target if not problems else "; ".join(problems)


def measure(bench: Bench, log: Callable[[str], None] = print) -> list[RouteCalls]:
    results: list[RouteCalls] = []
    for route in bench.routes:
        row = RouteCalls(route.route_key, route.function_id)
        results.append(row)
        error = bench.function_error(route.function_id)
        if error:
            row.error = f"function unavailable: {error}"
            continue
        try:
            plan = plan_for(bench, route.route_key, 1)
            row.source = plan.source
            step = next(plan.steps)
            if step.prepare:
                step.prepare()
            reply = bench.invoke(route.route_key, **step.request)
        except Exception as exc:
            row.error = f"{type(exc).__name__}: {exc}"[:200]
            continue
        row.status, row.calls = reply.status, reply.calls
        if reply.status >= 400:
            row.error = f"answered {reply.status}: {str(reply.body)[:120]}"
            continue
        met, row.verdict = verdict(route.route_key, reply.calls)
        row.verdict = ("met: " if met else "MISSED: ") + row.verdict
    log(f"  calls per request: {len(results)} routes")
    return results
