"""Events for agencies' webhooks: which change of a license, an invoice, a card or the account's standing is which
event, how an event is recorded with its deliveries, and the partner's event log (list, redeliver).

Pure: no I/O, no wall clock. The changes come from the table's stream (``functions/webhook_events``): each names
an item as it was before and after one write, already read into the models the API answers from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from partnerhub.clock import Clock, isoformat
from partnerhub.domain.accounts import Account, Card, account_of
from partnerhub.domain.invoicing import DRAFT, OPEN, PAID, UNCOLLECTIBLE, VOID, InvoiceRecord
from partnerhub.domain.models import License, Standing
from partnerhub.domain.webhook_deliveries import Delivery, Dispatcher, new_delivery
from partnerhub.domain.webhook_endpoints import Endpoint, WebhookEndpointService, base62
from partnerhub.errors import Conflict, NotFound

RETENTION = timedelta(days=30)
"""Events are listed, and can be delivered again, for this long."""
AUTHENTICATION_REQUIRED = "authentication_required"


# -- changes and the events they are -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Change[T]:
    """One write to one item: the item before and after (None: it did not exist / no longer exists). ``source``
    names the write uniquely and stably (the stream record's id), so an event made from it twice is one event."""

    source: str
    partner_id: str
    before: T | None
    after: T | None
    sequence: str = ""
    """Where the write stands in its stream (its sequence number): events made at the same instant list in this
    order."""


class LicenseChange(Change[License]):
    pass


class InvoiceChange(Change[InvoiceRecord]):
    pass


class CardChange(Change[Card]):
    pass


class StandingChange(Change[Standing]):
    pass


@dataclass(frozen=True)
class Happened:
    """An event a change is: its type and the object its ``data`` shows."""

    type: str
    subject: License | InvoiceRecord | Card | Account
    primary: bool = False  # a card's: whether it is the partner's primary card when the event is recorded


def events_of(change: Change[object]) -> list[Happened]:
    """What ``change`` is, in the order a reader would tell it; nothing for writes that change nothing an agency
    sees (counters, progress of the month-end, a card's new expiry)."""
    if isinstance(change, LicenseChange):
        return _license_events(change.before, change.after)
    if isinstance(change, InvoiceChange):
        return _invoice_events(change.before, change.after)
    if isinstance(change, CardChange):
        if change.before is None and change.after is not None:
            return [Happened("payment_method.added", change.after)]
        if change.before is not None and change.after is None:
            return [Happened("payment_method.removed", change.before)]
        return []
    if isinstance(change, StandingChange):
        before, after = change.before or Standing(), change.after or Standing()
        if _standing(before) == _standing(after):
            return []
        return [Happened("account.standing_changed", account_of(change.partner_id, after))]
    return []


def _standing(standing: Standing) -> tuple[bool, tuple[str, ...]]:
    return standing.has_payment_method, tuple(sorted(standing.past_due_invoices))


def _license_events(before: License | None, after: License | None) -> list[Happened]:
    if after is None:
        return []
    if before is None:
        issued = Happened("license.issued", after)
        return [issued, Happened("license.assigned", after)] if after.site is not None else [issued]
    if after.version <= before.version:
        return []
    if before.revoked_at is None and after.revoked_at is not None:
        return [Happened("license.revoked", after)]
    found: list[Happened] = []
    if before.site is None and after.site is not None:
        found.append(Happened("license.assigned", after))
    elif before.site is not None and after.site is None:
        found.append(Happened("license.unassigned", after))
    elif before.site != after.site:
        found.append(Happened("license.transferred", after))
    if before.labels != after.labels:
        found.append(Happened("license.updated", after))
    return found


def _invoice_events(before: InvoiceRecord | None, after: InvoiceRecord | None) -> list[Happened]:
    if after is None or after.invoice_id is None or after.status is None:
        return []
    was = before.status if before is not None and before.invoice_id == after.invoice_id else None
    attempts_before = before.attempt_count if before is not None and was is not None else 0
    now = after.status
    found: list[Happened] = []
    if now != was:
        if now in (OPEN, PAID) and was in (None, DRAFT):
            found.append(Happened("invoice.finalized", after))
        if now == PAID:
            found.append(Happened("invoice.paid", after))
        elif now == VOID:
            found.append(Happened("invoice.voided", after))
        elif now == UNCOLLECTIBLE:
            found.append(Happened("invoice.marked_uncollectible", after))
    if now == OPEN and after.attempt_count > attempts_before and after.last_payment_error:
        code = str(after.last_payment_error.get("code") or "")
        kind = "invoice.payment_action_required" if code == AUTHENTICATION_REQUIRED else "invoice.payment_failed"
        found.append(Happened(kind, after))
    return found


# -- events and recording them -----------------------------------------------------------------------------------


class Event(BaseModel):
    """An event as recorded: its body is the exact JSON every delivery of it sends."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    partner_id: str
    type: str
    created_at: datetime
    body: str
    order: str = ""
    """Orders events of the same instant (the change's place in the stream)."""

    def payload(self) -> dict[str, object]:
        found: dict[str, object] = json.loads(self.body)
        return found


def event_id_for(source: str, event_type: str) -> str:
    """The same write seen twice (a stream batch retried) is one event."""
    return "evt_" + base62(hashlib.sha256(f"{source}\n{event_type}".encode()).digest())[:24]


def delivery_id_for(event_id: str, endpoint_id: str) -> str:
    return "dlv_" + base62(hashlib.sha256(f"{event_id}\n{endpoint_id}".encode()).digest())[:24]


def redelivery_id_for(receipt_id: str) -> str:
    """A redelivery someone asked for: from its request's receipt, so a retried request makes one."""
    return "dlv_" + base62(hashlib.sha256(f"redelivery\n{receipt_id}".encode()).digest())[:24]


def event_of(
    event_id: str, partner_id: str, event_type: str, at: datetime, data: dict[str, object], order: str = ""
) -> Event:
    body = {"id": event_id, "type": event_type, "created_at": isoformat(at), "data": data}
    return Event(
        event_id=event_id,
        partner_id=partner_id,
        type=event_type,
        created_at=at,
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        order=order,
    )


Render = Callable[[Happened], dict[str, object]]
"""The object an event's ``data`` shows, as the API answers it (``schemas.webhooks.event_data``)."""


class EventStore(Protocol):
    def endpoints(self, partner_id: str) -> list[Endpoint]: ...

    def primary_card(self, partner_id: str) -> str | None: ...

    def record(self, event: Event, deliveries: Sequence[Delivery]) -> bool:
        """Store the event and its deliveries together; False when the event was stored before (nothing written)."""
        ...


class EventRecorder:
    """Turns changes into events for partners that have webhook endpoints, records each with one delivery per
    endpoint that wants it, and dispatches those deliveries."""

    def __init__(self, store: EventStore, dispatcher: Dispatcher, render: Render, clock: Clock) -> None:
        self._store = store
        self._dispatcher = dispatcher
        self._render = render
        self._clock = clock

    def record(self, changes: Iterable[Change[object]]) -> list[Event]:
        """The events recorded now (a change seen before records nothing again)."""
        endpoints: dict[str, list[Endpoint]] = {}
        recorded: list[Event] = []
        for change in changes:
            happened = events_of(change)
            if not happened:
                continue
            if change.partner_id not in endpoints:
                endpoints[change.partner_id] = self._store.endpoints(change.partner_id)
            mine = endpoints[change.partner_id]
            if not mine:
                continue  # events are kept for partners that have asked for them
            for nth, item in enumerate(happened):
                event = self._event(change, item, self._clock.now(), nth)
                deliveries = [
                    new_delivery(
                        event.partner_id,
                        endpoint.endpoint_id,
                        delivery_id_for(event.event_id, endpoint.endpoint_id),
                        event.event_id,
                        event.type,
                        event.created_at,
                        manual=False,
                    )
                    for endpoint in mine
                    if endpoint.wants(event.type)
                ]
                if self._store.record(event, deliveries):
                    recorded.append(event)
                    self._dispatcher.dispatch(deliveries)
        return recorded

    def _event(self, change: Change[object], item: Happened, at: datetime, nth: int) -> Event:
        if isinstance(item.subject, Card):
            primary = (
                item.type == "payment_method.added" and self._store.primary_card(change.partner_id) == item.subject.id
            )
            item = Happened(item.type, item.subject, primary=primary)
        event_id = event_id_for(change.source, item.type)
        order = f"{change.sequence:0>40}.{nth:03d}"
        return event_of(event_id, change.partner_id, item.type, at, self._render(item), order)


# -- the partner's event log ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventPage:
    items: list[Event]
    next_cursor: str | None


@dataclass(frozen=True)
class DeliveryPage:
    items: list[Delivery]
    next_cursor: str | None


class EventLog(Protocol):
    def events(
        self, partner_id: str, since: datetime, event_type: str | None, limit: int, cursor: str | None
    ) -> EventPage: ...

    def event(self, partner_id: str, event_id: str) -> Event | None: ...

    def deliveries(self, partner_id: str, endpoint_id: str, limit: int, cursor: str | None) -> DeliveryPage: ...

    def add_delivery(self, delivery: Delivery) -> tuple[Delivery, bool]:
        """Store a new delivery: it and True; one with its id stored already (a retried request) and False."""
        ...


class WebhookEventService:
    """The partner's events of the last 30 days, each endpoint's deliveries, and deliveries asked for again."""

    def __init__(self, log: EventLog, endpoints: WebhookEndpointService, dispatcher: Dispatcher, clock: Clock) -> None:
        self._log = log
        self._endpoints = endpoints
        self._dispatcher = dispatcher
        self._clock = clock

    def events(self, partner_id: str, event_type: str | None, limit: int, cursor: str | None) -> EventPage:
        return self._log.events(partner_id, self._clock.now() - RETENTION, event_type, limit, cursor)

    def deliveries(self, partner_id: str, endpoint_id: str, limit: int, cursor: str | None) -> DeliveryPage:
        self._endpoints.get(partner_id, endpoint_id)
        return self._log.deliveries(partner_id, endpoint_id, limit, cursor)

    def redeliver(self, partner_id: str, event_id: str, endpoint_id: str, receipt_id: str) -> Delivery:
        """One more delivery of the event to the endpoint: a single attempt, from the delivery queue."""
        now = self._clock.now()
        event = self._log.event(partner_id, event_id)
        if event is None or event.created_at < now - RETENTION:
            raise NotFound("no such event", code="event_not_found")
        endpoint = self._endpoints.get(partner_id, endpoint_id)
        if not endpoint.enabled:
            raise Conflict("the webhook endpoint is disabled; enable it first", code="webhook_endpoint_disabled")
        delivery, new = self._log.add_delivery(
            new_delivery(
                partner_id, endpoint_id, redelivery_id_for(receipt_id), event.event_id, event.type, now, manual=True
            )
        )
        if new:  # a retried request finds it dispatched already, or due (then the sweep dispatches it)
            self._dispatcher.dispatch([delivery])
        return delivery
