"""What the local stack adds for webhooks to agencies: the table's stream fed to its function as Lambda's event
source does (both images, in order, filtered, batch item failures retried, nothing kept once taken, nothing left by
a cancelled transaction), ``rate(...)`` schedules on the stack's clock, names pointed with ``/_local/dns``, and
delayed SQS messages left to the pollers rather than waited for."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws

from local import fast_dynamodb
from local.controls import SqsDrainer
from local.gateway import FunctionError
from local.schedules import LocalResolver, RateScheduler
from local.streams import FilterError, StreamPoller, matches, take_records
from local.template import RateSchedule, SqsSource, StreamSource, parse_rate
from testkit.stack import LocalStack

ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
PATTERN = '{"dynamodb": {"Keys": {"SK": {"S": [{"prefix": "LICENSE#"}, "PROFILE"]}}}}'


class Host:
    """Stands in for the stack's function host: keeps each event, answers what it is told."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.answers: list[Any] = []

    def invoke(self, function_id: str, event: Any) -> Any:
        self.events.append(json.loads(json.dumps(event)))
        answer = self.answers.pop(0) if self.answers else {"batchItemFailures": []}
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def aws() -> Iterator[Any]:
    fast_dynamodb.install()
    with mock.patch.dict(os.environ, ENV), mock_aws():
        os.environ.pop("AWS_ENDPOINT_URL", None)
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "PK", "AttributeType": "S"},
                {"AttributeName": "SK", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        try:
            yield client
        finally:
            # moto resets its accounts only when no other mock is active; run with tests/integration, whose
            # session-wide mock stays active, the next test would find this table (and its stream) still there.
            client.delete_table(TableName="t")


def put(client: Any, sk: str, value: int) -> None:
    client.put_item(TableName="t", Item={"PK": {"S": "PARTNER#p"}, "SK": {"S": sk}, "v": {"N": str(value)}})


def poller(
    host: Host, *, batch_size: int = 100, retries: int = 2, filters: tuple[str, ...] = (PATTERN,)
) -> StreamPoller:
    source = StreamSource("Fn", "Changes", "Table", batch_size, True, retries, filters)
    return StreamPoller(host, [source], {"Table": "t"}, {"Table": "arn:stream"}, log=lambda line: None)  # type: ignore[arg-type]


def test_the_stream_hands_over_each_write_with_both_images_in_order(aws: Any) -> None:
    # Given a license item written twice, a profile written, and an item no filter names
    put(aws, "LICENSE#k", 1)
    put(aws, "LICENSE#k", 2)
    put(aws, "PROFILE", 1)
    put(aws, "ISSUE#r", 1)
    host = Host()
    # When the poller drains, two records a batch
    assert poller(host, batch_size=2).drain() == 3
    # Then the function got the three it asked for, in order, as Lambda's DynamoDB event
    records = [r for event in host.events for r in event["Records"]]
    assert [len(e["Records"]) for e in host.events] == [2, 1]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["SK"]["S"]) for r in records] == [
        ("INSERT", "LICENSE#k"),
        ("MODIFY", "LICENSE#k"),
        ("INSERT", "PROFILE"),
    ]
    assert records[1]["dynamodb"]["OldImage"]["v"] == {"N": "1"}
    assert records[1]["dynamodb"]["NewImage"]["v"] == {"N": "2"}
    assert all(r["eventSourceARN"] == "arn:stream" for r in records)
    assert isinstance(records[0]["dynamodb"]["ApproximateCreationDateTime"], float)
    sequences = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert sequences == sorted(sequences)
    # and moto keeps none of them: the next write is the next record, with the next sequence number
    assert take_records("t") == []
    put(aws, "LICENSE#k", 3)
    (later,) = take_records("t")
    assert int(later["dynamodb"]["SequenceNumber"]) > sequences[-1]


@pytest.mark.parametrize("plain", [False, True], ids=["fast", "plain moto"])
def test_a_cancelled_transaction_leaves_no_stream_record(aws: Any, plain: bool) -> None:
    put(aws, "LICENSE#taken", 1)
    take_records("t")
    # When a transaction writes one item and then fails its second item's condition (on this layer and plain moto)
    with (
        fast_dynamodb.plain_moto() if plain else contextlib.nullcontext(),
        pytest.raises(aws.exceptions.TransactionCanceledException),
    ):
        aws.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": {"PK": {"S": "PARTNER#p"}, "SK": {"S": "LICENSE#new"}}}},
                {
                    "Put": {
                        "TableName": "t",
                        "Item": {"PK": {"S": "PARTNER#p"}, "SK": {"S": "LICENSE#taken"}},
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
        )
    # Then neither the item nor a record of it is left
    assert "Item" not in aws.get_item(TableName="t", Key={"PK": {"S": "PARTNER#p"}, "SK": {"S": "LICENSE#new"}})
    assert take_records("t") == []


def test_a_failed_record_is_retried_from_where_it_failed_then_given_up(aws: Any) -> None:
    for n in range(3):
        put(aws, f"LICENSE#{n}", n)
    host = Host()
    first = take_records("t")  # to learn the sequence numbers moto gives them
    second = first[1]["dynamodb"]["SequenceNumber"]
    for n in range(3):
        put(aws, f"LICENSE#{n}", 10 + n)
    # Given the function reports the second record failed once, then fails outright twice more
    host.answers = [
        {"batchItemFailures": [{"itemIdentifier": str(int(second) + 3)}]},
        {"batchItemFailures": []},
    ]
    assert poller(host).drain() == 3
    # Then the retry began at the failed record: the first was not handed over again
    assert [len(e["Records"]) for e in host.events] == [3, 2]
    host.events.clear()
    put(aws, "LICENSE#x", 1)
    host.answers = [FunctionError("boom"), FunctionError("boom"), FunctionError("boom")]
    # and a record that keeps failing is given up after MaximumRetryAttempts, so later ones are not stuck
    assert poller(host, retries=2).drain() == 0
    assert len(host.events) == 3
    put(aws, "LICENSE#y", 1)
    assert poller(host).drain() == 1


def test_filter_patterns_as_lambda_reads_them() -> None:
    record = {"dynamodb": {"Keys": {"SK": {"S": "LICENSE#k#H#0001"}}}}
    assert matches(record, json.loads(PATTERN))
    assert not matches({"dynamodb": {"Keys": {"SK": {"S": "TALLY#2026-11"}}}}, json.loads(PATTERN))
    assert matches({"dynamodb": {"Keys": {"SK": {"S": "PROFILE"}}}}, json.loads(PATTERN))
    assert not matches({"dynamodb": {}}, json.loads(PATTERN))
    with pytest.raises(FilterError):
        matches(record, {"dynamodb": {"Keys": {"SK": {"S": [{"anything-but": "x"}]}}}})


def test_rate_schedules_run_as_the_stack_clock_enters_each_period_and_when_it_moves() -> None:
    from partnerhub.clock import ManualClock

    clock = ManualClock(datetime(2027, 1, 4, 9, 0, 30, tzinfo=UTC))
    host = Host()
    schedules = RateScheduler(host, [RateSchedule("Sweep", "EveryMinute", timedelta(minutes=1))], clock)  # type: ignore[arg-type]
    assert schedules.run_due() == 0  # still the minute it started in
    clock.advance(timedelta(seconds=29))
    assert schedules.run_due() == 0
    clock.advance(timedelta(seconds=1))  # 09:01:00
    assert schedules.run_due() == 1
    assert schedules.run_due() == 0
    assert schedules.run_all() == 1  # the clock was moved: run now
    assert host.events == [{}, {}]
    assert (parse_rate("rate(1 minute)"), parse_rate("rate(5 minutes)"), parse_rate("rate(2 hours)")) == (
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(hours=2),
    )
    assert parse_rate("cron(15 0 1 * ? *)") is None


def test_the_local_resolver_answers_what_it_was_told_first() -> None:
    names = LocalResolver(fallback=lambda host, port: ["93.184.215.14"])
    assert names("hooks.example", 443) == ["93.184.215.14"]
    names.point("Hooks.Example", ["127.0.0.1", "::1"])
    assert names("hooks.example", 443) == ["127.0.0.1", "::1"]
    names.forget("hooks.example")
    assert names("hooks.example", 443) == ["93.184.215.14"]
    with pytest.raises(ValueError):
        names.point("hooks.example", ["not-an-address"])


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"host": "h.example"},
        {"host": "", "addresses": ["127.0.0.1"]},
        {"host": "h.example", "addresses": []},
        {"host": "h.example", "addresses": ["localhost"]},
        {"host": "h.example", "addresses": "127.0.0.1"},
    ],
)
def test_the_dns_control_refuses_what_it_cannot_use(stack: LocalStack, body: dict[str, Any]) -> None:
    reply = stack.anonymous.post("/_local/dns", json=body)
    assert reply.status_code == 422, reply.text


def test_the_dns_control_points_and_forgets_a_name(stack: LocalStack) -> None:
    pointed = stack.anonymous.post("/_local/dns", json={"host": "ctl.agency.test", "addresses": ["10.9.8.7"]})
    assert pointed.json()["overrides"]["ctl.agency.test"] == ["10.9.8.7"]
    forgot = stack.anonymous.post("/_local/dns", json={"host": "ctl.agency.test", "addresses": None})
    assert "ctl.agency.test" not in forgot.json()["overrides"]


def test_a_delayed_message_is_left_to_the_pollers_not_waited_for() -> None:
    with mock.patch.dict(os.environ, ENV), mock_aws():
        os.environ.pop("AWS_ENDPOINT_URL", None)
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="wake")["QueueUrl"]
        host = Host()
        source = SqsSource("Fn", "Wake", "WakeQueue", batch_size=10)
        drainer = SqsDrainer(
            host, [source], {"WakeQueue": url}, {"WakeQueue": "arn:wake"}, lambda: sqs, log=lambda s: None
        )  # type: ignore[arg-type]
        sqs.send_message(QueueUrl=url, MessageBody="now")
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
        # When the queue is drained while one message is still delayed
        stats = drainer.drain(source, time_limit=30)
        # Then the drain ends with what was there, complete, and the delayed one is not waiting yet
        assert [r["body"] for e in host.events for r in e["Records"]] == ["now"]
        assert stats.complete and drainer.waiting(source) == 0
        # and once SQS shows it, the next drain takes it
        deadline = time.monotonic() + 10
        while drainer.waiting(source) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        drainer.drain(source, time_limit=30)
        assert [r["body"] for e in host.events for r in e["Records"]] == ["now", "later"]
