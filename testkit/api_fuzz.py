"""Schemathesis against a running local stack, as an agency's script would meet the API.

Every phase (examples, coverage, fuzzing, stateful: the stateful phase follows the document's links from a
card to licenses, assignments, transfers, revocations, invoices and payment), every check except
``unsupported_method`` (undeclared methods are API Gateway's own 404 on an HTTP API; see docs/api.md).

``prepare`` gives the run what an agency has: a partner with cards, licenses and an open (past-due)
invoice from last month, and tokens -- a partner's for every route, an operator's (group ``operators``)
for the operations tagged ``operators``. It sets the stack clock back a month to make that invoice and
then returns it to where it was, so use a fresh stack (``make run``, or the test's own).

Run by ``tests/reliability/test_fuzz.py`` and by ``scripts/fuzz_api.py`` (against ``make run``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from testkit import mfa

CARD_THAT_FAILS_LATER = "pm_card_chargeCustomerFail"
"""Stripe's test card that attaches fine and then fails to be charged: last month's invoice stays open."""
TEST_CARDS = ["pm_card_visa", "pm_card_mastercard", "pm_card_amex", CARD_THAT_FAILS_LATER]

CHECK_EXCLUDED = "unsupported_method"

ALSO_ACCEPTED: dict[tuple[str, str], tuple[list[str], str]] = {
    ("PUT", "/v1/prices/{product}"): (["422"], "monthly_price must not be below daily_price (not expressible)"),
    ("POST", "/v1/partners/{partner_id}/external-licenses"): (
        ["422"],
        "a given license_key must start with the product's slug (not expressible)",
    ),
    ("POST", "/v1/webhooks/stripe"): (["400"], "only Stripe can sign an event"),
    ("GET", "/v1/licenses"): (["422"], "sort must be the status's own order; a cursor must come from this list"),
    ("GET", "/v1/sites"): (["422"], "a cursor must come from this list"),
    ("GET", "/v1/invoices"): (["422"], "a cursor must come from this list"),
    ("GET", "/v1/billing/export"): (["422"], "a cursor must come from this export (same period and grouping)"),
    ("GET", "/v1/operator/audit"): (["422"], "a cursor must come from this list"),
    ("GET", "/v1/operator/partners"): (["422"], "a cursor must come from this list"),
    ("GET", "/v1/operator/invoice-runs/{period}/preview"): (["422"], "a cursor must come from this dry run"),
    ("GET", "/v1/events"): (["422"], "a cursor must come from this list"),
    ("GET", "/v1/webhook-endpoints/{endpoint_id}/deliveries"): (["422"], "a cursor must come from this list"),
    ("POST", "/v1/webhook-endpoints"): (
        ["422"],
        "the url's host must resolve to public addresses only (not expressible)",
    ),
    ("PATCH", "/v1/webhook-endpoints/{endpoint_id}"): (
        ["422"],
        "a new url's host must resolve to public addresses only (not expressible)",
    ),
    ("POST", "/v1/api-keys"): (["422"], "expires_at must be in the future (not expressible)"),
}
"""Operations where a schema-valid request may still be refused, and why (each operation's description says so).
Everywhere else a schema-valid request is answered 2xx, or refused for the partner's state:
401/403/404/409, and 402 (no card, or a past-due invoice)."""

POSITIVE_STATUSES = ["2xx", "3xx", "401", "402", "403", "404", "409", "429"]


@dataclass
class Prepared:
    api_url: str
    partner_token: str
    operator_token: str
    cursors: dict[str, list[str]] = field(default_factory=dict)


def _post(session: requests.Session, url: str, body: dict[str, Any], expect: int) -> Any:
    reply = session.post(url, json=body, timeout=120)
    if reply.status_code != expect:
        raise RuntimeError(f"POST {url} {body}: {reply.status_code} {reply.text}")
    return reply.json() if reply.content else None


def _token(api_url: str, partner_id: str, groups: list[str] | None = None) -> str:
    """An ID token; an operator's with an authenticator app enrolled, as the API requires (``testkit.mfa``)."""
    return str(mfa.sign_in(api_url, partner_id, groups or [], secrets={})["token"])


def _previous_month(instant: datetime) -> tuple[str, str]:
    """(the 10th of the previous month as an instant, that month as YYYY-MM)."""
    year, month = (instant.year, instant.month - 1) if instant.month > 1 else (instant.year - 1, 12)
    return f"{year:04d}-{month:02d}-10T09:00:00Z", f"{year:04d}-{month:02d}"


def prepare(api_url: str) -> Prepared:
    """A partner with cards, licenses and connected sites (a page of each, for real cursors) and last month's open
    invoice."""
    anonymous = requests.Session()
    partner = f"agency-fuzz-{uuid.uuid4().hex[:10]}"
    now = str(anonymous.get(f"{api_url}/_local/clock", timeout=30).json()["now"])
    last_month_day, last_month = _previous_month(datetime.fromisoformat(now.replace("Z", "+00:00")).astimezone(UTC))

    _post(anonymous, f"{api_url}/_local/clock", {"now": last_month_day}, 200)
    try:
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {_token(api_url, partner)}"
        _post(api, f"{api_url}/v1/payment-methods", {"payment_method_id": CARD_THAT_FAILS_LATER}, 201)
        _post(api, f"{api_url}/v1/licenses", {"product": "jetpack-backup", "quantity": 3}, 201)
    finally:
        _post(anonymous, f"{api_url}/_local/clock", {"now": now}, 200)
    _post(anonymous, f"{api_url}/_local/invoice-run", {"period": last_month}, 200)

    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {_token(api_url, partner)}"
    _post(api, f"{api_url}/v1/payment-methods", {"payment_method_id": "pm_card_visa"}, 201)
    cursors: dict[str, list[str]] = {}
    page = api.get(f"{api_url}/v1/licenses", params={"limit": 1}, timeout=30).json()
    cursors["/v1/licenses"] = [page["next_cursor"]] if page.get("next_cursor") else []
    for n in range(2):
        _post(api, f"{api_url}/v1/sites", {"site_id": f"fuzz-{n}", "site_url": f"https://fuzz-{n}.example"}, 200)
    sites = api.get(f"{api_url}/v1/sites", params={"limit": 1}, timeout=30).json()
    cursors["/v1/sites"] = [sites["next_cursor"]] if sites.get("next_cursor") else []
    return Prepared(
        api_url=api_url,
        partner_token=_token(api_url, partner),
        operator_token=_token(api_url, f"operator-fuzz-{uuid.uuid4().hex[:6]}", ["operators"]),
        cursors=cursors,
    )


def _toml(value: Any) -> str:
    return json.dumps(value)


def config(prepared: Prepared, max_examples: int, seed: int | None = None) -> str:
    """``schemathesis.toml`` for the run."""
    lines = [
        f"base-url = {_toml(prepared.api_url)}",
        f"headers = {{ Authorization = {_toml('Bearer ' + prepared.partner_token)} }}",
        "workers = 1",
        "request-timeout = 60",
        "suppress-health-check = ['all']",
        "[generation]",
        f"max-examples = {max_examples}",
        "[phases.examples]",
        "enabled = true",
        "[phases.coverage]",
        "enabled = true",
        "[phases.fuzzing]",
        "enabled = true",
        "[phases.stateful]",
        "enabled = true",
        "[checks]",
        "enabled = true",
        f"{CHECK_EXCLUDED}.enabled = false",
        f"positive_data_acceptance.expected-statuses = {_toml(POSITIVE_STATUSES)}",
    ]
    if seed is not None:
        lines.insert(0, f"seed = {seed}")
    dictionaries = {"test_cards": TEST_CARDS}
    for path, values in prepared.cursors.items():
        if values:
            dictionaries[f"cursor{path.replace('/', '_')}"] = values
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {_toml(values)}"]
    lines += [
        "[[operations]]",
        "include-tag = 'operators'",
        f"headers = {{ Authorization = {_toml('Bearer ' + prepared.operator_token)} }}",
        "[[operations]]",
        "include-name = 'POST /v1/payment-methods'",
        "parameters = { 'body.payment_method_id' = { dictionary = 'test_cards', probability = 0.5 } }",
    ]
    for path, values in prepared.cursors.items():
        if values:
            name = f"cursor{path.replace('/', '_')}"
            lines += [
                "[[operations]]",
                f"include-name = {_toml('GET ' + path)}",
                f"parameters = {{ 'query.cursor' = {{ dictionary = {_toml(name)} }} }}",
            ]
    for (method, path), (statuses, _why) in ALSO_ACCEPTED.items():
        lines += [
            "[[operations]]",
            f"include-name = {_toml(method + ' ' + path)}",
            f"checks.positive_data_acceptance.expected-statuses = {_toml(POSITIVE_STATUSES + statuses)}",
        ]
    return "\n".join(lines) + "\n"


@dataclass
class Outcome:
    returncode: int
    output: str
    report: dict[str, Any]


def run(prepared: Prepared, max_examples: int, workdir: Path, seed: int | None = None) -> Outcome:
    """``schemathesis run`` with the config above; its output and JSON report."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "schemathesis.toml").write_text(config(prepared, max_examples, seed), encoding="utf-8")
    report_dir = workdir / "report"
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(workdir / "schemathesis.toml"),
        "run",
        f"{prepared.api_url}/v1/openapi.json",
        "--report",
        "json",
        "--report-dir",
        str(report_dir),
    ]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=False)  # noqa: S603
    reports = sorted(report_dir.glob("*.json"))
    report = json.loads(reports[-1].read_text(encoding="utf-8")) if reports else {}
    return Outcome(done.returncode, done.stdout + done.stderr, report)
