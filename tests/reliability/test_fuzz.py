"""The OpenAPI document tells the truth, and no request shape yields a 5xx.

The document (``/v1/openapi.json``) is checked as a document -- valid OpenAPI 3.1, every template.yaml route in
it, the security each route really has, links that lead somewhere -- and then schemathesis holds the API to it
(``testkit/api_fuzz.py``): every phase, every check except ``unsupported_method``, on a stack of
its own (the run moves the clock and schedules prices, which other tests must not see).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from testkit import api_fuzz
from testkit.scopes import EXPECTED as EXPECTED_SCOPES
from testkit.stack import LocalStack, running_stack
from tests.reliability.conftest import api_routes

ROUTES = api_routes()


@pytest.fixture(scope="module")
def document(stack: LocalStack) -> dict[str, Any]:
    return dict(stack.anonymous.get("/v1/openapi.json").json())


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises on anything OpenAPI 3.1 does not allow


def test_every_template_route_is_documented(document: dict[str, Any]) -> None:
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    missing = [r.route_key for r in ROUTES if (r.method, r.path) not in documented]
    assert not missing, f"routes served but not in the OpenAPI document: {missing}"


def test_each_operation_states_the_authentication_template_yaml_gives_it(document: dict[str, Any]) -> None:
    # template.yaml is the truth: the authorizer on every route but those marked Auth: NONE; a person's token on each,
    # and an API key with the scope SPEC gives the route, where it gives one (testkit/scopes.py)
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        scope = EXPECTED_SCOPES.get(route.route_key)
        expected = (
            ([{"partnerJwt": []}, {"apiKey": [scope]}] if scope else [{"partnerJwt": []}]) if route.authorized else []
        )
        assert operation["security"] == expected, route.route_key
    schemes = document["components"]["securitySchemes"]
    assert schemes["partnerJwt"]["scheme"] == schemes["apiKey"]["scheme"] == "bearer"


def test_every_error_answer_and_415_is_documented(document: dict[str, Any]) -> None:
    for route in ROUTES:
        responses = document["paths"][route.path][route.method.lower()]["responses"]
        assert {"400", "401", "404", "415", "422"} <= set(responses), route.route_key
        gateway_401 = responses["401"]["content"]["application/json"]["schema"]["anyOf"]
        assert {"$ref": "#/components/schemas/GatewayMessage"} in gateway_401, route.route_key


def _pointer(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_links_lead_to_operations_that_take_what_they_give(document: dict[str, Any]) -> None:
    # The chain an agency's script follows, from a card to payment, must be there
    followed: set[tuple[str, str]] = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for response in operation["responses"].values():
                for name, link in response.get("links", {}).items():
                    target = _pointer(document, link["operationRef"])
                    names = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
                    assert set(link.get("parameters", {})) <= names, (method, path, name)
                    target_path = re.sub(r"~1", "/", link["operationRef"].split("/")[2])
                    followed.add((method.upper() + " " + path, target_path))
    expected = {
        ("POST /v1/payment-methods", "/v1/licenses"),
        ("POST /v1/licenses", "/v1/licenses/{license_key}/site"),
        ("PUT /v1/licenses/{license_key}/site", "/v1/licenses/{license_key}/site"),
        ("POST /v1/licenses", "/v1/licenses/{license_key}/revoke"),
        ("GET /v1/invoices", "/v1/invoices/{invoice_id}/pay"),
    }
    assert expected <= followed, expected - followed


@pytest.fixture(scope="module")
def own_stack(request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    with running_stack(request) as running:
        yield running


def fuzz(stack: LocalStack, max_examples: int, workdir: Path) -> None:
    prepared = api_fuzz.prepare(stack.api_url)
    outcome = api_fuzz.run(prepared, max_examples, workdir)
    print(outcome.output[-3000:])
    assert outcome.returncode == 0, outcome.output[-20000:]


def test_schemathesis_finds_nothing(own_stack: LocalStack, tmp_path: Path) -> None:
    fuzz(own_stack, max_examples=8, workdir=tmp_path)


@pytest.mark.soak
def test_schemathesis_finds_nothing_at_60_examples_per_operation(own_stack: LocalStack, tmp_path: Path) -> None:
    fuzz(own_stack, max_examples=60, workdir=tmp_path)
