"""Which Stripe events do what, with in-memory fakes: invoices and cards are brought to Stripe's current state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from partnerhub.clock import ManualClock
from partnerhub.domain.accounts import Card, CardBook, CardDetails, ConcurrentChange
from partnerhub.domain.invoicing import InvoiceRecord
from partnerhub.domain.webhooks import Action, CardMirror, WebhookService, customer_of, synced_book

NOW = datetime(2026, 12, 1, 0, 20, tzinfo=UTC)
EARLIER = datetime(2026, 11, 2, tzinfo=UTC)
VISA = CardDetails("pm_visa", "visa", "4242", 12, 2030)
MASTERCARD = CardDetails("pm_mc", "mastercard", "4444", 1, 2031)


def event(event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {"id": "evt_1", "object": "event", "type": event_type, "data": data}


class FakeLedger:
    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.applied: list[dict[str, Any]] = []

    def find_by_stripe_id(self, invoice_id: str) -> Any | None:
        return {"partner_id": "agency-1"} if invoice_id in self.known else None

    def apply_stripe_invoice(self, invoice: dict[str, Any]) -> Any | None:
        self.applied.append(invoice)
        return {"partner_id": "agency-1", "status": invoice["status"]} if invoice["id"] in self.known else None


class FakeStripe:
    def __init__(self, invoices: dict[str, dict[str, Any]]) -> None:
        self.invoices = invoices
        self.calls: list[str] = []

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        self.calls.append(invoice_id)
        return self.invoices[invoice_id]


class FakeCustomers:
    def partner_of_stripe_customer(self, customer_id: str) -> str | None:
        return "agency-1" if customer_id == "cus_1" else None


class FakeCards:
    def __init__(self) -> None:
        self.synced: list[tuple[str, str]] = []

    def sync(self, partner_id: str, customer_id: str) -> None:
        self.synced.append((partner_id, customer_id))


@pytest.fixture
def parts() -> tuple[FakeLedger, FakeStripe, FakeCards, WebhookService]:
    ledger = FakeLedger({"in_1"})
    stripe = FakeStripe({"in_1": {"id": "in_1", "status": "paid"}})
    cards = FakeCards()
    return ledger, stripe, cards, WebhookService(ledger, stripe, FakeCustomers(), cards)


def test_a_stale_invoice_event_applies_the_invoice_as_stripe_has_it_now(parts: Any) -> None:
    ledger, stripe, _, service = parts
    stripe.invoices["in_1"] = {"id": "in_1", "status": "paid"}

    outcome = service.handle(event("invoice.finalized", {"id": "in_1", "status": "open"}))

    assert outcome.action is Action.INVOICE and outcome.applied
    assert stripe.calls == ["in_1"]
    assert ledger.applied == [{"id": "in_1", "status": "paid"}]  # not the event's "open"
    assert outcome.partner_id == "agency-1"


def test_an_invoice_we_never_made_costs_no_stripe_call_and_changes_nothing(parts: Any) -> None:
    ledger, stripe, _, service = parts

    outcome = service.handle(event("invoice.paid", {"id": "in_someone_elses", "status": "paid"}))

    assert not outcome.applied and outcome.reason == "unknown invoice"
    assert stripe.calls == [] and ledger.applied == []


@pytest.mark.parametrize(
    ("event_type", "obj", "previous"),
    [
        ("payment_method.attached", {"id": "pm_1", "customer": "cus_1"}, None),
        ("payment_method.updated", {"id": "pm_1", "customer": "cus_1"}, {"card": {"exp_year": 2029}}),
        ("payment_method.detached", {"id": "pm_1", "customer": None}, {"customer": "cus_1"}),
        ("setup_intent.succeeded", {"id": "seti_1", "customer": "cus_1", "payment_method": "pm_1"}, None),
        ("customer.updated", {"id": "cus_1"}, {"invoice_settings": {"default_payment_method": None}}),
    ],
)
def test_card_events_resync_the_partner_of_the_customer(
    parts: Any, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None
) -> None:
    _, _, cards, service = parts

    outcome = service.handle(event(event_type, obj, previous))

    assert outcome.action is Action.CARDS and outcome.applied
    assert cards.synced == [("agency-1", "cus_1")]


def test_a_customer_update_that_leaves_payment_methods_alone_needs_nothing(parts: Any) -> None:
    _, _, cards, service = parts

    outcome = service.handle(event("customer.updated", {"id": "cus_1"}, {"name": "Old name"}))

    assert outcome.action is Action.IGNORE and cards.synced == []


def test_events_of_unknown_customers_change_nothing(parts: Any) -> None:
    _, _, cards, service = parts

    outcome = service.handle(event("payment_method.attached", {"id": "pm_1", "customer": "cus_stranger"}))

    assert not outcome.applied and outcome.reason == "unknown customer" and cards.synced == []


def test_unknown_event_types_are_acknowledged_without_work(parts: Any) -> None:
    ledger, stripe, cards, service = parts

    outcome = service.handle(event("charge.dispute.created", {"id": "dp_1"}))

    assert outcome.action is Action.IGNORE and not outcome.applied
    assert stripe.calls == [] and ledger.applied == [] and cards.synced == []


def test_the_customer_of_an_expanded_or_detached_object() -> None:
    assert customer_of(event("payment_method.attached", {"customer": {"id": "cus_9"}})) == "cus_9"
    assert customer_of(event("payment_method.detached", {"customer": None}, {"customer": "cus_9"})) == "cus_9"
    assert customer_of(event("customer.updated", {"id": "cus_9"})) == "cus_9"
    assert customer_of(event("setup_intent.succeeded", {"customer": None})) is None


# ---------------------------------------------------------------- the card mirror


def card(details: CardDetails, added_at: datetime) -> Card:
    return Card.of(details, added_at)


def test_synced_book_adds_new_cards_keeps_known_ones_and_takes_stripes_default() -> None:
    before = CardBook(cards=(card(VISA, EARLIER),), primary="pm_visa", version=3)

    after = synced_book(before, [VISA, MASTERCARD], "pm_mc", NOW)

    assert after.cards == (card(VISA, EARLIER), card(MASTERCARD, NOW))
    assert after.primary == "pm_mc" and after.version == 3


def test_synced_book_drops_detached_cards_and_promotes_the_newest_left() -> None:
    before = CardBook(cards=(card(VISA, EARLIER), card(MASTERCARD, NOW)), primary="pm_visa", version=1)

    assert synced_book(before, [MASTERCARD], None, NOW).primary == "pm_mc"
    assert synced_book(before, [], None, NOW) == CardBook(cards=(), primary=None, version=1)


def test_synced_book_takes_a_renewed_expiry_and_keeps_when_the_card_was_added() -> None:
    before = CardBook(cards=(card(VISA, EARLIER),), primary="pm_visa", version=2)
    renewed = CardDetails("pm_visa", "visa", "4242", 12, 2034)

    after = synced_book(before, [renewed], "pm_visa", NOW)

    assert after.cards == (card(renewed, EARLIER),)


def test_synced_book_is_unchanged_when_stripe_agrees() -> None:
    before = CardBook(cards=(card(VISA, EARLIER),), primary="pm_visa", version=2)

    assert synced_book(before, [VISA], "pm_visa", NOW) == before


class FakeCardRepository:
    def __init__(self, book: CardBook, conflicts: int = 0) -> None:
        self.book = book
        self.conflicts = conflicts
        self.commits = 0

    def card_book(self, partner_id: str) -> CardBook:
        return self.book

    def commit_cards(self, partner_id: str, before: CardBook, after: CardBook) -> None:
        if self.conflicts:
            self.conflicts -= 1
            raise ConcurrentChange()
        self.commits += 1
        self.book = CardBook(after.cards, after.primary, before.version + 1)


class FakeStripeCards:
    def __init__(self, cards: list[CardDetails], default: str | None) -> None:
        self.state = (cards, default)

    def cards(self, customer_id: str) -> tuple[list[CardDetails], str | None]:
        return self.state


def test_the_mirror_retries_a_concurrent_change_and_writes_nothing_when_in_step() -> None:
    repository = FakeCardRepository(CardBook(), conflicts=2)
    mirror = CardMirror(repository, FakeStripeCards([VISA], "pm_visa"), ManualClock(NOW))

    mirror.sync("agency-1", "cus_1")
    mirror.sync("agency-1", "cus_1")

    assert repository.commits == 1
    assert repository.book.cards == (card(VISA, NOW),) and repository.book.primary == "pm_visa"


class RecordLedger(FakeLedger):
    """A ledger whose record holds a Stripe state, as the invoice repository's records do."""

    def __init__(self, status: str, attempts: int) -> None:
        super().__init__({"in_1"})
        self.held = InvoiceRecord("agency-1", "2026-11", invoice_id="in_1", status=status, attempt_count=attempts)

    def find_by_stripe_id(self, invoice_id: str) -> Any | None:
        return self.held if invoice_id in self.known else None


@pytest.mark.parametrize(
    ("held", "shown", "reads"),
    [
        (("paid", 1), ("paid", 1), 0),  # beside invoice.paid, already applied: nothing to read
        (("open", 1), ("open", 0), 0),  # older than the record
        (("paid", 1), ("open", 1), 0),  # a paid record never goes back
        (("open", 0), ("open", 1), 1),  # a failed attempt the record has not seen yet
        (("open", 1), ("paid", 1), 1),  # paid, and its own event not here yet
    ],
)
def test_invoice_updated_reads_stripe_only_when_it_shows_a_later_state_than_the_record(
    held: tuple[str, int], shown: tuple[str, int], reads: int
) -> None:
    """Stripe sends invoice.updated beside nearly every invoice event (https://docs.stripe.com/api/events/types:
    "Occurs whenever an invoice changes"): one cheap path, a Stripe read only when the record lags."""
    ledger = RecordLedger(*held)
    stripe = FakeStripe({"in_1": {"id": "in_1", "status": shown[0], "attempt_count": shown[1]}})
    service = WebhookService(ledger, stripe, FakeCustomers(), FakeCards())

    outcome = service.handle(event("invoice.updated", {"id": "in_1", "status": shown[0], "attempt_count": shown[1]}))

    assert outcome.action is Action.INVOICE and outcome.partner_id == "agency-1"
    assert len(stripe.calls) == reads and len(ledger.applied) == reads and outcome.applied is bool(reads)


def test_customer_updated_for_anything_but_the_default_card_costs_nothing(parts: Any) -> None:
    """Finalizing an invoice moves the customer's invoice sequence: customer.updated, which changes no card."""
    _, stripe, cards, service = parts

    outcome = service.handle(event("customer.updated", {"id": "cus_1"}, {"next_invoice_sequence": 1, "balance": 0}))

    assert outcome.action is Action.IGNORE and cards.synced == [] and stripe.calls == []
