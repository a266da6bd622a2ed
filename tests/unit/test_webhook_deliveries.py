"""Delivering events: one attempt per message, retried on the SPEC's schedule from the due index (never inside the
queue), a single attempt for a redelivery, wake-ups for retries within SQS's 15 minutes, and an endpoint disabled
after five days of nothing but failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from partnerhub.clock import ManualClock
from partnerhub.domain.webhook_deliveries import (
    AttemptResult,
    BadMessage,
    Delivery,
    DeliveryMessage,
    DeliveryService,
    DeliveryState,
    Dispatcher,
    Outcome,
    endpoint_after,
    new_delivery,
)
from partnerhub.domain.webhook_endpoints import Endpoint, SigningSecret
from tests.unit.webhook_fakes import FakeQueue, FakeSender, FakeStore, FakeWake

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
PARTNER = "agency-42"
FAIL = AttemptResult(status_code=503, duration_ms=40, error="HTTP 503", response="busy")


def endpoint(**changes: object) -> Endpoint:
    base = Endpoint(
        partner_id=PARTNER,
        endpoint_id="we_1",
        url="https://hooks.example/in",
        events=("*",),
        created_at=T0,
        updated_at=T0,
        secrets=(SigningSecret(value="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", created_at=T0),),
    )
    return base.model_copy(update=changes)


class World:
    """A store with one endpoint and one event, the dispatcher, the deliverer, and a clock that stands still."""

    def __init__(self, answer: AttemptResult | None = None, **endpoint_changes: object) -> None:
        self.clock = ManualClock(T0)
        self.store = FakeStore()
        self.queue = FakeQueue()
        self.wake = FakeWake()
        self.sender = FakeSender() if answer is None else FakeSender(lambda sent: answer)
        self.store.endpoints_by_id[(PARTNER, "we_1")] = endpoint(**endpoint_changes)
        from partnerhub.domain.webhook_events import event_of

        self.store.events_by_id[(PARTNER, "evt_1")] = event_of("evt_1", PARTNER, "license.revoked", T0, {"x": 1})
        self.dispatcher = Dispatcher(self.store, self.queue, self.clock)
        self.service = DeliveryService(self.store, self.sender, self.wake, self.clock)

    def delivery(self, delivery_id: str = "dlv_1", *, manual: bool = False) -> Delivery:
        made = new_delivery(PARTNER, "we_1", delivery_id, "evt_1", "license.revoked", self.clock.now(), manual=manual)
        self.store.deliveries_by_id[delivery_id] = made
        return made

    def deliver_queued(self) -> list[Outcome]:
        return [self.service.attempt(message)[0] for message in self.queue.take()]

    def stored(self, delivery_id: str = "dlv_1") -> Delivery:
        return self.store.deliveries_by_id[delivery_id]


def test_a_failing_endpoint_is_retried_after_5s_5min_30min_2h_5h_10h_and_10h_then_failed() -> None:
    # Given an endpoint that always answers 503, and a new delivery dispatched at 09:00
    world = World(FAIL)
    world.dispatcher.dispatch([world.delivery()])
    # When every attempt runs the moment its sweep finds it due
    while True:
        assert world.deliver_queued()
        stored = world.stored()
        if stored.next_attempt_at is None:
            break
        world.clock.set(stored.next_attempt_at)
        assert world.dispatcher.sweep() == 1
    # Then the attempts were at these times (each wait after the one before, worked by hand from the SPEC)
    expected = [
        T0,
        T0 + timedelta(seconds=5),
        T0 + timedelta(minutes=5, seconds=5),
        T0 + timedelta(minutes=35, seconds=5),
        T0 + timedelta(hours=2, minutes=35, seconds=5),
        T0 + timedelta(hours=7, minutes=35, seconds=5),
        T0 + timedelta(hours=17, minutes=35, seconds=5),
        T0 + timedelta(hours=27, minutes=35, seconds=5),
    ]
    assert [sent.at for sent in world.sender.sent] == expected
    # and the delivery ended failed after eight attempts, out of the due index, with the last error kept
    assert (stored.state, stored.attempt, stored.due_at, stored.error) == (DeliveryState.FAILED, 8, None, "HTTP 503")
    assert [a.attempt for a in stored.history] == list(range(1, 9))
    # Every attempt carried the event's id (receivers deduplicate on it) and the same body
    assert {sent.message_id for sent in world.sender.sent} == {"evt_1"}
    assert len({sent.body for sent in world.sender.sent}) == 1
    # Only the retries 15 minutes away or less woke the sweep early (5 s and 5 min)
    assert world.wake.delays == [timedelta(seconds=5), timedelta(minutes=5)]


def test_a_sweep_before_the_retry_is_due_sends_nothing() -> None:
    world = World(FAIL)
    world.dispatcher.dispatch([world.delivery()])
    world.deliver_queued()
    world.clock.advance(timedelta(seconds=4))
    assert world.dispatcher.sweep() == 0
    world.clock.advance(timedelta(seconds=1))
    assert world.dispatcher.sweep() == 1


def test_a_2xx_is_delivered_and_nothing_more_happens() -> None:
    world = World()
    world.dispatcher.dispatch([world.delivery()])
    assert world.deliver_queued() == [Outcome.DELIVERED]
    stored = world.stored()
    assert (stored.state, stored.attempt, stored.status_code, stored.delivered_at, stored.due_at) == (
        DeliveryState.DELIVERED,
        1,
        200,
        T0,
        None,
    )
    world.clock.advance(timedelta(days=2))
    assert world.dispatcher.sweep() == 0


def test_a_repeated_or_stale_message_does_nothing() -> None:
    # Given a delivery whose first attempt was made
    world = World(FAIL)
    world.dispatcher.dispatch([world.delivery()])
    (message,) = world.queue.take()
    assert world.service.attempt(message)[0] is Outcome.RETRYING
    # When the same message comes again (SQS delivers at least once), or a message for the next attempt comes early
    again = world.service.attempt(message)
    early = world.service.attempt(DeliveryMessage(PARTNER, "we_1", "dlv_1", T0, 2))
    # Then no second request is sent
    assert (again, early) == ((Outcome.SKIPPED, None), (Outcome.SKIPPED, None))
    assert len(world.sender.sent) == 1


def test_a_delivery_is_claimed_once_however_many_dispatchers_find_it() -> None:
    world = World()
    delivery = world.delivery()
    assert world.dispatcher.dispatch([delivery]) == 1
    assert world.dispatcher.dispatch([delivery]) == 0  # the stream batch retried, the sweep, ...
    assert world.dispatcher.sweep() == 0  # claimed for an hour
    assert len(world.queue.sent) == 1


def test_a_lost_message_is_dispatched_again_when_its_lease_ends() -> None:
    world = World()
    world.dispatcher.dispatch([world.delivery()])
    world.queue.take()  # the message is lost
    world.clock.advance(timedelta(minutes=59))
    assert world.dispatcher.sweep() == 0
    world.clock.advance(timedelta(minutes=1))
    assert world.dispatcher.sweep() == 1
    assert world.deliver_queued() == [Outcome.DELIVERED]


def test_a_redelivery_is_one_attempt() -> None:
    world = World(FAIL)
    world.dispatcher.dispatch([world.delivery("dlv_again", manual=True)])
    assert world.deliver_queued() == [Outcome.FAILED]
    stored = world.stored("dlv_again")
    assert (stored.state, stored.attempt, stored.next_attempt_at) == (DeliveryState.FAILED, 1, None)
    assert world.wake.delays == []


@pytest.mark.parametrize(
    ("changes", "reason"),
    [({"enabled": False}, "the endpoint is disabled: no attempt made")],
)
def test_a_disabled_endpoints_deliveries_fail_without_an_attempt(changes: dict[str, object], reason: str) -> None:
    world = World(**changes)
    world.dispatcher.dispatch([world.delivery()])
    assert world.deliver_queued() == [Outcome.FAILED]
    assert world.stored().error == reason
    assert world.sender.sent == []


def test_a_deleted_endpoints_deliveries_fail_without_an_attempt() -> None:
    world = World()
    world.dispatcher.dispatch([world.delivery()])
    world.store.endpoints_by_id.clear()
    assert world.deliver_queued() == [Outcome.FAILED]
    assert (world.stored().error, world.sender.sent) == ("the endpoint was deleted: no attempt made", [])


def test_signed_with_every_live_secret_newest_first() -> None:
    old = SigningSecret(value="whsec_old", created_at=T0, expires_at=T0 + timedelta(hours=24))
    new = SigningSecret(value="whsec_new", created_at=T0)
    world = World(secrets=(new, old))
    world.dispatcher.dispatch([world.delivery()])
    world.deliver_queued()
    world.clock.advance(timedelta(hours=24))
    world.dispatcher.dispatch([world.delivery("dlv_2")])
    world.deliver_queued()
    assert [sent.secrets for sent in world.sender.sent] == [["whsec_new", "whsec_old"], ["whsec_new"]]


def test_five_days_of_nothing_but_failures_disables_the_endpoint() -> None:
    # Given an endpoint failing since Tuesday 09:00
    failing = endpoint(failing_since=T0)
    # Then a failure at 08:59 on Sunday changes nothing, one at 09:00 disables it with the reason
    assert endpoint_after(failing, FAIL, T0 + timedelta(days=5) - timedelta(minutes=1)) is None
    disabled = endpoint_after(failing, FAIL, T0 + timedelta(days=5))
    assert disabled is not None and disabled.enabled is False
    assert disabled.disabled_at == T0 + timedelta(days=5)
    assert disabled.disabled_reason == (
        "Every delivery failed for 5 days (since 2026-11-03T09:00:00Z); the last error: HTTP 503. "
        "Fix the endpoint, then enable it again."
    )
    # A first failure starts the run; any success ends it
    started = endpoint_after(endpoint(), FAIL, T0)
    assert started is not None and started.failing_since == T0
    ended = endpoint_after(failing, AttemptResult(status_code=204), T0 + timedelta(days=4))
    assert ended is not None and ended.failing_since is None
    assert endpoint_after(endpoint(), AttemptResult(status_code=200), T0) is None


def test_the_deliverer_disables_the_endpoint_on_the_failure_five_days_in() -> None:
    world = World(FAIL, failing_since=T0 - timedelta(days=5))
    world.dispatcher.dispatch([world.delivery()])
    assert world.deliver_queued() == [Outcome.RETRYING]
    stored = world.store.endpoint(PARTNER, "we_1")
    assert stored is not None and not stored.enabled and stored.disabled_reason
    # its next attempt is not made: the endpoint is disabled
    world.clock.advance(timedelta(seconds=5))
    world.dispatcher.sweep()
    assert world.deliver_queued() == [Outcome.FAILED]
    assert len(world.sender.sent) == 1


def test_a_success_ends_the_endpoints_run_of_failures() -> None:
    world = World(failing_since=T0 - timedelta(days=4))
    world.dispatcher.dispatch([world.delivery()])
    world.deliver_queued()
    stored = world.store.endpoint(PARTNER, "we_1")
    assert stored is not None and stored.failing_since is None and stored.enabled


def test_the_delivery_message_reads_back_what_it_wrote() -> None:
    message = DeliveryMessage(PARTNER, "we_1", "dlv_1", T0 + timedelta(microseconds=7), 3)
    assert DeliveryMessage.parse(message.body()) == message
    assert (message.group, message.deduplication_id) == ("we_1", "dlv_1-3")
    for bad in ("", "{}", "[]", '{"partner_id": "p"}', message.body().replace('"attempt":3', '"attempt":0')):
        with pytest.raises(BadMessage):
            DeliveryMessage.parse(bad)
