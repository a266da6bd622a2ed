"""Bodies a route cannot read, on every route: a clear 400 or 415 in the error shape, before any work; never a 5xx.

The routes come from template.yaml (the gateway routes exactly these), so a route added later is covered.
Routes that read a body and routes that read none are held to the same rule: a body is JSON, sent as
``application/json`` (UTF-8 if a charset is named), and an object. An empty body is refused only where the
route needs one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from local.template import Route
from partnerhub.repository import keys
from testkit.stack import ApiSession
from tests.reliability.conftest import LocalStack, Table, api_routes, give_payment_method, issue, new_partner

ROUTES = api_routes()
GOOD_JSON = b'{"product": "jetpack-backup", "quantity": 1}'


@dataclass(frozen=True)
class BadBody:
    data: bytes
    content_type: str | None
    status: int
    """The answer every route gives, worked out from the rules in ``partnerhub.body``."""


BAD_BODIES = {
    "JSON sent as text/plain": BadBody(GOOD_JSON, "text/plain", 415),
    "JSON without a Content-Type": BadBody(GOOD_JSON, None, 415),
    "JSON sent as a form": BadBody(GOOD_JSON, "application/x-www-form-urlencoded", 415),
    "a form sent as a form": BadBody(b"product=jetpack-backup&quantity=1", "application/x-www-form-urlencoded", 415),
    "JSON in a latin-1 charset": BadBody(GOOD_JSON, "application/json; charset=iso-8859-1", 415),
    "JSON as application/xml": BadBody(GOOD_JSON, "application/xml", 415),
    "not UTF-8": BadBody(b"\xf8\xff\xfe{", "application/json", 400),
    "truncated JSON": BadBody(b'{"product": "jetpack-backup", "quantity":', "application/json", 400),
    "not JSON at all": BadBody(b"hello", "application/json", 400),
    "NaN is not JSON": BadBody(b'{"quantity": NaN}', "application/json", 400),
    "JSON but an array": BadBody(b"[1, 2, 3]", "application/json", 400),
    "JSON but a string": BadBody(b'"jetpack-backup"', "application/json", 400),
    "JSON but null": BadBody(b"null", "application/json", 400),
}


def concrete(route: Route, license_key: str, partner: str) -> str:
    values = {"license_key": license_key, "partner_id": partner, "product": "jetpack-backup"}
    return re.sub(r"\{([^}+]+)\+?\}", lambda m: values.get(m.group(1), "unknown-id"), route.path)


def headers_for(body: BadBody) -> dict[str, str]:
    return {"Content-Type": body.content_type} if body.content_type else {}


@dataclass
class Caller:
    api: ApiSession
    partner: str
    license_key: str


@pytest.fixture(scope="module")
def caller(stack: LocalStack, table: Table) -> Caller:
    """A partner with a card and a license, calling with the operators group too (for the operator routes)."""
    partner = new_partner()
    give_payment_method(table, partner)
    api = stack.client(partner, groups=["operators"])
    return Caller(api, partner, issue(api, 1)[0]["license_key"])


@pytest.mark.parametrize("body_name", list(BAD_BODIES))
@pytest.mark.parametrize("route", ROUTES, ids=[r.route_key for r in ROUTES])
def test_a_body_that_cannot_be_read_is_refused_before_any_work(
    table: Table, caller: Caller, route: Route, body_name: str
) -> None:
    # Given a partner with a license, and what its partition holds
    before = table.partition(keys.partner_pk(caller.partner))
    bad = BAD_BODIES[body_name]

    # When a request arrives, on any route (one that reads no body as well), with a body that cannot be read
    path = concrete(route, caller.license_key, caller.partner)
    reply = caller.api.request(route.method, path, data=bad.data, headers=headers_for(bad))

    # Then the route refuses it in the project's error shape, and nothing changed
    assert reply.status_code == bad.status, (reply.status_code, reply.text)
    error = reply.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] in ("unsupported_media_type", "malformed_request", "body_not_an_object"), error
    assert table.partition(keys.partner_pk(caller.partner)) == before


BODY_ROUTES = [r for r in ROUTES if r.method in ("POST", "PUT", "PATCH")]


@pytest.mark.parametrize("route", BODY_ROUTES, ids=[r.route_key for r in BODY_ROUTES])
def test_an_empty_body_is_refused_where_one_is_needed(
    stack: LocalStack, table: Table, caller: Caller, route: Route
) -> None:
    # Given a partner with a license, and the document's word on whether the route needs a body
    document = stack.anonymous.get("/v1/openapi.json").json()
    operation = document["paths"][route.path][route.method.lower()]
    needs_body = bool(operation.get("requestBody", {}).get("required"))
    before = table.partition(keys.partner_pk(caller.partner))

    # When it is called with no body at all
    path = concrete(route, caller.license_key, caller.partner)
    reply = caller.api.request(route.method, path, headers={"Content-Type": "application/json"})

    # Then a route that needs one refuses it with 400 in the error shape and changes nothing
    # (a route that needs none may act: revoke, setup-intent; it is never a 5xx)
    if needs_body:
        assert reply.status_code == 400, reply.text
        assert set(reply.json()["error"]) == {"code", "message", "details"}
        assert table.partition(keys.partner_pk(caller.partner)) == before
    else:
        assert reply.status_code < 500, reply.text


ID_ROUTES = [r for r in ROUTES if "{" in r.path]


@pytest.mark.parametrize("route", ID_ROUTES, ids=[r.route_key for r in ID_ROUTES])
def test_an_id_with_control_characters_is_a_404(stack: LocalStack, paying_partner: str, route: Route) -> None:
    # Given an id that no route pattern accepts (a form feed in it)
    path = re.sub(r"\{([^}+]+)\+?\}", "ab%0Ccd", route.path)

    # When a partner asks for it
    reply = stack.client(paying_partner).request(route.method, path, json={})

    # Then it is simply not found (in the error shape), not a server error
    assert reply.status_code == 404, reply.text
    assert reply.json()["error"]["code"].endswith("not_found")
