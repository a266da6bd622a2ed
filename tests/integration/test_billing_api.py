"""The billing function against moto, fed the sample events in events/billing/: prices and the estimate.

Prices are the seeded catalog's: jetpack-backup 17 cents a day capped at 495 a month (the cap bites from
day 30: 29 x 17 = 493, 30 x 17 = 510), jetpack-scan 14 a day capped at 395 (from day 29: 29 x 14 = 406).

Price changes are scheduled in the 2030s, on products the rest of the suite does not bill there, so the
session-wide catalog other tests read is unchanged for every month they look at.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from partnerhub import clients
from partnerhub.clock import ManualClock
from partnerhub.domain.billing import bill_month
from partnerhub.domain.periods import Period
from partnerhub.repository import keys
from partnerhub.repository.audit import DynamoAuditRepository
from partnerhub.repository.billing import DynamoBillingRepository
from partnerhub.repository.catalog import DynamoCatalogRepository
from partnerhub.repository.partners import DynamoPartnerRepository
from testkit.events import load_event
from tests.integration.conftest import Function, Reply

OPERATORS = ("operators",)


def at(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def billing(function: Callable[[str], Function]) -> Function:
    return function("billing")


@pytest.fixture
def licenses(function: Callable[[str], Function]) -> Function:
    return function("licenses")


# --------------------------------------------------------------------------------------------- helpers
def list_prices(billing: Function, **kw: Any) -> Reply:
    return billing(load_event("billing/list_prices", **kw))


def put_price(billing: Function, product: str, body: Any, *, groups: tuple[str, ...] = OPERATORS, **kw: Any) -> Reply:
    kw.setdefault("drop_headers", ("idempotency-key",))
    return billing(load_event("billing/schedule_price", groups=groups, path={"product": product}, body=body, **kw))


def estimate(billing: Function, partner: str, period: str | None = None) -> Reply:
    return billing(
        load_event("billing/estimate", partner_id=partner, query={} if period is None else {"period": period})
    )


def prices_of(reply: Reply, product: str) -> dict[str, Any]:
    [row] = [item for item in reply.body["items"] if item["product"] == product]
    return dict(row)


def issue(licenses: Function, partner: str, product: str) -> str:
    reply = licenses(
        load_event(
            "licenses/issue",
            partner_id=partner,
            body={"product": product, "quantity": 1},
            drop_headers=("idempotency-key",),
        )
    )
    assert reply.status == 201, reply.body
    return str(reply.body["items"][0]["license_key"])


def assign(licenses: Function, partner: str, key: str, site_id: str) -> None:
    site = {"site_id": site_id, "site_url": f"https://site-{site_id}.example"}
    reply = licenses(load_event("licenses/assign", partner_id=partner, path={"license_key": key}, body=site))
    assert reply.status == 200, reply.body


def revoke(licenses: Function, partner: str, key: str) -> None:
    reply = licenses(load_event("licenses/revoke", partner_id=partner, path={"license_key": key}))
    assert reply.status == 200, reply.body


def product_row(body: dict[str, Any], product: str) -> dict[str, Any]:
    [row] = [p for p in body["products"] if p["product"] == product]
    return dict(row)


def figures(row: dict[str, Any]) -> tuple[int, int, int]:
    return row["license_days"], row["cost_to_date"], row["projected_cost"]


# ---------------------------------------------------------------------------------------------- prices
class TestPrices:
    def test_any_partner_reads_the_seeded_prices_sorted_by_slug(
        self, billing: Function, partner_id: str, now: Any
    ) -> None:
        reply = list_prices(billing, partner_id=partner_id)

        assert reply.status == 200
        slugs = [item["product"] for item in reply.body["items"]]
        assert slugs == sorted(slugs) and len(slugs) == 7
        backup = prices_of(reply, "jetpack-backup")
        assert backup["name"] == "Jetpack VaultPress Backup"
        assert backup["currency"] == "usd"
        assert (backup["daily_price"], backup["monthly_price"], backup["effective_from"]) == (17, 495, "2024-01-01")
        assert isinstance(backup["scheduled"], list)

    def test_an_operator_schedules_next_month(self, billing: Function, clock: ManualClock) -> None:
        clock.set(at(1, 15, 9, year=2035))

        reply = put_price(
            billing, "jetpack-videopress", {"daily_price": 15, "monthly_price": 420, "effective_from": "2035-02-01"}
        )

        assert reply.status == 200, reply.body
        assert reply.body["product"] == "jetpack-videopress"
        assert (reply.body["daily_price"], reply.body["monthly_price"]) == (14, 395)  # still in force this month
        assert {"daily_price": 15, "monthly_price": 420, "effective_from": "2035-02-01"} in reply.body["scheduled"]
        listed = prices_of(list_prices(billing, partner_id="agency-reader"), "jetpack-videopress")
        assert listed == reply.body

        clock.set(at(2, 1, 0, year=2035))  # the month begins: the scheduled version is the current one
        current = prices_of(list_prices(billing, partner_id="agency-reader"), "jetpack-videopress")
        assert (current["daily_price"], current["monthly_price"], current["effective_from"]) == (15, 420, "2035-02-01")
        assert all(v["effective_from"] > "2035-02-01" for v in current["scheduled"])

    def test_a_free_product_is_scheduled_only_when_confirmed(self, billing: Function, clock: ManualClock) -> None:
        clock.set(at(1, 15, 9, year=2036))
        free = {"daily_price": 0, "monthly_price": 0, "effective_from": "2036-02-01"}

        refused = put_price(billing, "jetpack-videopress", free)
        confirmed = put_price(billing, "jetpack-videopress", {**free, "confirm_free": True})

        assert refused.status == 422 and refused.body["error"]["details"][0]["field"] == "daily_price"
        assert confirmed.status == 200, confirmed.body
        assert {"daily_price": 0, "monthly_price": 0, "effective_from": "2036-02-01"} in confirmed.body["scheduled"]
        # And the audit log holds the request as sent: the confirmation with it
        logged = DynamoAuditRepository(os.environ["TABLE_NAME"], clients.dynamodb()).page(limit=100).items
        assert [
            dict(e.summary) for e in logged if e.action == "price.schedule" and e.at == at(1, 15, 9, year=2036)
        ] == [{"product": "jetpack-videopress", **free, "confirm_free": True}]

    def test_scheduling_the_same_month_again_replaces_it(self, billing: Function, clock: ManualClock) -> None:
        clock.set(at(3, 10, year=2035))
        put_price(
            billing, "jetpack-videopress", {"daily_price": 16, "monthly_price": 450, "effective_from": "2035-05-01"}
        )

        reply = put_price(
            billing, "jetpack-videopress", {"daily_price": 13, "monthly_price": 380, "effective_from": "2035-05-01"}
        )

        assert reply.status == 200
        may = [v for v in reply.body["scheduled"] if v["effective_from"] == "2035-05-01"]
        assert may == [{"daily_price": 13, "monthly_price": 380, "effective_from": "2035-05-01"}]

    @pytest.mark.parametrize("effective_from", ["2035-07-01", "2035-06-01", "2024-01-01"])
    def test_a_month_already_started_is_409_and_changes_nothing(
        self, billing: Function, clock: ManualClock, effective_from: str
    ) -> None:
        clock.set(at(7, 31, 23, 59, year=2035))
        before = list_prices(billing, partner_id="agency-reader").body

        reply = put_price(
            billing, "jetpack-videopress", {"daily_price": 1, "monthly_price": 2, "effective_from": effective_from}
        )

        assert reply.status == 409
        assert reply.body["error"]["code"] == "month_already_started"
        assert reply.body["error"]["details"] == [{"field": "effective_from", "reason": "must be 2035-08-01 or later"}]
        assert list_prices(billing, partner_id="agency-reader").body == before

    def test_a_partner_who_is_not_an_operator_is_403(self, billing: Function, partner_id: str, now: Any) -> None:
        reply = put_price(
            billing,
            "jetpack-videopress",
            {"daily_price": 1, "monthly_price": 2, "effective_from": "2027-01-01"},
            groups=(),
            partner_id=partner_id,
        )

        assert reply.status == 403
        assert reply.body["error"]["code"] == "not_an_operator"

    def test_an_unknown_product_is_404(self, billing: Function, now: Any) -> None:
        reply = put_price(
            billing, "jetpack-nope", {"daily_price": 1, "monthly_price": 2, "effective_from": "2027-01-01"}
        )

        assert reply.status == 404
        assert reply.body["error"]["code"] == "product_not_found"

    def test_a_whole_number_written_with_a_fraction_is_that_integer(self, billing: Function, now: Any) -> None:
        # JSON has one number type: 495.0 is the integer 495 (as JSON Schema's "integer" reads it); cents stay int
        reply = put_price(
            billing, "jetpack-anti-spam", {"daily_price": 17.0, "monthly_price": 495.0, "effective_from": "2027-01-01"}
        )

        assert reply.status == 200, reply.body
        scheduled = reply.body["scheduled"][-1]
        assert scheduled == {"daily_price": 17, "monthly_price": 495, "effective_from": "2027-01-01"}
        assert isinstance(scheduled["monthly_price"], int)

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"daily_price": 17.5, "monthly_price": 495, "effective_from": "2027-01-01"}, "daily_price"),
            ({"daily_price": "17", "monthly_price": 495, "effective_from": "2027-01-01"}, "daily_price"),
            ({"daily_price": -1, "monthly_price": 495, "effective_from": "2027-01-01"}, "daily_price"),
            ({"daily_price": 17, "monthly_price": 495.5, "effective_from": "2027-01-01"}, "monthly_price"),
            ({"daily_price": True, "monthly_price": 495, "effective_from": "2027-01-01"}, "daily_price"),
            ({"daily_price": 17, "effective_from": "2027-01-01"}, "monthly_price"),
            ({"daily_price": 17, "monthly_price": 495, "effective_from": "2027-01-15"}, "effective_from"),
            ({"daily_price": 17, "monthly_price": 495, "effective_from": "2027-1-01"}, "effective_from"),
            ({"daily_price": 17, "monthly_price": 495, "effective_from": "2027-13-01"}, "effective_from"),
            ({"daily_price": 17, "monthly_price": 495, "effective_from": 20270101}, "effective_from"),
            ({"daily_price": 17, "monthly_price": 495}, "effective_from"),
            ({"daily_price": 17, "monthly_price": 495, "effective_from": "2027-01-01", "currency": "eur"}, "currency"),
            ({"daily_price": 600, "monthly_price": 495, "effective_from": "2027-01-01"}, "monthly_price"),
            # Free (nothing would be billed) without saying so
            ({"daily_price": 0, "monthly_price": 0, "effective_from": "2027-01-01"}, "daily_price"),
            ({"daily_price": 0, "monthly_price": 0, "effective_from": "2027-01-01", "confirm_free": "yes"}, "confirm_free"),
        ],
    )
    def test_invalid_prices_are_422_naming_the_field(
        self, billing: Function, now: Any, body: dict[str, Any], field: str
    ) -> None:
        before = list_prices(billing, partner_id="agency-reader").body

        reply = put_price(billing, "jetpack-backup", body)

        assert reply.status == 422, reply.body
        assert field in [d["field"] for d in reply.body["error"]["details"]]
        assert list_prices(billing, partner_id="agency-reader").body == before

    def test_malformed_json_is_400(self, billing: Function, now: Any) -> None:
        reply = billing(
            load_event(
                "billing/schedule_price",
                groups=OPERATORS,
                raw_body='{"daily_price": ',
                drop_headers=("idempotency-key",),
            )
        )

        assert reply.status == 400
        assert reply.body["error"]["code"] == "malformed_request"

    def test_the_same_idempotency_key_replays_and_another_body_is_422(
        self, billing: Function, clock: ManualClock
    ) -> None:
        clock.set(at(9, 1, year=2035))
        body = {"daily_price": 14, "monthly_price": 400, "effective_from": "2035-10-01"}
        key = {"Idempotency-Key": "videopress-2035-10"}
        first = put_price(billing, "jetpack-videopress", body, headers=key, drop_headers=())

        again = put_price(billing, "jetpack-videopress", body, headers=key, drop_headers=())
        other = put_price(billing, "jetpack-videopress", {**body, "daily_price": 1}, headers=key, drop_headers=())

        assert first.status == again.status == 200
        assert again.body == first.body
        assert other.status == 422
        assert other.body["error"]["code"] == "idempotency_key_reused"
        october = [
            v
            for v in prices_of(list_prices(billing, partner_id="r"), "jetpack-videopress")["scheduled"]
            if v["effective_from"] == "2035-10-01"
        ]
        assert october == [{"daily_price": 14, "monthly_price": 400, "effective_from": "2035-10-01"}]

    def test_the_sample_event_schedules_as_it_says(self, billing: Function, clock: ManualClock) -> None:
        clock.set(at(12, 5, year=2026))
        catalog = DynamoCatalogRepository(os.environ["TABLE_NAME"], clients.dynamodb())
        _, before = catalog.load()

        reply = billing(load_event("billing/schedule_price"))

        try:
            assert reply.status == 200, reply.body
            assert {"daily_price": 19, "monthly_price": 550, "effective_from": "2027-01-01"} in reply.body["scheduled"]
        finally:
            # Put the seeded catalog back: the rest of the suite bills jetpack-backup in 2027 at seeded prices.
            boto3.client("dynamodb").delete_item(
                TableName=os.environ["TABLE_NAME"],
                Key={"PK": {"S": keys.CATALOG}, "SK": {"S": keys.price_sk("jetpack-backup", "2027-01-01")}},
            )
        assert catalog.load()[1] == before


# -------------------------------------------------------------------------------------------- estimate
class TestEstimate:
    """March 2026 (31 days) for one agency. Every figure below is computed by hand in the comments."""

    def test_issued_transferred_and_revoked_across_a_month(
        self, billing: Function, licenses: Function, paying_partner: str, clock: ManualClock
    ) -> None:
        partner = paying_partner
        # 1 March 09:00: A and B (backup) and C (scan) issued; A assigned to site 1.
        clock.set(at(3, 1, 9))
        a = issue(licenses, partner, "jetpack-backup")
        b = issue(licenses, partner, "jetpack-backup")
        c = issue(licenses, partner, "jetpack-scan")
        assign(licenses, partner, a, "s1")

        # 10 March 09:00: A transferred to site 2 (billing unbroken), B assigned to site 1.
        clock.set(at(3, 10, 9))
        assign(licenses, partner, a, "s2")
        assign(licenses, partner, b, "s1")
        body = estimate(billing, partner).body
        # Days 1..10 = 10 each. A, B: 10 x 17 = 170; C: 10 x 14 = 140.
        # Projected: A, B 31 days -> min(527, 495) = 495; C 31 days -> min(434, 395) = 395.
        assert body["period"] == "2026-03" and body["as_of"] == "2026-03-10T09:00:00Z" and body["currency"] == "usd"
        backup, scan = body["products"]
        assert (backup["product"], backup["name"]) == ("jetpack-backup", "Jetpack VaultPress Backup")
        assert backup["counts"] == {"assigned": 2, "unassigned": 0, "total": 2}
        assert figures(backup) == (20, 340, 990)
        assert scan["counts"] == {"assigned": 0, "unassigned": 1, "total": 1}
        assert figures(scan) == (10, 140, 395)
        assert body["totals"] == {
            "counts": {"assigned": 2, "unassigned": 1, "total": 3},
            "license_days": 30,
            "cost_to_date": 480,
            "projected_cost": 1385,
        }

        # 12 March 09:00: C revoked (active 1..12 = 12 days: 12 x 14 = 168).
        clock.set(at(3, 12, 9))
        revoke(licenses, partner, c)
        # 20 March 09:00: D (backup) issued, unassigned.
        clock.set(at(3, 20, 9))
        d = issue(licenses, partner, "jetpack-backup")
        # 25 March 09:00: B revoked (active 1..25 = 25 days: 25 x 17 = 425).
        clock.set(at(3, 25, 9))
        revoke(licenses, partner, b)

        body = estimate(billing, partner, "2026-03").body
        # To date (as_of 25 March 09:00): A 25 days 425, B 25 days 425, C 12 days 168, D 20..25 = 6 days 102.
        # Projected: A 31 days 495, B 425, C 168, D 20..31 = 12 days 204.
        backup, scan = body["products"]
        assert backup["counts"] == {"assigned": 1, "unassigned": 1, "total": 3}  # A assigned, D not, B revoked
        assert figures(backup) == (25 + 25 + 6, 425 + 425 + 102, 495 + 425 + 204)
        assert scan["counts"] == {"assigned": 0, "unassigned": 0, "total": 1}
        assert figures(scan) == (12, 168, 168)
        assert body["totals"] == {
            "counts": {"assigned": 1, "unassigned": 1, "total": 4},
            "license_days": 68,
            "cost_to_date": 1120,
            "projected_cost": 1292,
        }

        # 1 April 09:00: March is over, April has begun.
        clock.set(at(4, 1, 9))
        march = estimate(billing, partner, "2026-03").body
        # The month's end: A 31, B 25, C 12, D 12 days; 495 + 425 + 168 + 204 = 1292 both to date and projected.
        assert march["as_of"] == "2026-04-01T00:00:00Z"
        assert march["totals"] == {
            "counts": {"assigned": 1, "unassigned": 1, "total": 4},
            "license_days": 80,
            "cost_to_date": 1292,
            "projected_cost": 1292,
        }
        april = estimate(billing, partner).body
        # A and D run on: 1 day each so far (17 + 17), projected 30 days -> min(510, 495) = 495 each.
        # B and C were revoked in March and are not in April at all.
        assert april["period"] == "2026-04" and april["as_of"] == "2026-04-01T09:00:00Z"
        assert [p["product"] for p in april["products"]] == ["jetpack-backup"]
        assert april["products"][0]["counts"] == {"assigned": 1, "unassigned": 1, "total": 2}
        assert figures(april["products"][0]) == (2, 34, 990)
        assert {a, d} <= {
            lic.license_key
            for lic in DynamoBillingRepository(os.environ["TABLE_NAME"], clients.dynamodb()).licenses_active_in(
                partner, Period(2026, 4)
            )
        }

    def test_a_past_month_equals_what_its_invoice_charges(
        self, billing: Function, licenses: Function, paying_partner: str, clock: ManualClock
    ) -> None:
        partner = paying_partner
        clock.set(at(1, 30, 22, year=2027))
        early = issue(licenses, partner, "jetpack-security")  # from January: all of February
        clock.set(at(2, 3, 10, year=2027))
        issue(licenses, partner, "jetpack-backup")
        gone = issue(licenses, partner, "jetpack-backup")
        assign(licenses, partner, early, "s-early")
        clock.set(at(2, 17, 8, year=2027))
        revoke(licenses, partner, gone)
        clock.set(at(3, 2, 12, year=2027))

        body = estimate(billing, partner, "2027-02").body

        table = os.environ["TABLE_NAME"]
        _, prices = DynamoCatalogRepository(table, clients.dynamodb()).load()
        invoice = bill_month(
            DynamoBillingRepository(table, clients.dynamodb()).licenses_active_in(partner, Period(2027, 2)),
            prices,
            Period(2027, 2),
        )
        assert [
            (p["product"], p["license_days"], p["cost_to_date"], p["projected_cost"]) for p in body["products"]
        ] == [(line.product, line.license_days, line.amount, line.amount) for line in invoice.lines]
        assert body["totals"]["cost_to_date"] == body["totals"]["projected_cost"] == invoice.total
        # By hand: security 28 days -> min(952, 995) = 952; backup 3..28 = 26 days 442 and 3..17 = 15 days 255.
        assert invoice.total == 952 + 442 + 255

    def test_a_price_change_next_month_leaves_this_month_alone(
        self, billing: Function, licenses: Function, paying_partner: str, clock: ManualClock
    ) -> None:
        # jetpack-boost: 10 a day capped at 295 until an operator schedules 12 a day capped at 350 for June.
        clock.set(at(5, 10, 12, year=2030))
        issue(licenses, paying_partner, "jetpack-boost")
        clock.set(at(5, 10, 13, year=2030))  # an hour later: today counts once the license was active during it
        may_before = estimate(billing, paying_partner, "2030-05").body
        june_before = estimate(billing, paying_partner, "2030-06").body

        reply = put_price(
            billing, "jetpack-boost", {"daily_price": 12, "monthly_price": 350, "effective_from": "2030-06-01"}
        )
        assert reply.status == 200, reply.body

        may_after = estimate(billing, paying_partner, "2030-05").body
        june_after = estimate(billing, paying_partner, "2030-06").body
        # May: 1 day so far (10); projected 10..31 = 22 days -> 220. Unchanged by June's price.
        assert may_after == may_before
        assert figures(may_after["products"][0]) == (1, 10, 220)
        # June, seen from May: nothing to date yet; the whole month projected, 30 days -> min(300, 295) = 295
        # before the change and min(360, 350) = 350 after it.
        assert figures(june_before["products"][0]) == (0, 0, 295)
        assert figures(june_after["products"][0]) == (0, 0, 350)
        assert june_after["as_of"] == "2030-05-10T13:00:00Z"

    def test_another_partners_licenses_never_show(
        self, billing: Function, licenses: Function, partners: DynamoPartnerRepository, clock: ManualClock
    ) -> None:
        clock.set(at(6, 3, 9, year=2027))
        mine, theirs = "agency-mine-" + os.urandom(4).hex(), "agency-theirs-" + os.urandom(4).hex()
        for partner in (mine, theirs):
            partners.set_has_payment_method(partner, True)
        issue(licenses, mine, "jetpack-scan")
        for _ in range(3):
            issue(licenses, theirs, "jetpack-complete")
        clock.set(at(6, 5, 9, year=2027))

        body = estimate(billing, mine).body

        # Mine: one scan license, 3..5 June = 3 days x 14 = 42; projected 3..30 = 28 days -> 392.
        assert [p["product"] for p in body["products"]] == ["jetpack-scan"]
        assert body["totals"] == {
            "counts": {"assigned": 0, "unassigned": 1, "total": 1},
            "license_days": 3,
            "cost_to_date": 42,
            "projected_cost": 392,
        }
        assert estimate(billing, theirs).body["totals"]["counts"]["total"] == 3

    def test_a_partner_without_licenses_gets_an_empty_estimate(
        self, billing: Function, partner_id: str, clock: ManualClock
    ) -> None:
        clock.set(at(8, 15, 10, year=2026))

        body = estimate(billing, partner_id).body

        assert body == {
            "period": "2026-08",
            "as_of": "2026-08-15T10:00:00Z",
            "currency": "usd",
            "products": [],
            "totals": {
                "counts": {"assigned": 0, "unassigned": 0, "total": 0},
                "license_days": 0,
                "cost_to_date": 0,
                "projected_cost": 0,
            },
        }

    @pytest.mark.parametrize("period", ["2026-13", "2026-3", "2026-03-01", "0000-01", "soon", "2026-033"])
    def test_a_malformed_period_is_422_naming_it(
        self, billing: Function, partner_id: str, now: Any, period: str
    ) -> None:
        reply = estimate(billing, partner_id, period)

        assert reply.status == 422
        assert [d["field"] for d in reply.body["error"]["details"]] == ["period"]

    def test_an_operator_token_without_a_partner_is_401(self, billing: Function, now: Any) -> None:
        # The sample event names agency-42; an operator-only token names none.
        event = load_event("billing/estimate", groups=OPERATORS, query={})
        del event["requestContext"]["authorizer"]["lambda"]["partner_id"]
        reply = billing(event)

        assert reply.status == 401
        assert reply.body["error"]["code"] == "no_partner"
