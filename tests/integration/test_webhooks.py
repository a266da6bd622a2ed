"""Stripe webhooks through the real handler, against moto and the Stripe emulator (in-process).

The story behind most tests: a partner's month-end invoice is charged to a card that declines, the partner
adds a working card, and the invoice is paid. The emulator records Stripe's events as they happen; the
tests sign them with the webhook secret at the test clock, as Stripe would, and deliver them to the
handler as HTTP API events (the sample events in events/webhooks/ with their bodies replaced).
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
import stripe
from stripe import WebhookSignature

from local.resources import LocalResources
from local.stack import LAUNCH_COLLECTION_SETTINGS
from local.stripe_emulator import Emulator, RunningServer, serve
from partnerhub import clients
from partnerhub.clock import ManualClock
from partnerhub.observability import metrics
from partnerhub.payments.client import STRIPE_API_VERSION, SecureParameter, StripeConnection
from partnerhub.repository import keys
from partnerhub.repository.dynamo import deserialize
from partnerhub.repository.invoices import DynamoInvoiceRepository
from partnerhub.repository.partners import DynamoPartnerRepository
from testkit.events import load_event
from tests.integration.conftest import Function, Reply

SECRET_KEY_PARAM = "/partnerhub/stripe/secret-key"
WEBHOOK_SECRET_PARAM = "/partnerhub/stripe/webhook-secret"
PERIOD = "2026-10"


@pytest.fixture(scope="module")
def emulator(clock: ManualClock) -> Iterator[RunningServer]:
    emulator = Emulator(clock)
    # Collected as the production account is set up (docs/invoicing.md, "Before launch")
    emulator.configure_collection(**LAUNCH_COLLECTION_SETTINGS)
    running = serve(emulator, port=0)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def webhook_secret(aws: LocalResources) -> str:
    return aws.parameters[WEBHOOK_SECRET_PARAM]


@pytest.fixture(scope="module")
def stripe_connection(emulator: RunningServer) -> StripeConnection:
    """The webhooks function's way to Stripe: this module's emulator, one try per call."""
    return StripeConnection(SecureParameter(SECRET_KEY_PARAM), emulator.url, attempts=1, timeout=(5.0, 30.0))


@pytest.fixture
def webhooks(
    function: Callable[..., Function], emulator: RunningServer, stripe_connection: StripeConnection
) -> Iterator[Function]:
    """The webhooks function, its Stripe client pointed at this module's emulator."""
    env = {
        "STRIPE_SECRET_PARAM": SECRET_KEY_PARAM,
        "STRIPE_WEBHOOK_SECRET_PARAM": WEBHOOK_SECRET_PARAM,
        "STRIPE_API_BASE": emulator.url,
    }
    with mock.patch.dict(os.environ, env):
        loaded = function("webhooks", stripe=stripe_connection)
    # With metrics disabled Powertools never clears its buffer, and serialises it at 100 metrics; that needs a
    # namespace, which is missing when the layer was imported (at collection) before the test environment was set.
    if not metrics.namespace:
        metrics.namespace = os.environ["POWERTOOLS_METRICS_NAMESPACE"]
    yield loaded
    emulator.emulator.clear_faults()


@pytest.fixture
def sdk(emulator: RunningServer) -> stripe.StripeClient:
    """The test's own hands in Stripe (what the portal and the month-end worker do there)."""
    return stripe.StripeClient(
        "sk_test_local",
        stripe_version=STRIPE_API_VERSION,
        base_addresses={"api": emulator.url},
        max_network_retries=0,
    )


@pytest.fixture
def invoices(aws: LocalResources) -> DynamoInvoiceRepository:
    return DynamoInvoiceRepository(os.environ["TABLE_NAME"], clients.dynamodb())


DONE = "COMPLETED"  # Powertools idempotency's status of a processed event


class EventRecords:
    """The webhook events' idempotency records, read as an operator would, and held as another delivery would."""

    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.client = clients.dynamodb()

    def _key(self, event_id: str) -> dict[str, Any]:
        return {"PK": {"S": keys.STRIPE_EVENTS}, "SK": {"S": keys.stripe_event_sk(event_id)}}

    def get(self, event_id: str) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.table, Key=self._key(event_id), ConsistentRead=True).get("Item")
        if item is None:
            return None
        record = deserialize(item)
        return {**record, "outcome": json.loads(record["data"]) if record.get("data") else None}

    def claim(self, event_id: str, event_type: str, now: Any) -> None:
        """An in-progress record, as a delivery being processed right now leaves it."""
        wall = time.time()
        self.client.put_item(
            TableName=self.table,
            Item={
                **self._key(event_id),
                "status": {"S": "INPROGRESS"},
                "ttl": {"N": str(int(wall) + 3600)},
                "in_progress_expiration": {"N": str(int((wall + 60) * 1000))},
            },
        )


@pytest.fixture
def dedupe(aws: LocalResources) -> EventRecords:
    return EventRecords(os.environ["TABLE_NAME"])


class Deliverer:
    """Signs events as Stripe does and hands them to the handler."""

    def __init__(self, handler: Function, secret: str, clock: ManualClock) -> None:
        self.handler = handler
        self.secret = secret
        self.clock = clock

    def raw(self, body: str, signature: str | None) -> Reply:
        event = load_event("webhooks/invoice_paid", raw_body=body, drop_headers=("stripe-signature",))
        if signature is not None:
            event["headers"]["stripe-signature"] = signature
        return self.handler(event)

    def __call__(self, stripe_event: dict[str, Any], *, secret: str | None = None, at: int | None = None) -> Reply:
        body = json.dumps(stripe_event, indent=2)
        timestamp = int(self.clock.now().timestamp()) if at is None else at
        return self.raw(body, WebhookSignature.generate_signature_header(body, secret or self.secret, timestamp))

    def all(self, events: list[dict[str, Any]]) -> list[int]:
        return [self(event).status for event in events]


@pytest.fixture
def deliver(webhooks: Function, webhook_secret: str, clock: ManualClock) -> Deliverer:
    return Deliverer(webhooks, webhook_secret, clock)


@dataclass
class Story:
    """One partner's month in Stripe; ``events`` are what Stripe recorded for it, oldest first."""

    partner_id: str
    customer_id: str
    invoice_id: str
    sdk: stripe.StripeClient
    emulator: Emulator
    since: int

    def events(self) -> list[dict[str, Any]]:
        mine = {self.customer_id, self.invoice_id}
        return [e for e in self.emulator.events()[self.since :] if _concerns(e, mine)]


def _concerns(event: dict[str, Any], ids: set[str]) -> bool:
    obj = event["data"]["object"]
    previous = event["data"].get("previous_attributes") or {}
    return bool({obj.get("id"), obj.get("customer"), previous.get("customer")} & ids)


def new_story(
    sdk: stripe.StripeClient, emulator: RunningServer, invoices: DynamoInvoiceRepository, partners: Any
) -> Story:
    """A partner with a Stripe customer whose only card declines every charge, and a draft invoice for October.

    Like the month-end worker, the draft is recorded (with its pointer) before it is finalized.
    """
    since = len(emulator.emulator.events())
    partner_id = f"agency-{uuid.uuid4().hex[:12]}"
    customer = sdk.v1.customers.create({"metadata": {"partner_id": partner_id}})
    partners.claim_stripe_customer(partner_id, customer.id)
    failing = sdk.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": customer.id})
    sdk.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": failing.id}})
    sdk.v1.invoice_items.create({"customer": customer.id, "amount": 2370, "currency": "usd"})
    draft = sdk.v1.invoices.create(
        {
            "customer": customer.id,
            "pending_invoice_items_behavior": "include",
            "auto_advance": True,
            "metadata": {"partner_id": partner_id, "period": PERIOD},
        }
    )
    invoices.apply_stripe_invoice(draft.to_dict())
    return Story(partner_id, customer.id, draft.id, sdk, emulator.emulator, since)


def charge_fails(story: Story) -> None:
    """Month end: the invoice is finalized (open); an hour later Stripe's automatic attempt charges the
    declining card."""
    story.sdk.v1.invoices.finalize_invoice(story.invoice_id)
    story.emulator.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    story.emulator.collect_due()


def new_card_and_pay(story: Story) -> None:
    """The partner adds a working card as primary and pays the open invoice with it."""
    visa = story.sdk.v1.payment_methods.attach("pm_card_visa", {"customer": story.customer_id})
    story.sdk.v1.customers.update(story.customer_id, {"invoice_settings": {"default_payment_method": visa.id}})
    story.sdk.v1.invoices.pay(story.invoice_id)


def end_state(story: Story, invoices: DynamoInvoiceRepository, partners: DynamoPartnerRepository) -> dict[str, Any]:
    """What the webhooks are responsible for, without ids that differ from story to story."""
    record = invoices.record(story.partner_id, PERIOD)
    assert record is not None
    book = partners.card_book(story.partner_id)
    standing = partners.standing(story.partner_id)
    brands = {card.id: card.brand for card in book.cards}
    return {
        "invoice": {
            "status": record.status,
            "past_due": record.past_due,
            "amount_paid": record.amount_paid,
            "attempt_count": record.attempt_count,
        },
        "past_due_invoices": [p == story.invoice_id for p in standing.past_due_invoices],
        "has_payment_method": standing.has_payment_method,
        "cards": sorted(brands.values()),
        "primary": brands.get(book.primary or ""),
    }


PAID_WITH_VISA = {
    # Paying by hand after Stripe's failed attempt is not a scheduled attempt: the count stays at one
    "invoice": {"status": "paid", "past_due": False, "amount_paid": 2370, "attempt_count": 1},
    "past_due_invoices": [],
    "has_payment_method": True,
    "cards": ["visa", "visa"],  # pm_card_chargeCustomerFail is a Visa too
    "primary": "visa",
}


@pytest.fixture
def story(sdk: stripe.StripeClient, emulator: RunningServer, invoices: DynamoInvoiceRepository, partners: Any) -> Story:
    return new_story(sdk, emulator, invoices, partners)


# ---------------------------------------------------------------- the story, in order


def test_a_failed_payment_makes_the_partner_past_due_and_paying_clears_it(
    story: Story, deliver: Deliverer, invoices: DynamoInvoiceRepository, partners: DynamoPartnerRepository
) -> None:
    # Given the partner's card mirror in step with Stripe
    assert set(deliver.all(story.events())) == {200}
    assert partners.standing(story.partner_id).has_payment_method

    # When month end charges the declining card and Stripe's events arrive
    charge_fails(story)
    seen = len(story.events())
    assert {e["type"] for e in story.events()} >= {"invoice.finalized", "invoice.payment_failed"}
    assert set(deliver.all(story.events())) == {200}

    # Then the invoice is open and past due, and so is the partner
    record = invoices.record(story.partner_id, PERIOD)
    assert record is not None and record.status == "open" and record.past_due
    standing = partners.standing(story.partner_id)
    assert standing.past_due_invoices == (story.invoice_id,)
    assert not standing.can_issue and not standing.can_assign

    # When the partner adds a working card and pays
    new_card_and_pay(story)
    assert set(deliver.all(story.events()[seen:])) == {200}

    # Then the invoice is paid and the partner unblocked
    assert end_state(story, invoices, partners) == PAID_WITH_VISA
    assert partners.standing(story.partner_id).can_issue


# ---------------------------------------------------------------- any order, any number of times


@pytest.mark.parametrize("seed", [1, 7, 42, 2026])
def test_shuffled_and_duplicated_delivery_ends_where_in_order_delivery_does(
    seed: int,
    sdk: stripe.StripeClient,
    emulator: RunningServer,
    deliver: Deliverer,
    invoices: DynamoInvoiceRepository,
    partners: DynamoPartnerRepository,
) -> None:
    # Given the same story twice: once delivered in order as it happens...
    in_order = new_story(sdk, emulator, invoices, partners)
    deliver.all(in_order.events())
    charge_fails(in_order)
    deliver.all(in_order.events())  # every event again: the ones seen before are duplicates
    new_card_and_pay(in_order)
    deliver.all(in_order.events())

    # ...and once with each event delivered two or three times, in a shuffled order, part of them mid-story
    rng = random.Random(seed)
    shuffled = new_story(sdk, emulator, invoices, partners)
    charge_fails(shuffled)
    early = [e for e in shuffled.events() if rng.random() < 0.5]
    rng.shuffle(early)
    statuses = deliver.all(early)
    new_card_and_pay(shuffled)
    late = shuffled.events() * rng.choice([2, 3])
    rng.shuffle(late)
    statuses += deliver.all(late)

    # Then every delivery is acknowledged and both end in the same state
    assert set(statuses) == {200}
    assert end_state(shuffled, invoices, partners) == end_state(in_order, invoices, partners) == PAID_WITH_VISA


def test_a_late_finalized_event_after_paid_leaves_the_invoice_paid(
    story: Story, deliver: Deliverer, invoices: DynamoInvoiceRepository, partners: DynamoPartnerRepository
) -> None:
    # Given the invoice finalized (charge declined), then paid, and only invoice.paid delivered
    charge_fails(story)
    new_card_and_pay(story)
    events = story.events()
    paid = next(e for e in events if e["type"] == "invoice.paid")
    assert deliver(paid).status == 200
    assert partners.standing(story.partner_id).past_due_invoices == ()

    # When the stale invoice.finalized (status open) and invoice.payment_failed arrive afterwards
    for stale_type in ("invoice.finalized", "invoice.payment_failed"):
        stale = next(e for e in events if e["type"] == stale_type)
        assert stale["data"]["object"]["status"] == "open"
        assert deliver(stale).status == 200

    # Then the invoice stays paid and the partner is not made past due again
    record = invoices.record(story.partner_id, PERIOD)
    assert record is not None and record.status == "paid" and not record.past_due
    assert partners.standing(story.partner_id).past_due_invoices == ()


def test_a_duplicate_of_a_processed_event_is_acknowledged_without_processing(
    story: Story, deliver: Deliverer, dedupe: EventRecords, emulator: RunningServer
) -> None:
    charge_fails(story)
    failed = next(e for e in story.events() if e["type"] == "invoice.payment_failed")
    first = deliver(failed)
    assert first.status == 200 and first.body == {"received": True}
    record = dedupe.get(failed["id"])
    assert record is not None and record["status"] == DONE and record["ttl"] > 0

    # Stripe is down now: a duplicate that were processed again would fail
    emulator.emulator.set_faults(server_error=1.0)
    again = deliver(failed)

    assert again.status == 200 and again.body == {"received": True, "duplicate": True}


def test_an_event_being_processed_by_another_delivery_is_answered_409_for_a_later_retry(
    story: Story, deliver: Deliverer, dedupe: EventRecords, clock: ManualClock
) -> None:
    charge_fails(story)
    failed = next(e for e in story.events() if e["type"] == "invoice.payment_failed")
    dedupe.claim(failed["id"], failed["type"], clock.now())  # a concurrent delivery holds it

    reply = deliver(failed)

    assert reply.status == 409 and reply.body["error"]["code"] == "event_in_progress"


# ---------------------------------------------------------------- failures are retried, once


def test_a_processing_failure_answers_5xx_and_stripes_retry_processes_it_once(
    story: Story,
    deliver: Deliverer,
    dedupe: EventRecords,
    emulator: RunningServer,
    invoices: DynamoInvoiceRepository,
    partners: DynamoPartnerRepository,
) -> None:
    charge_fails(story)
    failed = next(e for e in story.events() if e["type"] == "invoice.payment_failed")

    # When Stripe cannot be read while the event is processed
    emulator.emulator.set_faults(server_error=1.0)
    reply = deliver(failed)

    # Then the delivery fails (Stripe will retry), nothing changed and the claim is released
    assert reply.status >= 500 and "error" in reply.body
    assert partners.standing(story.partner_id).past_due_invoices == ()
    assert dedupe.get(failed["id"]) is None

    # When Stripe retries once it is reachable again
    emulator.emulator.clear_faults()
    assert deliver(failed).status == 200
    # Then the event took effect once, and a further retry is a duplicate
    assert partners.standing(story.partner_id).past_due_invoices == (story.invoice_id,)
    assert deliver(failed).body == {"received": True, "duplicate": True}
    record = invoices.record(story.partner_id, PERIOD)
    assert record is not None and record.past_due


# ---------------------------------------------------------------- what is acknowledged and changes nothing


def test_unknown_event_types_are_acknowledged_and_change_nothing(deliver: Deliverer, dedupe: EventRecords) -> None:
    event = json.loads(load_event("webhooks/unknown_type")["body"])
    event["id"] = f"evt_{uuid.uuid4().hex}"

    reply = deliver(event)

    assert reply.status == 200
    record = dedupe.get(event["id"])
    assert record is not None and record["outcome"]["action"] == "ignore"


def test_events_for_unknown_customers_and_invoices_are_acknowledged_and_change_nothing(
    sdk: stripe.StripeClient,
    emulator: RunningServer,
    deliver: Deliverer,
    invoices: DynamoInvoiceRepository,
    partners: DynamoPartnerRepository,
) -> None:
    # A customer and an invoice made in Stripe by something else (no partner points at them)
    since = len(emulator.emulator.events())
    stranger = sdk.v1.customers.create({"description": "not one of ours"})
    card = sdk.v1.payment_methods.attach("pm_card_visa", {"customer": stranger.id})
    sdk.v1.customers.update(stranger.id, {"invoice_settings": {"default_payment_method": card.id}})
    sdk.v1.invoice_items.create({"customer": stranger.id, "amount": 500, "currency": "usd"})
    invoice = sdk.v1.invoices.create({"customer": stranger.id, "pending_invoice_items_behavior": "include"})
    sdk.v1.invoices.finalize_invoice(invoice.id)
    sdk.v1.invoices.pay(invoice.id)
    events = emulator.emulator.events()[since:]
    assert {"payment_method.attached", "customer.updated", "invoice.finalized", "invoice.paid"} <= {
        e["type"] for e in events
    }

    assert set(deliver.all(events)) == {200}

    assert partners.partner_of_stripe_customer(stranger.id) is None
    assert invoices.find_by_stripe_id(invoice.id) is None


# ---------------------------------------------------------------- bad requests change nothing


def test_bad_and_stale_signatures_get_400_and_change_nothing(
    story: Story, deliver: Deliverer, dedupe: EventRecords, partners: DynamoPartnerRepository
) -> None:
    charge_fails(story)
    failed = next(e for e in story.events() if e["type"] == "invoice.payment_failed")
    now = int(deliver.clock.now().timestamp())
    body = json.dumps(failed)

    replies = {
        "wrong secret": deliver(failed, secret="whsec_not_ours"),
        "stale": deliver(failed, at=now - 301),
        "from the future": deliver(failed, at=now + 301),
        "tampered": deliver.raw(body.replace("payment_failed", "paid"), WebhookSignature.generate_signature_header(body, deliver.secret, now)),
        "missing": deliver.raw(body, None),
        "malformed": deliver.raw(body, "v1=deadbeef"),
    }

    for why, reply in replies.items():
        assert reply.status == 400, why
        assert reply.body["error"]["code"] == ("invalid_signature"), why
    assert dedupe.get(failed["id"]) is None
    assert partners.standing(story.partner_id).past_due_invoices == ()


def test_a_signed_body_that_is_not_json_or_not_an_event_is_400(deliver: Deliverer) -> None:
    now = int(deliver.clock.now().timestamp())
    for body in ("{not json", json.dumps({"hello": "world"})):
        reply = deliver.raw(body, WebhookSignature.generate_signature_header(body, deliver.secret, now))
        assert reply.status == 400 and reply.body["error"]["code"] == "malformed_request"


def test_an_oversized_body_is_400_before_anything_else(deliver: Deliverer) -> None:
    now = int(deliver.clock.now().timestamp())
    body = json.dumps({"id": "evt_big", "object": "event", "type": "x", "data": {"object": {}}, "pad": "x" * 262_144})

    reply = deliver.raw(body, WebhookSignature.generate_signature_header(body, deliver.secret, now))

    assert reply.status == 400 and reply.body["error"]["code"] == "payload_too_large"


def test_the_sample_event_verifies_once_resigned_at_the_test_clock(deliver: Deliverer) -> None:
    # The committed signature is stale by design; re-signed with the test secret and clock it verifies.
    sample = json.loads(load_event("webhooks/invoice_paid")["body"])
    sample["id"] = f"evt_{uuid.uuid4().hex}"

    reply = deliver(sample)

    assert reply.status == 200  # an invoice this system never made: acknowledged, nothing changed
