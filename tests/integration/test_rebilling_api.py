"""Re-billing over the real handlers against moto: the estimate grouped by client, site and product, the CSV
statement (also in parts, read through pages of two items), and the billing history.

April 2029 (30 days), worked by hand. Backup is 17 cents a day capped at 495, Scan 14 a day capped at 395.
On 1 April 09:00 the partner issues L1 and L2 (Backup, client "Bakery") and L3 (Scan, client "Florist"), and
assigns L1 to site 100. On 11 April 09:00 L1 moves to site 200 and L2 is assigned to site 100. L3 is revoked on
13 April 09:00. L2 is relabelled "Florist" on 20 April; L1 is relabelled "Cafe" on 2 May (after April's end).

| License | Days | Amount | Days by site | Split |
|---|---|---|---|---|
| L1 | 30 | min(510, 495) = 495 | 100: 1-10 (10), 200: 11-30 (20) | 495 x 10/30 = 165, 330 |
| L2 | 30 | 495 | none: 1-10 (10), 100: 11-30 (20) | 165, 330 |
| L3 | 13 | 13 x 14 = 182 | none: 1-13 (13) | 182 |

April's total: 1172 cents, 73 license-days.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from partnerhub.clock import ManualClock
from partnerhub.settings import BillingSettings
from testkit.events import load_event
from tests.integration.conftest import Function, Reply


def at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2029, month, day, hour, tzinfo=UTC)


@pytest.fixture
def billing(function: Callable[..., Function]) -> Function:
    return function("billing")


@pytest.fixture
def licenses(function: Callable[..., Function]) -> Function:
    return function("licenses")


def call(function: Function, name: str, partner: str, **kw: Any) -> Reply:
    kw.setdefault("drop_headers", ("idempotency-key",))
    reply = function(load_event(name, partner_id=partner, **kw))
    assert reply.status in (200, 201), reply.body
    return reply


@pytest.fixture
def april(licenses: Function, paying_partner: str, clock: ManualClock) -> dict[str, str]:
    """The partner's April 2029, as the module docstring tells it; the clock is left on 2 May 2029."""
    p = paying_partner
    clock.set(at(4, 1, 9))
    order = {"product": "jetpack-backup", "quantity": 2, "client": "Bakery"}
    l1, l2 = (i["license_key"] for i in call(licenses, "licenses/issue", p, body=order).body["items"])
    scan = {"product": "jetpack-scan", "quantity": 1, "client": "Florist"}
    (l3,) = (i["license_key"] for i in call(licenses, "licenses/issue", p, body=scan).body["items"])

    def assign(key: str, site: str) -> None:
        body = {"site_id": site, "site_url": f"https://site-{site}.example"}
        call(licenses, "licenses/assign", p, path={"license_key": key}, body=body)

    assign(l1, "100")
    clock.set(at(4, 11, 9))
    assign(l1, "200")
    assign(l2, "100")
    clock.set(at(4, 13, 9))
    call(licenses, "licenses/revoke", p, path={"license_key": l3})
    clock.set(at(4, 20, 9))
    call(licenses, "licenses/label", p, path={"license_key": l2}, body={"client": "Florist"})
    clock.set(at(5, 2, 9))
    call(licenses, "licenses/label", p, path={"license_key": l1}, body={"client": "Cafe"})
    return {"L1": l1, "L2": l2, "L3": l3}


def grouped(billing: Function, partner: str, by: str) -> dict[str, Any]:
    reply = billing(load_event("billing/estimate", partner_id=partner, query={"period": "2029-04", "group_by": by}))
    assert reply.status == 200, reply.body
    return dict(reply.body)


def figures(group: dict[str, Any]) -> tuple[int, int, int, int]:
    return group["licenses"], group["license_days"], group["cost_to_date"], group["projected_cost"]


class TestGroupedEstimate:
    def test_by_site_by_client_and_by_product_sum_to_the_totals(
        self, billing: Function, paying_partner: str, april: dict[str, str]
    ) -> None:
        plain = billing(load_event("billing/estimate", partner_id=paying_partner, query={"period": "2029-04"})).body
        assert "groups" not in plain and "group_by" not in plain
        assert (plain["totals"]["license_days"], plain["totals"]["cost_to_date"]) == (73, 1172)

        by_site = grouped(billing, paying_partner, "site")
        assert {g["site"]: figures(g) for g in by_site["groups"]} == {
            "100": (1, 30, 495, 495),  # L1's 10 days (165) and L2's 20 (330); L2 ends April there
            "200": (1, 20, 330, 330),
            None: (1, 23, 347, 347),  # L2's 10 days (165) and L3's 13 (182)
        }
        assert [g["site_url"] for g in by_site["groups"]] == [
            "https://site-100.example",
            "https://site-200.example",
            None,
        ]
        by_client = grouped(billing, paying_partner, "client")
        # L1's relabelling on 2 May does not move April: it was Bakery's at April's end
        assert {g["client"]: figures(g) for g in by_client["groups"]} == {
            "Bakery": (1, 30, 495, 495),
            "Florist": (2, 43, 677, 677),
        }
        assert {frozenset(g) for g in by_client["groups"]} == {
            frozenset({"client", "licenses", "license_days", "cost_to_date", "projected_cost"})
        }
        by_product = grouped(billing, paying_partner, "product")
        assert {g["product"]: figures(g) for g in by_product["groups"]} == {
            "jetpack-backup": (2, 60, 990, 990),
            "jetpack-scan": (1, 13, 182, 182),
        }
        for body in (by_site, by_client, by_product):
            assert {k: body[k] for k in ("period", "as_of", "currency", "products", "totals")} == plain
            totals = body["totals"]
            assert sum(g["licenses"] for g in body["groups"]) == totals["counts"]["total"] == 3
            for name in ("license_days", "cost_to_date", "projected_cost"):
                assert sum(g[name] for g in body["groups"]) == totals[name]

    def test_the_current_month_groups_by_the_labels_of_now(
        self, billing: Function, paying_partner: str, april: dict[str, str]
    ) -> None:
        # 2 May 09:00: L1 (Cafe, site 200) and L2 (Florist, site 100) have 2 days to date, 31 projected (capped)
        reply = billing(load_event("billing/estimate", partner_id=paying_partner, query={"group_by": "client"}))
        assert reply.status == 200, reply.body
        assert {g["client"]: figures(g) for g in reply.body["groups"]} == {
            "Cafe": (1, 2, 34, 495),
            "Florist": (1, 2, 34, 495),
        }
        # the same estimate as the tallies give, counts by assignment included
        plain = billing(load_event("billing/estimate", partner_id=paying_partner, query={})).body
        assert {k: reply.body[k] for k in plain} == plain
        assert plain["totals"]["counts"] == {"assigned": 2, "unassigned": 0, "total": 2}

    @pytest.mark.parametrize("query", [{"group_by": "colour"}, {"group_by": "site", "period": "2029-13"}])
    def test_a_bad_grouping_is_422(self, billing: Function, paying_partner: str, query: dict[str, str]) -> None:
        reply = billing(load_event("billing/estimate", partner_id=paying_partner, query=query))
        assert reply.status == 422


def rows_of(reply: Reply) -> list[dict[str, str]]:
    assert reply.status == 200, reply.body
    assert reply.headers["Content-Type"].startswith("text/csv")
    assert reply.headers["Content-Disposition"].startswith("attachment; filename=")
    assert reply.headers["Content-Disposition"].endswith('.csv"')
    return list(csv.DictReader(io.StringIO(reply.body)))


def export(billing: Function, partner: str, **query: str) -> Reply:
    return billing(load_event("billing/export", partner_id=partner, query=query))


class TestExport:
    def test_one_row_per_license_summing_to_the_month(
        self, billing: Function, paying_partner: str, april: dict[str, str]
    ) -> None:
        rows = rows_of(export(billing, paying_partner, period="2029-04"))

        name = {v: k for k, v in april.items()}
        found = {name[r["license_key"]]: (r["client"], r["site_id"], r["license_days"], r["amount"]) for r in rows}
        assert found == {
            "L1": ("Bakery", "200", "30", "495"),
            "L2": ("Florist", "100", "30", "495"),
            "L3": ("Florist", "", "13", "182"),
        }
        assert sum(int(r["amount"]) for r in rows) == 1172
        [l3] = [r for r in rows if r["license_key"] == april["L3"]]
        assert (l3["product"], l3["daily_price"], l3["monthly_price"]) == ("jetpack-scan", "14", "395")
        assert (l3["issued_at"], l3["revoked_at"]) == ("2029-04-01T09:00:00Z", "2029-04-13T09:00:00Z")

    def test_by_site_one_row_per_license_and_site(
        self, billing: Function, paying_partner: str, april: dict[str, str]
    ) -> None:
        rows = rows_of(export(billing, paying_partner, period="2029-04", group_by="site"))

        name = {v: k for k, v in april.items()}
        found = sorted((name[r["license_key"]], r["site_id"], r["license_days"], r["amount"]) for r in rows)
        assert found == [
            ("L1", "100", "10", "165"),
            ("L1", "200", "20", "330"),
            ("L2", "", "10", "165"),
            ("L2", "100", "20", "330"),
            ("L3", "", "13", "182"),
        ]
        assert [r["site_url"] for r in rows if r["site_id"] == "200"] == ["https://site-200.example"]

    def test_a_small_part_size_pages_through_the_statement(
        self, function: Callable[..., Function], paying_partner: str, april: dict[str, str]
    ) -> None:
        # Given the function configured to read two items per page and to answer at most 400 bytes per part
        settings = BillingSettings(table_name=os.environ["TABLE_NAME"], export_max_bytes=400, export_page_size=2)
        small = function("billing", settings=settings)
        whole = rows_of(export(small, paying_partner, period="2029-04", group_by="site"))  # first part only
        seen: list[dict[str, str]] = []
        parts = 0
        cursor = None
        while True:
            query = {"period": "2029-04", "group_by": "site", **({"cursor": cursor} if cursor else {})}
            reply = export(small, paying_partner, **query)
            seen += rows_of(reply)
            parts += 1
            assert len(reply.body.encode()) <= 400 or len(rows_of(reply)) <= 2
            cursor = reply.headers.get("X-Next-Cursor")
            if cursor is None:
                break
            assert 'rel="next"' in reply.headers["Link"]
        assert parts >= 3 and len(whole) < len(seen)
        assert sorted((r["license_key"], r["site_id"]) for r in seen) == sorted(
            [(april["L1"], "100"), (april["L1"], "200"), (april["L2"], ""), (april["L2"], "100"), (april["L3"], "")]
        )
        assert sum(int(r["amount"]) for r in seen) == 1172

    def test_a_cursor_of_another_export_is_422(
        self, function: Callable[..., Function], paying_partner: str, april: dict[str, str]
    ) -> None:
        settings = BillingSettings(table_name=os.environ["TABLE_NAME"], export_max_bytes=200)
        small = function("billing", settings=settings)
        cursor = export(small, paying_partner, period="2029-04").headers["X-Next-Cursor"]

        reply = export(small, paying_partner, period="2029-03", cursor=cursor)

        assert reply.status == 422 and reply.body["error"]["details"][0]["field"] == "cursor"

    def test_the_current_month_sums_to_the_cost_to_date(
        self, billing: Function, paying_partner: str, april: dict[str, str]
    ) -> None:
        # 2 May 09:00: L1 and L2 have 2 days each to date (34 cents each); the default period is this month
        estimate = billing(load_event("billing/estimate", partner_id=paying_partner, query={})).body
        for query in ({}, {"group_by": "site"}):
            rows = rows_of(export(billing, paying_partner, **query))
            assert sorted((r["license_key"], r["license_days"], r["amount"]) for r in rows) == sorted(
                [(april["L1"], "2", "34"), (april["L2"], "2", "34")]
            )
            assert sum(int(r["amount"]) for r in rows) == estimate["totals"]["cost_to_date"] == 68

    def test_a_month_with_nothing_is_the_header_alone(self, billing: Function, paying_partner: str) -> None:
        reply = export(billing, paying_partner, period="2029-01")
        assert rows_of(reply) == [] and reply.body.startswith("license_key,product,client,tags,site_id,")


class TestHistory:
    def test_months_newest_first_with_the_projection_and_months_not_invoiced(
        self, billing: Function, paying_partner: str, april: dict[str, str]
    ) -> None:
        reply = billing(load_event("billing/history", partner_id=paying_partner, query={"months": "3"}))

        assert reply.status == 200, reply.body
        assert reply.body["items"] == [
            {"period": "2029-05", "total": 990, "invoice_id": None, "status": "projected"},
            {"period": "2029-04", "total": 1172, "invoice_id": None, "status": "pending"},
            {"period": "2029-03", "total": 0, "invoice_id": None, "status": "none"},
        ]

    @pytest.mark.parametrize("months", ["0", "25", "x"])
    def test_months_out_of_range_is_422(self, billing: Function, paying_partner: str, months: str) -> None:
        reply = billing(load_event("billing/history", partner_id=paying_partner, query={"months": months}))
        assert reply.status == 422 and reply.body["error"]["details"][0]["field"] == "months"
