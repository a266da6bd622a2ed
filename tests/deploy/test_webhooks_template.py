"""Webhooks to agencies as CloudFormation receives them: events from the table's stream with a failure destination,
a FIFO delivery queue grouped by endpoint with its dead-letter queue, one attempt per invocation, the due index's
sweep every minute and on wake-ups, alarms that say when each goes wrong (and when it is well again), and no
deployed function that may deliver to a local address."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.deploy.cfn import resources_of, transformed

WEBHOOK_FUNCTIONS = (
    "WebhookEndpointsFunction",
    "WebhookEventsFunction",
    "WebhookDelivererFunction",
    "WebhookSchedulerFunction",
)


@pytest.fixture(scope="module")
def cfn() -> Any:
    return transformed()


def mappings(cfn: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """The event source mappings of ``function``'s events."""
    found = resources_of(cfn, "AWS::Lambda::EventSourceMapping")
    return [m["Properties"] for m in found.values() if m["Properties"]["FunctionName"] == {"Ref": function}]


def alarm_on(cfn: dict[str, Any], metric: str, queue: str) -> dict[str, Any]:
    (props,) = [
        a["Properties"]
        for a in resources_of(cfn, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == metric  # (an alarm on metric math names none)
        and {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}} in a["Properties"].get("Dimensions", [])
    ]
    return props


def test_events_come_from_the_tables_stream_with_both_images(cfn: dict[str, Any]) -> None:
    # Given the table and the events function's stream source
    table = cfn["Resources"]["Table"]["Properties"]
    (source,) = mappings(cfn, "WebhookEventsFunction")
    # Then every write's before and after reach the function, failures are reported record by record, and what still
    # fails after the retries lands on a queue someone is told about
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert source["EventSourceArn"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["BisectBatchOnFunctionError"] is True
    failure = source["DestinationConfig"]["OnFailure"]["Destination"]
    assert failure == {"Fn::GetAtt": ["WebhookEventsFailureQueue", "Arn"]}
    assert alarm_on(cfn, "ApproximateNumberOfMessagesVisible", "WebhookEventsFailureQueue")["Threshold"] == 1
    # and only the items events are made of wake the function
    (pattern,) = [json.loads(f["Pattern"]) for f in source["FilterCriteria"]["Filters"]]
    assert pattern == {
        "dynamodb": {
            "Keys": {"SK": {"S": [{"prefix": "LICENSE#"}, {"prefix": "INVOICE#"}, {"prefix": "CARD#"}, "PROFILE"]}}
        }
    }


def test_deliveries_go_one_attempt_at_a_time_through_a_fifo_queue_with_a_dead_letter_queue(cfn: dict[str, Any]) -> None:
    res = cfn["Resources"]
    queue = res["WebhookDeliveryQueue"]["Properties"]
    dead = res["WebhookDeliveryDeadLetterQueue"]["Properties"]
    (source,) = mappings(cfn, "WebhookDelivererFunction")
    # One message group per endpoint needs a FIFO queue; its dead letters need a FIFO queue too
    assert queue["FifoQueue"] is True and dead["FifoQueue"] is True
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["WebhookDeliveryDeadLetterQueue", "Arn"]}
    # A message waits out a whole attempt: six times the deliverer's timeout, as Lambda advises
    timeout = res["WebhookDelivererFunction"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    # One attempt per invocation, so a slow endpoint never holds another's message in its batch
    assert source["EventSourceArn"] == {"Fn::GetAtt": ["WebhookDeliveryQueue", "Arn"]}
    assert source["BatchSize"] == 1
    assert source["ScalingConfig"]["MaximumConcurrency"] >= 2
    # and the dead letters and a backlog alarm
    assert alarm_on(cfn, "ApproximateNumberOfMessagesVisible", "WebhookDeliveryDeadLetterQueue")["Threshold"] == 1
    assert alarm_on(cfn, "ApproximateAgeOfOldestMessage", "WebhookDeliveryQueue")["Threshold"] == 900


def test_retries_are_swept_every_minute_and_on_wake_ups(cfn: dict[str, Any]) -> None:
    schedules = [
        s["Properties"]
        for s in resources_of(cfn, "AWS::Scheduler::Schedule").values()
        if s["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": ["WebhookSchedulerFunction", "Arn"]}
    ]
    assert [s["ScheduleExpression"] for s in schedules] == ["rate(1 minute)"]
    (wake,) = mappings(cfn, "WebhookSchedulerFunction")
    assert wake["EventSourceArn"] == {"Fn::GetAtt": ["WebhookWakeQueue", "Arn"]}
    # The wake-up queue takes delays up to SQS's 15 minutes: it must not add one of its own
    assert "DelaySeconds" not in cfn["Resources"]["WebhookWakeQueue"]["Properties"]


def test_every_webhook_alarm_also_says_when_it_is_over(cfn: dict[str, Any]) -> None:
    names = {json.dumps({"Ref": f}) for f in WEBHOOK_FUNCTIONS} | {
        json.dumps({"Fn::GetAtt": [q, "QueueName"]})
        for q in ("WebhookDeliveryQueue", "WebhookDeliveryDeadLetterQueue", "WebhookEventsFailureQueue")
    }
    alarms = [
        a["Properties"]
        for a in resources_of(cfn, "AWS::CloudWatch::Alarm").values()
        if any(json.dumps(d["Value"]) in names for d in a["Properties"].get("Dimensions", []))
    ]
    # errors and throttles of each, the queues', and the endpoints function's release alarm
    assert len(alarms) == 2 * len(WEBHOOK_FUNCTIONS) + 3 + 1
    for props in alarms:
        assert props["AlarmActions"] == props["OKActions"] == [{"Ref": "AlarmTopic"}], props["AlarmName"]


def test_no_deployed_function_may_deliver_to_a_local_address(cfn: dict[str, Any]) -> None:
    # The local stack's setting (http:// and 127.0.0.1) is set by the local stack's process, never the template:
    # deployed, AgencyWebhookSettings keeps its default, False (tests/unit/test_webhook_addresses.py).
    for name, function in resources_of(cfn, "AWS::Lambda::Function").items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        assert "WEBHOOK_ALLOW_LOCAL_URLS" not in variables, name
