"""Which change is which event (every type the SPEC lists), recorded once per change with one delivery per endpoint
that wants it, for partners that have endpoints; the event log and redelivery."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from partnerhub.clock import ManualClock
from partnerhub.domain.accounts import Card
from partnerhub.domain.invoicing import InvoiceRecord, Step
from partnerhub.domain.models import License, Site, Source, Standing
from partnerhub.domain.webhook_deliveries import DeliveryState, Dispatcher
from partnerhub.domain.webhook_endpoints import Endpoint, SigningSecret, WebhookEndpointService
from partnerhub.domain.webhook_events import (
    CardChange,
    EventRecorder,
    InvoiceChange,
    LicenseChange,
    StandingChange,
    WebhookEventService,
    event_id_for,
    events_of,
)
from partnerhub.errors import Conflict, NotFound
from partnerhub.schemas.webhooks import event_data
from tests.unit.webhook_fakes import FakeQueue, FakeStore

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
P = "agency-42"
SITE = Site(site_id="184472401", site_url="https://client-bakery.example")
OTHER_SITE = Site(site_id="184472999", site_url="https://client-florist.example")


def lic(version: int = 1, **changes: Any) -> License:
    base = License(
        partner_id=P,
        license_key="jetpack-backup_AbCdEfGhIjKlMnOpQrStUvWx",
        product="jetpack-backup",
        product_name="Jetpack VaultPress Backup",
        source=Source.PORTAL,
        issued_at=T0,
        issued_by="user:ann",
        version=version,
    )
    return base.model_copy(update=changes)


def invoice(status: str | None, attempts: int = 0, error: dict[str, Any] | None = None) -> InvoiceRecord:
    return InvoiceRecord(
        partner_id=P,
        period="2026-10",
        step=Step.FINALIZED,
        invoice_id="in_1" if status else None,
        status=status,
        total=476,
        amount_due=476,
        attempt_count=attempts,
        last_payment_error=error,
    )


CARD = Card(id="pm_1", brand="visa", last4="4242", exp_month=12, exp_year=2030, added_at=T0)
DECLINED = {"code": "card_declined", "message": "Your card was declined.", "payment_method": None}
NEEDS_3DS = {"code": "authentication_required", "message": "Authenticate.", "payment_method": None}


def types(change: Any) -> list[str]:
    return [happened.type for happened in events_of(change)]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (None, lic(), ["license.issued"]),
        (None, lic(site=SITE, assigned_at=T0), ["license.issued", "license.assigned"]),
        (lic(), lic(2, site=SITE, assigned_at=T0), ["license.assigned"]),
        (lic(2, site=SITE), lic(3, site=OTHER_SITE), ["license.transferred"]),
        (lic(3, site=OTHER_SITE), lic(4), ["license.unassigned"]),
        (lic(4, site=SITE), lic(5, site=SITE, revoked_at=T0), ["license.revoked"]),
        (lic(), lic(2, client="Florist & Co", tags=("q4",)), ["license.updated"]),
        (lic(2, client="Florist & Co"), lic(3, client=None), ["license.updated"]),
        (lic(2), lic(2), []),  # rewritten as it was: nothing happened
        (lic(5, revoked_at=T0), lic(5, revoked_at=T0), []),
    ],
)
def test_license_changes(before: License | None, after: License, expected: list[str]) -> None:
    assert types(LicenseChange("s", P, before, after)) == expected


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (None, invoice(None), []),  # the month-end record before Stripe's draft
        (invoice("draft"), invoice("open"), ["invoice.finalized"]),
        (invoice("open"), invoice("open", 1, DECLINED), ["invoice.payment_failed"]),
        (invoice("open", 1, DECLINED), invoice("open", 2, DECLINED), ["invoice.payment_failed"]),
        (invoice("open"), invoice("open", 1, NEEDS_3DS), ["invoice.payment_action_required"]),
        (invoice("open", 1, DECLINED), invoice("paid", 2), ["invoice.paid"]),
        (invoice("draft"), invoice("paid"), ["invoice.finalized", "invoice.paid"]),  # under the minimum charge
        (invoice("open"), invoice("void"), ["invoice.voided"]),
        (invoice("open", 1, DECLINED), invoice("uncollectible", 1, DECLINED), ["invoice.marked_uncollectible"]),
        (invoice("uncollectible", 1), invoice("paid", 2), ["invoice.paid"]),
        (invoice("open", 1, DECLINED), invoice("open", 1, DECLINED), []),  # a refresh from Stripe
    ],
)
def test_invoice_changes(before: InvoiceRecord | None, after: InvoiceRecord, expected: list[str]) -> None:
    assert types(InvoiceChange("s", P, before, after)) == expected


def test_card_and_standing_changes() -> None:
    assert types(CardChange("s", P, None, CARD)) == ["payment_method.added"]
    assert types(CardChange("s", P, CARD, None)) == ["payment_method.removed"]
    assert types(CardChange("s", P, CARD, dataclasses.replace(CARD, exp_year=2031))) == []
    good = Standing(has_payment_method=True)
    assert types(StandingChange("s", P, None, good)) == ["account.standing_changed"]
    assert types(StandingChange("s", P, good, Standing(has_payment_method=True, past_due_invoices=("in_1",)))) == [
        "account.standing_changed"
    ]
    assert types(StandingChange("s", P, good, good)) == []  # a counter moved on the same record


def test_each_events_data_is_the_object_as_the_api_answers_it() -> None:
    (assigned,) = [h for h in events_of(LicenseChange("s", P, lic(), lic(2, site=SITE, assigned_at=T0)))]
    data = event_data(assigned)
    assert (data["status"], data["site"], data["links"]["view_site"]) == ("assigned", SITE.model_dump(), SITE.site_url)
    (paid,) = events_of(InvoiceChange("s", P, invoice("open"), invoice("paid")))
    assert (event_data(paid)["id"], event_data(paid)["status"], event_data(paid)["lines"]) == ("in_1", "paid", [])
    (standing,) = events_of(StandingChange("s", P, None, Standing(has_payment_method=True)))
    assert event_data(standing) == {
        "partner_id": P,
        "has_payment_method": True,
        "can_issue_licenses": True,
        "can_assign_licenses": True,
        "past_due_invoices": [],
    }


def endpoint(endpoint_id: str, events: tuple[str, ...], *, enabled: bool = True, partner: str = P) -> Endpoint:
    return Endpoint(
        partner_id=partner,
        endpoint_id=endpoint_id,
        url=f"https://hooks.example/{endpoint_id}",
        events=events,
        enabled=enabled,
        created_at=T0,
        updated_at=T0,
        secrets=(SigningSecret(value="whsec_x", created_at=T0),),
    )


@pytest.fixture
def world() -> tuple[FakeStore, FakeQueue, EventRecorder, ManualClock]:
    clock = ManualClock(T0)
    store, queue = FakeStore(), FakeQueue()
    recorder = EventRecorder(store, Dispatcher(store, queue, clock), event_data, clock)
    return store, queue, recorder, clock


def test_an_event_goes_to_each_enabled_endpoint_that_wants_it(world: Any) -> None:
    store, queue, recorder, _ = world
    for e in (
        endpoint("we_all", ("*",)),
        endpoint("we_licenses", ("license.*",)),
        endpoint("we_invoices", ("invoice.paid",)),
        endpoint("we_off", ("*",), enabled=False),
        endpoint("we_other", ("*",), partner="agency-43"),
    ):
        store.endpoints_by_id[(e.partner_id, e.endpoint_id)] = e
    # When a license is revoked
    (event,) = recorder.record([LicenseChange("rec-1", P, lic(3), lic(4, revoked_at=T0))])
    # Then it is recorded once, for the partner, with a body that is exactly what is sent
    assert (event.partner_id, event.type) == (P, "license.revoked")
    body = json.loads(event.body)
    assert set(body) == {"id", "type", "created_at", "data"}
    assert (body["id"], body["created_at"], body["data"]["status"]) == (
        event.event_id,
        "2026-11-03T09:00:00Z",
        "revoked",
    )
    # and a delivery goes to the partner's enabled endpoints that want it: never another partner's
    assert sorted(m.endpoint_id for m in queue.sent) == ["we_all", "we_licenses"]
    assert {m.partner_id for m in queue.sent} == {P}


def test_the_same_change_seen_again_is_one_event(world: Any) -> None:
    store, queue, recorder, clock = world
    store.endpoints_by_id[(P, "we_all")] = endpoint("we_all", ("*",))
    change = CardChange("rec-7", P, None, CARD)
    assert len(recorder.record([change])) == 1
    clock.advance(timedelta(seconds=3))  # the stream gives the batch again, a little later
    assert recorder.record([change]) == []
    assert len(store.events_by_id) == 1 and len(queue.sent) == 1
    assert next(iter(store.events_by_id.values())).event_id == event_id_for("rec-7", "payment_method.added")


def test_nothing_is_recorded_for_a_partner_without_endpoints(world: Any) -> None:
    store, queue, recorder, _ = world
    assert recorder.record([LicenseChange("rec-1", P, None, lic())]) == []
    assert store.events_by_id == {} and queue.sent == []


def test_a_new_cards_event_says_whether_it_is_primary(world: Any) -> None:
    store, _, recorder, _ = world
    store.endpoints_by_id[(P, "we_all")] = endpoint("we_all", ("*",))
    store.primary[P] = "pm_1"
    (added,) = recorder.record([CardChange("rec-1", P, None, CARD)])
    (removed,) = recorder.record([CardChange("rec-2", P, CARD, None)])
    assert json.loads(added.body)["data"]["primary"] is True
    assert json.loads(removed.body)["data"]["primary"] is False


def test_redelivery_is_one_more_delivery_of_a_kept_event(world: Any) -> None:
    store, queue, recorder, clock = world
    store.endpoints_by_id[(P, "we_all")] = endpoint("we_all", ("*",))
    store.endpoints_by_id[(P, "we_off")] = endpoint("we_off", ("*",), enabled=False)
    (event,) = recorder.record([CardChange("rec-1", P, None, CARD)])
    queue.take()
    events = WebhookEventService(
        store, WebhookEndpointService(store, lambda h, p: None, clock), Dispatcher(store, queue, clock), clock
    )
    # When the partner asks for it again (twice, the same request)
    clock.advance(timedelta(hours=1))
    first = events.redeliver(P, event.event_id, "we_all", "receipt-1")
    again = events.redeliver(P, event.event_id, "we_all", "receipt-1")
    # Then one delivery, a single attempt, is queued
    assert first.delivery_id == again.delivery_id and first.manual and first.state is DeliveryState.PENDING
    assert [m.delivery_id for m in queue.sent] == [first.delivery_id]
    # Another partner's event, an unknown endpoint, a disabled one, or an event past 30 days are refused
    with pytest.raises(NotFound):
        events.redeliver("agency-43", event.event_id, "we_all", "r2")
    with pytest.raises(NotFound):
        events.redeliver(P, event.event_id, "we_nope", "r3")
    with pytest.raises(Conflict):
        events.redeliver(P, event.event_id, "we_off", "r4")
    clock.set(T0 + timedelta(days=30, seconds=1))
    with pytest.raises(NotFound):
        events.redeliver(P, event.event_id, "we_all", "r5")
