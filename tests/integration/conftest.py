"""Integration tests: the real handlers, fed the events in events/, against moto (in-process, no server)."""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
from moto import mock_aws

from local import fast_dynamodb
from local.events import LambdaContext
from local.resources import LocalResources
from local.template import Template
from partnerhub import clients
from partnerhub.clock import ManualClock
from partnerhub.domain.catalog import PRICES, PRODUCTS
from partnerhub.repository.catalog import DynamoCatalogRepository
from testkit.partners import SeededPartners

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)

ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "PartnerHubTest",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "ENVIRONMENT": "test",
}


@pytest.fixture(scope="session")
def aws() -> Iterator[LocalResources]:
    """One moto account for the session, with every resource template.yaml declares.

    moto runs with the local stack's fast DynamoDB layer; PARTNERHUB_PLAIN_MOTO=1 runs these tests on plain
    moto instead (the layer must not change an answer: both runs must pass).
    """
    fast_dynamodb.install()
    with mock.patch.dict(os.environ, ENV), mock_aws():
        os.environ.pop("AWS_ENDPOINT_URL", None)
        resources = LocalResources(Template(ROOT / "template.yaml", {"Stage": "test"}), endpoint_url=None)  # type: ignore[arg-type]
        resources.create_all()
        os.environ["TABLE_NAME"] = resources.table_names["Table"]
        DynamoCatalogRepository(os.environ["TABLE_NAME"], clients.dynamodb()).seed(PRODUCTS, PRICES)
        yield resources


@pytest.fixture(scope="session")
def dynamodb(aws: LocalResources) -> Any:
    """The session's DynamoDB client (moto's), as a composition root makes it."""
    return clients.dynamodb()


@pytest.fixture(scope="session")
def table(aws: LocalResources) -> str:
    """The single table's name."""
    return aws.table_names["Table"]


@pytest.fixture(scope="session")
def clock() -> ManualClock:
    """The session's clock: every function the tests build is given it."""
    return ManualClock(START)


@pytest.fixture
def now(clock: ManualClock) -> datetime:
    """Each test starts at the same instant."""
    clock.set(START)
    return START


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class Function:
    """A function's app.py, imported as Lambda would (once), built by its composition root with the test's
    clock and clients, and invoked with events."""

    def __init__(self, name: str, module: ModuleType, built: Any) -> None:
        self.name = name
        self.module = module
        self.built = built

    @property
    def wiring(self) -> Any:
        """The services its composition root made."""
        return self.built.wiring

    def invoke(self, event: dict[str, Any]) -> Any:
        """The handler's raw result."""
        return self.built.handler(event, LambdaContext(f"test-{self.name}", timeout_seconds=30))

    def __call__(self, event: dict[str, Any]) -> Reply:
        result = self.invoke(event)
        body = result.get("body")
        parsed = (
            json.loads(body)
            if body and result.get("headers", {}).get("Content-Type", "").startswith("application/json")
            else body
        )
        return Reply(result["statusCode"], parsed, result.get("headers", {}))


_loaded: dict[tuple[Any, ...], Function] = {}
_copies = 0


def import_function(name: str, **dependencies: Any) -> Function:
    """A fresh execution environment: the function's module imported anew, with its own resolver state, and
    built with ``dependencies`` (``clock=``, ``stripe=``, ...) by its ``build``."""
    global _copies
    _copies += 1
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"functions_{name}_app_{_copies}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    with mock.patch.dict(os.environ, {"POWERTOOLS_SERVICE_NAME": name}):
        spec.loader.exec_module(module)
        if "clock" not in inspect.signature(module.build).parameters:
            dependencies.pop("clock", None)  # a function that never reads the time takes no clock
        built = module.build(**dependencies)
    return Function(name, module, built)


@pytest.fixture(scope="session")
def function(aws: LocalResources, clock: ManualClock) -> Callable[..., Function]:
    """``function(name, stripe=...)``: the function built once with the session clock (and the given clients)."""

    def load(name: str, **dependencies: Any) -> Function:
        dependencies.setdefault("clock", clock)
        key = (name, *sorted((k, id(v)) for k, v in dependencies.items()))
        if key not in _loaded:
            _loaded[key] = import_function(name, **dependencies)
        return _loaded[key]

    return load


@pytest.fixture(scope="session")
def environments(aws: LocalResources, clock: ManualClock) -> Callable[[str, int], list[Function]]:
    """``n`` separate execution environments of a function, as Lambda runs concurrent requests."""
    return lambda name, n: [import_function(name, clock=clock) for _ in range(n)]


@pytest.fixture
def partner_id() -> str:
    """A fresh partner for each test: tests share one table but never each other's data."""
    return f"agency-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def partners(table: str, dynamodb: Any) -> SeededPartners:
    """The partner repository, with the standing setters tests seed partners with."""
    return SeededPartners(table, dynamodb)


@pytest.fixture
def paying_partner(partner_id: str, partners: SeededPartners) -> str:
    """A partner in good standing with a payment method on file."""
    partners.set_has_payment_method(partner_id, True)
    return partner_id
