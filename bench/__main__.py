"""``python -m bench``: every section in one run, a table on stdout, ``bench/results.md`` written.

``python -m bench volume`` runs only the volume section (``bench/volume.py``: the local stack with
0 and 10,000 licenses stored; ``--large`` adds 100,000) and updates its part of ``bench/results.md``.
``--quick`` runs each section's machinery at minimal sizes (the smoke test uses it); ``--output``
writes the results somewhere else. The whole default run keeps to a 10-minute budget: the month-end
section measures the full 1,000 partners when a pilot run says it fits, else the largest count that
does, and extrapolates (labelled as such).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.harness import ROOT

RESULTS = ROOT / "bench" / "results.md"


@dataclass(frozen=True)
class Sizes:
    """How much each section of a whole run measures."""

    cold_runs: int  # starts of each function, per init type
    latency_calls: int  # warm calls per route
    latency_box: float  # seconds each route's warm calls may take
    big_licenses: int  # licenses of the one big partner
    big_repeats: int  # calls of each probe on it
    partners: int  # month-end: partners to invoice
    pilot: int  # month-end: partners of the pilot run that sizes the rest
    per_partner: int  # month-end: licenses per partner
    products: int  # month-end: products per partner
    engine: int  # license-months the billing engine bills alone


FULL = Sizes(
    cold_runs=10,
    latency_calls=200,
    latency_box=4.0,
    big_licenses=10_000,
    big_repeats=3,
    partners=1000,
    pilot=20,
    per_partner=20,
    products=2,
    engine=200_000,
)
# --quick and --smoke: the machinery, at minimal sizes
QUICK = Sizes(
    cold_runs=1,
    latency_calls=3,
    latency_box=0.0,
    big_licenses=200,
    big_repeats=1,
    partners=3,
    pilot=3,
    per_partner=4,
    products=2,
    engine=2_000,
)


def _log(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="minimal sizes: proves the machinery, measures little")
    parser.add_argument("--smoke", action="store_true", help="--quick on two license routes and one function only")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--budget", type=float, default=500.0, help="seconds the whole run may take (default 500)")
    parser.add_argument(
        "section",
        nargs="*",
        help="run only these sections and replace them in the results: coldstart [FunctionName...], billing, "
        "list (the 10,000-license partner), webhooks (Stripe's events at the webhook route), authorizer (its cold "
        "start and overhead per request), volume (the local stack with 0 and 10,000 licenses stored)",
    )
    parser.add_argument("--large", action="store_true", help="volume: 100,000 stored licenses too")
    args = parser.parse_args(argv)
    if args.section and args.section[0] == "volume":
        return _volume_only(args.output, args.quick or args.smoke, args.large)
    if args.section:
        return _sections(args.section, args.output, quick=args.quick)
    quick = args.quick or args.smoke
    sizes = QUICK if quick else FULL
    started = time.monotonic()
    deadline = started + args.budget

    from bench import authorizer, calls, coldstart, latency, report, scale, webhooks
    from bench.harness import open_bench

    results: dict[str, Any] = {"machine": report.machine(), "notes": []}
    results["settings"] = ", ".join(f"{k}={v}" for k, v in asdict(sizes).items())
    _log("bench: machine: " + "; ".join(f"{k} {v}" for k, v in results["machine"].items()))
    _log("bench: starting the local stack in this process")
    bench = open_bench(_log)
    if args.smoke:
        bench.only(routes=("GET /v1/licenses/counts", "POST /v1/licenses"), functions=("LicensesFunction",))
    try:
        _log("bench: calls per request")
        results["calls"] = calls.measure(bench, _log)
        _log("bench: cold start")
        results["coldstart"] = coldstart.measure(bench, sizes.cold_runs, _log, source_runs=1 if quick else 3)
        results["import_profile"] = coldstart.import_profile(bench, "LicensesFunction")
        results["first_requests"] = coldstart.first_requests(bench, 1 if quick else 5, _log)
        _log("bench: the authorizer")
        results["authorizer"] = authorizer.measure(bench, AUTHORIZER_ROUNDS[quick], _log, cold_runs=sizes.cold_runs)
        _log("bench: warm latency")
        bench.reset_aws()
        results["latency"] = latency.measure(bench, sizes.latency_calls, sizes.latency_box, _log)
        _log("bench: Stripe events at the webhook route")
        results["webhooks"] = webhooks.measure(bench, sizes.latency_calls, sizes.latency_box, _log)
        _log(f"bench: a partner with {sizes.big_licenses} licenses")
        results["big_partner"] = scale.big_partner(bench, sizes.big_licenses, sizes.big_repeats, _log)
        _log("bench: the billing estimate at 10,000 and 100,000 licenses")
        results["billing_read"] = scale.billing_read(bench, BILLING_SIZES[quick], sizes.big_repeats, _log)
        _log("bench: month-end invoicing")
        results["month_end"] = _month_end(bench, sizes, deadline, results["notes"])
        _log("bench: billing engine")
        results["engine"] = scale.engine(sizes.engine)
    finally:
        bench.stack.stop()
    results["total_seconds"] = time.monotonic() - started
    results["notes"] += [
        "Plain moto answers a query by walking and sorting the whole table and copies the whole table for each "
        "transaction; DynamoDB does neither. The local stack (and so the bench) runs moto with "
        "`local/fast_dynamodb.py`: a partition index kept item by item, queries handed only the run of their "
        "partition a page can contain, and an item-level rollback for transactions. Answers are moto's own "
        "(tests/local/test_fast_dynamodb.py compares them with plain moto's).",
        "Handlers log at WARNING during the bench (the template says INFO); Powertools metrics are disabled, as "
        "in the local stack.",
        "Everything (handlers, moto, the Stripe emulator) shares one Python process and this machine's cores with "
        "other work, so absolute times are pessimistic; the ratios to same-run baselines are the comparable figures.",
    ]
    text = report.render(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print()
    print(text)
    if not args.smoke:
        _volume_only(args.output, quick, args.large)
    _log(f"bench: wrote {args.output} in {results['total_seconds']:.0f} s")
    return 0


def _volume_only(output: Path, quick: bool, large: bool) -> int:
    from bench import volume
    from bench.harness import _ensure_paths

    _ensure_paths()
    started = time.monotonic()
    _log("bench: volume (the local stack over HTTP, licenses already stored)")
    if quick:
        result = volume.measure([0, 300], _log, repeats=2, clients=3, mixed_seconds=4, mixed_sizes=(0, 300), blocks=2)
    else:
        sizes = [0, 10_000, 100_000] if large else [0, 10_000]
        result = volume.measure(sizes, _log)
        if not large:
            result.notes.append(
                "100,000 stored licenses: not in this run (`python -m bench volume --large` measures it; seeding "
                "100,000 items over HTTP into moto takes several minutes on this machine)."
            )
    section = volume.render(result)
    output.parent.mkdir(parents=True, exist_ok=True)
    volume.write_section(output, section)
    print()
    print(section)
    _log(f"bench: volume written to {output} in {time.monotonic() - started:.0f} s")
    return 0


BILLING_SIZES = {False: (10_000, 100_000), True: (200, 2_000)}
AUTHORIZER_ROUNDS = {False: 200, True: 3}


def _sections(names: list[str], output: Path, *, quick: bool) -> int:
    """Run some sections only, and put each in ``output`` in place of its previous figures."""
    from bench import authorizer, coldstart, report, scale, webhooks
    from bench.harness import open_bench

    section, *functions = names
    bench = open_bench(_log)
    try:
        if section == "coldstart":
            if functions:
                bench.only(routes=(), functions=tuple(functions))
            cold = coldstart.measure(bench, 1 if quick else 10, _log, source_runs=1 if quick else 3)
            profile = coldstart.import_profile(bench, "LicensesFunction")
            firsts = coldstart.first_requests(bench, 1 if quick else 5, _log)
            text = report.render(
                {"machine": {}, "coldstart": cold, "import_profile": profile, "first_requests": firsts}
            )
            body = text.split("## Cold start", 1)[1]
            _splice(output, "coldstart", "## Cold start" + body)
        elif section == "billing":
            rows = scale.billing_read(bench, BILLING_SIZES[quick], 3, _log)
            _splice(output, "billing", "\n".join(report.render_billing_read(rows)))
        elif section == "webhooks":
            hooks = webhooks.measure(bench, 3 if quick else 200, 0.0 if quick else 4.0, _log)
            _splice(output, "webhooks", "\n".join(report.render_webhooks(hooks)))
        elif section == "authorizer":
            measured = authorizer.measure(bench, AUTHORIZER_ROUNDS[quick], _log, cold_runs=1 if quick else 10)
            _splice(output, "authorizer", "\n".join(authorizer.render(measured)))
        elif section == "list":
            big = scale.big_partner(bench, 200 if quick else 10_000, 3, _log)
            text = report.render({"machine": {}, "big_partner": big})
            _splice(output, "list", "## Scale: one partner" + text.split("## Scale: one partner", 1)[1])
        else:
            _log(f"bench: unknown section {section!r} (coldstart, billing, list, webhooks, authorizer)")
            return 2
    finally:
        bench.stack.stop()
    _log(f"bench: updated the {section} section of {output}")
    return 0


def _splice(output: Path, name: str, text: str) -> None:
    """Replace the section between this section's markers, or append it (a full run rewrites the file)."""
    text = text.split("\n## Notes", 1)[0].rstrip()
    start, end = f"<!-- section {name} -->", f"<!-- /section {name} -->"
    block = f"{start}\n{text}\n{end}"
    current = output.read_text(encoding="utf-8") if output.exists() else "# Benchmarks\n"
    if start in current and end in current:
        before, rest = current.split(start, 1)
        current = before + block + rest.split(end, 1)[1]
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    output.write_text(current, encoding="utf-8")


def _month_end(bench: Any, sizes: Sizes, deadline: float, notes: list[str]) -> Any:
    """The full size when a pilot says it fits in what is left of the budget, else the largest that does."""
    from bench import scale

    target = sizes.partners
    pilot = scale.month_end(bench, sizes.pilot, sizes.per_partner, sizes.products, _log)
    if pilot.error or pilot.partners >= target:
        return pilot
    per_partner = (pilot.seed_seconds + pilot.wall_seconds) / pilot.partners
    left = deadline - time.monotonic() - 20  # the engine and the report
    # Half of what the pilot's pace allows: a partner costs more as the table and the queue grow.
    fits = int(left / per_partner / 2) if per_partner > 0 else target
    count = max(pilot.partners, min(target, fits))
    _log(f"  month-end: pilot {per_partner:.2f} s per partner; {left:.0f} s left: measuring {count} partners")
    result = (
        pilot if count == pilot.partners else scale.month_end(bench, count, sizes.per_partner, sizes.products, _log)
    )
    if result.partners < target:
        result.extrapolated_to = target
        notes.append(
            f"Month-end measured {result.partners:,} partners, not {target:,}: a {pilot.partners}-partner pilot took "
            f"{per_partner:.2f} s per partner (seeding included), and {target:,} would not fit the budget. The "
            f"{target:,}-partner wall time is extrapolated and labelled so."
        )
    return result


if __name__ == "__main__":
    sys.exit(main())
