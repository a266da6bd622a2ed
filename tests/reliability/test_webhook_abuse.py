"""Abuse of the unauthenticated webhook route: forged, stale, oversized, malformed or unsigned payloads are
400 and leave no trace; a replayed (already processed) event is 200 ``duplicate`` and is not processed again,
which is what Stripe expects of an endpoint (a non-2xx would make it retry for days)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime

import pytest

from local.stripe_emulator.webhooks import sign
from partnerhub.repository import keys
from tests.reliability.conftest import LocalStack, Table

SECRET = "whsec_local"  # the local stack's webhook signing secret
PATH = "/v1/webhooks/stripe"


def event(event_id: str) -> bytes:
    body = {
        "id": event_id,
        "object": "event",
        "type": "invoice.payment_failed",
        "api_version": "2026-10-28.endive",
        "created": 1,
        "livemode": False,
        "data": {"object": {"id": f"in_{uuid.uuid4().hex[:14]}", "object": "invoice", "customer": "cus_nobody"}},
    }
    return json.dumps(body).encode()


def stack_time(stack: LocalStack) -> int:
    return int(datetime.fromisoformat(stack.now().replace("Z", "+00:00")).timestamp())


def record(table: Table, event_id: str) -> list[dict[str, object]]:
    """The event's idempotency record (Powertools', keyed on the event id), if any."""
    sort_key = keys.stripe_event_sk(event_id)
    return [item for item in table.partition(keys.STRIPE_EVENTS) if item["SK"]["S"] == sort_key]


def forged(stack: LocalStack, body: bytes) -> dict[str, str]:
    return {"Stripe-Signature": sign(body, "whsec_someone_else", stack_time(stack))}


def stale(stack: LocalStack, body: bytes) -> dict[str, str]:
    return {"Stripe-Signature": sign(body, SECRET, stack_time(stack) - 3600)}


def garbled(stack: LocalStack, body: bytes) -> dict[str, str]:
    return {"Stripe-Signature": "t=yesterday,v1=zz"}


def unsigned(stack: LocalStack, body: bytes) -> dict[str, str]:
    return {}


ABUSES: dict[str, tuple[Callable[[str], bytes], Callable[[LocalStack, bytes], dict[str, str]]]] = {
    "forged signature": (event, forged),
    "stale timestamp": (event, stale),
    "malformed signature header": (event, garbled),
    "missing signature": (event, unsigned),
    "oversized body": (lambda eid: event(eid)[:-1] + b', "pad": "' + b"x" * 300_000 + b'"}', None),  # type: ignore[dict-item]
    "malformed JSON, correctly signed": (lambda eid: b'{"id": "' + eid.encode() + b'", "type": ', None),  # type: ignore[dict-item]
    "JSON without an event shape, correctly signed": (lambda eid: json.dumps({"hello": eid}).encode(), None),  # type: ignore[dict-item]
}


@pytest.mark.parametrize("abuse", list(ABUSES))
def test_abusive_payload_is_400_and_changes_nothing(stack: LocalStack, table: Table, abuse: str) -> None:
    event_id = f"evt_{uuid.uuid4().hex[:20]}"
    make_body, make_headers = ABUSES[abuse]
    body = make_body(event_id)
    headers = (make_headers or (lambda s, b: {"Stripe-Signature": sign(b, SECRET, stack_time(s))}))(stack, body)

    reply = stack.anonymous.post(PATH, data=body, headers={"Content-Type": "application/json", **headers})

    assert reply.status_code == 400, reply.text
    assert set(reply.json()) == {"error"}
    assert record(table, event_id) == []


def test_replayed_event_is_acknowledged_once_and_not_processed_again(stack: LocalStack, table: Table) -> None:
    event_id = f"evt_{uuid.uuid4().hex[:20]}"
    body = event(event_id)

    def deliver() -> dict[str, object]:
        headers = {"Content-Type": "application/json", "Stripe-Signature": sign(body, SECRET, stack_time(stack))}
        reply = stack.anonymous.post(PATH, data=body, headers=headers)
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    first = deliver()
    after_first = record(table, event_id)
    second = deliver()

    assert first == {"received": True}
    assert second == {"received": True, "duplicate": True}
    assert len(after_first) == 1
    assert record(table, event_id) == after_first
