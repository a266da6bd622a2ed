"""Reliability and security tests: over HTTP against a local stack of their own (the ``stack`` fixture here).

Every suite here discovers the routes from ``template.yaml``, so a route that lands later is covered
(or reported as not yet exercisable) without editing these tests.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.template import Route, Template
from testkit.stack import ApiSession, LocalStack, running_stack

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = Template(ROOT / "template.yaml", {"Stage": "test"})
PRODUCT = "jetpack-backup"


def api_routes() -> list[Route]:
    """Every HTTP route template.yaml declares (the local gateway routes exactly these)."""
    return [r for r in TEMPLATE.routes if r.path.startswith("/v1/")]


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    """The reliability tests' own local stack (not the end-to-end tests'), started once for the session."""
    with running_stack(request) as running:
        yield running


def route_ids(routes: list[Route]) -> list[str]:
    return [r.route_key for r in routes]


def new_partner() -> str:
    return f"agency-{uuid.uuid4().hex[:12]}"


def race[T](calls: list[Callable[[], T]]) -> list[T]:
    """Run every call at once: threads released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


class Table:
    """Direct reads and the few seed writes the API cannot do yet, on the stack's moto DynamoDB."""

    def __init__(self, moto_url: str) -> None:
        self.client = boto3.client(
            "dynamodb",
            endpoint_url=moto_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        names = self.client.list_tables()["TableNames"]
        main = [n for n in names if "Table" in n or len(names) == 1]
        self.name = main[0] if main else names[0]

    def partition(self, pk: str) -> list[dict[str, Any]]:
        """Every item of one partition, sorted, as raw DynamoDB JSON (for byte-for-byte comparisons)."""
        from partnerhub.repository.dynamo import pages

        answers = pages(
            self.client.query,
            TableName=self.name,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
        )
        return sorted((item for answer in answers for item in answer["Items"]), key=lambda i: i["SK"]["S"])


@pytest.fixture(scope="session")
def table(stack: LocalStack) -> Table:
    return Table(stack.moto_url)


def give_payment_method(table: Table, partner: str) -> None:
    """A partner in good standing with a card on file (the standing flag the license rules read)."""
    from testkit.partners import SeededPartners

    SeededPartners(table.name, table.client).set_has_payment_method(partner, True)


@pytest.fixture
def paying_partner(table: Table) -> str:
    partner = new_partner()
    give_payment_method(table, partner)
    return partner


def issue(api: ApiSession, quantity: int, product: str = PRODUCT, key: str | None = None) -> list[dict[str, Any]]:
    headers = {"Idempotency-Key": key} if key else {}
    reply = api.post("/v1/licenses", json={"product": product, "quantity": quantity}, headers=headers)
    assert reply.status_code == 201, reply.text
    return list(reply.json()["items"])


def site(n: int) -> dict[str, str]:
    return {
        "site_id": f"site-{n}",
        "site_url": f"https://client-{n}.example",
        "site_owner": f"owner-{n}@client.example",
    }


@pytest.fixture
def clean_faults(stack: LocalStack) -> Iterator[None]:
    """No fault plan in the Stripe emulator before or after the test."""
    if stack.stripe_url:
        stack.anonymous.delete(f"{stack.stripe_url}/_emulator/faults")
    yield
    if stack.stripe_url:
        stack.anonymous.delete(f"{stack.stripe_url}/_emulator/faults")
