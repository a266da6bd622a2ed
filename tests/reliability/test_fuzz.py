"""Schemathesis against the project's own OpenAPI document, every route, authenticated as a partner.

Checks on every generated request (valid and deliberately invalid ones): no 5xx, a documented status,
a documented content type, and a body that matches the documented schema. Path parameters are drawn
both at random and from the partner's real objects, so the happy paths are fuzzed too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis import checks as st_checks

from local.template import Route
from tests.reliability.conftest import PRODUCT, LocalStack, Table, api_routes, give_payment_method, issue, new_partner

ROUTES = api_routes()
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
]


@dataclass
class Fuzzing:
    schema: Any
    headers: dict[str, str]
    known: dict[str, str]
    """Real values for path parameters, by name: the partner's own objects."""


@pytest.fixture(scope="module")
def fuzzing(stack: LocalStack, table: Table) -> Fuzzing:
    partner = new_partner()
    give_payment_method(table, partner)
    api = stack.client(partner)
    licenses = issue(api, 3)
    known = {"license_key": licenses[0]["license_key"], "partner_id": partner, "product": PRODUCT}
    schema = schemathesis.openapi.from_url(f"{stack.api_url}/v1/openapi.json")
    return Fuzzing(schema, {"Authorization": str(api.headers["Authorization"])}, known)


def fuzz(route: Route, fuzzing: Fuzzing, max_examples: int) -> None:
    operation = fuzzing.schema.find_operation_by_label(f"{route.method} {route.path}")
    assert operation is not None, f"{route.route_key} is in template.yaml but not in /v1/openapi.json"
    names = {p.name for p in operation.path_parameters}
    known = {name: value for name, value in fuzzing.known.items() if name in names}
    strategies = [operation.as_strategy(generation_mode=mode) for mode in GenerationMode]
    if known:
        strategies.append(operation.as_strategy(path_parameters=known))
    headers = fuzzing.headers if route.authorized else {}

    @given(case=st.one_of(strategies))
    @settings(max_examples=max_examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

    run()


def test_every_template_route_is_documented(stack: LocalStack) -> None:
    document = stack.anonymous.get("/v1/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    missing = [r.route_key for r in ROUTES if (r.method, r.path) not in documented]
    assert not missing, f"routes served but not in the OpenAPI document: {missing}"


@pytest.mark.parametrize("route", ROUTES, ids=[r.route_key for r in ROUTES])
def test_fuzz_route(route: Route, fuzzing: Fuzzing) -> None:
    fuzz(route, fuzzing, max_examples=15)


@pytest.mark.soak
@pytest.mark.parametrize("route", ROUTES, ids=[r.route_key for r in ROUTES])
def test_fuzz_route_long(route: Route, fuzzing: Fuzzing) -> None:
    fuzz(route, fuzzing, max_examples=400)
