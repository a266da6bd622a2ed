"""Month-end invoicing rules: the partner-month state machine, Stripe status ranks, past due, line descriptions.

Pure: no I/O, no wall clock. The worker and the webhooks persist what these functions decide.

A partner-month goes through these steps, each persisted before the next starts, so a crash at any
point resumes where it stopped:

``pending`` → ``drafted`` (the Stripe draft exists and its id is on the record) → ``itemized`` (one invoice
item per product is on the draft) → ``finalized`` (Stripe numbered it and charged the primary card).
A month with nothing to bill ends in ``nothing_to_bill`` without any Stripe call.

Stripe's own status only moves forward: ``draft`` < ``open`` < {``paid``, ``void``, ``uncollectible``};
``uncollectible`` may still become ``paid`` or ``void``; ``paid`` and ``void`` are final. Within one
status, the object with more payment attempts is the newer one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from partnerhub.domain.billing import InvoiceLine, MonthlyBill
from partnerhub.domain.periods import Period


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
    """An open invoice whose payment attempt failed, or one Stripe gave up on, is past due."""
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
    lines: tuple[Mapping[str, Any], ...] = ()
    draft_requested: bool = False
    failure: Mapping[str, Any] | None = None
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


def previous_period(now: datetime) -> Period:
    """The month before the one containing ``now`` (what the scheduler's run on the 1st bills)."""
    current = Period.containing(now)
    first: date = current.first_day
    return Period(first.year - 1, 12) if first.month == 1 else Period(first.year, first.month - 1)
