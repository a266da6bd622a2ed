"""DynamoDB throttling on a mutation, in-process against moto: the route answers 503 with Retry-After in
the project's error shape, nothing is half-written, and the same request succeeds once the table recovers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local import fast_dynamodb
from local.resources import LocalResources
from local.template import Template
from partnerhub import clients
from partnerhub.clock import ManualClock
from partnerhub.domain.catalog import PRICES, PRODUCTS
from partnerhub.repository import keys
from partnerhub.repository.catalog import DynamoCatalogRepository
from testkit.events import load_event
from testkit.partners import SeededPartners
from tests.integration.conftest import ENV, ROOT, START, Function, import_function

THROTTLES = ["ProvisionedThroughputExceededException", "ThrottlingException"]


@pytest.fixture(scope="module")
def licenses() -> Iterator[Function]:
    """The licenses function against in-process moto: this module's own, or the integration session's when
    that one is already running (moto mocks nest; only the outermost one resets)."""
    import boto3

    fast_dynamodb.install()
    with mock.patch.dict(os.environ, ENV), mock_aws():
        os.environ.pop("AWS_ENDPOINT_URL", None)
        tables = boto3.client("dynamodb").list_tables()["TableNames"]
        if os.environ.get("TABLE_NAME") not in tables:
            resources = LocalResources(Template(ROOT / "template.yaml", {"Stage": "test"}), endpoint_url=None)  # type: ignore[arg-type]
            resources.create_all()
            os.environ["TABLE_NAME"] = resources.table_names["Table"]
            DynamoCatalogRepository(os.environ["TABLE_NAME"], clients.dynamodb()).seed(PRODUCTS, PRICES)
        yield import_function("licenses", clock=ManualClock(START))


def partition(partner: str) -> list[dict[str, Any]]:

    items = clients.dynamodb().query(
        TableName=os.environ["TABLE_NAME"],
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.partner_pk(partner)}},
        ConsistentRead=True,
    )["Items"]
    return sorted(items, key=lambda i: i["SK"]["S"])


def throttled(function: Function, code: str, operations: set[str]) -> Any:
    """Make the function's DynamoDB client fail ``operations`` with ``code``, as DynamoDB does under load."""
    client = function.wiring.repository._client
    real = client._make_api_call

    def call(operation: str, params: dict[str, Any]) -> Any:
        if operation in operations:
            raise ClientError(
                {"Error": {"Code": code, "Message": "Rate of requests exceeds the allowed throughput"}}, operation
            )
        return real(operation, params)

    return mock.patch.object(client, "_make_api_call", side_effect=call)


WHERE = {
    # the license transaction itself is throttled: the repository's raise_if_throttled
    "the license write": ({"TransactWriteItems"}, "throttled"),
    # the idempotency record (written first) is throttled: Powertools' persistence error
    "the idempotency record": ({"PutItem", "UpdateItem", "DeleteItem"}, "service_unavailable"),
}


@pytest.mark.parametrize("where", list(WHERE))
@pytest.mark.parametrize("code", THROTTLES)
@pytest.mark.parametrize("command", ["assign", "unassign", "revoke", "issue"])
def test_a_throttled_mutation_is_503_with_retry_after_and_writes_nothing(
    licenses: Function, code: str, command: str, where: str
) -> None:
    # Given a partner in good standing with one assigned license
    partner = f"agency-{uuid.uuid4().hex[:12]}"
    SeededPartners(os.environ["TABLE_NAME"], clients.dynamodb()).set_has_payment_method(partner, True)
    issued = licenses(
        load_event("licenses/issue", partner_id=partner, body={"product": "jetpack-backup", "quantity": 1})
    )
    key = issued.body["items"][0]["license_key"]
    site = {"site_id": "site-1", "site_url": "https://one.example"}
    assert (
        licenses(load_event("licenses/assign", partner_id=partner, path={"license_key": key}, body=site)).status == 200
    )
    events = {
        "assign": load_event(
            "licenses/assign",
            partner_id=partner,
            path={"license_key": key},
            body={"site_id": "site-2", "site_url": "https://two.example"},
            headers={"Idempotency-Key": f"k-{command}"},
        ),
        "unassign": load_event(
            "licenses/unassign", partner_id=partner, path={"license_key": key}, headers={"Idempotency-Key": "k-u"}
        ),
        "revoke": load_event(
            "licenses/revoke", partner_id=partner, path={"license_key": key}, headers={"Idempotency-Key": "k-r"}
        ),
        "issue": load_event(
            "licenses/issue",
            partner_id=partner,
            body={"product": "jetpack-backup", "quantity": 2},
            headers={"Idempotency-Key": "k-i"},
        ),
    }
    before = partition(partner)

    # When DynamoDB throttles every write while the command runs
    operations, error_code = WHERE[where]
    with throttled(licenses, code, operations):
        reply = licenses(events[command])

    # Then the caller gets a clear 503 with Retry-After, and nothing of the partner changed
    assert reply.status == 503, reply.body
    assert int(reply.headers["Retry-After"]) >= 1
    assert reply.body["error"]["code"] == error_code
    assert set(reply.body["error"]) == {"code", "message", "details"}
    assert partition(partner) == before

    # And once the table recovers, the very same request (same Idempotency-Key) goes through
    again = licenses(events[command])
    assert again.status in (200, 201), again.body
