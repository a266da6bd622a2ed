"""The operators' function over the real handler and the events in events/operator, against moto: every sample
event answers; the dry run's pages add up to the whole month and each reads only its own partners; starting a run
puts a request on the planner's queue and the planner, fed that message as its SQS event source feeds it, enqueues
the month's partners; a partner's token is refused."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from local.resources import LocalResources
from partnerhub import clients, cursors
from partnerhub.clock import ManualClock
from partnerhub.domain.audit import AuditEntry
from partnerhub.domain.licenses import LicenseService
from partnerhub.repository import keys
from partnerhub.repository.audit import DynamoAuditRepository
from partnerhub.repository.invoices import DynamoInvoiceRepository
from partnerhub.repository.licenses import DynamoLicenseRepository
from partnerhub.repository.partners import DynamoPartnerRepository
from partnerhub.settings import OperatorSettings
from testkit.data import INVOICE_LINE
from testkit.events import load_event
from testkit.partners import SeededPartners
from tests.integration.conftest import Function
from tests.integration.test_invoicing_repository import stripe_invoice

SAMPLES = ["audit", "list_partners", "get_partner", "preview_run", "start_run", "run_progress", "retry_run"]


@pytest.fixture(scope="module")
def operator(aws: LocalResources, function: Callable[..., Function], table: str, dynamodb: Any) -> Function:
    settings = OperatorSettings(
        table_name=table,
        invoice_run_queue_url=aws.queue_urls["InvoiceRunRequestQueue"],
        invoice_queue_url=aws.queue_urls["InvoiceQueue"],
        invoice_dead_letter_queue_url=aws.queue_urls["InvoiceDeadLetterQueue"],
    )
    return function("operator", settings=settings, dynamodb=dynamodb)


def drain(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        found += batch
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


PREVIEWED = "2026-08"


@pytest.fixture
def august(aws: LocalResources, clock: ManualClock, partners: SeededPartners, now: Any) -> Iterator[list[str]]:
    """Seven partners of August 2026 in every state of the dry run, by id: one invoiced, two with licenses to
    invoice, one started (its lines kept) but not done, one closed with nothing to bill, two whose licenses
    were revoked before August. Their ids share a prefix of this test's, so they come one after another."""
    table = aws.table_names["Table"]
    prefix = f"pv{uuid.uuid4().hex[:8]}"
    ids = [f"{prefix}-{n}" for n in range(1, 8)]
    licenses = LicenseService(DynamoLicenseRepository(table, clients.dynamodb()), clock)
    invoices = DynamoInvoiceRepository(table, clients.dynamodb())
    clock.set(datetime(2026, 7, 20, 9, tzinfo=UTC))
    for partner in ids:
        partners.set_has_payment_method(partner, True)
        (issued,) = licenses.issue(partner, "jetpack-backup", 1, "user:t", receipt_id=f"r-{partner}")
        if partner.endswith(("-6", "-7")):
            licenses.revoke(partner, issued.license_key, "user:t")  # never active in August
    clock.set(now)
    invoices.start(ids[0], PREVIEWED)
    invoices.mark_draft_requested(ids[0], PREVIEWED, [INVOICE_LINE])
    invoices.apply_stripe_invoice(stripe_invoice(ids[0], f"in_{ids[0]}", "open", metadata=_meta(ids[0])))
    invoices.start(ids[3], PREVIEWED)
    invoices.mark_draft_requested(ids[3], PREVIEWED, [INVOICE_LINE])
    invoices.start(ids[4], PREVIEWED)
    invoices.mark_nothing_to_bill(ids[4], PREVIEWED)
    yield ids


def _meta(partner: str) -> dict[str, str]:
    return {"partner_id": partner, "period": PREVIEWED}


def preview(operator: Function, **query: str) -> Any:
    return operator(load_event("operator/preview_run", path={"period": PREVIEWED}, query=query))


def before(partner: str) -> str:
    """A cursor just before ``partner`` (the dry run's own, made as it makes them), so the test reads its own."""
    return cursors.encode({"after": partner[:-1]})


def test_the_dry_runs_pages_add_up_to_one_big_page(operator: Function, august: list[str]) -> None:
    whole = preview(operator, limit="7", cursor=before(august[0]))
    assert whole.status == 200, whole.body
    assert [p["partner_id"] for p in whole.body["partners"]] == august
    assert [p["state"] for p in whole.body["partners"]] == [
        "already_invoiced",
        "would_invoice",
        "would_invoice",
        "would_invoice",
        "nothing_to_bill",
        "nothing_to_bill",
        "nothing_to_bill",
    ]
    # A Backup license issued in July, all August: 31 days x 17 = 527, capped at 495; or the record's kept line
    assert [p["total"] for p in whole.body["partners"]] == [495, 495, 495, 495, 0, 0, 0]
    assert (whole.body["total"], whole.body["to_invoice"]) == (4 * 495, 3 * 495)

    pages = [preview(operator, limit="2", cursor=before(august[0]))]
    for _ in range(3):
        assert pages[-1].status == 200, pages[-1].body
        pages.append(preview(operator, limit="2", cursor=pages[-1].body["next_cursor"]))
    listed = [p for page in pages for p in page.body["partners"]][:7]

    assert listed == whole.body["partners"]
    assert [len(page.body["partners"]) for page in pages[:3]] == [2, 2, 2]
    for page in pages:
        assert page.body["period"] == PREVIEWED and page.body["currency"] == "usd"
        assert page.body["total"] == sum(p["total"] for p in page.body["partners"])
        assert page.body["to_invoice"] == sum(
            p["total"] for p in page.body["partners"] if p["state"] == "would_invoice"
        )
    assert all(page.body["next_cursor"] for page in pages[:3])  # the seventh follows the sixth
    # The first three pages hold six of the seven: all but the last, which has nothing to bill
    assert sum(page.body["total"] for page in pages[:3]) == whole.body["total"]
    assert sum(page.body["to_invoice"] for page in pages[:3]) == whole.body["to_invoice"]


def test_the_whole_dry_run_ends_with_a_last_page(operator: Function, august: list[str]) -> None:
    seen: list[str] = []
    reply = preview(operator, limit="500")
    while True:
        assert reply.status == 200, reply.body
        seen += [p["partner_id"] for p in reply.body["partners"]]
        if reply.body["next_cursor"] is None:
            break
        reply = preview(operator, limit="500", cursor=reply.body["next_cursor"])
    assert seen == sorted(set(seen))
    assert set(august) <= set(seen)


@contextmanager
def dynamodb_calls(client: Any) -> Iterator[list[tuple[str, str | None, int | None]]]:
    """The DynamoDB calls ``client`` makes in the loop's body: operation, index and ``Limit``."""
    calls: list[tuple[str, str | None, int | None]] = []

    def note(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, params.get("IndexName"), params.get("Limit")))

    client.meta.events.register("provide-client-params.dynamodb", note)
    try:
        yield calls
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb", note)


def test_a_dry_run_page_reads_what_its_size_bounds(operator: Function, august: list[str], dynamodb: Any) -> None:
    first = preview(operator, limit="2", cursor=before(august[0]))
    with dynamodb_calls(dynamodb) as calls:
        second = preview(operator, limit="2", cursor=first.body["next_cursor"])
        assert second.status == 200, second.body
    assert [p["partner_id"] for p in second.body["partners"]] == august[2:4]
    # One Query a shard of the billable registry (at most 3 ids each), one batch read of the page's records, the
    # catalog, and the month's licenses of the one partner of the page not yet started (the other's lines are
    # kept): whatever the number of partners in the table.
    assert calls == [
        *[("Query", keys.GSI_LICENSES, 3)] * keys.BILLABLE_SHARDS,
        ("BatchGetItem", None, None),
        ("Query", None, None),
        ("Query", keys.GSI_BILLING, None),
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "two"}, "limit"),
        ({"cursor": "not a cursor"}, "cursor"),
        ({"cursor": cursors.encode({"sk": keys.audit_sk("2026-08-01T00:00:00Z", "x")})}, "cursor"),  # the audit log's
        ({"cursor": cursors.encode({"after": "bad id!"})}, "cursor"),
        ({"cursor": "bm90IGpzb24"}, "cursor"),  # base64 of text that is not JSON
    ],
)
def test_a_bad_page_size_or_cursor_is_refused_naming_it(
    operator: Function, august: list[str], query: dict[str, str], field: str, dynamodb: Any
) -> None:
    with dynamodb_calls(dynamodb) as calls:
        reply = preview(operator, **query)
    assert reply.status == 422, reply.body
    assert reply.body["error"]["code"] == "validation_error"
    assert [d["field"] for d in reply.body["error"]["details"]] == [field], reply.body
    assert calls == []  # refused before anything is read, and nothing is written


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_event_is_answered(operator: Function, now: Any, name: str) -> None:
    reply = operator(load_event(f"operator/{name}"))
    # get_partner names a partner this table never saw; the others answer with what the table holds
    assert reply.status == (404 if name == "get_partner" else 202 if name == "start_run" else 200), reply.body


def test_a_started_run_reaches_the_planner_through_its_request_queue(
    aws: LocalResources, operator: Function, function: Callable[..., Function], now: Any
) -> None:
    # A month no other test plans: the run item's starter is whoever started the month first on the shared table.
    period = "2026-05"
    drain(aws.queue_urls["InvoiceRunRequestQueue"])
    reply = operator(load_event("operator/start_run", body={"period": period}, headers={"Idempotency-Key": "r-1"}))
    assert reply.status == 202, reply.body
    (request,) = drain(aws.queue_urls["InvoiceRunRequestQueue"])
    body = json.loads(request["Body"])
    assert body["period"] == period and body["started_by"].startswith("operator:")

    # The planner, given that message as its SQS event source delivers it, plans May for that operator
    sample = load_event("invoice_planner/operator_request")
    sample["Records"][0]["body"] = request["Body"]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("INVOICE_QUEUE_URL", aws.queue_urls["InvoiceQueue"])
        planner = function("invoice_planner")
    result = planner.invoke(sample)
    assert [(run["period"], run["started_by"]) for run in result["runs"]] == [(period, body["started_by"])]
    # And the month's progress names the operator as its starter and the plan as theirs
    progress = operator(load_event("operator/run_progress", path={"period": period})).body
    assert progress["started_by"] == progress["last_planned_by"] == body["started_by"]
    assert progress["planned_partners"] == result["runs"][0]["partners_enqueued"]


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
            "PK": {"S": keys.partner_pk(partner)},
            "SK": {"S": keys.PROFILE},
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
        Item={
            "PK": {"S": keys.stripe_customer_pk(f"cus_old_{partner}")},
            "SK": {"S": keys.POINTER},
            "partner_id": {"S": partner},
        },
    )
    search = load_event("operator/list_partners", query={"search": "old wharf"})
    assert operator(search).body["items"] == []

    # When the migration runs
    repository = DynamoPartnerRepository(table, clients.dynamodb())
    assert partner in set(repository.partners_with_a_customer())
    assert repository.list_in_directory(partner)

    # Then operators find it by its company name
    assert [p["partner_id"] for p in operator(search).body["items"]] == [partner]


def test_an_entry_written_once_is_written_once(aws: LocalResources, now: Any) -> None:
    log = DynamoAuditRepository(aws.table_names["Table"], clients.dynamodb())
    name = f"void:in_{uuid.uuid4().hex}"
    first = AuditEntry("a" * 32, now, "operator:x", "invoice.void", "invoice:in_x", {"n": 1})
    second = AuditEntry("b" * 32, now, "operator:y", "invoice.void", "invoice:in_x", {"n": 2})
    assert log.record(first, once=name) is True
    assert log.record(second, once=name) is False
    ids = [e.entry_id for e in log.page(limit=100).items]
    assert "a" * 32 in ids
    assert "b" * 32 not in ids


def test_entries_of_one_instant_are_listed_newest_first_in_the_order_written(aws: LocalResources, now: Any) -> None:
    log = DynamoAuditRepository(aws.table_names["Table"], clients.dynamodb())
    # Ids chosen so their own order is not the order written.
    written = [uuid.uuid4().hex[:8] + suffix for suffix in ("c" * 24, "a" * 24, "b" * 24)]
    for entry_id in written:
        assert log.record(AuditEntry(entry_id, now, "operator:x", "price.schedule", "product:jetpack-scan"))

    listed = [e.entry_id for e in log.page(limit=100).items if e.entry_id in written]

    assert listed == [written[2], written[1], written[0]]


def test_an_entry_keeps_the_operators_name_beside_its_id(aws: LocalResources, now: Any) -> None:
    log = DynamoAuditRepository(aws.table_names["Table"], clients.dynamodb())
    entry_id = uuid.uuid4().hex
    entry = AuditEntry(entry_id, now, "operator:sub-1", "invoice.void", "invoice:in_x", actor_name="ops@example.com")
    assert log.record(entry)

    (found,) = [e for e in log.page(limit=100).items if e.entry_id == entry_id]

    assert (found.actor, found.actor_name) == ("operator:sub-1", "ops@example.com")


@pytest.mark.parametrize("name", SAMPLES)
def test_an_operator_without_mfa_is_refused_saying_so(operator: Function, now: Any, name: str) -> None:
    # Given an operator the authorizer found without TOTP MFA enrolled
    event = load_event(f"operator/{name}", mfa="none")
    # When they call an operators' route
    reply = operator(event)
    # Then it is 403 mfa_required, saying what to do
    assert reply.status == 403, reply.body
    assert reply.body["error"]["code"] == "mfa_required"
    assert "enrol an authenticator app" in reply.body["error"]["message"]


@pytest.mark.parametrize(
    ("function_name", "sample"),
    [
        ("billing", "billing/schedule_price"),
        ("billing", "billing/cancel_scheduled_price"),
        ("licenses", "licenses/record_external"),
    ],
)
def test_the_operators_price_and_license_routes_want_mfa_too(
    function: Callable[..., Function], now: Any, function_name: str, sample: str
) -> None:
    reply = function(function_name)(load_event(sample, mfa="none"))
    assert reply.status == 403, reply.body
    assert reply.body["error"]["code"] == "mfa_required"


def test_an_operator_without_mfa_gets_no_replay_of_an_earlier_answer(
    function: Callable[..., Function], now: Any
) -> None:
    # Given a price change an operator with MFA scheduled under an Idempotency-Key
    billing = function("billing")
    key = {"Idempotency-Key": f"mfa-replay-{uuid.uuid4().hex}"}
    try:
        first = billing(load_event("billing/schedule_price", headers=key))
        assert first.status == 200, first.body
        # When the same request comes again from that operator, now without MFA (the device was reset)
        again = billing(load_event("billing/schedule_price", headers=key, mfa="none"))
        # Then it is refused, not replayed
        assert (again.status, again.body["error"]["code"]) == (403, "mfa_required")
    finally:
        # Put the seeded catalog back: the rest of the suite bills jetpack-backup after 2027 at seeded prices.
        boto3.client("dynamodb").delete_item(
            TableName=os.environ["TABLE_NAME"],
            Key={"PK": {"S": keys.CATALOG}, "SK": {"S": keys.price_sk("jetpack-backup", "2027-01-01")}},
        )
