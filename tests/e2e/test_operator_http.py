"""The operators' routes over HTTP against the local stack: the audit log records every operator action once
(also when a request is retried with its Idempotency-Key), partners are found by id or company name with their
standing and counts, a scheduled price is cancelled, and a month-end run is previewed, started, watched,
and its dead letters re-driven. A partner's token is refused on every operator route."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import requests

from local.auth import subject_for
from testkit.stack import ApiSession
from tests.e2e.test_invoicing_http import with_card
from tests.e2e.test_past_due_story import eventually

if TYPE_CHECKING:
    from testkit.stack import LocalStack

OPERATOR = "ops-console"
ACTOR = f"operator:{subject_for(OPERATOR)}"


class FreshTokens(ApiSession):
    """A session that asks for a new token before each request: these tests move the stack clock by months."""

    def __init__(self, stack: LocalStack, partner_id: str, groups: list[str]) -> None:
        super().__init__(stack.api_url)
        self.stack, self.partner_id, self.groups = stack, partner_id, groups

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.headers["Authorization"] = f"Bearer {self.stack.token(self.partner_id, self.groups)}"
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def ops(stack: LocalStack) -> ApiSession:
    return FreshTokens(stack, OPERATOR, ["operators"])


def fresh(stack: LocalStack, partner_id: str) -> ApiSession:
    return FreshTokens(stack, partner_id, [])


def walk_audit(ops: ApiSession, limit: int) -> list[dict[str, Any]]:
    """The whole audit log, page after page of ``limit``."""
    walked: list[dict[str, Any]] = []
    cursor = None
    while True:
        reply = ops.get("/v1/operator/audit", params={"limit": limit, **({"cursor": cursor} if cursor else {})})
        assert reply.status_code == 200, reply.text
        walked += reply.json()["items"]
        cursor = reply.json()["next_cursor"]
        if cursor is None:
            return walked


def audit(ops: ApiSession) -> list[dict[str, Any]]:
    """The whole audit log, newest first: the stack is shared, and other tests' entries (some at later instants than
    a test's own) are more than a page."""
    return walk_audit(ops, 100)


def entries(ops: ApiSession, action: str, target: str) -> list[dict[str, Any]]:
    return [e for e in audit(ops) if e["action"] == action and e["target"] == target]


def progress(ops: ApiSession, period: str) -> dict[str, Any]:
    reply = ops.get(f"/v1/operator/invoice-runs/{period}")
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def dry_run(ops: ApiSession, period: str, limit: int = 500) -> list[dict[str, Any]]:
    """Every page of the month's dry run, followed to the last; each page's sums are its own partners'."""
    partners: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        reply = ops.get(f"/v1/operator/invoice-runs/{period}/preview", params=params)
        assert reply.status_code == 200, reply.text
        page = reply.json()
        assert page["total"] == sum(p["total"] for p in page["partners"])
        assert page["to_invoice"] == sum(p["total"] for p in page["partners"] if p["state"] == "would_invoice")
        partners += page["partners"]
        cursor = page["next_cursor"]
        if cursor is None:
            return partners


# -- prices ------------------------------------------------------------------------------------------------------


def test_scheduling_and_cancelling_a_price_are_audited_once_each(stack: LocalStack, ops: ApiSession) -> None:
    stack.set_clock("2026-02-10T12:00:00Z")
    body = {"daily_price": 15, "monthly_price": 400, "effective_from": "2026-06-01"}
    key = {"Idempotency-Key": f"sched-{uuid.uuid4().hex}"}

    # When an operator schedules a Scan price for June, and the request is retried with its key
    first = ops.put("/v1/prices/jetpack-scan", json=body, headers=key)
    again = ops.put("/v1/prices/jetpack-scan", json=body, headers=key)

    # Then it is scheduled once, and the log holds one entry naming who, what and the request
    assert first.status_code == again.status_code == 200, first.text
    assert first.json() == again.json()
    assert [(v["effective_from"], v["daily_price"]) for v in first.json()["scheduled"]] == [("2026-06-01", 15)]
    (scheduled,) = entries(ops, "price.schedule", "product:jetpack-scan")
    assert scheduled["actor"] == ACTOR
    assert scheduled["summary"] == {"product": "jetpack-scan", **body}

    # When it is cancelled (twice with one key), the schedule is empty and one cancel entry is written
    key = {"Idempotency-Key": f"cancel-{uuid.uuid4().hex}"}
    cancelled = ops.delete("/v1/prices/jetpack-scan/scheduled/2026-06-01", headers=key)
    repeated = ops.delete("/v1/prices/jetpack-scan/scheduled/2026-06-01", headers=key)
    assert cancelled.status_code == repeated.status_code == 200, cancelled.text
    assert cancelled.json()["scheduled"] == []
    assert (cancelled.json()["daily_price"], cancelled.json()["monthly_price"]) == (14, 395)
    assert len(entries(ops, "price.cancel", "product:jetpack-scan")) == 1

    # A new request (no key) for the version now gone is 404; a version in effect is 409; neither is logged
    assert ops.delete("/v1/prices/jetpack-scan/scheduled/2026-06-01").status_code == 404
    current = next(p for p in ops.get("/v1/prices").json()["items"] if p["product"] == "jetpack-scan")
    in_effect = ops.delete(f"/v1/prices/jetpack-scan/scheduled/{current['effective_from']}")
    assert in_effect.status_code == 409, in_effect.text
    assert in_effect.json()["error"]["code"] == "price_in_effect"
    assert len(entries(ops, "price.cancel", "product:jetpack-scan")) == 1
    # A malformed day is not a missing version: 422 naming effective_from (the path's pattern), also year 0000
    for bad in ("2027-5-1", "2027-05-02", "0000-01-01"):
        malformed = ops.delete(f"/v1/prices/jetpack-scan/scheduled/{bad}")
        assert malformed.status_code == 422, (bad, malformed.text)
        assert [d["field"] for d in malformed.json()["error"]["details"]] == ["effective_from"]
    # The catalog answers the service's time
    assert ops.get("/v1/prices").json()["as_of"] == "2026-02-10T12:00:00Z"


def test_validation_reasons_are_said_for_people(stack: LocalStack, ops: ApiSession) -> None:
    partner, _ = with_card(stack)
    bad = {"product": "jetpack-scan", "license_key": "scan-abc", "site": {"site_id": "", "site_url": "https://x.example"}}
    reply = ops.post(f"/v1/partners/{partner}/external-licenses", json=bad)
    assert reply.status_code == 422, reply.text
    reasons = {d["field"]: d["reason"] for d in reply.json()["error"]["details"]}
    assert reasons["license_key"].startswith("must look like <product slug>_")
    assert reasons["site.site_id"] == "1 to 64 letters, digits or . _ : - (no spaces)"
    huge = {"daily_price": 1, "monthly_price": 100_000_001, "effective_from": "2030-01-01"}
    reply = ops.put("/v1/prices/jetpack-scan", json=huge)
    assert reply.status_code == 422, reply.text
    assert {d["field"]: d["reason"] for d in reply.json()["error"]["details"]} == {
        "monthly_price": "must be at most 100000000"
    }


def test_the_audit_log_is_newest_first_and_paginates_without_gaps(stack: LocalStack, ops: ApiSession) -> None:
    stack.set_clock("2026-02-11T12:00:00Z")
    for month in ("07", "08", "09"):
        body = {"daily_price": 8, "monthly_price": 200, "effective_from": f"2026-{month}-01"}
        assert ops.put("/v1/prices/jetpack-anti-spam", json=body).status_code == 200
        stack.advance("PT1M")

    # The whole log, in pages of 100 (the shared stack's log holds every earlier test's entries too, some of them
    # at later instants than these)
    everything = walk_audit(ops, 100)
    # (as instants: "12Z" and "12.5Z" are one second, and a string comparison would put them out of order)
    times = [datetime.fromisoformat(e["at"].replace("Z", "+00:00")) for e in everything]
    assert times == sorted(times, reverse=True)
    # these three, newest first, wherever they fall among the others
    start = datetime(2026, 2, 11, 12, 0, tzinfo=UTC)
    mine = [
        e["summary"]["effective_from"]
        for e, at in zip(everything, times, strict=True)
        if e["target"] == "product:jetpack-anti-spam" and start <= at < start + timedelta(minutes=3)
    ]
    assert mine == ["2026-09-01", "2026-08-01", "2026-07-01"]

    # Page by page with limit 2 gives the same entries, each once
    paged = [e["id"] for e in walk_audit(ops, 2)]
    assert paged == [e["id"] for e in everything]
    assert len(set(paged)) == len(paged)
    assert ops.get("/v1/operator/audit", params={"cursor": "bm90LWEtY3Vyc29y"}).status_code == 422


# -- partners ----------------------------------------------------------------------------------------------------


def test_partners_are_found_by_company_name_or_id_with_standing_and_counts(stack: LocalStack, ops: ApiSession) -> None:
    stack.set_clock("2026-02-12T12:00:00Z")
    marker = uuid.uuid4().hex[:6]
    partner, api = with_card(stack)
    company = {
        "name": f"Zebra Bakery {marker} LLC",
        "contact_first_name": "Ann",
        "contact_last_name": "Baker",
        "website": "https://bakery.example",
        "address_line1": "1 Market St",
        "city": "San Francisco",
        "state": "CA",
        "country": "US",
        "postal_code": "94105",
    }
    assert api.put("/v1/company", json=company).status_code == 200
    assert api.post("/v1/licenses", json={"product": "jetpack-backup", "quantity": 3}).status_code == 201

    # By company name, in any case
    found = ops.get("/v1/operator/partners", params={"search": f"zebra BAKERY {marker}"}).json()
    assert [p["partner_id"] for p in found["items"]] == [partner]
    (row,) = found["items"]
    assert row["company_name"] == company["name"]
    assert (row["has_payment_method"], row["past_due"], row["past_due_invoices"]) == (True, False, [])
    assert row["licenses"] == {"all": 3, "assigned": 0, "unassigned": 3, "revoked": 0, "not_revoked": 3}

    # By a piece of the partner id
    by_id = ops.get("/v1/operator/partners", params={"search": partner[-8:]}).json()
    assert partner in [p["partner_id"] for p in by_id["items"]]

    # The detail: company, per-product counts, no invoices yet
    detail = ops.get(f"/v1/operator/partners/{partner}")
    assert detail.status_code == 200, detail.text
    assert detail.json()["company"]["name"] == company["name"]
    assert detail.json()["license_counts"]["products"]["jetpack-backup"]["all"] == 3
    assert detail.json()["stripe_customer_id"].startswith("cus_")
    assert detail.json()["invoices"] == []
    assert ops.get("/v1/operator/partners/nobody-ever-seen").status_code == 404

    # Paging the whole directory one by one lists every partner once, in id order
    ids: list[str] = []
    cursor = None
    for _ in range(500):
        reply = ops.get("/v1/operator/partners", params={"limit": 1, **({"cursor": cursor} if cursor else {})})
        assert reply.status_code == 200, reply.text
        ids += [p["partner_id"] for p in reply.json()["items"]]
        cursor = reply.json()["next_cursor"]
        if cursor is None:
            break
    assert partner in ids
    assert ids == sorted(set(ids))


def test_recording_an_external_license_is_audited_once(stack: LocalStack, ops: ApiSession) -> None:
    partner, _ = with_card(stack)
    body = {"product": "jetpack-boost", "site": {"site_id": "77", "site_url": "https://ext.example"}}
    key = {"Idempotency-Key": f"ext-{uuid.uuid4().hex}"}
    first = ops.post(f"/v1/partners/{partner}/external-licenses", json=body, headers=key)
    again = ops.post(f"/v1/partners/{partner}/external-licenses", json=body, headers=key)
    assert first.status_code == again.status_code == 201, first.text
    assert first.json()["license_key"] == again.json()["license_key"]
    (entry,) = entries(ops, "license.record_external", f"partner:{partner}")
    assert entry["summary"]["site"]["site_url"] == "https://ext.example"
    assert entry["actor"] == ACTOR
    assert entry["actor_name"] == f"{OPERATOR}@partners.local"  # the token's email claim
    # The partner's history names the operator too (the operator's token names a partner of its own)
    detail = fresh(stack, partner).get(f"/v1/licenses/{first.json()['license_key']}").json()
    assert [(e["type"], e["actor"]) for e in detail["history"]] == [("issued", ACTOR)]


# -- month-end ---------------------------------------------------------------------------------------------------


def test_a_month_is_previewed_started_watched_and_its_invoice_voided(stack: LocalStack, ops: ApiSession) -> None:
    # Given a partner with two Backup licenses from 1 March 2026 09:00; one is revoked on 10 March 09:00
    stack.set_clock("2026-03-01T09:00:00Z")
    partner, _ = with_card(stack)
    api = fresh(stack, partner)
    issued = api.post("/v1/licenses", json={"product": "jetpack-backup", "quantity": 2})
    keys = [item["license_key"] for item in issued.json()["items"]]
    stack.set_clock("2026-03-10T09:00:00Z")
    assert api.post(f"/v1/licenses/{keys[0]}/revoke").status_code == 200
    stack.set_clock("2026-04-01T00:20:00Z")

    # A month not yet ended cannot be previewed or started
    assert ops.get("/v1/operator/invoice-runs/2026-04/preview").json()["error"]["code"] == "period_not_ended"
    assert ops.post("/v1/operator/invoice-runs", json={"period": "2026-04"}).status_code == 409

    # The dry run: revoked one = 10 days x 17 = 170; the other = min(31 x 17 = 527, 495) = 495; 665 in all
    preview = dry_run(ops, "2026-03")
    (mine,) = [p for p in preview if p["partner_id"] == partner]
    assert mine["state"] == "would_invoice"
    assert [(ln["product"], ln["licenses"], ln["license_days"], ln["amount"]) for ln in mine["lines"]] == [
        ("jetpack-backup", 2, 41, 665)
    ]
    assert mine["total"] == 665
    # In pages of three partners it is the same dry run
    assert dry_run(ops, "2026-03", limit=3) == preview
    # A page size out of 1..500 or a cursor not of the dry run is 422 naming it
    for params, field in (({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"cursor": "bm90IGpzb24"}, "cursor")):
        refused = ops.get("/v1/operator/invoice-runs/2026-03/preview", params=params)
        assert refused.status_code == 422, refused.text
        assert field in refused.text
    # ...and it wrote nothing: no invoice record, no Stripe invoice
    assert api.get("/v1/invoices").json()["items"] == []

    # When the run is started (the request retried with its key)
    key = {"Idempotency-Key": f"run-{uuid.uuid4().hex}"}
    started = ops.post("/v1/operator/invoice-runs", json={"period": "2026-03"}, headers=key)
    replayed = ops.post("/v1/operator/invoice-runs", json={"period": "2026-03"}, headers=key)
    assert started.status_code == replayed.status_code == 202, started.text
    assert started.json()["started_by"] == ACTOR
    assert started.json()["started_by_name"] == f"{OPERATOR}@partners.local"  # the token's email claim
    assert len(entries(ops, "invoice_run.start", "invoice-run:2026-03")) == 1

    # Then the planner and the workers finish it, asynchronously
    done = eventually(
        lambda: (p := progress(ops, "2026-03"))["pending"] == 0 and p["planned"] > 0 and p, "the run to finish", 120
    )
    assert done["failed"] == done["dead_lettered"] == 0
    assert done["invoiced"] + done["nothing_to_bill"] == done["planned"]
    (invoice,) = api.get("/v1/invoices").json()["items"]
    assert (invoice["period"], invoice["total"], invoice["status"]) == ("2026-03", 665, "open")

    # The dry run now says it is invoiced; the partner's page lists the invoice
    again = dry_run(ops, "2026-03")
    assert next(p for p in again if p["partner_id"] == partner)["state"] == "already_invoiced"
    detail = ops.get(f"/v1/operator/partners/{partner}").json()
    assert [i["id"] for i in detail["invoices"]] == [invoice["id"]]

    # Voiding it (retried with its key) is one Stripe change and one audit entry
    key = {"Idempotency-Key": f"void-{uuid.uuid4().hex}"}
    voided = ops.post(f"/v1/invoices/{invoice['id']}/void", headers=key)
    assert ops.post(f"/v1/invoices/{invoice['id']}/void", headers=key).json() == voided.json()
    assert voided.json()["status"] == "void"
    (entry,) = entries(ops, "invoice.void", f"invoice:{invoice['id']}")
    assert entry["summary"]["partner_id"] == partner
    assert (entry["summary"]["from_status"], entry["summary"]["to_status"]) == ("open", "void")
    # A new void of a void invoice changes nothing and logs nothing
    assert ops.post(f"/v1/invoices/{invoice['id']}/void").status_code == 200
    assert len(entries(ops, "invoice.void", f"invoice:{invoice['id']}")) == 1


def test_dead_letters_of_a_run_are_shown_and_re_driven(stack: LocalStack, ops: ApiSession) -> None:
    # Given a partner with one Scan license in May 2026 (31 days x 14 = 434, under the 395 cap: 395)
    stack.set_clock("2026-05-01T10:00:00Z")
    partner, _ = with_card(stack)
    api = fresh(stack, partner)
    assert api.post("/v1/licenses", json={"product": "jetpack-scan", "quantity": 1}).status_code == 201
    stack.set_clock("2026-06-01T00:20:00Z")

    # And Stripe refusing every invoice creation
    plan = {"server_error": 1.0, "path_prefix": "/v1/invoices", "methods": ["POST"]}
    assert requests.post(f"{stack.stripe_url}/_emulator/faults", json=plan, timeout=10).status_code == 200
    try:
        assert ops.post("/v1/operator/invoice-runs", json={"period": "2026-05"}).status_code == 202
        # Then the partner-month fails five times and lands in the dead-letter queue (so does every other
        # partner billed for May in this session)
        stuck = eventually(
            lambda: (
                (p := progress(ops, "2026-05"))["dead_lettered"] >= 1
                and p["dead_lettered"] == p["failed"]
                and p["pending"] == 0
                and p
            ),
            "every failing partner-month in the dead-letter queue",
            240,
        )
    finally:
        requests.delete(f"{stack.stripe_url}/_emulator/faults", timeout=10)
    assert partner in [f["partner_id"] for f in stuck["failures"]]
    assert stuck["failed"] >= 1

    # When an operator retries the month (twice with one key)
    key = {"Idempotency-Key": f"retry-{uuid.uuid4().hex}"}
    retried = ops.post("/v1/operator/invoice-runs/2026-05/retry", headers=key)
    assert ops.post("/v1/operator/invoice-runs/2026-05/retry", headers=key).json() == retried.json()
    assert retried.status_code == 200, retried.text
    assert partner in retried.json()["partners"]

    # Then the worker invoices it, the dead-letter queue is empty for the month, one retry is logged
    eventually(
        lambda: [i for i in api.get("/v1/invoices").json()["items"] if i["status"] == "open"],
        "the re-driven invoice, finalized",
        120,
    )
    (invoice,) = api.get("/v1/invoices").json()["items"]
    assert (invoice["period"], invoice["total"]) == ("2026-05", 395)
    after = eventually(lambda: (p := progress(ops, "2026-05"))["failed"] == 0 and p, "no failure left", 60)
    assert after["dead_lettered"] == 0
    (entry,) = entries(ops, "invoice_run.retry", "invoice-run:2026-05")
    assert partner in entry["summary"]["partners"]


# -- who may call ------------------------------------------------------------------------------------------------

OPERATOR_CALLS = [
    ("GET", "/v1/operator/audit", None),
    ("GET", "/v1/operator/partners", None),
    ("GET", "/v1/operator/partners/{partner}", None),
    ("GET", "/v1/operator/invoice-runs/2026-01/preview", None),
    ("POST", "/v1/operator/invoice-runs", {"period": "2026-01"}),
    ("GET", "/v1/operator/invoice-runs/2026-01", None),
    ("POST", "/v1/operator/invoice-runs/2026-01/retry", None),
    ("DELETE", "/v1/prices/jetpack-backup/scheduled/2030-01-01", None),
]


@pytest.mark.parametrize(("method", "path", "body"), OPERATOR_CALLS, ids=[f"{m} {p}" for m, p, _ in OPERATOR_CALLS])
def test_a_partner_is_refused_every_operator_route(
    stack: LocalStack, ops: ApiSession, method: str, path: str, body: Any
) -> None:
    partner, api = with_card(stack)
    before = len(audit(ops))
    reply = api.request(method, path.format(partner=partner), json=body)
    assert reply.status_code == 403, reply.text
    assert reply.json()["error"]["code"] == "not_an_operator"
    assert len(audit(ops)) == before
