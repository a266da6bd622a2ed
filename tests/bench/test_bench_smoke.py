"""`make bench` still works: its machinery, at minimal sizes, end to end (python -m bench --smoke), writes every
section and reports what it counts. No figure of time is judged here: speed is measured by `make bench`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_section_runs_and_writes_its_table(tmp_path: Path) -> None:
    # Given a bench run at minimal sizes on two license routes and the licenses function
    output = tmp_path / "results.md"
    done = subprocess.run(  # noqa: S603 - our own interpreter running our own module
        [sys.executable, "-m", "bench", "--smoke", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    # Then it succeeds and writes every section
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = output.read_text(encoding="utf-8")
    for heading in (
        "## Machine",
        "## Targets at a glance",
        "## Cold start",
        "### SnapStart priming: the first requests of an execution environment",
        "## The authorizer",
        "## Calls per request",
        "## Warm latency",
        "## Stripe events at the webhook route",
        "## Scale: one partner with 200 licenses",
        "## Scale: month-end invoicing",
        "## Scale: the billing engine alone",
    ):
        assert heading in text, heading

    # And the license routes meet their targets: one GetItem for the counts; one transaction, one read
    # and the two idempotency calls for an issue; no Stripe call on either
    assert "| `GET /v1/licenses/counts` | LicensesFunction | 1 (GetItem 1) | 0 | 200 | met:" in text
    assert "| 4 (GetItem 1, TransactWriteItems 1, idem:PutItem 1, idem:UpdateItem 1) | 0 | 201 | met:" in text

    # And the licenses function does not import stripe at init
    assert "| LicensesFunction |" in text
    cold_row = next(line for line in text.splitlines() if line.startswith("| LicensesFunction |"))
    header = next(line for line in text.splitlines() if line.startswith("| Function |"))
    stripe_column = [cell.strip() for cell in header.split("|")].index("`stripe` imported")
    assert cold_row.split("|")[stripe_column].strip() == "no"
    # And its start without bytecode (every module compiled from source, as from an artifact with no .pyc) is
    # reported too, as a time and its ratio (how the two compare is make bench's to measure, not this test's)
    source_column = [cell.strip() for cell in header.split("|")].index("Without bytecode (CPU)")
    without = re.fullmatch(r"[\d.]+ ms \([\d.]+x\)", cold_row.split("|")[source_column].strip())
    assert without is not None, cold_row
    # And the framework floor is measured beside the functions
    assert any(line.startswith("| framework floor |") for line in text.splitlines())
    assert any(line.startswith("| pydantic, one model |") for line in text.splitlines())

    # And the authorizer's cold start and each of its per-request figures are reported beside their baselines
    assert any(line.startswith("| AuthorizerFunction |") for line in text.splitlines())
    for row in (
        "authorizer, ID token, answer not cached",
        "authorizer, API key, answer not cached",
        "function gate, every request",
    ):
        assert re.search(rf"^\| {row} \| [\d.]+ ms \| [\d.]+x \|", text, re.MULTILINE), row

    # And month-end made one invoice per partner with products + 2 Stripe calls each
    assert "| Partners invoiced (Stripe invoices created) | 3 |" in text
    assert "target products + 2 = 4: met" in text
