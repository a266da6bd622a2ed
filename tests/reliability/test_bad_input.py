"""Bad bytes on every route that takes a body: a clear 400, never a 5xx, and nothing changes."""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest
import requests

from local.template import Route
from partnerhub.repository import keys
from tests.reliability.conftest import LocalStack, Table, api_routes, issue

BODY_ROUTES = [r for r in api_routes() if r.method in ("POST", "PUT", "PATCH")]
BAD_BODIES = {
    "not UTF-8": b"\xf8\xff\xfe{",
    "truncated JSON": b'{"product": "jetpack-backup", "quantity":',
    "JSON but not an object": b"[1, 2, 3]",
    "empty": b"",
}


def concrete(route: Route, license_key: str, partner: str) -> str:
    values = {"license_key": license_key, "partner_id": partner, "product": "jetpack-backup"}
    return re.sub(r"\{([^}+]+)\+?\}", lambda m: values.get(m.group(1), "unknown-id"), route.path)


@functools.cache
def _document(api_url: str) -> dict[str, Any]:
    return dict(requests.get(f"{api_url}/v1/openapi.json", timeout=30).json())


def takes_body(stack: LocalStack, route: Route) -> bool:
    operation = _document(stack.api_url)["paths"].get(route.path, {}).get(route.method.lower(), {})
    return "requestBody" in operation or operation == {}


@pytest.mark.parametrize("body_name", list(BAD_BODIES))
@pytest.mark.parametrize("route", BODY_ROUTES, ids=[r.route_key for r in BODY_ROUTES])
def test_bad_body_is_a_4xx_and_changes_nothing(
    stack: LocalStack, table: Table, paying_partner: str, route: Route, body_name: str
) -> None:
    # Given a partner with a license
    api = stack.client(paying_partner)
    key = issue(api, 1)[0]["license_key"]
    before = table.partition(keys.partner_pk(paying_partner))

    # When a request arrives with a body that cannot be what the route expects
    reply = api.request(
        route.method,
        concrete(route, key, paying_partner),
        data=BAD_BODIES[body_name],
        headers={"Content-Type": "application/json"},
    )

    # Then a route that reads a body refuses it in the project's error shape and nothing changed;
    # a route that reads none (revoke) ignores it -- and no route ever answers 5xx
    assert reply.status_code < 500, (reply.status_code, reply.text)
    if not takes_body(stack, route):
        return
    assert 400 <= reply.status_code < 500, (reply.status_code, reply.text)
    assert set(reply.json()) == {"error"}, reply.text
    if body_name in ("not UTF-8", "truncated JSON"):
        assert reply.status_code in (400, 401, 403, 404), reply.text
    assert table.partition(keys.partner_pk(paying_partner)) == before


ID_ROUTES = [r for r in api_routes() if "{" in r.path]


@pytest.mark.parametrize("route", ID_ROUTES, ids=[r.route_key for r in ID_ROUTES])
def test_an_id_with_control_characters_is_a_404(stack: LocalStack, paying_partner: str, route: Route) -> None:
    # Given an id that no route pattern accepts (a form feed in it)
    path = re.sub(r"\{([^}+]+)\+?\}", "ab%0Ccd", route.path)

    # When a partner asks for it
    reply = stack.client(paying_partner).request(route.method, path, json={})

    # Then it is simply not found (in the error shape), not a server error
    assert reply.status_code == 404, reply.text
    assert reply.json()["error"]["code"] == "not_found"
