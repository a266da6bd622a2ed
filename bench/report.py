"""The machine, and the results as Markdown tables (printed, and written to ``bench/results.md``)."""

from __future__ import annotations

import math
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.calls import RouteCalls
from bench.coldstart import ColdStart
from bench.latency import Latency
from bench.scale import BigPartner, Engine, MonthEnd, extrapolate


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

    cold: list[ColdStart] | None = results.get("coldstart")
    if cold is not None:
        base = next(c for c in cold if c.name == "baseline")
        out += ["## Cold start", ""]
        out.append(
            f"Import and initialisation of each function's `app.py` in a fresh interpreter (median of "
            f"{len(base.samples)} runs, interleaved, after one warm-up round), against the baseline "
            '`import boto3; boto3.client("dynamodb")` in the same harness. `stripe` imported: whether the SDK '
            "was loaded at init (it should be only where the function calls Stripe, and lazily even there)."
        )
        out.append("")
        rows = []
        for c in cold:
            if c.error:
                rows.append([c.name, "n/a", "n/a", "n/a", f"failed: {c.error}"])
                continue
            rows.append(
                [c.name, _ms(c.median), _ratio(c.median, base.median), "yes" if c.stripe_imported else "no", ""]
            )
        out += _table(["Function", "Median", "Ratio to baseline", "`stripe` imported", "Note"], rows)
        out.append("")

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
        for r in calls:
            if r.error:
                rows.append([f"`{r.route_key}`", r.function, "—", "—", "—", f"not measured: {r.error}"])
                continue
            assert r.calls is not None
            rows.append(
                [
                    f"`{r.route_key}`",
                    r.function,
                    f"{r.calls.dynamodb_total} ({r.calls.describe_dynamodb()})",
                    f"{r.calls.stripe_total}" + (f" ({r.calls.describe_stripe()})" if r.calls.stripe_total else ""),
                    r.status,
                    r.verdict,
                ]
            )
        out += _table(["Route", "Function", "DynamoDB calls", "Stripe calls", "Status", "Target"], rows)
        out.append("")

    latency: tuple[Latency, list[Latency]] | None = results.get("latency")
    if latency is not None:
        base, rows_ = latency
        out += ["## Warm latency", ""]
        out.append(
            "Each route's handler, warm, called repeatedly in one process against the moto server (set-up between "
            "calls untimed). Ratios are to a bare `GetItem` round trip with the same client against the same "
            f"server in the same run: p50 {_ms(base.p50)}, p99 {_ms(base.p99)} over {len(base.samples)} calls. "
            "Each route runs up to the configured count or its time box, whichever ends first."
        )
        out.append("")
        rows = []
        for r in rows_:
            if r.error:
                rows.append([f"`{r.name}`", "—", "—", "—", "—", "—", f"not measured: {r.error}"])
                continue
            rows.append(
                [
                    f"`{r.name}`",
                    len(r.samples),
                    _ms(r.p50),
                    _ratio(r.p50, base.p50),
                    _ms(r.p99),
                    _ratio(r.p99, base.p99),
                    "",
                ]
            )
        out += _table(["Route", "Calls", "p50", "p50 / GetItem", "p99", "p99 / GetItem", "Note"], rows)
        out.append("")

    big: BigPartner | None = results.get("big_partner")
    if big is not None:
        out += [f"## Scale: one partner with {big.licenses:,} licenses", ""]
        out.append(
            "Seeded with `batch_write_item` and the repository's own `license_item` builder in "
            f"{big.seed_seconds:.0f} s "
            "(issuing them through the API would measure moto, whose transactions copy the whole table), counters "
            "set on the partner record to match. Each figure is the median handler time of a few calls, with the "
            f"DynamoDB calls it made; ratios to a bare GetItem ({_ms(big.getitem_seconds)}) on the same table."
        )
        out.append("")
        rows = []
        for t in big.rows:
            described = f"{t.calls.dynamodb_total} ({t.calls.describe_dynamodb()})" if t.calls else "—"
            rows.append([t.name, _ms(t.seconds), _ratio(t.seconds, big.getitem_seconds), described, t.note])
        out += _table(["Request", "Median", "Ratio to GetItem", "DynamoDB calls", "Note"], rows)
        out.append("")

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
