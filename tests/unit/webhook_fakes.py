"""In-memory stand-ins for the webhooks' ports: one store (endpoints, events, deliveries, the due index) that keeps
the same promises the DynamoDB repository keeps (versions, conditional claims and attempts), a queue, a wake-up
list and a sender that answers what a test tells it to."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from partnerhub.domain.webhook_deliveries import AttemptResult, Delivery, DeliveryMessage, DeliveryState
from partnerhub.domain.webhook_endpoints import Endpoint, EndpointConflict, limit_reached
from partnerhub.domain.webhook_events import DeliveryPage, Event, EventPage


@dataclass
class FakeStore:
    endpoints_by_id: dict[tuple[str, str], Endpoint] = field(default_factory=dict)
    events_by_id: dict[tuple[str, str], Event] = field(default_factory=dict)
    deliveries_by_id: dict[str, Delivery] = field(default_factory=dict)
    primary: dict[str, str] = field(default_factory=dict)
    claims: int = 0

    # endpoints
    def create(self, endpoint: Endpoint, limit: int) -> Endpoint:
        key = (endpoint.partner_id, endpoint.endpoint_id)
        if key in self.endpoints_by_id:
            return self.endpoints_by_id[key]
        if len(self.endpoints(endpoint.partner_id)) >= limit:
            raise limit_reached(limit)
        self.endpoints_by_id[key] = endpoint
        return endpoint

    def endpoints(self, partner_id: str) -> list[Endpoint]:
        return [e for (p, _), e in self.endpoints_by_id.items() if p == partner_id]

    def endpoint(self, partner_id: str, endpoint_id: str) -> Endpoint | None:
        return self.endpoints_by_id.get((partner_id, endpoint_id))

    def save(self, before: Endpoint, after: Endpoint) -> None:
        current = self.endpoints_by_id.get((before.partner_id, before.endpoint_id))
        if current is None or current.version != before.version:
            raise EndpointConflict()
        self.endpoints_by_id[(after.partner_id, after.endpoint_id)] = after

    def delete(self, endpoint: Endpoint) -> None:
        self.endpoints_by_id.pop((endpoint.partner_id, endpoint.endpoint_id), None)

    # events
    def primary_card(self, partner_id: str) -> str | None:
        return self.primary.get(partner_id)

    def record(self, event: Event, deliveries: Sequence[Delivery]) -> bool:
        key = (event.partner_id, event.event_id)
        if key in self.events_by_id:
            return False
        self.events_by_id[key] = event
        for delivery in deliveries:
            self.deliveries_by_id[delivery.delivery_id] = delivery
        return True

    def event(self, partner_id: str, event_id: str) -> Event | None:
        return self.events_by_id.get((partner_id, event_id))

    def event_body(self, partner_id: str, event_id: str) -> str | None:
        found = self.event(partner_id, event_id)
        return None if found is None else found.body

    def events(
        self, partner_id: str, since: datetime, event_type: str | None, limit: int, cursor: str | None
    ) -> EventPage:
        found = sorted(
            (
                e
                for (p, _), e in self.events_by_id.items()
                if p == partner_id and e.created_at >= since and event_type in (None, e.type)
            ),
            key=lambda e: e.created_at,
            reverse=True,
        )
        return EventPage(found[:limit], None)

    # deliveries
    def add_delivery(self, delivery: Delivery) -> tuple[Delivery, bool]:
        if delivery.delivery_id in self.deliveries_by_id:
            return self.deliveries_by_id[delivery.delivery_id], False
        self.deliveries_by_id[delivery.delivery_id] = delivery
        return delivery, True

    def deliveries(self, partner_id: str, endpoint_id: str, limit: int, cursor: str | None) -> DeliveryPage:
        found = [
            d for d in self.deliveries_by_id.values() if (d.partner_id, d.endpoint_id) == (partner_id, endpoint_id)
        ]
        return DeliveryPage(found[:limit], None)

    def claim(self, delivery: Delivery, until: datetime) -> bool:
        current = self.deliveries_by_id.get(delivery.delivery_id)
        if current is None or current.state is not DeliveryState.PENDING or current.due_at != delivery.due_at:
            return False
        self.claims += 1
        self.deliveries_by_id[delivery.delivery_id] = current.model_copy(update={"due_at": until})
        return True

    def due(self, at: datetime) -> Iterator[Delivery]:
        found = [
            d
            for d in self.deliveries_by_id.values()
            if d.state is DeliveryState.PENDING and d.due_at is not None and d.due_at <= at
        ]
        yield from sorted(found, key=lambda d: d.due_at or at)

    def start_attempt(self, message: DeliveryMessage, at: datetime, lease_until: datetime) -> Delivery | None:
        current = self.deliveries_by_id.get(message.delivery_id)
        if (
            current is None
            or current.state is not DeliveryState.PENDING
            or current.attempt != message.attempt - 1
            or current.next_attempt_at is None
            or current.next_attempt_at > at
        ):
            return None
        started = current.model_copy(update={"attempt": message.attempt, "due_at": lease_until})
        self.deliveries_by_id[message.delivery_id] = started
        return started

    def finish_attempt(self, delivery: Delivery) -> None:
        current = self.deliveries_by_id.get(delivery.delivery_id)
        if current is not None and current.attempt == delivery.attempt:
            self.deliveries_by_id[delivery.delivery_id] = delivery


@dataclass
class FakeQueue:
    sent: list[DeliveryMessage] = field(default_factory=list)

    def send(self, messages: Sequence[DeliveryMessage]) -> None:
        self.sent.extend(messages)

    def take(self) -> list[DeliveryMessage]:
        taken, self.sent = self.sent, []
        return taken


@dataclass
class FakeWake:
    delays: list[timedelta] = field(default_factory=list)

    def after(self, delay: timedelta) -> None:
        self.delays.append(delay)


@dataclass
class Sent:
    url: str
    body: bytes
    message_id: str
    at: datetime
    secrets: list[str]


@dataclass
class FakeSender:
    """Answers each attempt with ``answer(sent)`` (a 200 unless told otherwise) and keeps what was sent."""

    answer: Callable[[Sent], AttemptResult] = lambda sent: AttemptResult(status_code=200, duration_ms=12)
    sent: list[Sent] = field(default_factory=list)

    def send(self, url: str, body: bytes, message_id: str, at: datetime, secrets: Sequence[str]) -> AttemptResult:
        attempt = Sent(url, body, message_id, at, list(secrets))
        self.sent.append(attempt)
        return self.answer(attempt)
