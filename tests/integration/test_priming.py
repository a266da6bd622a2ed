"""A function primed at init (SnapStart's snapshot, provisioned concurrency: ``partnerhub.priming``) answers as
one that was not: the same validation, the same idempotent replay, the same answers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from partnerhub.clock import ManualClock
from testkit.events import load_event
from tests.integration.conftest import Function, import_function


@pytest.fixture
def both(aws: Any, clock: ManualClock) -> Iterator[tuple[Function, Function]]:
    """Two execution environments of the licenses function: one primed at init, one started on demand."""
    with mock.patch.dict(os.environ, {"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}):
        primed = import_function("licenses", clock=clock)
    with mock.patch.dict(os.environ, {"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}):
        on_demand = import_function("licenses", clock=clock)
    yield primed, on_demand


def routes_built(function: Function) -> tuple[int, int]:
    app = function.module.app
    routes = [*app._static_routes, *app._dynamic_routes]
    return sum(1 for r in routes if r._dependant is not None), len(routes)


def test_priming_builds_the_routes_before_any_request(both: tuple[Function, Function]) -> None:
    primed, on_demand = both
    built, total = routes_built(primed)
    assert total > 5 and built == total
    assert routes_built(on_demand)[0] == 0


def test_a_primed_function_answers_as_one_started_on_demand(
    both: tuple[Function, Function], paying_partner: str
) -> None:
    primed, on_demand = both
    # A bad body is refused the same way, naming the field
    bad = {"product": "jetpack-backup", "quantity": 0}
    refusals = [f(load_event("licenses/issue", partner_id=paying_partner, body=bad)) for f in both]
    assert [r.status for r in refusals] == [422, 422]
    assert refusals[0].body == refusals[1].body

    # An issue through the primed environment is replayed by the other with the same Idempotency-Key
    body = {"product": "jetpack-backup", "quantity": 2}
    headers = {"idempotency-key": f"priming-{paying_partner}"}
    first = primed(load_event("licenses/issue", partner_id=paying_partner, body=body, headers=headers))
    again = on_demand(load_event("licenses/issue", partner_id=paying_partner, body=body, headers=headers))
    assert first.status == 201 and again.status == 201
    assert again.body == first.body

    # And both list the same two licenses
    lists = [f(load_event("licenses/list", partner_id=paying_partner, query={})) for f in both]
    keys = [sorted(i["license_key"] for i in r.body["items"]) for r in lists]
    assert keys[0] == keys[1] == sorted(i["license_key"] for i in first.body["items"])
