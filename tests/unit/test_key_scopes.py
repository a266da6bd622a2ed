"""Which routes an API key may call, for every route template.yaml serves, and that each function's resolver holds
every route to it before any work (``partnerhub.api.ApiResolver.admit``).

The expected scope of each route is written by hand from SPEC "API keys" in ``testkit/scopes.py``. A route
template.yaml serves that the table does not name fails the first test: a new route cannot reach keys, or be closed
to them, without someone deciding which.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from local.events import HttpRequest, LambdaContext, http_event
from local.template import Route, Template
from partnerhub.api import declared_scope
from partnerhub.domain.api_keys import SCOPES
from partnerhub.identity import Identity
from testkit.scopes import EXPECTED

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = Template(ROOT / "template.yaml")
AUTHORIZED = [route for route in TEMPLATE.routes if route.authorized]


@cache
def app_module(function_id: str) -> ModuleType:
    """The function's ``app.py``, imported (not built: the gate needs no wiring)."""
    fn = TEMPLATE.functions[function_id]
    name = f"scopes_{function_id}"
    spec = importlib.util.spec_from_file_location(name, fn.module_file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def declared(route: Route) -> str | None:
    app = app_module(route.function_id).app
    (found,) = [
        r for r in app._static_routes + app._dynamic_routes if (r.method, r.openapi_path) == (route.method, route.path)
    ]
    return declared_scope(found.func)


def test_every_route_of_the_template_has_a_decided_scope() -> None:
    served = {route.route_key for route in AUTHORIZED}
    assert served - set(EXPECTED) == set(), "routes whose key scope nobody decided: add them to EXPECTED"
    assert set(EXPECTED) - served == set(), "EXPECTED names routes template.yaml no longer serves"


@pytest.mark.parametrize("route", AUTHORIZED, ids=[r.route_key for r in AUTHORIZED])
def test_each_route_declares_the_scope_the_spec_gives_it(route: Route) -> None:
    assert declared(route) == EXPECTED[route.route_key]


def test_the_stripe_webhook_is_the_only_route_without_the_authorizer() -> None:
    assert [r.route_key for r in TEMPLATE.routes if not r.authorized] == ["POST /v1/webhooks/stripe"]


NOW_MS = 1_795_248_000_000


def call(route: Route, identity: Identity) -> dict[str, Any]:
    """The route's function resolving a request (a body it could not even read) from ``identity``."""
    path = re.sub(r"\{[^}]+\}", "x", route.path)
    event = http_event(
        HttpRequest(method=route.method, path=path, headers=[("content-type", "text/plain")], body=b"not json"),
        route_key=route.route_key,
        path_parameters={name: "x" for name in re.findall(r"\{([^}]+)\}", route.path)},
        authorizer={"lambda": identity.context()},
        now=datetime.fromtimestamp(NOW_MS / 1000, tz=UTC),
    )
    result = app_module(route.function_id).app.resolve(event, LambdaContext("scopes-test"))
    return {"status": result["statusCode"], "body": json.loads(result["body"])}


def key(*scopes: str, expires_ms: int | None = None) -> Identity:
    return Identity.key("key_AbCd1234", "agency-7", scopes, expires_ms)


@pytest.mark.parametrize("route", AUTHORIZED, ids=[r.route_key for r in AUTHORIZED])
def test_a_key_without_the_routes_scope_is_403_before_anything_else(route: Route) -> None:
    # Given a key holding every scope but the one this route needs (every scope, for a route for people only)
    needed = EXPECTED[route.route_key]
    others = [scope for scope in SCOPES if scope != needed]

    # When it calls the route with a body no route could read
    reply = call(route, key(*others))

    # Then it is refused for its scope, before the body is even looked at
    assert reply["status"] == 403, reply
    assert reply["body"]["error"]["code"] == "insufficient_scope"
    assert reply["body"]["error"]["details"] == [{"required_scope": needed, "key_scopes": sorted(others)}]


@pytest.mark.parametrize("route", [r for r in AUTHORIZED if EXPECTED[r.route_key]], ids=lambda r: r.route_key)
def test_a_key_with_the_routes_scope_passes_the_gate(route: Route) -> None:
    # The body is then read and refused: the request got past the caller gate, to the route's own checks
    reply = call(route, key(str(EXPECTED[route.route_key])))
    assert reply["status"] in (400, 415), reply


@pytest.mark.parametrize("route", AUTHORIZED, ids=[r.route_key for r in AUTHORIZED])
def test_a_refused_or_expired_credential_is_401_on_every_route(route: Route) -> None:
    for identity, message in (
        (Identity.refused("the API key has been revoked"), "the API key has been revoked"),
        (key(*SCOPES, expires_ms=NOW_MS), "the API key has expired"),
        (
            Identity.person({"sub": "u", "custom:partner_id": "agency-7", "exp": NOW_MS // 1000}),
            "the token has expired",
        ),
    ):
        reply = call(route, identity)
        assert reply["status"] == 401, (identity, reply)
        assert reply["body"]["error"]["message"] == message


def test_a_person_is_not_held_to_scopes() -> None:
    # A signed-in person reaches a people-only route and a scoped one alike: the body is what each refuses
    person = Identity.person({"sub": "u", "custom:partner_id": "agency-7", "exp": NOW_MS // 1000 + 900})
    for route_key in ("POST /v1/api-keys", "POST /v1/licenses"):
        (route,) = [r for r in AUTHORIZED if r.route_key == route_key]
        assert call(route, person)["status"] == 415


@pytest.mark.parametrize("function_id", sorted({r.function_id for r in AUTHORIZED}))
def test_the_document_lists_the_scope_each_operation_allows(function_id: str) -> None:
    document = json.loads(app_module(function_id).app.get_openapi_json_schema())
    for route in [r for r in AUTHORIZED if r.function_id == function_id]:
        operation = document["paths"][route.path][route.method.lower()]
        scope = EXPECTED[route.route_key]
        expected = [{"partnerJwt": []}, {"apiKey": [scope]}] if scope else [{"partnerJwt": []}]
        assert operation["security"] == expected, route.route_key
