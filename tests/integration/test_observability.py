"""One metric per business event, and logs that say whose request it was: the licenses function over its real
handler and the sample events in events/licenses/, against moto, with metrics on. Powertools prints each
invocation's metrics as one CloudWatch EMF document on stdout; a replay or a refusal is no business event."""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from partnerhub.observability import logger, metrics
from testkit.events import load_event
from tests.integration.conftest import Function

SITE = {"site_id": "2001", "site_url": "https://bakery.example"}


@pytest.fixture
def licenses(function: Callable[[str], Function]) -> Function:
    return function("licenses")


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[[], dict[str, float]]:
    """``emitted()``: the metrics printed since the last call, by name (values summed over the documents)."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.clear_metrics()  # what earlier tests added with metrics off (a disabled flush keeps them)
    capsys.readouterr()

    def read() -> dict[str, float]:
        found: Counter[str] = Counter()
        for line in capsys.readouterr().out.splitlines():
            if not line.startswith('{"_aws"'):
                continue
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    found[metric["Name"]] += sum(document[metric["Name"]])
        return dict(found)

    return read


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """What the functions log (JSON lines) at INFO while the test runs."""
    buffer, handler, level = io.StringIO(), logger.registered_handler, logger.log_level
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(buffer)
    logger.setLevel("INFO")
    try:
        yield buffer
    finally:
        handler.setStream(previous)
        logger.setLevel(level)


def issue(licenses: Function, partner: str, quantity: int, key: str | None = None) -> dict[str, Any]:
    headers = {"Idempotency-Key": key} if key else None
    return load_event(
        "licenses/issue",
        partner_id=partner,
        body={"product": "jetpack-backup", "quantity": quantity},
        headers=headers,
        drop_headers=() if key else ("idempotency-key",),
    )


def test_issuing_counts_the_licenses_issued_and_a_replay_counts_nothing(
    licenses: Function, paying_partner: str, emitted: Callable[[], dict[str, float]]
) -> None:
    # Given a partner with a card, When it issues three licenses with an Idempotency-Key
    first = licenses(issue(licenses, paying_partner, 3, key=f"order-{paying_partner}"))
    # Then one metric says three were issued
    assert first.status == 201, first.body
    assert emitted() == {"LicensesIssued": 3}
    # When the same request is sent again (a client's retry), Then it is answered again and counts nothing
    again = licenses(issue(licenses, paying_partner, 3, key=f"order-{paying_partner}"))
    assert again.status == 201 and again.body == first.body
    assert emitted() == {}


def test_a_refused_issue_counts_nothing(
    licenses: Function, partner_id: str, emitted: Callable[[], dict[str, float]]
) -> None:
    # Given a partner without a card, When it asks for a license, Then it is refused and nothing is counted
    reply = licenses(issue(licenses, partner_id, 1))
    assert reply.status == 402, reply.body
    assert emitted() == {}


def test_an_assignment_and_a_revocation_count_one_each(
    licenses: Function, paying_partner: str, emitted: Callable[[], dict[str, float]]
) -> None:
    # Given a license
    key = licenses(issue(licenses, paying_partner, 1)).body["items"][0]["license_key"]
    assert emitted() == {"LicensesIssued": 1}
    # When it is assigned to a site, Then one assignment is counted
    assigned = licenses(load_event("licenses/assign", partner_id=paying_partner, path={"license_key": key}, body=SITE))
    assert assigned.status == 200, assigned.body
    assert emitted() == {"LicensesAssigned": 1}
    # When it is revoked, Then one revocation is counted
    revoked = licenses(load_event("licenses/revoke", partner_id=paying_partner, path={"license_key": key}))
    assert revoked.status == 200, revoked.body
    assert emitted() == {"LicensesRevoked": 1}


def test_the_issue_is_logged_with_the_partner_and_the_requests_correlation_id(
    licenses: Function, paying_partner: str, logs: io.StringIO
) -> None:
    # When a partner issues two licenses
    event = issue(licenses, paying_partner, 2)
    assert licenses(event).status == 201
    # Then the line that says so names the partner, the count and API Gateway's request id
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    (line,) = [entry for entry in lines if entry["message"] == "licenses issued"]
    assert (line["partner_id"], line["count"]) == (paying_partner, 2)
    assert line["correlation_id"] == event["requestContext"]["requestId"]
