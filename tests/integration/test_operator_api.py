"""The operators' function over the real handler and the events in events/operator, against moto: every sample
event answers; starting a run puts a request on the planner's queue and the planner, fed that message as its SQS
event source feeds it, enqueues the month's partners; a partner's token is refused."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from typing import Any
from unittest import mock

import boto3
import pytest

from local.resources import LocalResources
from partnerhub.domain.audit import AuditEntry
from partnerhub.repository.audit import DynamoAuditRepository
from partnerhub.repository.partners import DynamoPartnerRepository
from partnerhub.settings import OperatorSettings
from tests.integration.conftest import Function
from tests.support.events import load_event

SAMPLES = ["audit", "list_partners", "get_partner", "preview_run", "start_run", "run_progress", "retry_run"]


@pytest.fixture(scope="module")
def operator(aws: LocalResources, function: Callable[..., Function]) -> Function:
    queues = {
        "INVOICE_RUN_QUEUE_URL": aws.queue_urls["InvoiceRunRequestQueue"],
        "INVOICE_QUEUE_URL": aws.queue_urls["InvoiceQueue"],
        "INVOICE_DEAD_LETTER_QUEUE_URL": aws.queue_urls["InvoiceDeadLetterQueue"],
    }
    with mock.patch.dict(os.environ, queues):  # the module builds its default wiring when imported
        return function("operator", settings=OperatorSettings.from_env())


def drain(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        found += batch
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_event_is_answered(operator: Function, now: Any, name: str) -> None:
    reply = operator(load_event(f"operator/{name}"))
    # get_partner names a partner this table never saw; the others answer with what the table holds
    assert reply.status == (404 if name == "get_partner" else 202 if name == "start_run" else 200), reply.body


def test_a_started_run_reaches_the_planner_through_its_request_queue(
    aws: LocalResources, operator: Function, function: Callable[..., Function], now: Any
) -> None:
    drain(aws.queue_urls["InvoiceRunRequestQueue"])
    reply = operator(load_event("operator/start_run", body={"period": "2026-10"}, headers={"Idempotency-Key": "r-1"}))
    assert reply.status == 202, reply.body
    (request,) = drain(aws.queue_urls["InvoiceRunRequestQueue"])
    assert json.loads(request["Body"]) == {"period": "2026-10"}

    # The planner, given that message as its SQS event source delivers it, plans October
    sample = load_event("invoice_planner/operator_request")
    sample["Records"][0]["body"] = request["Body"]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("INVOICE_QUEUE_URL", aws.queue_urls["InvoiceQueue"])
        planner = function("invoice_planner")
    result = planner.invoke(sample)
    assert [run["period"] for run in result["runs"]] == ["2026-10"]


def test_a_request_for_a_month_not_ended_is_dropped_by_the_planner(
    aws: LocalResources, function: Callable[..., Function], now: Any
) -> None:
    sample = load_event("invoice_planner/operator_request")
    sample["Records"][0]["body"] = json.dumps({"period": "2026-11"})  # the clock is in November 2026
    with pytest.MonkeyPatch.context() as env:
        env.setenv("INVOICE_QUEUE_URL", aws.queue_urls["InvoiceQueue"])
        planner = function("invoice_planner")
    assert "has not ended" in planner.invoke(sample)["runs"][0]["refused"]


@pytest.mark.parametrize("name", SAMPLES)
def test_a_partner_token_is_refused(operator: Function, now: Any, name: str) -> None:
    reply = operator(load_event(f"operator/{name}", partner_id="agency-42", groups=()))
    assert reply.status == 403, reply.body
    assert reply.body["error"]["code"] == "not_an_operator"


def test_the_migration_lists_partners_that_had_a_customer_before_the_directory(
    aws: LocalResources, operator: Function, now: Any
) -> None:
    # Given a partner whose customer and company were recorded before the directory existed
    table = aws.table_names["Table"]
    partner = f"agency-old-{uuid.uuid4().hex[:8]}"
    dynamodb = boto3.client("dynamodb")
    dynamodb.put_item(
        TableName=table,
        Item={
            "PK": {"S": f"PARTNER#{partner}"},
            "SK": {"S": "PROFILE"},
            "partner_id": {"S": partner},
            "stripe_customer_id": {"S": "cus_old"},
            "company": {
                "M": {
                    "name": {"S": "Old Wharf Media"},
                    "contact_first_name": {"S": "Ann"},
                    "contact_last_name": {"S": "Baker"},
                    "website": {"S": "https://wharf.example"},
                    "address_line1": {"S": "1 Pier"},
                    "city": {"S": "Boston"},
                    "country": {"S": "US"},
                    "postal_code": {"S": "02110"},
                }
            },
        },
    )
    dynamodb.put_item(
        TableName=table,
        Item={"PK": {"S": f"STRIPE_CUSTOMER#cus_old_{partner}"}, "SK": {"S": "POINTER"}, "partner_id": {"S": partner}},
    )
    search = load_event("operator/list_partners", query={"search": "old wharf"})
    assert operator(search).body["items"] == []

    # When the migration runs
    repository = DynamoPartnerRepository(table)
    assert partner in set(repository.partners_with_a_customer())
    assert repository.list_in_directory(partner)

    # Then operators find it by its company name
    assert [p["partner_id"] for p in operator(search).body["items"]] == [partner]


def test_an_entry_written_once_is_written_once(aws: LocalResources, now: Any) -> None:
    log = DynamoAuditRepository(aws.table_names["Table"])
    name = f"void:in_{uuid.uuid4().hex}"
    first = AuditEntry("a" * 32, now, "operator:x", "invoice.void", "invoice:in_x", {"n": 1})
    second = AuditEntry("b" * 32, now, "operator:y", "invoice.void", "invoice:in_x", {"n": 2})
    assert log.record(first, once=name) is True
    assert log.record(second, once=name) is False
    ids = [e.entry_id for e in log.page(limit=100).items]
    assert "a" * 32 in ids
    assert "b" * 32 not in ids


def test_entries_of_one_instant_are_listed_newest_first_in_the_order_written(aws: LocalResources, now: Any) -> None:
    log = DynamoAuditRepository(aws.table_names["Table"])
    # Ids chosen so their own order is not the order written.
    written = [uuid.uuid4().hex[:8] + suffix for suffix in ("c" * 24, "a" * 24, "b" * 24)]
    for entry_id in written:
        assert log.record(AuditEntry(entry_id, now, "operator:x", "price.schedule", "product:jetpack-scan"))

    listed = [e.entry_id for e in log.page(limit=100).items if e.entry_id in written]

    assert listed == [written[2], written[1], written[0]]


def test_an_entry_keeps_the_operators_name_beside_its_id(aws: LocalResources, now: Any) -> None:
    log = DynamoAuditRepository(aws.table_names["Table"])
    entry_id = uuid.uuid4().hex
    entry = AuditEntry(entry_id, now, "operator:sub-1", "invoice.void", "invoice:in_x", actor_name="ops@example.com")
    assert log.record(entry)

    (found,) = [e for e in log.page(limit=100).items if e.entry_id == entry_id]

    assert (found.actor, found.actor_name) == ("operator:sub-1", "ops@example.com")
