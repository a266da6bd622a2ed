"""Webhook delivery: signed for stripe.Webhook.construct_event, concurrent and unordered, retried, held and
reshuffled. https://docs.stripe.com/webhooks"""

from __future__ import annotations

import json
import time
from typing import Any

import requests
import stripe

from local.stripe_emulator import Emulator, RunningServer

SECRET = "whsec_test_secret"  # the secret the emulator fixture signs with
Receiver = Any


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_every_event_is_delivered_signed(client: stripe.StripeClient, emulator: Emulator, receiver: Receiver) -> None:
    """https://docs.stripe.com/webhooks#verify-official-libraries: every delivery carries a ``Stripe-Signature``
    the official library verifies."""
    # Given some state changes
    customer = client.v1.customers.create({"name": "Ada"})
    client.v1.customers.update(customer.id, {"email": "ada@example.com"})
    # When the emulator has sent them
    assert emulator.wait_for_webhooks()
    # Then each verifies with the SDK against the signing secret, and each event came once
    verified = {
        e.id: e
        for e in (
            stripe.Webhook.construct_event(item["body"].decode(), item["signature"], SECRET)
            for item in receiver.received
        )
    }
    assert sorted(e.type for e in verified.values()) == ["customer.created", "customer.updated"]
    (updated,) = [e for e in verified.values() if e.type == "customer.updated"]
    assert updated.data.object.email == "ada@example.com" and updated.data.previous_attributes.email is None
    assert all(e.request.idempotency_key is not None for e in verified.values())
    # And the events API has the same events, newest first
    listed = [e.id for e in client.v1.events.list({"type": "customer.*"}).data]
    assert sorted(listed) == sorted(verified) and client.v1.events.retrieve(listed[-1]).type == "customer.created"


def test_deliveries_are_concurrent_and_in_no_particular_order_by_default(
    client: stripe.StripeClient, emulator: Emulator, receiver: Receiver
) -> None:
    """https://docs.stripe.com/webhooks#event-ordering: "Stripe doesn't guarantee the delivery of events in the
    order that they're generated"; the endpoint sees deliveries overlap, as Stripe sends them concurrently."""
    # Given an endpoint that takes a moment to answer
    receiver.delay_s = 0.05
    # When twelve events happen one after another
    made = [client.v1.customers.create({"name": f"c{n}"}).id for n in range(12)]
    assert emulator.wait_for_webhooks(timeout=20)
    # Then every one arrived, several were in flight at once, and not in the order they happened
    arrived = [json.loads(item["body"])["data"]["object"]["id"] for item in receiver.received]
    assert sorted(arrived) == sorted(made)
    assert receiver.most_in_flight > 1
    assert arrived != made


def test_ordered_delivery_is_one_at_a_time_oldest_first(
    client: stripe.StripeClient, emulator: Emulator, receiver: Receiver
) -> None:
    """The emulator's control for a test that is about something else and needs the order (Stripe has none)."""
    emulator.configure_webhook(ordered=True)
    receiver.delay_s = 0.02
    made = [client.v1.customers.create({"name": f"c{n}"}).id for n in range(6)]
    assert emulator.wait_for_webhooks(timeout=20)
    arrived = [json.loads(item["body"])["data"]["object"]["id"] for item in receiver.received]
    assert arrived == made and receiver.most_in_flight == 1


def test_failed_delivery_is_retried(client: stripe.StripeClient, emulator: Emulator, receiver: Receiver) -> None:
    """https://docs.stripe.com/webhooks#retries: an endpoint that does not answer 2xx is retried with backoff."""
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
    order and may deliver an event more than once; the controls reproduce both on demand. Ordered delivery here,
    because the order a release chose is what this test checks."""
    emulator.configure_webhook(ordered=True)
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
    """The same controls over HTTP; ordered, because the reversed release order is what is checked."""
    status = requests.post(f"{server.url}/_emulator/webhooks", json={"ordered": True}, timeout=5).json()
    assert status["ordered"] is True and status["concurrency"] > 1
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
    assert requests.post(f"{server.url}/_emulator/webhooks", json={"url": "ftp://x"}, timeout=5).status_code == 400
