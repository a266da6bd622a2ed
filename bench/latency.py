"""Warm latency: p50 and p99 of each route through its handler, against a bare GetItem round trip.

Each route gets a warm-up, then up to ``n`` calls, each timed around the handler alone (set-up steps
such as assigning a license before unassigning it are not timed). A route stops early once it has
spent its time box and has at least ``MIN_SAMPLES`` samples, so the whole bench keeps to its budget on
a slow or shared machine; the table says how many samples each figure rests on. The baseline is ``GetItem`` of one
partner record with the same DynamoDB client, against the same moto server, in the same run: the
ratio says how many bare round trips a route costs, whatever the machine.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.harness import Bench
from bench.routes import plan_for

WARMUP = 5
MIN_SAMPLES = 30
FEW_SAMPLES = 5  # what a route too slow for MIN_SAMPLES within its hard time box is measured on


@dataclass
class Latency:
    name: str
    samples: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def p50(self) -> float:
        return percentile(self.samples, 50)

    @property
    def p99(self) -> float:
        return percentile(self.samples, 99)


def percentile(samples: list[float], pct: float) -> float:
    if not samples:
        return float("nan")
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[int(pct) - 1]


def baseline(bench: Bench, n: int) -> Latency:
    from partnerhub.repository.partners import profile_key

    client = bench.dynamodb()
    partner = bench.paying_partner()
    key = profile_key(partner)
    result = Latency("GetItem (baseline)")
    for i in range(WARMUP + n):
        started = time.perf_counter()
        client.get_item(TableName=bench.table, Key=key)
        if i >= WARMUP:
            result.samples.append(time.perf_counter() - started)
    return result


def measure(
    bench: Bench, n: int, seconds_per_route: float = 6.0, log: Callable[[str], None] = print
) -> tuple[Latency, list[Latency]]:
    base = baseline(bench, n)
    log(f"  latency: GetItem p50 {base.p50 * 1000:.2f} ms")
    rows: list[Latency] = []
    for route in bench.routes:
        row = Latency(route.route_key)
        rows.append(row)
        error = bench.function_error(route.function_id)
        if error:
            row.error = f"function unavailable: {error}"
            continue
        try:
            plan = plan_for(bench, route.route_key, WARMUP + n)
            deadline = time.monotonic() + seconds_per_route
            # A slow route stops at a few samples rather than holding the whole bench past its budget
            hard_deadline = time.monotonic() + max(4 * seconds_per_route, 20.0)
            for i, step in enumerate(plan.steps):
                if len(row.samples) >= min(n, MIN_SAMPLES) and time.monotonic() > deadline:
                    break
                if len(row.samples) >= min(n, FEW_SAMPLES) and time.monotonic() > hard_deadline:
                    break
                if step.prepare:
                    step.prepare()
                reply = bench.invoke(route.route_key, **step.request)
                if reply.status >= 400:
                    raise RuntimeError(f"answered {reply.status}: {str(reply.body)[:120]}")
                if i >= WARMUP:
                    row.samples.append(reply.seconds)
        except Exception as exc:
            row.error = f"{type(exc).__name__}: {exc}"[:200]
            row.samples.clear()
        summary = row.error or f"p50 {row.p50 * 1000:.1f} ms over {len(row.samples)} calls"
        log(f"  latency: {route.route_key}: {summary}")
    return base, rows
