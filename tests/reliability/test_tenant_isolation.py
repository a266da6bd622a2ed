"""Tenant isolation: partner B, holding a valid token or API key of its own, reaches none of partner A's objects.

For every route of template.yaml that takes an id, B calls it with A's id, with its token and with its API key
holding every scope: the answer is 404 (never A's data; a key on a route for people only is 403 before anything is
looked up), and everything A can read, and every item in A's partition, is byte-identical afterwards.
Operator-only routes (under /v1/operator/, or a partner id or a product in the path) answer a partner 403.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from local.template import Route
from partnerhub.repository import keys
from testkit import receiver as hooks
from testkit.scopes import EXPECTED as EXPECTED_SCOPES
from tests.reliability.conftest import (
    PRODUCT,
    ApiSession,
    LocalStack,
    Table,
    api_routes,
    give_payment_method,
    issue,
    new_partner,
    site,
)


def params_of(route: Route) -> list[str]:
    return re.findall(r"\{([^}+]+)\+?\}", route.path)


ID_ROUTES = [r for r in api_routes() if "{" in r.path]
OPERATOR_PARAMS = {"partner_id", "product"}
"""Path parameters of operator routes: the object belongs to nobody a partner could be."""
BODIES: dict[str, dict[str, Any]] = {
    "PUT /v1/licenses/{license_key}/site": site(99),
    "POST /v1/partners/{partner_id}/external-licenses": {"product": "jetpack-backup", "site": site(98)},
    "PUT /v1/prices/{product}": {"daily_price": 1, "monthly_price": 20, "effective_from": "2030-01-01"},
    "POST /v1/operator/invoice-runs": {"period": "2025-06"},
    "PATCH /v1/webhook-endpoints/{endpoint_id}": {"enabled": False},
}


OPERATOR_ROUTES = [r for r in api_routes() if r.path.startswith("/v1/operator/") or set(params_of(r)) & OPERATOR_PARAMS]
PARTNER_ROUTES = [r for r in ID_ROUTES if r not in OPERATOR_ROUTES]


@dataclass
class TenantA:
    partner: str
    ids: dict[str, str]


def readable(stack: LocalStack, table: Table, tenant: TenantA) -> dict[str, Any]:
    """Everything A can see: every GET route (with A's ids) as A, and A's partition in the table."""
    api = stack.client(tenant.partner)
    seen: dict[str, Any] = {"partition": table.partition(keys.partner_pk(tenant.partner))}
    for route in api_routes():
        if route.method != "GET" or any(p not in tenant.ids for p in params_of(route)):
            continue
        path = re.sub(r"\{([^}+]+)\}", lambda m: tenant.ids[m.group(1)], route.path)
        reply = api.get(path)
        body: Any = reply.content
        if reply.headers.get("Content-Type", "").startswith("application/json"):
            # ``as_of`` is the read's own time (the stack clock ticks), not A's data
            body = {k: v for k, v in reply.json().items() if k != "as_of"}
        seen[route.route_key] = (reply.status_code, body)
    return seen


@pytest.fixture(scope="module")
def receiver() -> Iterator[hooks.Receiver]:
    """A's webhook endpoint: it answers every delivery at once, so nothing is retried while A's data is compared."""
    running = hooks.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def tenant_a(stack: LocalStack, table: Table, receiver: hooks.Receiver) -> TenantA:
    partner = new_partner()
    api = stack.client(partner)
    ids: dict[str, str] = {}
    hook = api.post("/v1/webhook-endpoints", json={"url": receiver.url(receiver.path()), "events": ["*"]})
    assert hook.status_code == 201, hook.text
    ids["endpoint_id"] = hook.json()["id"]
    BODIES["POST /v1/events/{event_id}/redeliver"] = {"endpoint_id": ids["endpoint_id"]}
    card = api.post("/v1/payment-methods", json={"payment_method_id": "pm_card_visa"})
    assert card.status_code == 201, card.text
    ids["payment_method_id"] = card.json()["id"]
    # The invoice first: its license is A's first (June 2025), so the registry has A billable since then
    ids["invoice_id"] = invoice_of(stack, partner)
    licenses = issue(api, 2)
    ids["license_key"] = licenses[0]["license_key"]
    assigned = api.put(f"/v1/licenses/{licenses[0]['license_key']}/site", json=site(1))
    assert assigned.status_code == 200, assigned.text
    connected = api.post("/v1/sites", json=site(2))  # a connected site holding no license: B could not delete it
    assert connected.status_code == 200, connected.text
    ids["site_id"] = site(2)["site_id"]
    stack.anonymous.post("/_local/drain", timeout=60).raise_for_status()
    ids["event_id"] = api.get("/v1/events", params={"limit": 1}).json()["items"][0]["id"]
    made = api.post("/v1/api-keys", json={"name": "tenant A's script", "scopes": ["read", "licenses", "billing"]})
    assert made.status_code == 201, made.text
    ids["key_id"] = made.json()["id"]
    tenant = TenantA(partner, ids)
    settle(stack, table, tenant)
    return tenant


def settle(stack: LocalStack, table: Table, tenant: TenantA, within: float = 20.0) -> None:
    """Wait until A's data stops moving: Stripe's trailing webhooks for the paid invoice are processed
    asynchronously, and a comparison started before they land would blame B's call for them."""
    deadline = time.monotonic() + within
    previous = None
    while True:
        stack.anonymous.post("/_local/drain", timeout=60).raise_for_status()
        current = readable(stack, table, tenant)
        if current == previous:
            return
        assert time.monotonic() < deadline, "tenant A's data kept changing with nothing calling the API"
        previous = current
        time.sleep(0.5)


def invoice_of(stack: LocalStack, partner: str) -> str:
    """Give A a real invoice: a license in June 2025 (after the catalog's first prices, a month no other test touches), then
    month-end for it; the stack's clock is put back afterwards."""
    was = stack.now()
    try:
        stack.set_clock("2025-06-15T12:00:00Z")
        issue(stack.client(partner), 1)
        stack.set_clock("2025-07-01T00:20:00Z")
        run = stack.invoice_run("2025-06")
        assert run["complete"], run
        # Stripe collects an hour after finalizing; let that (and its webhook) land before A's data is compared
        stack.set_clock("2025-07-01T01:20:00Z")
        deadline = time.monotonic() + 10
        while True:
            invoices = stack.client(partner).get("/v1/invoices").json()["items"]
            if (invoices and invoices[0]["status"] == "paid") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert [(i["period"], i["status"]) for i in invoices] == [("2025-06", "paid")], invoices
        return str(invoices[0]["id"])
    finally:
        stack.set_clock(was)


def with_key(stack: LocalStack, partner: str) -> ApiSession:
    """A session calling as one of ``partner``'s API keys, holding every scope."""
    made = stack.client(partner).post(
        "/v1/api-keys", json={"name": "B's script", "scopes": ["read", "licenses", "billing", "sites"]}
    )
    assert made.status_code == 201, made.text
    session = ApiSession(stack.api_url)
    session.headers["Authorization"] = f"Bearer {made.json()['secret']}"
    return session


@pytest.mark.parametrize("caller", ["token", "api_key"])
@pytest.mark.parametrize("route", PARTNER_ROUTES, ids=[r.route_key for r in PARTNER_ROUTES])
def test_partner_b_gets_404_for_partner_a_objects(
    stack: LocalStack, table: Table, tenant_a: TenantA, route: Route, caller: str
) -> None:
    params = params_of(route)
    missing = [p for p in params if p not in tenant_a.ids]
    assert not missing, f"tenant A has no object for {', '.join(missing)}: give it one above"

    # Given partner B in good standing (calling with its token, or with its API key), and everything A can see
    partner_b = new_partner()
    give_payment_method(table, partner_b)
    b = stack.client(partner_b) if caller == "token" else with_key(stack, partner_b)
    before = readable(stack, table, tenant_a)

    # When B calls the route with A's id
    path = re.sub(r"\{([^}+]+)\}", lambda m: tenant_a.ids[m.group(1)], route.path)
    reply = b.request(route.method, path, json=BODIES.get(route.route_key, {}))

    # Then B is told the object does not exist (a key on a route for people only: refused before any lookup), and
    # A's data has not moved
    if caller == "api_key" and EXPECTED_SCOPES[route.route_key] is None:
        assert reply.status_code == 403 and reply.json()["error"]["code"] == "insufficient_scope", reply.text
    else:
        assert reply.status_code == 404, reply.text
    assert set(reply.json()) == {"error"}
    for value in tenant_a.ids.values():
        assert value not in reply.text
    after = readable(stack, table, tenant_a)
    assert {k: v for k, v in after.items() if v != before.get(k)} == {}


@pytest.mark.parametrize("route", OPERATOR_ROUTES, ids=[r.route_key for r in OPERATOR_ROUTES])
def test_operator_routes_are_403_for_a_partner(stack: LocalStack, tenant_a: TenantA, route: Route) -> None:
    # Given a partner token (say, a stolen one)
    thief = stack.client(new_partner())
    values = {
        "partner_id": tenant_a.partner,
        "product": "jetpack-backup",
        "period": "2025-06",
        "effective_from": "2030-01-01",
    }
    path = re.sub(r"\{([^}+]+)\}", lambda m: values[m.group(1)], route.path)

    counts_before = stack.client(tenant_a.partner).get("/v1/licenses/counts").json()

    # When it calls an operator route, even with a well-formed body
    reply = thief.request(route.method, path, json=BODIES.get(route.route_key, {}))

    # Then it is refused, and A's licenses are untouched
    assert reply.status_code == 403, reply.text
    assert reply.json()["error"]["code"] == "not_an_operator"
    assert stack.client(tenant_a.partner).get("/v1/licenses/counts").json() == counts_before


def test_partner_b_cannot_issue_to_partner_a_sites_and_its_own_site_of_that_id_is_its_own(
    stack: LocalStack, table: Table, tenant_a: TenantA
) -> None:
    # Given partner B in good standing, and everything A can see
    partner_b = new_partner()
    give_payment_method(table, partner_b)
    b = stack.client(partner_b)
    before = readable(stack, table, tenant_a)

    # When B issues to A's sites (one holding a license, one free)
    order = b.post("/v1/licenses", json={"product": PRODUCT, "site_ids": [site(1)["site_id"], site(2)["site_id"]]})

    # Then they are not B's connected sites: 404 naming them, never A's licenses
    assert order.status_code == 404, order.text
    assert order.json()["error"]["code"] == "site_not_found"
    assert tenant_a.ids["license_key"] not in order.text and tenant_a.partner not in order.text

    # When B connects a site of the same id and issues to it
    assert b.post("/v1/sites", json=site(1)).status_code == 200
    issued = b.post("/v1/licenses", json={"product": PRODUCT, "site_ids": [site(1)["site_id"]]})

    # Then B holds its own license on its own site (A's license on A's site is no 409 to B), and A saw nothing move
    assert issued.status_code == 201, issued.text
    listed = b.get("/v1/sites").json()["items"]
    assert [(s["site_id"], [lic["license_key"] for lic in s["licenses"]]) for s in listed] == [
        (site(1)["site_id"], [issued.json()["items"][0]["license_key"]])
    ]
    after = readable(stack, table, tenant_a)
    assert {k: v for k, v in after.items() if v != before.get(k)} == {}
