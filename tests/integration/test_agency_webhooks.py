"""Webhooks to agencies over the real handlers and the events in events/webhook_*, against moto: every sample event
answers; the eleventh endpoint is a 409; URLs are refused when saved unless every address is public; a license
command's stream records become events that the deliverer posts, signed, to a receiver; a name that moves to a
private address between saving and delivering is refused at delivery (a resolver the test controls)."""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from standardwebhooks.webhooks import Webhook

from local.events import sqs_event
from local.resources import LocalResources
from local.streams import take_records
from partnerhub import clients
from partnerhub.clock import ManualClock
from partnerhub.domain.licenses import LicenseService
from partnerhub.repository.licenses import DynamoLicenseRepository
from partnerhub.settings import AgencyWebhookSettings
from testkit.events import load_event
from testkit.partners import SeededPartners
from tests.integration.conftest import Function


class Names:
    """A resolver the test points names with (the system's is never asked)."""

    def __init__(self) -> None:
        self.table: dict[str, list[str]] = {"hooks.agency-42.example": ["93.184.215.14"]}

    def __call__(self, host: str, port: int) -> list[str]:
        if host not in self.table:
            raise OSError(f"{host} does not resolve")
        return list(self.table[host])


@pytest.fixture(scope="module")
def names() -> Names:
    return Names()


def settings(aws: LocalResources, table: str, *, local: bool) -> AgencyWebhookSettings:
    return AgencyWebhookSettings(
        table_name=table,
        webhook_delivery_queue_url=aws.queue_urls["WebhookDeliveryQueue"],
        webhook_wake_queue_url=aws.queue_urls["WebhookWakeQueue"],
        webhook_allow_local_urls=local,
    )


@pytest.fixture(scope="module")
def endpoints(aws: LocalResources, function: Callable[..., Function], table: str, names: Names) -> Function:
    """The endpoints function as deployed (https, public addresses only)."""
    return function("webhook_endpoints", settings=settings(aws, table, local=False), resolver=names)


@pytest.fixture(scope="module")
def local_endpoints(aws: LocalResources, function: Callable[..., Function], table: str, names: Names) -> Function:
    """The endpoints function with the local stack's setting (http:// and 127.0.0.1 allowed)."""
    return function("webhook_endpoints", settings=settings(aws, table, local=True), resolver=names)


@pytest.fixture(scope="module")
def recorder(aws: LocalResources, function: Callable[..., Function], table: str) -> Function:
    return function("webhook_events", settings=settings(aws, table, local=True))


@pytest.fixture(scope="module")
def deliverer(aws: LocalResources, function: Callable[..., Function], table: str, names: Names) -> Function:
    return function("webhook_deliverer", settings=settings(aws, table, local=True), resolver=names)


@pytest.fixture
def receiver() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def create(fn: Function, partner: str, url: str, events: list[str] | None = None) -> Any:
    body = {"url": url, "events": events or ["*"]}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    return fn(load_event("webhook_endpoints/create", partner_id=partner, body=body, headers=key))


SAMPLES = ["create", "list", "get", "change", "rotate_secret", "deliveries", "events", "redeliver", "delete"]


@pytest.mark.parametrize("sample", SAMPLES)
def test_every_sample_event_answers(endpoints: Function, partner_id: str, sample: str, now: Any) -> None:
    # Given the partner's endpoint (the samples name one by id: each is pointed at this partner's)
    made = create(endpoints, partner_id, "https://hooks.agency-42.example/partnerhub")
    assert made.status == 201, made.body
    path = (
        {"endpoint_id": made.body["id"]}
        if sample in ("get", "change", "delete", "rotate_secret", "deliveries")
        else None
    )
    reply = endpoints(load_event(f"webhook_endpoints/{sample}", partner_id=partner_id, path=path))
    expected = {"create": 201, "delete": 204, "redeliver": 404}.get(
        sample, 200
    )  # the sample's event is not this partner's
    assert reply.status == expected, reply.body


def test_the_eleventh_endpoint_is_a_409_with_the_limit(endpoints: Function, partner_id: str, now: Any) -> None:
    for n in range(10):
        assert create(endpoints, partner_id, f"https://hooks.agency-42.example/{n}").status == 201
    refused = create(endpoints, partner_id, "https://hooks.agency-42.example/11")
    assert refused.status == 409
    assert refused.body["error"]["code"] == "webhook_endpoint_limit"
    assert refused.body["error"]["details"][0]["limit"] == 10
    listed = endpoints(load_event("webhook_endpoints/list", partner_id=partner_id)).body["items"]
    assert len(listed) == 10 and all("secret" not in item for item in listed)
    # deleting one makes room again
    gone = endpoints(
        load_event("webhook_endpoints/delete", partner_id=partner_id, path={"endpoint_id": listed[0]["id"]})
    )
    assert gone.status == 204
    assert create(endpoints, partner_id, "https://hooks.agency-42.example/11").status == 201


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.agency-42.example/in", "must be an https:// URL"),
        ("https://10.0.0.5/in", "10.0.0.5 resolves to 10.0.0.5, a private address"),
        ("https://169.254.169.254/latest/meta-data", "a cloud metadata address"),
        ("https://[fd00:ec2::254]/latest", "a cloud metadata address"),
        ("https://127.0.0.1/in", "a loopback address"),
        ("https://inside.agency-42.example/in", "inside.agency-42.example resolves to 10.20.30.40, a private address"),
        ("https://nowhere.agency-42.example/in", "nowhere.agency-42.example does not resolve"),
    ],
)
def test_a_url_that_does_not_reach_a_public_address_is_refused_when_saved(
    endpoints: Function, names: Names, partner_id: str, url: str, reason: str, now: Any
) -> None:
    names.table["inside.agency-42.example"] = ["93.184.215.14", "10.20.30.40"]
    for literal in ("10.0.0.5", "169.254.169.254", "fd00:ec2::254", "127.0.0.1"):
        names.table[literal] = [literal]
    refused = create(endpoints, partner_id, url)
    assert refused.status == 422, refused.body
    (detail,) = refused.body["error"]["details"]
    assert detail["field"] == "url" and reason in detail["reason"]
    assert endpoints(load_event("webhook_endpoints/list", partner_id=partner_id)).body["items"] == []


def feed_stream(recorder: Function, table: str, partner: str) -> dict[str, Any]:
    """Hand the partner's stream records written so far to the events function, as its event source does."""
    records = [r for r in take_records(table) if r["dynamodb"]["Keys"]["PK"]["S"] == f"PARTNER#{partner}"]
    result: dict[str, Any] = recorder.invoke({"Records": records})
    return result


def deliver_queued(aws: LocalResources, deliverer: Function) -> int:
    """Hand every message waiting on the delivery queue to the deliverer, one per invocation (BatchSize 1)."""
    sqs = boto3.client("sqs")
    url = aws.queue_urls["WebhookDeliveryQueue"]
    handed = 0
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"]).get("Messages"):
        result = deliverer.invoke(sqs_event(messages, aws.queue_arns["WebhookDeliveryQueue"]))
        assert result == {"batchItemFailures": []}
        sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
        handed += 1
    return handed


def test_a_license_command_becomes_a_signed_delivery(
    aws: LocalResources,
    local_endpoints: Function,
    recorder: Function,
    deliverer: Function,
    table: str,
    clock: ManualClock,
    partners: SeededPartners,
    partner_id: str,
    receiver: tuple[int, list[dict[str, Any]]],
    names: Names,
    now: Any,
) -> None:
    port, seen = receiver
    names.table["hooks.local.example"] = ["127.0.0.1"]
    # Given an endpoint for license events and a partner in good standing
    made = create(local_endpoints, partner_id, f"http://hooks.local.example:{port}/in", ["license.*"])
    assert made.status == 201, made.body
    secret = made.body["secret"]
    partners.set_has_payment_method(partner_id, True)
    take_records(table)  # what came before this test is not its business
    # When a license is issued and revoked, and the table's stream is handed to the events function
    licenses = LicenseService(DynamoLicenseRepository(table, clients.dynamodb()), clock)
    (issued,) = licenses.issue(partner_id, "jetpack-backup", 1, "user:t", receipt_id=f"r-{uuid.uuid4().hex}")
    licenses.revoke(partner_id, issued.license_key, "user:t")
    assert feed_stream(recorder, table, partner_id) == {"batchItemFailures": []}
    # Then both events are in the partner's log, newest first
    listed = local_endpoints(load_event("webhook_endpoints/events", partner_id=partner_id, query={})).body["items"]
    assert [e["type"] for e in listed] == ["license.revoked", "license.issued"]
    # and the deliverer posts each, signed: the library verifies them against the secret, at the test's clock
    assert deliver_queued(aws, deliverer) == 2
    assert [json.loads(s["body"])["type"] for s in seen] == ["license.issued", "license.revoked"]
    for delivery in seen:
        expected = Webhook(secret).sign(delivery["headers"]["webhook-id"], now, delivery["body"])
        assert expected in delivery["headers"]["webhook-signature"].split(" ")
        assert delivery["headers"]["host"] == f"hooks.local.example:{port}"
    assert json.loads(seen[1]["body"])["data"]["license_key"] == issued.license_key
    # and the deliveries log says so
    log = local_endpoints(
        load_event("webhook_endpoints/deliveries", partner_id=partner_id, path={"endpoint_id": made.body["id"]})
    ).body["items"]
    assert [(d["status"], d["attempt"], d["status_code"]) for d in log] == [("delivered", 1, 200)] * 2
    # The same records handed over again (the stream retries a batch) record nothing and send nothing
    assert deliver_queued(aws, deliverer) == 0


def test_a_name_moved_to_a_private_address_after_saving_is_refused_at_delivery(
    aws: LocalResources,
    local_endpoints: Function,
    recorder: Function,
    deliverer: Function,
    table: str,
    partners: SeededPartners,
    partner_id: str,
    receiver: tuple[int, list[dict[str, Any]]],
    names: Names,
    now: Any,
) -> None:
    port, seen = receiver
    host = f"rebind-{uuid.uuid4().hex[:6]}.example"
    names.table[host] = ["127.0.0.1"]
    made = create(local_endpoints, partner_id, f"http://{host}:{port}/in", ["account.*"])
    assert made.status == 201, made.body
    take_records(table)
    # When the name now answers the metadata service's address, and the partner's standing changes
    names.table[host] = ["169.254.169.254"]
    partners.set_has_payment_method(partner_id, True)
    feed_stream(recorder, table, partner_id)
    assert deliver_queued(aws, deliverer) == 1
    # Then nothing was sent, and the deliveries log says why
    assert seen == []
    (delivery,) = local_endpoints(
        load_event("webhook_endpoints/deliveries", partner_id=partner_id, path={"endpoint_id": made.body["id"]})
    ).body["items"]
    assert delivery["status"] == "pending" and delivery["attempt"] == 1
    assert delivery["error"] == (
        f"{host} resolves to 169.254.169.254, a cloud metadata address: deliveries go to public addresses only"
    )


def test_the_sample_stream_event_is_processed(recorder: Function, table: str, now: Any) -> None:
    # events/webhook_events/table_changes.json: a revocation and a new card of a partner without endpoints
    event = load_event("webhook_events/table_changes")
    assert recorder.invoke(event) == {"batchItemFailures": []}
