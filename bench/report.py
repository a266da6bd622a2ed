"""The machine, and the results as Markdown tables (printed, and written to ``bench/results.md``)."""

from __future__ import annotations

import math
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import authorizer
from bench.calls import RouteCalls
from bench.coldstart import BASELINE, FLOOR, INIT_TYPES, PYDANTIC, REFERENCES, ColdStart, FirstRequests, ImportProfile
from bench.latency import Latency
from bench.scale import PROBE_SAMPLES, PROBE_SECONDS, BigPartner, BillingRead, Engine, MonthEnd, extrapolate
from bench.webhooks import EventCost


def machine() -> dict[str, str]:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                model = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return {
        "CPU": model,
        "Cores": str(os.cpu_count()),
        "Memory": memory,
        "Load average at start (1, 5, 15 min)": load,
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "OS": f"{platform.system()} {platform.release()} {platform.machine()}",
        "Date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _ms(seconds: float) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "n/a"
    return f"{seconds * 1000:.1f} ms"


def _ratio(value: float, base: float) -> str:
    if not base or math.isnan(value) or math.isnan(base):
        return "n/a"
    return f"{value / base:.2f}x"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def render(results: dict[str, Any]) -> str:
    out: list[str] = ["# Benchmarks", ""]
    out.append(
        "Written by `make bench` (`python -m bench`). Every figure stands beside a ratio to a baseline measured "
        "in the same run on the same machine: the machine is shared and noisy, so compare ratios across runs, "
        "not milliseconds."
    )
    out += ["", "## Machine", ""]
    out += _table(["", ""], [[k, v] for k, v in results["machine"].items()])
    out += ["", f"Whole run: {results.get('total_seconds', 0):.0f} s. Settings: {results.get('settings', '')}.", ""]
    out += render_targets(results)

    cold: list[ColdStart] | None = results.get("coldstart")
    if cold is not None:
        base = next(c for c in cold if c.name == "baseline")
        out += ["## Cold start", ""]
        out.append(
            f"Import and initialisation of each function's `app.py` in a fresh interpreter (median of "
            f"{len(base.samples)} runs, interleaved, after one warm-up round), against the baseline "
            '`import boto3; boto3.client("dynamodb")` in the same harness. Wall time, and the child\'s own CPU '
            "time (other work on a shared machine stretches wall time far more than CPU time; on a quiet machine "
            "the two agree). Targets are read on both. `stripe` imported: whether the SDK was loaded at init (it "
            "should be only where the function calls Stripe, and lazily even there). Without bytecode: the CPU "
            f"median of {len(base.source_cpu_samples)} more runs in which every module outside the standard library "
            "is compiled from source, as Lambda does when the artifact ships no `.pyc` (its code directories are "
            "read-only, so nothing compiled is kept). `sam build` ships none; `make build` compiles the artifact "
            "(`scripts/compile_build.py`), so the first columns are what the deployed functions do."
        )
        out.append("")
        rows: list[list[Any]] = []
        for c in cold:
            if c.error:
                rows.append([c.name, "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", f"failed: {c.error}"])
                continue
            rows.append(
                [
                    c.name,
                    _ms(c.median),
                    _ratio(c.median, base.median),
                    _ms(c.cpu_median),
                    _ratio(c.cpu_median, base.cpu_median),
                    _without_bytecode(c),
                    "yes" if c.stripe_imported else "no",
                    _cold_target(c.name, c.median / base.median, c.cpu_median / base.cpu_median),
                ]
            )
        out += _table(
            [
                "Function",
                "Median",
                "Ratio to baseline",
                "CPU median",
                "CPU ratio",
                "Without bytecode (CPU)",
                "`stripe` imported",
                "Target",
            ],
            rows,
        )
        out.append("")
        out += _render_floor(cold, base)
    out += render_first_requests(results.get("first_requests"))
    out += render_profile(results.get("import_profile"))
    out += authorizer.render(results.get("authorizer"))

    calls: list[RouteCalls] | None = results.get("calls")
    if calls is not None:
        out += ["## Calls per request", ""]
        out.append(
            "One request per route through its handler (payload 2.0 event) against moto and the Stripe emulator. "
            "DynamoDB calls are counted by a botocore `before-call` hook; calls on the `IDEMPOTENCY` partition are "
            "Powertools' bookkeeping (a PutItem of the INPROGRESS record and an UpdateItem to COMPLETED when an "
            "`Idempotency-Key` is sent). Stripe calls are the requests the emulator served. Targets: a read in ≤ 2 "
            "DynamoDB calls; a mutation in one write (one transaction) + ≤ 1 read + the 2 bookkeeping calls; no "
            "Stripe call on any license route."
        )
        out.append("")
        rows = []
        for route in calls:
            if route.error:
                rows.append([f"`{route.route_key}`", route.function, "—", "—", "—", f"not measured: {route.error}"])
                continue
            assert route.calls is not None
            rows.append(
                [
                    f"`{route.route_key}`",
                    route.function,
                    f"{route.calls.dynamodb_total} ({route.calls.describe_dynamodb()})",
                    f"{route.calls.stripe_total}"
                    + (f" ({route.calls.describe_stripe()})" if route.calls.stripe_total else ""),
                    route.status,
                    route.verdict,
                ]
            )
        out += _table(["Route", "Function", "DynamoDB calls", "Stripe calls", "Status", "Target"], rows)
        out.append("")

    latency: tuple[Latency, list[Latency]] | None = results.get("latency")
    if latency is not None:
        get, measured = latency
        out += ["## Warm latency", ""]
        out.append(
            "Each route's handler, warm, called repeatedly in one process against the moto server (set-up between "
            "calls untimed). Ratios are to a bare `GetItem` round trip with the same client against the same "
            f"server in the same run: p50 {_ms(get.p50)}, p99 {_ms(get.p99)} over {len(get.samples)} calls. "
            "Each route runs up to the configured count or its time box, whichever ends first."
        )
        out.append("")
        rows = []
        for lat in measured:
            if lat.error:
                rows.append([f"`{lat.name}`", "—", "—", "—", "—", "—", f"not measured: {lat.error}"])
                continue
            rows.append(
                [
                    f"`{lat.name}`",
                    len(lat.samples),
                    _ms(lat.p50),
                    _ratio(lat.p50, get.p50),
                    _ms(lat.p99),
                    _ratio(lat.p99, get.p99),
                    "",
                ]
            )
        out += _table(["Route", "Calls", "p50", "p50 / GetItem", "p99", "p99 / GetItem", "Note"], rows)
        out.append("")

    hooks: tuple[Latency, list[EventCost]] | None = results.get("webhooks")
    if hooks is not None:
        out += render_webhooks(hooks)

    big: BigPartner | None = results.get("big_partner")
    if big is not None:
        out += [f"## Scale: one partner with {big.licenses:,} licenses", ""]
        out.append(
            "Seeded with `batch_write_item` and the repository's own `license_item` builder in "
            f"{big.seed_seconds:.0f} s "
            "(issuing them through the API would measure moto, whose transactions copy the whole table), counters "
            "set on the partner record to match. Each figure is the median handler time of up to "
            f"{PROBE_SAMPLES} warm calls (as many as fit in {PROBE_SECONDS:.1f} s), with the DynamoDB calls it made; "
            f"ratios to a bare GetItem ({_ms(big.getitem_seconds)}, p50) on the same table. Target: the list page "
            "within 3x of the GetItem."
        )
        out.append("")
        rows = []
        for t in big.rows:
            described = f"{t.calls.dynamodb_total} ({t.calls.describe_dynamodb()})" if t.calls else "—"
            rows.append([t.name, _ms(t.seconds), _ratio(t.seconds, big.getitem_seconds), described, t.note])
        out += _table(["Request", "Median", "Ratio to GetItem", "DynamoDB calls", "Note"], rows)
        out.append("")
        out.append(BIG_PARTNER_NOTE)
        out.append("")

    out += render_billing_read(results.get("billing_read"))

    me: MonthEnd | None = results.get("month_end")
    if me is not None:
        out += ["## Scale: month-end invoicing", ""]
        if me.error:
            out += [f"Not measured: {me.error}", ""]
        else:
            target = me.extrapolated_to
            out.append(
                f"{me.partners:,} partners x {me.licenses_per_partner} licenses ({me.products_per_partner} products "
                "each) issued last month, each with a Stripe customer and a default card in the emulator (made with "
                "the SDK; `stripe_customer_id` written on the partner record), seeded in "
                f"{me.seed_seconds:.0f} s. Then the scheduled planner is invoked with the period and every "
                "SQS-triggered function's queue is drained in this process, as `/_local/invoice-run` does, with the "
                "template's batch size and maximum concurrency. Stripe's webhooks are held (not delivered) during "
                "the run."
            )
            out.append("")
            calls_ = me.calls
            assert calls_ is not None
            per = me.stripe_per_partner
            rows = [
                ["Partners invoiced (Stripe invoices created)", f"{me.invoices:,}", ""],
                [
                    "Wall time",
                    f"{me.wall_seconds:.1f} s",
                    f"{me.wall_seconds / max(1, me.partners) * 1000:.0f} ms per partner",
                ],
                [
                    "Stripe calls per partner",
                    f"{per:.2f}",
                    f"target products + 2 = {me.products_per_partner + 2}: "
                    + ("met" if per <= me.products_per_partner + 2 else "MISSED")
                    + f" ({calls_.describe_stripe()})",
                ],
                ["DynamoDB reads", f"{calls_.reads:,}", f"{me.reads_per_partner:.1f} per partner"],
                ["DynamoDB calls, all", f"{calls_.dynamodb_total:,}", calls_.describe_dynamodb()],
                [
                    "Other AWS calls",
                    f"{sum(calls_.other_aws.values()):,}",
                    ", ".join(f"{k} {v}" for k, v in sorted(calls_.other_aws.items())),
                ],
                [
                    "Peak memory (process max RSS)",
                    f"{me.peak_rss_mb:.0f} MiB",
                    f"grew {me.rss_growth_mb:.0f} MiB during the run; includes moto and the emulator",
                ],
                [
                    "Outcome",
                    str(me.summary.get("succeeded")) + " messages succeeded",
                    f"{me.summary.get('failed')} failed deliveries",
                ],
            ]
            if target and target != me.partners:
                rows.append(
                    [
                        f"Extrapolated to {target:,} partners",
                        f"{extrapolate(me, target):.0f} s",
                        "EXTRAPOLATED linearly from the measured run (per-partner work is independent); the full "
                        "size did not fit the bench's 10-minute budget on this machine",
                    ]
                )
            out += _table(["Figure", "Value", "Note"], rows)
            out.append("")

    if me is not None and not me.error:
        out += render_month_end_arithmetic(me.products_per_partner)

    eng: Engine | None = results.get("engine")
    if eng is not None:
        out += ["## Scale: the billing engine alone", ""]
        out.append(
            f"`bill_month` over {eng.license_months:,} synthetic licenses (seven products, a fifth revoked mid-month), "
            "against a plain Python loop summing as many ints."
        )
        out.append("")
        out += _table(
            ["Figure", "Value", "Ratio"],
            [
                [
                    "`bill_month`",
                    f"{eng.rate:,.0f} license-months/s ({eng.seconds * 1000:.0f} ms)",
                    f"{eng.rate / eng.baseline_rate:.4f}x the loop",
                ],
                ["Baseline loop", f"{eng.baseline_rate:,.0f} ints/s ({eng.baseline_seconds * 1000:.1f} ms)", "1x"],
            ],
        )
        out.append("")

    out += ["## Notes", ""]
    out += [f"- {note}" for note in results.get("notes", [])]
    out.append("")
    return "\n".join(out)


def _render_floor(cold: list[ColdStart], base: ColdStart) -> list[str]:
    """What the framework alone costs, and each function's own share above it."""
    floor = next((c for c in cold if c.name == FLOOR and not c.error and c.samples), None)
    if floor is None:
        return []
    ratio = floor.median / base.median
    cpu_ratio = floor.cpu_median / base.cpu_median
    own = [
        f"{c.name} {(c.cpu_median - floor.cpu_median) * 1000:+.0f} ms"
        for c in cold
        if c.samples and not c.error and c.name not in REFERENCES
    ]
    return [
        f"The framework floor is the baseline plus what every HTTP function loads before a line of its own: pydantic "
        "with one model, Powertools' HTTP resolver with request validation, its Logger and Metrics, and the "
        f"OpenTelemetry API. It alone is {ratio:.2f}x the baseline here ({cpu_ratio:.2f}x in CPU time)"
        + _pydantic_share(cold, base, floor)
        + ", so a target below that cannot be met by trimming this project's code; it would take leaving pydantic or "
        "Powertools' validation at start. Each function's own share above the floor (its CPU median minus the "
        "floor's): " + "; ".join(own) + ".",
        "",
    ]


def _pydantic_share(cold: list[ColdStart], base: ColdStart, floor: ColdStart) -> str:
    """How much of the floor above the baseline is pydantic with one model (measured alone, same run)."""
    alone = next((c for c in cold if c.name == PYDANTIC and not c.error and c.samples), None)
    above = floor.cpu_median - base.cpu_median
    if alone is None or above <= 0:
        return ""
    share = alone.cpu_median - base.cpu_median
    return (
        f"; pydantic with one model, measured alone, is {share * 1000:.0f} ms of the floor's "
        f"{above * 1000:.0f} ms above the baseline"
    )


def _without_bytecode(c: ColdStart) -> str:
    """The CPU median compiling every module from source, and how many times the same start with bytecode."""
    if not c.source_cpu_samples:
        return "not measured"
    return f"{_ms(c.source_cpu_median)} ({c.source_cpu_median / c.cpu_median:.1f}x)"


def _cold_target(name: str, ratio: float, cpu_ratio: float) -> str:
    if name in REFERENCES:
        return ""
    target = cold_start_target(name)
    wall, cpu = ratio <= target, cpu_ratio <= target
    verdict = "met" if wall and cpu else "MISSED" if not wall and not cpu else "met on " + ("wall" if wall else "CPU")
    return f"<= {target}x: {verdict}"


INIT_TARGET, FIRST_REQUEST_TARGET, READ_TARGET = 1.6, 1.5, 3.0
QUEUE_FUNCTIONS = ("InvoicePlannerFunction", "InvoiceWorkerFunction")


def cold_start_target(name: str) -> float:
    """The cold start ratio every function's init must stay within (its import and build against bare boto3)."""
    del name
    return INIT_TARGET


def _billing_read_within(r: BillingRead) -> bool:
    """The estimate's target: at most 3 DynamoDB calls and ``READ_TARGET`` times a GetItem."""
    ratio = r.seconds / r.getitem_seconds if r.getitem_seconds else float("nan")
    return r.calls is not None and r.calls.dynamodb_total <= 3 and ratio <= READ_TARGET


def _met(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def render_targets(results: dict[str, Any]) -> list[str]:
    """Each target beside what this run measured (``docs/performance.md`` explains the figures)."""
    rows: list[list[str]] = []
    cold: list[ColdStart] = [c for c in results.get("coldstart") or [] if c.samples and not c.error]
    by_name = {c.name: c for c in cold}
    base, floor = by_name.get(BASELINE), by_name.get(FLOOR)
    if base is not None:

        def ratio(c: ColdStart) -> float:
            return max(c.median / base.median, c.cpu_median / base.cpu_median)  # read on both: the worse

        floor_text = f"; the framework floor alone is {ratio(floor):.2f}x" if floor else ""
        functions = [c for c in cold if c.name not in REFERENCES]
        api = [c for c in functions if c.name not in QUEUE_FUNCTIONS]
        for label, group in (
            ("Cold start (init), API functions", api),
            ("Cold start (init), queue and schedule functions", [c for c in functions if c.name in QUEUE_FUNCTIONS]),
        ):
            if not group:
                continue
            target = INIT_TARGET
            figures = ", ".join(f"{c.name.removesuffix('Function')} {ratio(c):.2f}x" for c in group)
            verdict = f"{_met(all(ratio(c) <= target for c in group))}: {figures}"
            rows.append([f"{label} <= {target}x bare boto3", verdict + (floor_text if group is api else "")])
        stripe = [c.name for c in functions if c.stripe_imported]
        rows.append(["`stripe` not imported at init", _met(not stripe) + (f": {stripe}" if stripe else "")])
        sourced = [c for c in cold if c.source_cpu_samples]
        if sourced:
            worst = max(sourced, key=lambda c: c.source_cpu_median / c.cpu_median)
            best = min(sourced, key=lambda c: c.source_cpu_median / c.cpu_median)
            rows.append(
                [
                    "Bytecode shipped (`make build`)",
                    f"starts without it take {best.source_cpu_median / best.cpu_median:.1f}x to "
                    f"{worst.source_cpu_median / worst.cpu_median:.1f}x the CPU of starts with it",
                ]
            )
    firsts = [r for r in results.get("first_requests") or [] if not r.error]
    if firsts:
        snap = INIT_TYPES[1]
        after = {r.name: r.median("first", snap) / r.median("warm", snap) for r in firsts}
        figures = ", ".join(f"{name.removesuffix('Function')} {value:.2f}x" for name, value in after.items())
        missing = [r.name for r in results.get("first_requests") or [] if r.error]
        rows.append(
            [
                f"SnapStart: first requests after a restore <= {FIRST_REQUEST_TARGET}x the same requests warm",
                f"{_met(all(v <= FIRST_REQUEST_TARGET for v in after.values()) and not missing)}: {figures}"
                + (f"; not measured: {', '.join(missing)}" if missing else ""),
            ]
        )
    for b in results.get("billing_read") or []:
        calls = b.calls.dynamodb_total if b.calls else 0
        ok = b.status == 200 and _billing_read_within(b)
        rows.append(
            [
                f"`GET /v1/billing`, {b.licenses:,} licenses: <= 3 calls, <= {READ_TARGET:g}x a GetItem",
                f"{_met(ok)}: {calls} call(s), {_ratio(b.seconds, b.getitem_seconds)}",
            ]
        )
    big = results.get("big_partner")
    if big is not None:
        named = {row.name: row for row in big.rows}
        page, query = named.get("list page (50, newest first)"), named.get("the list page's Query alone (bare client)")
        if page is not None:
            within = page.seconds / big.getitem_seconds <= READ_TARGET
            text = f"{_met(within)}: {_ratio(page.seconds, big.getitem_seconds)}"
            if query is not None:
                text += (
                    f"; its Query alone is {_ratio(query.seconds, big.getitem_seconds)}, moto's own handling of it "
                    f"{_ratio(big.moto_query_seconds, big.getitem_seconds)}, the handler above its Query "
                    f"{_ratio(page.seconds - query.seconds, big.getitem_seconds)}"
                )
            rows.append([f"`GET /v1/licenses` page, {big.licenses:,} licenses: <= {READ_TARGET:g}x a GetItem", text])
    me = results.get("month_end")
    if me is not None and not me.error and me.calls is not None:
        target = me.products_per_partner + 2
        rows.append(
            [
                "Month-end: Stripe calls per partner = products + 2",
                f"{_met(me.stripe_per_partner <= target)}: {me.stripe_per_partner:.2f} with "
                f"{me.products_per_partner} products; the 10,000-partner arithmetic is in the month-end section",
            ]
        )
    if not rows:
        return []
    out = ["## Targets at a glance", ""]
    out.append(
        "Computed from this run's figures below. A cold start ratio is the worse of wall and CPU time. "
        "`python -m bench <section>` replaces its own section below, not this table. `docs/performance.md` says "
        "what each figure is made of and what was tried."
    )
    out.append("")
    out += _table(["Target", "This run"], rows)
    out.append("")
    return out


def render_first_requests(results: list[FirstRequests] | None) -> list[str]:
    """What priming at init (``partnerhub.priming``) takes off the first requests of an execution environment."""
    if not results:
        return []
    out = ["### SnapStart priming: the first requests of an execution environment", ""]
    runs = max((len(r.init.get(INIT_TYPES[0], [])) for r in results), default=0)
    out.append(
        f"Each function started {runs} times in a fresh interpreter per init type, interleaved "
        "(`AWS_LAMBDA_INITIALIZATION_TYPE`: `on-demand` as an ordinary cold start, `snap-start` as Lambda runs "
        "the init it snapshots), each start then serving the same requests twice: first cold, then warm, with "
        "fresh idempotency keys. Medians of the child's CPU time; DynamoDB and Stripe are the bench's moto and "
        "emulator. Under SnapStart the init runs once, when a version is published, and every new execution "
        "environment starts from its snapshot, so what a new environment's caller waits for is the restore and "
        "the first requests: the `snap-start` row's init is not on any request's path."
    )
    out.append("")
    rows = []
    for r in results:
        if r.error:
            rows.append([r.name, ", ".join(f"`{k}`" for k in r.requests), "n/a", "n/a", "n/a", "n/a", r.error])
            continue
        for init_type in INIT_TYPES:
            first, warm = r.median("first", init_type), r.median("warm", init_type)
            rows.append(
                [
                    r.name,
                    ", ".join(f"`{k}`" for k in r.requests),
                    f"`{init_type}`",
                    _ms(r.median("init", init_type)),
                    _ms(first),
                    _ms(warm),
                    f"{first / warm:.2f}x",
                ]
            )
    out += _table(
        ["Function", "Requests", "Init type", "Init (CPU)", "First requests (CPU)", "Same, warm", "First / warm"],
        rows,
    )
    out.append("")
    for r in results:
        if r.error:
            continue
        on_demand, snap = r.median("first", INIT_TYPES[0]), r.median("first", INIT_TYPES[1])
        out.append(
            f"- {r.name}: priming takes the first requests from {_ms(on_demand)} to {_ms(snap)} "
            f"({_ratio(snap, on_demand)} of an on-demand start's), answers {sorted(r.statuses)}."
        )
    out.append("")
    return out


def render_profile(profile: ImportProfile | None) -> list[str]:
    """The import profile of one function (``python -X importtime``), beside the baseline's."""
    if profile is None:
        return []
    out = [f"### Import profile: {profile.name}", ""]
    if profile.error:
        return [*out, f"Not measured: {profile.error}", ""]
    out.append(
        f"`python -X importtime` of the function's `app.py` in a fresh interpreter: {profile.modules} modules "
        f"({profile.baseline_modules} for the baseline), {profile.total_us / 1000:.0f} ms of import time in all "
        f"({profile.baseline_us / 1000:.0f} ms for the baseline; `-X importtime` itself slows imports, so read "
        "the shares, not the milliseconds). The modules the baseline does not import, by their own time (the "
        "cumulative column also counts children, some of which, like boto3, the baseline loads too):"
    )
    out.append("")
    rows = [[f"`{name}`", f"{own / 1000:.1f} ms", f"{cum / 1000:.1f} ms"] for cum, own, name in profile.top]
    extra_own = sum(own for _, own, _ in profile.top)
    out += _table(["Module", "Own", "Cumulative"], rows)
    out += ["", f"These {len(profile.top)} modules: {extra_own / 1000:.0f} ms of their own."]
    out.append("")
    return out


def render_billing_read(rows: list[BillingRead] | None) -> list[str]:
    if not rows:
        return []
    out = ["## Scale: the billing estimate at any size", ""]
    out.append(
        "`GET /v1/billing` (month to date) for partners whose billing tallies hold 10,000 and 100,000 licenses "
        "(seeded directly from that many synthetic licenses with the rebuild's own rules, `tallies_of`: issued "
        "over the last 60 days across three products, every fourth assigned, every tenth revoked after 20 days). "
        "The estimate reads the tallies and the catalog, never a license. Ratios are to a bare GetItem on the same "
        "table in the same run. Target: at most 3 DynamoDB calls and within 3x of the GetItem."
    )
    out.append("")
    table = []
    for r in rows:
        calls = f"{r.calls.dynamodb_total} ({r.calls.describe_dynamodb()})" if r.calls else "—"
        ratio = r.seconds / r.getitem_seconds if r.getitem_seconds else float("nan")
        verdict = "met" if _billing_read_within(r) else "MISSED"
        table.append(
            [
                f"{r.licenses:,}",
                r.tally_items,
                _ms(r.seconds),
                _ms(r.getitem_seconds),
                f"{ratio:.2f}x",
                calls,
                f"{r.status}, {verdict}",
            ]
        )
    out += _table(
        ["Licenses", "Tally items", "Handler median", "GetItem p50", "Ratio", "DynamoDB calls", "Status, target"],
        table,
    )
    out.append("")
    return out


def render_month_end_arithmetic(products: int) -> list[str]:
    """Month-end for 10,000 partners: bounded by Stripe's write rate, not by this code."""
    partners = 10_000
    per_partner = products + 2  # a draft, one invoice item per product, a finalize
    writes = partners * per_partner
    out = [f"### Month-end for {partners:,} partners: the arithmetic", ""]
    out.append(
        f"Every partner costs products + 2 Stripe writes (create the draft, one invoice item per product, "
        f"finalize), measured above; with {products} products that is {per_partner}, so {partners:,} partners make "
        f"{writes:,} writes. Stripe allows 100 writes/s in live mode and 25/s in test mode: the run cannot take "
        f"less than {writes / 100:,.0f} s ({writes / 100 / 60:.1f} min) live or {writes / 25:,.0f} s "
        f"({writes / 25 / 60:.1f} min) in test mode, whatever the concurrency. A worker makes its calls one after "
        "another; at Stripe's typical ~300 ms a write one worker makes ~3.3 writes/s, so about 30 concurrent "
        "workers reach the live limit (8 the test-mode one). The template caps the SQS event source at "
        "`MaximumConcurrency: 5` with batches of 10: ~16 writes/s, under both limits, so no 429 storm: "
        f"{writes / 16 / 60:.0f} min for {partners:,} partners, well inside the day. Raising it to 25 would come "
        "within ~20% of the live limit; the Stripe client retries 429s with backoff (`stripe_max_retries`), so "
        "going higher only trades wall time for retries. One batch of 10 partner-months is "
        f"{10 * per_partner} writes, ~{10 * per_partner * 0.3:.0f} s at that pace, inside the worker's 60 s timeout."
    )
    out.append("")
    return out


BIG_PARTNER_NOTE = (
    "What is moto's and what is this code's: the first row is the list page's own Query through this project's "
    "DynamoDB client with no handler around it (over HTTP to the local moto server), the second the same Query "
    "through a plain boto3 client, whose botocore walks every attribute value of the 50 items against the service "
    "model (this project's client takes the items as their JSON has them: `read_pages_raw` in "
    "`repository/dynamo.py`, property-tested against a plain client in tests/integration/test_raw_pages.py), the "
    "third what moto's DynamoDB handler itself spends on that Query (timed inside the server: parsing the "
    "request, the query, serialising the answer). The handler's share of a list page is the difference between "
    "the first row and the list page's; moto's share of the first row would be DynamoDB's on AWS. "
    "`local/fast_dynamodb.py` gives moto what DynamoDB reads for a page: each partition of the table and of each "
    "index is kept sorted (bisect, item by item on every write), and a Query with `Limit` is handed only the run "
    "of its partition from the key condition's bound or the `ExclusiveStartKey` to `Limit` items and the one "
    "after; it also writes the answer without moto's per-attribute alias search, which cost ten times the query "
    "itself for a 50-item page, and without moto's search of the JSON answer for an XML request id. Answers "
    "stay moto's own (tests/local/test_fast_dynamodb.py and the property "
    "tests of test_fast_dynamodb_properties.py compare them with plain moto's). What the handler itself spends "
    "on a page (deserialising 50 items, building the licenses, the response model) was cut by reading items "
    "without boto3's TypeDeserializer, parsing instants with `fromisoformat` and building licenses read back "
    "from the table with `model_construct` (they were validated when written)."
)


def render_webhooks(result: tuple[Latency, list[EventCost]]) -> list[str]:
    """The webhook section (``bench/webhooks.py``)."""
    base, rows = result
    out = ["## Stripe events at the webhook route", ""]
    out.append(
        "Each kind of event delivered signed to `POST /v1/webhooks/stripe` (a new event id each time), for a partner "
        "with one finalized invoice. DynamoDB calls include the event's dedupe claim (Powertools idempotency: a "
        "conditional put and an update). Ratios are to a bare `GetItem` in the same run: p50 "
        f"{_ms(base.p50)} over {len(base.samples)} calls."
    )
    out.append("")
    table = []
    for r in rows:
        if r.error or r.calls is None:
            table.append([r.name, "—", "—", "—", "—", "—", f"not measured: {r.error}"])
            continue
        table.append(
            [
                r.name,
                r.calls.describe_dynamodb(),
                str(r.calls.stripe_total),
                _ms(r.p50),
                _ratio(r.p50, base.p50),
                _ms(r.p99),
                f"{len(r.samples)} deliveries",
            ]
        )
    out += _table(["Event", "DynamoDB calls", "Stripe calls", "p50", "p50 / GetItem", "p99", "Note"], table)
    out.append("")
    return out
