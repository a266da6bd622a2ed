"""Prices and the month-to-date estimate over HTTP against the local stack: the README's walkthrough.

One agency through March 2026 (31 days) with the seeded prices: jetpack-backup 17 cents a day capped at
495 a month, jetpack-scan 14 a day capped at 395. Licenses are issued, transferred and revoked while
``/_local/clock`` moves the whole stack; the estimate is checked against the hand computation in the
comments at each step, then in April.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from testkit.stack import ApiSession, LocalStack


@pytest.fixture
def restore_clock(stack: LocalStack) -> Iterator[None]:
    """The stack is shared by the whole session: put its clock back afterwards."""
    before = stack.now()
    yield
    stack.set_clock(before)


def give_payment_method(stack: LocalStack, partner_id: str) -> None:
    """Put a card on file the way a script would: attach Stripe's test Visa through the API."""
    reply = stack.client(partner_id).post("/v1/payment-methods", json={"payment_method_id": "pm_card_visa"})
    assert reply.status_code == 201, reply.text


def issue(api: ApiSession, product: str) -> str:
    reply = api.post("/v1/licenses", json={"product": product, "quantity": 1})
    assert reply.status_code == 201, reply.text
    return str(reply.json()["items"][0]["license_key"])


def put_site(api: ApiSession, key: str, site_id: str) -> None:
    reply = api.put(f"/v1/licenses/{key}/site", json={"site_id": site_id, "site_url": f"https://{site_id}.example"})
    assert reply.status_code == 200, reply.text


def revoke(api: ApiSession, key: str) -> None:
    reply = api.post(f"/v1/licenses/{key}/revoke")
    assert reply.status_code == 200, reply.text


def billing(api: ApiSession, period: str | None = None) -> dict[str, Any]:
    reply = api.get("/v1/billing", params={} if period is None else {"period": period})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def row(body: dict[str, Any], product: str) -> tuple[dict[str, int], int, int, int]:
    [found] = [p for p in body["products"] if p["product"] == product]
    return found["counts"], found["license_days"], found["cost_to_date"], found["projected_cost"]


def totals(counts: tuple[int, int, int], days: int, to_date: int, projected: int) -> dict[str, Any]:
    assigned, unassigned, total = counts
    return {
        "counts": {"assigned": assigned, "unassigned": unassigned, "total": total},
        "license_days": days,
        "cost_to_date": to_date,
        "projected_cost": projected,
    }


def test_the_estimate_follows_a_month_of_issues_transfers_and_revocations(
    stack: LocalStack, restore_clock: None
) -> None:
    partner = f"agency-e2e-{uuid.uuid4().hex[:8]}"
    give_payment_method(stack, partner)

    # 1 March 09:00: A and B (backup) and C (scan) issued, A assigned to bakery.
    stack.set_clock("2026-03-01T09:00:00Z")
    api = stack.client(partner)
    a, b, c = issue(api, "jetpack-backup"), issue(api, "jetpack-backup"), issue(api, "jetpack-scan")
    put_site(api, a, "bakery")
    body = billing(api)
    # Issued this very instant: nothing to date yet. Projected: 31 days each, capped (495, 495, 395).
    assert (body["period"], body["as_of"], body["currency"]) == ("2026-03", "2026-03-01T09:00:00Z", "usd")
    assert body["totals"] == totals((1, 2, 3), 0, 0, 1385)

    # 10 March 09:00: A transferred to florist (billing unbroken), B assigned to bakery.
    stack.advance("P9D")
    api = stack.client(partner)
    put_site(api, a, "florist")
    put_site(api, b, "bakery")
    body = billing(api)
    # Days 1..10 = 10 each: A, B 170 each, C 140.
    assert [p["product"] for p in body["products"]] == ["jetpack-backup", "jetpack-scan"]
    assert [p["name"] for p in body["products"]] == ["Jetpack VaultPress Backup", "Jetpack Scan"]
    assert row(body, "jetpack-backup") == ({"assigned": 2, "unassigned": 0, "total": 2}, 20, 340, 990)
    assert row(body, "jetpack-scan") == ({"assigned": 0, "unassigned": 1, "total": 1}, 10, 140, 395)
    assert body["totals"] == totals((2, 1, 3), 30, 480, 1385)

    # 12 March 09:00: C revoked: 12 days, 12 x 14 = 168, to date and projected alike.
    stack.advance("P2D")
    api = stack.client(partner)
    revoke(api, c)
    assert row(billing(api), "jetpack-scan") == ({"assigned": 0, "unassigned": 0, "total": 1}, 12, 168, 168)

    # 20 March 09:00: D (backup) issued. 25 March 09:00: B revoked after 25 days.
    stack.advance("P8D")
    api = stack.client(partner)
    d = issue(api, "jetpack-backup")
    stack.advance("P5D")
    api = stack.client(partner)
    revoke(api, b)
    body = billing(api)
    # To date: A 25 days 425, B 25 days 425, D 20..25 = 6 days 102; C 12 days 168.
    # Projected: A 31 days 495, B 425, D 20..31 = 12 days 204, C 168.
    assert row(body, "jetpack-backup") == ({"assigned": 1, "unassigned": 1, "total": 3}, 56, 952, 1124)
    assert body["totals"] == totals((1, 1, 4), 68, 1120, 1292)

    # 1 April 09:00: March is closed, April has begun.
    stack.advance("P7D")
    api = stack.client(partner)
    march = billing(api, "2026-03")
    assert march["as_of"] == "2026-04-01T00:00:00Z"
    assert march["totals"] == totals((1, 1, 4), 80, 1292, 1292)
    april = billing(api)
    # A and D run on: 1 day each so far (17 + 17); 30 days projected, capped at 495 each. B and C are gone.
    assert (april["period"], april["as_of"]) == ("2026-04", "2026-04-01T09:00:00Z")
    assert [p["product"] for p in april["products"]] == ["jetpack-backup"]
    assert april["totals"] == totals((1, 1, 2), 2, 34, 990)
    assert {a, d} == {
        lic["license_key"] for lic in api.get("/v1/licenses", params={"status": "all"}).json()["items"]
    } - {b, c}


def test_another_partner_sees_only_its_own_estimate(stack: LocalStack, restore_clock: None) -> None:
    stack.set_clock("2026-03-01T09:00:00Z")
    mine, theirs = f"agency-e2e-{uuid.uuid4().hex[:8]}", f"agency-e2e-{uuid.uuid4().hex[:8]}"
    give_payment_method(stack, theirs)
    issue(stack.client(theirs), "jetpack-complete")

    body = billing(stack.client(mine))

    assert body["products"] == []
    assert body["totals"] == totals((0, 0, 0), 0, 0, 0)


def test_a_malformed_period_is_422(stack: LocalStack) -> None:
    reply = stack.client("agency-e2e-periods").get("/v1/billing", params={"period": "2026-13"})

    assert reply.status_code == 422
    assert reply.json()["error"]["details"][0]["field"] == "period"


def test_prices_scheduling_over_http(stack: LocalStack, restore_clock: None) -> None:
    stack.set_clock("2039-11-20T09:00:00Z")
    operator = stack.client("vendor-ops", groups=["operators"])
    partner = stack.client("agency-e2e-prices")
    change = {"daily_price": 15, "monthly_price": 420, "effective_from": "2039-12-01"}

    refused = partner.put("/v1/prices/jetpack-videopress", json=change)
    started = operator.put("/v1/prices/jetpack-videopress", json={**change, "effective_from": "2039-11-01"})
    scheduled = operator.put("/v1/prices/jetpack-videopress", json=change, headers={"Idempotency-Key": "vp-2039-12"})
    listed = partner.get("/v1/prices")

    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_an_operator"
    assert started.status_code == 409 and started.json()["error"]["code"] == "month_already_started"
    assert scheduled.status_code == 200, scheduled.text
    [videopress] = [p for p in listed.json()["items"] if p["product"] == "jetpack-videopress"]
    assert videopress == scheduled.json()
    assert (videopress["daily_price"], videopress["monthly_price"]) == (14, 395)
    assert {"daily_price": 15, "monthly_price": 420, "effective_from": "2039-12-01"} in videopress["scheduled"]
