"""What each Stripe event means for us, decided so that order and staleness never matter.

Stripe delivers events at least once and in no particular order, and an event's ``data.object`` is the
object as it was when the event was created. So no event is applied as a command. An event only says
*which* of our objects to bring up to date, and that object is then brought to Stripe's CURRENT state:

- ``invoice.*``: the invoice is retrieved from Stripe and handed to the invoice ledger, whose update is
  monotonic (draft < open < paid | void | uncollectible) and sets the partner's past-due standing in the
  same write. A late ``invoice.finalized`` after ``invoice.paid`` retrieves a paid invoice: still paid.
  ``invoice.updated``, which Stripe sends beside nearly every other invoice event, costs a Stripe read only
  when its object shows a later state (status, attempts) than the record already holds.
- card events (``payment_method.*``, ``customer.updated`` with a new default, ``setup_intent.succeeded``):
  the partner's card mirror and ``has_payment_method`` are re-synchronised from Stripe's current list.

Either way the end state depends only on Stripe's state, never on which events came, how often, or in
what order. Events for objects we do not know (another system's invoice, an unknown customer) and types
we do not handle are acknowledged and change nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from partnerhub import retry
from partnerhub.clock import Clock
from partnerhub.domain.accounts import Card, CardBook, CardDetails, ConcurrentChange, promoted
from partnerhub.domain.invoicing import StripeState, supersedes


class Action(StrEnum):
    INVOICE = "invoice"  # bring one invoice (and the partner's standing) to Stripe's current state
    CARDS = "cards"  # bring one partner's cards (and has_payment_method) to Stripe's current state
    IGNORE = "ignore"  # acknowledged, nothing to do


INVOICE_EVENTS = frozenset(
    {
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
        "invoice.payment_action_required",
        "invoice.updated",
        "invoice.voided",
        "invoice.marked_uncollectible",
    }
)
CARD_EVENTS = frozenset(
    {
        "payment_method.attached",
        "payment_method.detached",
        "payment_method.updated",
        "payment_method.automatically_updated",
        "customer.updated",
        "setup_intent.succeeded",
    }
)


def action_for(event_type: str) -> Action:
    if event_type in INVOICE_EVENTS:
        return Action.INVOICE
    if event_type in CARD_EVENTS:
        return Action.CARDS
    return Action.IGNORE


def _object(event: Mapping[str, Any]) -> Mapping[str, Any]:
    obj = event.get("data", {}).get("object", {})
    return obj if isinstance(obj, Mapping) else {}


def _previous(event: Mapping[str, Any]) -> Mapping[str, Any]:
    previous = event.get("data", {}).get("previous_attributes") or {}
    return previous if isinstance(previous, Mapping) else {}


def _id(value: Any) -> str | None:
    """An id field, expanded (``{"id": ...}``) or not."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def invoice_id_of(event: Mapping[str, Any]) -> str | None:
    return _id(_object(event).get("id"))


def customer_of(event: Mapping[str, Any]) -> str | None:
    """The customer a card event concerns.

    A detached payment method no longer names its customer; the customer it had is in
    ``previous_attributes``. A customer event's object is the customer itself.
    """
    obj = _object(event)
    if str(event.get("type", "")).startswith("customer."):
        return _id(obj.get("id"))
    return _id(obj.get("customer")) or _id(_previous(event).get("customer"))


def changes_default_payment_method(event: Mapping[str, Any]) -> bool:
    """Whether a ``customer.updated`` touched the default payment method (else it needs no Stripe call)."""
    previous = _previous(event)
    settings = previous.get("invoice_settings")
    if isinstance(settings, Mapping) and "default_payment_method" in settings:
        return True
    return "default_source" in previous


class InvoiceLedger(Protocol):
    """The partner-month invoice records (owned by the invoicing repository)."""

    def find_by_stripe_id(self, invoice_id: str) -> Any | None: ...

    def apply_stripe_invoice(self, invoice: dict[str, Any]) -> Any | None: ...


class StripeView(Protocol):
    """Stripe's current state of an object."""

    def invoice(self, invoice_id: str) -> dict[str, Any]: ...


class CustomerDirectory(Protocol):
    def partner_of_stripe_customer(self, customer_id: str) -> str | None: ...


class CardSync(Protocol):
    def sync(self, partner_id: str, customer_id: str) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """What handling one event did; logged and stored on the dedupe record."""

    action: Action
    applied: bool
    reason: str
    partner_id: str | None = None
    object_id: str | None = None


class WebhookService:
    """Routes a verified, first-seen event to the one update it implies."""

    def __init__(self, invoices: InvoiceLedger, stripe: StripeView, customers: CustomerDirectory, cards: CardSync):
        self._invoices = invoices
        self._stripe = stripe
        self._customers = customers
        self._cards = cards

    def handle(self, event: Mapping[str, Any]) -> Outcome:
        action = action_for(str(event.get("type", "")))
        if action is Action.INVOICE:
            return self._invoice(event)
        if action is Action.CARDS:
            return self._card_event(event)
        return Outcome(Action.IGNORE, False, "unhandled event type")

    def _invoice(self, event: Mapping[str, Any]) -> Outcome:
        invoice_id = invoice_id_of(event)
        if invoice_id is None:
            return Outcome(Action.INVOICE, False, "event names no invoice")
        # Ours or not is known locally: an invoice we never made costs no Stripe call.
        known = self._invoices.find_by_stripe_id(invoice_id)
        if known is None:
            return Outcome(Action.INVOICE, False, "unknown invoice", object_id=invoice_id)
        if event.get("type") == "invoice.updated" and not shows_later_state(known, _object(event)):
            # Stripe sends it beside the event that names the change, which reads the invoice; when the record
            # already holds this state (or a later one) there is nothing to read.
            return Outcome(Action.INVOICE, False, "the record holds this state", _partner_of(known), invoice_id)
        current = self._stripe.invoice(invoice_id)
        record = self._invoices.apply_stripe_invoice(current)
        if record is None:
            return Outcome(Action.INVOICE, False, "unknown invoice", object_id=invoice_id)
        return Outcome(
            Action.INVOICE, True, f"invoice is {current.get('status')}", _partner_of(record), object_id=invoice_id
        )

    def _card_event(self, event: Mapping[str, Any]) -> Outcome:
        if event.get("type") == "customer.updated" and not changes_default_payment_method(event):
            return Outcome(Action.IGNORE, False, "customer change does not concern payment methods")
        customer_id = customer_of(event)
        if customer_id is None:
            return Outcome(Action.CARDS, False, "event names no customer")
        partner_id = self._customers.partner_of_stripe_customer(customer_id)
        if partner_id is None:
            return Outcome(Action.CARDS, False, "unknown customer", object_id=customer_id)
        self._cards.sync(partner_id, customer_id)
        return Outcome(Action.CARDS, True, "cards synchronised", partner_id, object_id=customer_id)


def shows_later_state(record: Any, invoice: Mapping[str, Any]) -> bool:
    """Whether an event's invoice object is in a later state than the record: a later status, or more payment
    attempts in the same status (``domain.invoicing.supersedes``, equal states excluded)."""
    status, attempts = invoice.get("status"), invoice.get("attempt_count")
    if not isinstance(status, str) or not isinstance(attempts, int):
        return True  # an object that does not say: read it
    incoming = StripeState(status, attempts)
    current = getattr(record, "stripe_state", None)
    return incoming != current and supersedes(current, incoming)


def _partner_of(record: Any) -> str | None:
    value = record.get("partner_id") if isinstance(record, Mapping) else getattr(record, "partner_id", None)
    return str(value) if value else None


# Card mirror ----------------------------------------------------------------------------------------
def synced_book(before: CardBook, attached: Sequence[CardDetails], default: str | None, now: datetime) -> CardBook:
    """The card book matching Stripe's current cards: known cards keep when they were added but take
    Stripe's current details (a renewed expiry), new ones are added ``now``, gone ones leave; the primary
    is Stripe's default when it is one of them, else the current primary if it stays, else the newest card."""
    added = {card.id: card.added_at for card in before.cards}
    cards = tuple(Card.of(details, added.get(details.id, now)) for details in attached)
    ids = {card.id for card in cards}
    if default in ids:
        primary: str | None = default
    elif before.primary in ids:
        primary = before.primary
    else:
        primary = promoted(cards)
    return replace(before, cards=tuple(sorted(cards, key=lambda c: (c.added_at, c.id))), primary=primary)


class CardRepository(Protocol):
    def card_book(self, partner_id: str) -> CardBook: ...

    def commit_cards(self, partner_id: str, before: CardBook, after: CardBook) -> None: ...


class StripeCardsView(Protocol):
    def cards(self, customer_id: str) -> tuple[list[CardDetails], str | None]:
        """The cards attached to the customer and its default payment method."""
        ...


class CardMirror:
    """Brings a partner's card mirror and ``has_payment_method`` to Stripe's current state."""

    def __init__(self, repository: CardRepository, stripe: StripeCardsView, clock: Clock, *, attempts: int = 5) -> None:
        self._repository = repository
        self._stripe = stripe
        self._clock = clock
        self._attempts = attempts

    def sync(self, partner_id: str, customer_id: str) -> None:
        self._retrying(lambda: self._attempt(partner_id, customer_id))

    def _attempt(self, partner_id: str, customer_id: str) -> None:
        # The book is read BEFORE Stripe, and the write is conditional on the book's version. The portal's
        # commands change Stripe first and the book second, so a Stripe view older than one of their
        # changes either meets the version they bumped (and is retried with a fresh read), or is written
        # before their write, whose own version check then makes them redo their change on top of it.
        before = self._repository.card_book(partner_id)
        attached, default = self._stripe.cards(customer_id)
        after = synced_book(before, attached, default, self._clock.now())
        if after != before:
            self._repository.commit_cards(partner_id, before, after)

    def _retrying(self, attempt: Callable[[], None]) -> None:
        retry.on_conflict((ConcurrentChange,), attempts=self._attempts)(attempt)
