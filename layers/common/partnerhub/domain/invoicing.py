"""Month-end invoicing rules: the partner-month state machine, Stripe status ranks, past due, line descriptions.

Pure: no I/O, no wall clock. The worker and the webhooks persist what these functions decide.

A partner-month goes through these steps, each persisted before the next starts, so a crash at any
point resumes where it stopped:

``pending`` → ``drafted`` (the Stripe draft exists and its id is on the record) → ``itemized`` (one invoice
item per product is on the draft) → ``finalized`` (Stripe numbered it; it is ``open`` and Stripe's automatic
collection charges the default card about an hour later, retrying failures on its own schedule).
A month with nothing to bill ends in ``nothing_to_bill`` without any Stripe call.

Finalizing never charges: what the record says about payment comes only from Stripe's invoice as later
retrieved (webhooks, the pay route, a resumed run), and it never moves backwards.

Stripe's own status only moves forward: ``draft`` < ``open`` < {``paid``, ``void``, ``uncollectible``};
``uncollectible`` may still become ``paid`` or ``void``; ``paid`` and ``void`` are final. Within one
status, the object with more payment attempts is the newer one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from partnerhub.clock import Clock, isoformat
from partnerhub.domain.audit import AuditEntry
from partnerhub.domain.billing import BillableLicense, InvoiceLine, MonthlyBill, PriceVersion, bill_month
from partnerhub.domain.periods import Period
from partnerhub.errors import Conflict, Forbidden, NotFound, PaymentRequired, UpstreamError, ValidationFailed

if TYPE_CHECKING:  # a type only: the month-end planner never loads the product models
    from partnerhub.domain.models import Product


class Step(StrEnum):
    PENDING = "pending"
    DRAFTED = "drafted"
    ITEMIZED = "itemized"
    FINALIZED = "finalized"
    NOTHING_TO_BILL = "nothing_to_bill"


class Action(StrEnum):
    """What the worker does next for a partner-month."""

    CREATE_DRAFT = "create_draft"
    ADD_LINES = "add_lines"
    FINALIZE = "finalize"
    DONE = "done"


DRAFT, OPEN, PAID, VOID, UNCOLLECTIBLE = "draft", "open", "paid", "void", "uncollectible"
NOTHING_TO_BILL = "nothing_to_bill"
STATUSES = (DRAFT, OPEN, PAID, VOID, UNCOLLECTIBLE)
FINAL = frozenset({PAID, VOID})
_RANK = {DRAFT: 0, OPEN: 1, PAID: 2, VOID: 2, UNCOLLECTIBLE: 2}
_TIMES = "\u00d7"  # the multiplication sign
_STEP_ORDER = {Step.PENDING: 0, Step.DRAFTED: 1, Step.ITEMIZED: 2, Step.FINALIZED: 3, Step.NOTHING_TO_BILL: 3}


def rank(status: str) -> int:
    """Position of a Stripe invoice status in its lifecycle; unknown statuses rank below ``draft``."""
    return _RANK.get(status, -1)


@dataclass(frozen=True, slots=True)
class StripeState:
    """The part of a Stripe invoice that decides whether one object is newer than another."""

    status: str
    attempt_count: int = 0


def supersedes(current: StripeState | None, incoming: StripeState) -> bool:
    """Whether ``incoming`` may replace ``current`` on the record (state never moves backwards).

    Equal states supersede each other, so applying the same object twice is a harmless refresh.
    """
    if incoming.status not in _RANK:
        return False
    if current is None or current.status not in _RANK:
        return True
    if current.status == incoming.status:
        return incoming.attempt_count >= current.attempt_count
    if current.status in FINAL:
        return False
    if current.status == UNCOLLECTIBLE:
        return incoming.status in FINAL
    return rank(incoming.status) > rank(current.status)


def is_past_due(status: str, attempt_count: int) -> bool:
    """Past due: ``open`` with at least one failed payment attempt (``attempt_count > 0``: an attempt that
    succeeded would have made it ``paid``), or ``uncollectible``. An open invoice still waiting for Stripe's
    first attempt is not past due; ``paid`` and ``void`` never are. This is the only rule, whatever brings
    the invoice (webhook, pay route, worker, operator)."""
    return (status == OPEN and attempt_count > 0) or status == UNCOLLECTIBLE


class StandingChange(StrEnum):
    MARK = "mark"
    CLEAR = "clear"
    KEEP = "keep"


def standing_change(status: str, attempt_count: int) -> StandingChange:
    """What an invoice in this state does to the partner's past-due set."""
    if is_past_due(status, attempt_count):
        return StandingChange.MARK
    if status in FINAL:
        return StandingChange.CLEAR
    return StandingChange.KEEP


def step_for_status(status: str) -> Step:
    """The worker step a Stripe status proves done: a draft exists, or the invoice was finalized."""
    return Step.DRAFTED if status == DRAFT else Step.FINALIZED


def later_step(a: Step, b: Step) -> Step:
    return a if _STEP_ORDER[a] >= _STEP_ORDER[b] else b


@dataclass(frozen=True, slots=True)
class InvoiceRecord:
    """The partner-month record: where the month-end flow stands and the invoice as Stripe last showed it."""

    partner_id: str
    period: str
    step: Step = Step.PENDING
    invoice_id: str | None = None
    status: str | None = None
    number: str | None = None
    past_due: bool = False
    total: int = 0
    amount_due: int = 0
    amount_paid: int = 0
    currency: str = "usd"
    due_date: str | None = None
    created: str | None = None
    attempt_count: int = 0
    hosted_invoice_url: str | None = None
    invoice_pdf: str | None = None
    customer: str | None = None
    paid_at: str | None = None
    amount_remaining: int = 0
    next_payment_attempt: str | None = None
    last_payment_error: Mapping[str, Any] | None = None
    starting_balance: int = 0
    carried_to_next: int = 0
    finalized_at: str | None = None
    payments: tuple[Mapping[str, Any], ...] = ()  # Stripe's InvoicePayments, as repository.invoices keeps them
    lines: tuple[Mapping[str, Any], ...] = ()
    draft_requested: bool = False
    failure: Mapping[str, Any] | None = None
    key_generation: int = 0
    version: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def stripe_state(self) -> StripeState | None:
        return None if self.status is None or self.status not in _RANK else StripeState(self.status, self.attempt_count)


def next_action(record: InvoiceRecord | None) -> Action:
    """The worker's next move for a partner-month, from what the record proves done."""
    if record is None:
        return Action.CREATE_DRAFT
    if record.step in (Step.FINALIZED, Step.NOTHING_TO_BILL):
        return Action.DONE
    if record.status is not None and record.status != DRAFT:
        return Action.DONE
    if record.invoice_id is None:
        return Action.CREATE_DRAFT
    if record.step == Step.ITEMIZED:
        return Action.FINALIZE
    return Action.ADD_LINES


def money(cents: int) -> str:
    """``1234567`` → ``$12,345.67``."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{rest:02d}"


def line_description(product_name: str, line: InvoiceLine) -> str:
    """What the invoice says for one product: licenses, license-days, the daily price and any cap that applied.

    ``Jetpack Scan — 3 licenses, 57 license-days \u00d7 $0.14 (capped at $3.95 per license)`` (a multiplication sign)
    """
    licenses = f"{line.licenses} license{'s' if line.licenses != 1 else ''}"
    days = f"{line.license_days} license-day{'s' if line.license_days != 1 else ''}"
    text = f"{product_name} — {licenses}, {days} {_TIMES} {money(line.daily_price)}"
    if any(charge.amount == line.monthly_price < charge.days * line.daily_price for charge in line.charges):
        text += f" (capped at {money(line.monthly_price)} per license)"
    return text


def invoice_description(period: Period) -> str:
    return f"Jetpack licenses, {period.first_day.strftime('%B %Y')}"


def stored_line(line: InvoiceLine, product_name: str) -> dict[str, Any]:
    """A line as the record keeps it and the API shows it."""
    return {
        "product": line.product,
        "name": product_name,
        "licenses": line.licenses,
        "license_days": line.license_days,
        "daily_price": line.daily_price,
        "monthly_price": line.monthly_price,
        "amount": line.amount,
        "currency": line.currency,
        "description": line_description(product_name, line),
    }


def stored_lines(bill: MonthlyBill, names: Mapping[str, str]) -> list[dict[str, Any]]:
    return [stored_line(line, names.get(line.product, line.product)) for line in bill.lines]


def billable_period(period: Period, now: datetime) -> bool:
    """Only a month that has ended can be invoiced."""
    return period.end <= now


class PeriodNotEnded(Conflict):
    """409: a month-end run for a month that has not ended yet (every way a run starts refuses it the same way)."""

    code = "period_not_ended"


def require_ended(period: Period, now: datetime) -> Period:
    """``period``, when it has ended at ``now``; :class:`PeriodNotEnded` (409) naming when it ends otherwise."""
    if not billable_period(period, now):
        raise PeriodNotEnded(
            f"{period} has not ended yet (it ends {isoformat(period.end)}); only a month that has ended can be invoiced"
        )
    return period


def previous_period(now: datetime) -> Period:
    """The month before the one containing ``now`` (what the scheduler's run on the 1st bills)."""
    current = Period.containing(now)
    first: date = current.first_day
    return Period(first.year - 1, 12) if first.month == 1 else Period(first.year, first.month - 1)


# ---------------------------------------------------------------------------------------------- the month-end worker


class Outcome(StrEnum):
    INVOICED = "invoiced"
    NOTHING_TO_BILL = "nothing_to_bill"
    ALREADY_DONE = "already_done"


class InvoiceStore(Protocol):
    """The partner-month records (``repository.invoices``)."""

    def record(self, partner_id: str, period: str) -> InvoiceRecord | None: ...

    def start(self, partner_id: str, period: str) -> InvoiceRecord: ...

    def mark_draft_requested(self, partner_id: str, period: str, lines: list[dict[str, Any]]) -> None: ...

    def mark_itemized(self, partner_id: str, period: str) -> None: ...

    def mark_nothing_to_bill(self, partner_id: str, period: str) -> None: ...

    def apply_stripe_invoice(self, invoice: Mapping[str, Any]) -> InvoiceRecord | None: ...

    def record_failure(self, partner_id: str, period: str, step: str, message: str, at: datetime) -> None: ...

    def clear_failure(self, partner_id: str, period: str) -> None: ...

    def next_key_generation(self, partner_id: str, period: str, seen: int) -> int:
        """Move the partner-month's Stripe idempotency keys past generation ``seen`` (once, whoever asks first);
        the generation in force afterwards."""
        ...


class InvoiceGateway(Protocol):
    """Stripe invoices (``payments.invoicing``). Every write is idempotent on (partner, month[, product]) and the
    partner-month's key ``generation``."""

    def create_draft(
        self, customer_id: str, partner_id: str, period: str, description: str, generation: int = 0
    ) -> Mapping[str, Any]: ...

    def find_draft(self, customer_id: str, partner_id: str, period: str) -> Mapping[str, Any] | None: ...

    def line_products(self, invoice_id: str) -> set[str]: ...

    def add_line(
        self,
        customer_id: str,
        invoice_id: str,
        partner_id: str,
        period: str,
        line: Mapping[str, Any],
        generation: int = 0,
    ) -> None: ...

    def finalize(self, invoice_id: str, partner_id: str, period: str, generation: int = 0) -> Mapping[str, Any]: ...

    def finalized(self, invoice_id: str) -> Mapping[str, Any] | None:
        """The invoice as Stripe shows it when it is no longer a draft, else None."""
        ...


class Customers(Protocol):
    def customer(self, partner_id: str) -> str:
        """The partner's Stripe customer, created on first need."""
        ...


def month_lines(
    licenses: Callable[[str, Period], Iterable[BillableLicense]],
    catalog: Callable[[], tuple[Sequence[Product], Sequence[PriceVersion]]],
    partner_id: str,
    period: Period,
) -> list[dict[str, Any]]:
    """A partner-month's invoice lines as the worker stores them (and the operators' dry run shows them)."""
    products, prices = catalog()
    bill = bill_month(licenses(partner_id, period), prices, period)
    return stored_lines(bill, {p.product: p.name for p in products})


class InvoiceRunFailed(RuntimeError):
    """A partner-month stopped at ``step``; the message goes back to the queue (and in the end to the DLQ)."""

    def __init__(self, partner_id: str, period: str, step: str, cause: BaseException) -> None:
        super().__init__(f"invoicing {partner_id} for {period} stopped at {step}: {type(cause).__name__}: {cause}")
        self.partner_id, self.period, self.step, self.cause = partner_id, period, step, cause


def _line_products(invoice: Mapping[str, Any]) -> set[str] | None:
    """Products on an invoice object's embedded lines, or None when the object does not show them all."""
    try:
        lines = invoice["lines"]
        if lines["has_more"]:
            return None
        return {str(line["metadata"]["product"]) for line in lines["data"] if "product" in line["metadata"]}
    except (KeyError, TypeError):
        return None


class _Keys:
    """The partner-month's idempotency key generation during one run (moved on by :meth:`MonthEndInvoicer._write`)."""

    def __init__(self, generation: int) -> None:
        self.generation = generation


class MonthEndInvoicer:
    """One partner-month to exactly one finalized Stripe invoice, resumable after a crash at any step.

    Stripe calls on a first run: one draft, one invoice item per product, one finalize. A resumed run
    first looks at what Stripe already holds (the draft by metadata, the lines by product) so it never
    duplicates anything, even after Stripe's idempotency keys expired.

    A write Stripe answers with a server error is decided the same way, at once: Stripe saves that answer under
    the idempotency key and replays it for 24 hours, so asking again with the key cannot help. What Stripe holds
    decides: the draft found by metadata, the line found by product, the invoice no longer a draft, and the step
    is done; not found, the partner-month's keys move to their next generation (persisted first, so a crash
    cannot make two) and the write is made once more, as a new request. Only a failure that outlasts that goes
    back to the queue, and in the end to the dead-letter queue, for a person.
    """

    def __init__(
        self,
        store: InvoiceStore,
        gateway: InvoiceGateway,
        customers: Customers,
        licenses: Callable[[str, Period], Iterable[BillableLicense]],
        catalog: Callable[[], tuple[Sequence[Product], Sequence[PriceVersion]]],
        clock: Clock,
    ) -> None:
        self._store = store
        self._gateway = gateway
        self._customers = customers
        self._licenses = licenses
        self._catalog = catalog
        self._clock = clock

    def bill(self, partner_id: str, period: Period) -> list[dict[str, Any]]:
        """The month's lines, from the same read and computation as the estimate."""
        return month_lines(self._licenses, self._catalog, partner_id, period)

    def run(self, partner_id: str, period_text: str) -> Outcome:
        period = Period.parse(period_text)
        record = self._store.record(partner_id, period_text)
        if record is not None and next_action(record) is Action.DONE:
            if record.failure is not None:  # it stopped after its last step: the note is stale
                self._store.clear_failure(partner_id, period_text)
            return Outcome.ALREADY_DONE
        step = "start"
        try:
            record = record or self._store.start(partner_id, period_text)
            keys = _Keys(record.key_generation)
            invoice: Mapping[str, Any] | None = None
            if next_action(record) is Action.CREATE_DRAFT:
                step = "bill"
                lines = [dict(line) for line in record.lines] or self.bill(partner_id, period)
                if not lines:
                    self._store.mark_nothing_to_bill(partner_id, period_text)
                    return Outcome.NOTHING_TO_BILL
                step = "customer"
                customer = self._customers.customer(partner_id)
                step = "create_draft"
                if record.draft_requested:
                    invoice = self._gateway.find_draft(customer, partner_id, period_text)
                else:
                    self._store.mark_draft_requested(partner_id, period_text, lines)
                if invoice is None:
                    description = invoice_description(period)
                    invoice = self._write(
                        record,
                        keys,
                        lambda generation: self._gateway.create_draft(
                            customer, partner_id, period_text, description, generation
                        ),
                        lambda: self._gateway.find_draft(customer, partner_id, period_text),
                    )
                record = self._applied(invoice)
            if next_action(record) is Action.ADD_LINES:
                step = "add_lines"
                self._add_lines(record, invoice, keys)
                self._store.mark_itemized(partner_id, period_text)
                record = self._reread(partner_id, period_text)
            if next_action(record) is Action.FINALIZE:
                step = "finalize"
                invoice_id = record.invoice_id
                assert invoice_id is not None
                finalized = self._write(
                    record,
                    keys,
                    lambda generation: self._gateway.finalize(invoice_id, partner_id, period_text, generation),
                    lambda: self._gateway.finalized(invoice_id),
                )
                record = self._applied(finalized)
        except Exception as error:
            failure = InvoiceRunFailed(partner_id, period_text, step, error)
            try:
                self._store.record_failure(partner_id, period_text, step, str(failure), self._clock.now())
            except Exception as unrecorded:  # the original failure matters more than the note about it
                failure.add_note(f"the failure could not be recorded: {unrecorded}")
            raise failure from error
        if record.failure is not None:
            self._store.clear_failure(partner_id, period_text)
        return Outcome.INVOICED

    def _write[T](
        self, record: InvoiceRecord, keys: _Keys, write: Callable[[int], T], done: Callable[[], T | None]
    ) -> T:
        """``write`` under the current key generation; when Stripe answered it with a server error, ``done()``
        reads whether it took effect, and if not the write is made once more under the next generation."""
        try:
            return write(keys.generation)
        except UpstreamError as error:
            if not error.answered:
                raise
            found = done()
            if found is not None:
                return found
            keys.generation = self._store.next_key_generation(record.partner_id, record.period, keys.generation)
            return write(keys.generation)

    def _add_lines(self, record: InvoiceRecord, invoice: Mapping[str, Any] | None, keys: _Keys) -> None:
        invoice_id = record.invoice_id
        assert invoice_id is not None
        customer = record.customer or self._customers.customer(record.partner_id)
        present = _line_products(invoice) if invoice is not None else None
        if present is None:
            present = self._gateway.line_products(invoice_id)
        for line in record.lines:
            product = str(line["product"])
            if product in present:
                continue

            def add(generation: int, line: Mapping[str, Any] = line) -> bool:
                self._gateway.add_line(customer, invoice_id, record.partner_id, record.period, line, generation)
                return True

            def on_the_invoice(product: str = product) -> bool | None:
                return True if product in self._gateway.line_products(invoice_id) else None

            self._write(record, keys, add, on_the_invoice)

    def _applied(self, invoice: Mapping[str, Any]) -> InvoiceRecord:
        record = self._store.apply_stripe_invoice(invoice)
        if record is None:
            raise LookupError(f"Stripe invoice {invoice['id']} could not be matched to its partner-month")
        return record

    def _reread(self, partner_id: str, period: str) -> InvoiceRecord:
        record = self._store.record(partner_id, period)
        assert record is not None
        return record


# ---------------------------------------------------------------------------------------------- the invoices API


class InvoiceReads(Protocol):
    def get(self, partner_id: str, invoice_id: str) -> InvoiceRecord | None: ...

    def apply_stripe_invoice(self, invoice: Mapping[str, Any]) -> InvoiceRecord | None: ...


class PaymentGateway(Protocol):
    def retrieve(self, invoice_id: str) -> Mapping[str, Any]: ...

    def pay(self, invoice_id: str, payment_method_id: str, idempotency_key: str) -> Mapping[str, Any]: ...

    def void(self, invoice_id: str) -> Mapping[str, Any]: ...

    def mark_uncollectible(self, invoice_id: str) -> Mapping[str, Any]: ...


class OperatorReads(Protocol):
    def find_by_stripe_id(self, invoice_id: str) -> InvoiceRecord | None: ...


class AuditLog(Protocol):
    def record(self, entry: AuditEntry, once: str | None = None) -> bool:
        """Write ``entry``; with ``once``, only if no entry was written under that name before (True if written)."""
        ...


class InvoiceService:
    """A partner's invoices: read from the table; paying goes to Stripe and comes back through the record."""

    def __init__(
        self,
        store: InvoiceReads,
        gateway: PaymentGateway,
        primary_card: Callable[[str], str | None],
        cards: Callable[[str], Iterable[str]] | None = None,
    ) -> None:
        self._store = store
        self._gateway = gateway
        self._primary_card = primary_card
        self._cards = cards

    def get(self, partner_id: str, invoice_id: str) -> InvoiceRecord:
        """The partner's invoice; another partner's (or no such) invoice is a 404 alike."""
        record = self._store.get(partner_id, invoice_id)
        if record is None or record.status not in STATUSES:
            raise NotFound("no such invoice", code="invoice_not_found")
        return record

    def require_operator(self, partner_id: str | None, is_operator: bool, invoice_id: str) -> None:
        """Only operators void an invoice or mark it uncollectible. A partner is refused with 403 on its own
        invoice and with 404 on anyone else's, as if it did not exist (it is never revealed). The caller's
        own checks for an operator (MFA enrolled) follow this one (``partnerhub.api.Caller.require_operator``)."""
        if is_operator:
            return
        if partner_id is not None:
            self.get(partner_id, invoice_id)
        raise Forbidden("only operators may do this", code="not_an_operator")

    def pdf_url(self, partner_id: str, invoice_id: str) -> str:
        record = self.get(partner_id, invoice_id)
        if not record.invoice_pdf:
            raise Conflict("the invoice has no PDF until it is finalized", code="invoice_not_finalized")
        return record.invoice_pdf

    def pay(
        self, partner_id: str, invoice_id: str, receipt_id: str, payment_method_id: str | None = None
    ) -> InvoiceRecord:
        """Charge the primary card (or ``payment_method_id``, one of the partner's cards) for an open (or
        uncollectible) invoice now; paying clears past due.

        A decline is a 402 ``card_declined`` carrying Stripe's message (the record then shows the failed
        attempt); a card that needs 3-D Secure is a 402 ``authentication_required`` whose details carry the
        PaymentIntent's ``client_secret`` and the publishable key for Stripe.js; a paid, void or not yet
        finalized invoice is a 409.
        """
        record = self.get(partner_id, invoice_id)
        if record.status in FINAL or record.status == DRAFT:
            raise Conflict(
                f"the invoice is {record.status}; only open invoices can be paid", code="invoice_not_payable"
            )
        card = payment_method_id or self._primary_card(partner_id)
        if card is None:
            raise PaymentRequired("add a card before paying", code="payment_method_required")
        if payment_method_id is not None and payment_method_id not in set(
            self._cards(partner_id) if self._cards else ()
        ):
            raise ValidationFailed(
                "no such payment method",
                details=[{"field": "payment_method_id", "reason": "not one of your payment methods"}],
            )
        try:
            paid = self._gateway.pay(invoice_id, card, f"pay:{partner_id}:{invoice_id}:{receipt_id}")
        except (PaymentRequired, Conflict):
            # The attempt changed the invoice (attempt count, or it was settled elsewhere): keep the record true.
            self._store.apply_stripe_invoice(self._gateway.retrieve(invoice_id))
            raise
        updated = self._store.apply_stripe_invoice(paid)
        assert updated is not None
        return updated


class InvoiceOperations:
    """What operators may do to any partner's invoice: void it, or mark it uncollectible (Stripe first, then
    the record and the partner's standing through the same monotonic apply as everything else).

    With an ``audit`` entry, a transition that happened is written to the audit log after Stripe made it (with
    the partner, the month and the status it left); one that was already made (a repeated call) writes none.
    """

    def __init__(
        self, store: OperatorReads, ledger: InvoiceReads, gateway: PaymentGateway, audit_log: AuditLog | None = None
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._gateway = gateway
        self._audit_log = audit_log

    def _record(self, invoice_id: str) -> InvoiceRecord:
        record = self._store.find_by_stripe_id(invoice_id)
        if record is None or record.invoice_id != invoice_id or record.status not in STATUSES:
            raise NotFound("no such invoice", code="invoice_not_found")
        return record

    def void(self, invoice_id: str, audit: AuditEntry | None = None) -> InvoiceRecord:
        """Void an open or uncollectible invoice (a void one is returned as it is); standing follows."""
        return self._transition(invoice_id, VOID, (OPEN, UNCOLLECTIBLE), self._gateway.void, audit)

    def mark_uncollectible(self, invoice_id: str, audit: AuditEntry | None = None) -> InvoiceRecord:
        """Mark an open invoice uncollectible (an uncollectible one is returned as it is); it stays past due."""
        return self._transition(invoice_id, UNCOLLECTIBLE, (OPEN,), self._gateway.mark_uncollectible, audit)

    def _transition(
        self,
        invoice_id: str,
        target: str,
        allowed: tuple[str, ...],
        call: Callable[[str], Mapping[str, Any]],
        audit: AuditEntry | None = None,
    ) -> InvoiceRecord:
        record = self._record(invoice_id)
        if record.status == target:
            return record
        if record.status not in allowed:
            # The record may lag Stripe: ask Stripe before refusing.
            current = self._ledger.apply_stripe_invoice(self._gateway.retrieve(invoice_id)) or record
            if current.status == target:
                return current
            if current.status not in allowed:
                raise Conflict(
                    f"the invoice is {current.status}; only {' or '.join(allowed)} invoices can become {target}",
                    code="invoice_not_transitionable",
                )
            record = current
        updated = self._ledger.apply_stripe_invoice(call(invoice_id))
        assert updated is not None
        if audit is not None and self._audit_log is not None:
            summary = {
                **audit.summary,
                "partner_id": record.partner_id,
                "period": record.period,
                "number": record.number,
                "from_status": record.status,
                "to_status": updated.status,
                "amount_remaining": record.amount_remaining,
            }
            # Once per invoice and transition: two racing calls (each without a key) both reach Stripe, whose
            # idempotency makes them one transition, and the log says so once.
            self._audit_log.record(replace(audit, summary=summary), once=f"{target}:{invoice_id}")
        return updated
