"""Run month-end invoicing for a month on the running local stack, and print a line per partner.

    make invoice PERIOD=2026-10                 (or: python scripts/invoice_run.py 2026-10)
    make invoice API_PORT=3100 PERIOD=2026-10   a stack started with `make run API_PORT=3100`

Calls the stack's ``POST /_local/invoice-run`` (the planner, then every queued partner-month to completion),
then reads each planned partner's invoice for the month through the API, as that partner. The stack is the one
on ``API_PORT`` (default 3000), as for every make target that talks to it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from local.ports import api_url  # noqa: E402 - scripts/ is not a package

API = api_url()


def money(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def invoice_of(partner_id: str, period: str) -> dict[str, Any] | None:
    token = requests.post(f"{API}/_local/token", json={"partner_id": partner_id}, timeout=10).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    cursor: str | None = None
    while True:
        params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{API}/v1/invoices", headers=headers, params=params, timeout=30).json()
        for item in page.get("items", []):
            if item["period"] == period:
                return dict(item)
        cursor = page.get("next_cursor")
        if not cursor:
            return None


def main(argv: list[str]) -> int:
    period = argv[1] if len(argv) > 1 else ""
    if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", period):
        print("usage: make invoice PERIOD=YYYY-MM  (a month that has ended, on the stack's clock)", file=sys.stderr)
        return 2
    try:
        requests.get(f"{API}/_local/clock", timeout=5).raise_for_status()
    except requests.RequestException:
        print(
            f"No local stack answers at {API}. Start it with `make run` in another terminal "
            "(the same API_PORT for both).",
            file=sys.stderr,
        )
        return 1
    print(f"Invoicing {period} on {API} ...")
    # "via": the month's run names `make invoice` as what started it.
    reply = requests.post(f"{API}/_local/invoice-run", json={"period": period, "via": "make-invoice"}, timeout=900)
    summary = reply.json()
    if reply.status_code == 409:
        print(f"Not invoiced: {summary.get('message') or summary}", file=sys.stderr)
        return 1
    if reply.status_code != 200:
        print(f"The run failed: {summary.get('error') or summary.get('message') or summary}", file=sys.stderr)
        return 1
    result = summary.get("planner_result") or {}
    partners = result.get("partners", [])
    for partner_id in partners:
        invoice = invoice_of(partner_id, period)
        if invoice is None:
            print(f"  {partner_id:<32} nothing to bill")
            continue
        flag = "  PAST DUE" if invoice["past_due"] else ""
        print(
            f"  {partner_id:<32} {invoice['id']:<28} {invoice['number'] or '-':<12} "
            f"{invoice['status']:<8} {money(invoice['total'])}{flag}"
        )
    print(
        f"{period}: {summary.get('partners_enqueued', len(partners))} partner(s) planned, "
        f"{summary.get('succeeded', 0)} done, {summary.get('failed', 0)} failed attempt(s), "
        f"{summary.get('dead_lettered', 0)} dead-lettered, {summary.get('duration_ms', 0)} ms"
    )
    return 0 if summary.get("complete", True) and not summary.get("dead_lettered") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
