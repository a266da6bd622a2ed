"""Webhook delivery: signed for stripe.Webhook.construct_event, in order, retried, held and reshuffled."""

from __future__ import annotations

import json
import time
from typing import Any

import requests
import stripe

from local.stripe_emulator import Emulator, RunningServer

SECRET = "whsec_test_secret"  # the secret the emulator fixture signs with
Receiver = Any


def _wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_events_are_delivered_signed_and_in_order(
    client: stripe.StripeClient, emulator: Emulator, receiver: Receiver
) -> None:
    """https://docs.stripe.com/webhooks#verify-official-libraries: every delivery carries a ``Stripe-Signature``
    the official library verifies."""
    # Given some state changes
    customer = client.v1.customers.create({"name": "Ada"})
    client.v1.customers.update(customer.id, {"email": "ada@example.com"})
    # When the emulator has sent them
    assert emulator.wait_for_webhooks()
    # Then each verifies with the SDK against the signing secret, in the order they happened
    verified = [
        stripe.Webhook.construct_event(item["body"].decode(), item["signature"], SECRET) for item in receiver.received
    ]
    assert [e.type for e in verified] == ["customer.created", "customer.updated"]
    assert verified[1].data.object.email == "ada@example.com"
    assert verified[1].data.previous_attributes.email is None
    assert verified[0].request.idempotency_key is not None
    # And the events API has the same events
    assert [e.id for e in client.v1.events.list({"type": "customer.*"}).data] == [e.id for e in verified][::-1]
    assert client.v1.events.retrieve(verified[0].id).type == "customer.created"


def test_failed_delivery_is_retried(client: stripe.StripeClient, emulator: Emulator, receiver: Receiver) -> None:
    # Given an endpoint that fails the next two deliveries
    receiver.fail_next = 2
    # When an event is recorded
    client.v1.customers.create({"name": "Ada"})
    assert emulator.wait_for_webhooks()
    # Then it arrives on the third attempt
    attempts = emulator.delivery_attempts()
    assert [(a["attempt"], a["status"], a["delivered"]) for a in attempts] == [
        (1, 500, False),
        (2, 500, False),
        (3, 200, True),
    ]
    assert len(receiver.received) == 1


def test_unreachable_endpoint_gives_up_after_bounded_attempts(clock: Any) -> None:
    emulator = Emulator(
        clock,
        webhook_url="http://127.0.0.1:9/unreachable",
        webhook_secret=SECRET,
        webhook_max_attempts=3,
        webhook_backoff_s=0.001,
    )
    try:
        emulator.webhooks.enqueue([{"id": "evt_x", "type": "customer.created"}])
        assert emulator.wait_for_webhooks()
        attempts = emulator.delivery_attempts()
        assert len(attempts) == 3 and all(a["error"] for a in attempts)
    finally:
        emulator.close()


def test_held_events_released_shuffled_and_duplicated(
    client: stripe.StripeClient, emulator: Emulator, receiver: Receiver
) -> None:
    """https://docs.stripe.com/webhooks#event-ordering and #handle-duplicate-events: Stripe does not guarantee
    order and may deliver an event more than once; the controls reproduce both."""
    # Given deliveries are held while several events happen
    emulator.hold_webhooks()
    for name in ("a", "b", "c", "d"):
        client.v1.customers.create({"name": name})
    emulator.wait_for_webhooks()
    assert receiver.received == []
    recorded = [e["id"] for e in emulator.events()]
    # When they are released shuffled (seeded), each twice
    released = emulator.release_webhooks("shuffled", seed=5, duplicate=True)
    assert emulator.wait_for_webhooks()
    # Then every event arrived twice, adjacent, in a reproducible non-chronological order
    got = receiver.event_ids()
    assert released == 8 and sorted(got) == sorted(recorded * 2)
    assert got[::2] == got[1::2]
    assert got[::2] != recorded
    # And redelivering one sends it once more
    emulator.redeliver(recorded[0])
    assert emulator.wait_for_webhooks()
    assert receiver.event_ids()[-1] == recorded[0]


def test_webhook_controls_over_http(
    server: RunningServer, client: stripe.StripeClient, emulator: Emulator, receiver: Receiver
) -> None:
    assert requests.post(f"{server.url}/_emulator/webhooks/hold", json={}, timeout=5).json()["holding"] is True
    client.v1.customers.create({"name": "a"})
    client.v1.customers.create({"name": "b"})
    status = requests.get(f"{server.url}/_emulator/webhooks", timeout=5).json()
    assert status["held"] == 2
    released = requests.post(f"{server.url}/_emulator/webhooks/release", json={"order": "reversed"}, timeout=5)
    assert released.json() == {"released": 2}
    _wait_for(lambda: len(receiver.received) == 2)
    order = receiver.event_ids()
    assert order == [e["id"] for e in emulator.events()][::-1]
    redelivered = requests.post(f"{server.url}/_emulator/webhooks/redeliver", json={"event": order[0]}, timeout=5)
    assert redelivered.status_code == 200
    _wait_for(lambda: len(receiver.received) == 3)
    attempts = requests.get(f"{server.url}/_emulator/webhooks/attempts", timeout=5).json()["attempts"]
    assert [a["event_id"] for a in attempts] == [*order, order[0]]
    assert json.loads(receiver.received[0]["body"])["object"] == "event"
