"""Month-end runs as operators see them: a dry run, starting a run, its progress, re-driving its failures.

The dry run computes each billable partner's lines with the worker's own function (``invoicing.month_lines``,
over the same license read and catalog) and writes nothing, calls no Stripe. It is paged by partner id: a page
reads its partners' ids, their partner-month records and, for those not done, their month's licenses, so its
cost is bounded by the page size, never by the number of partners. Starting a run asks for the
planner through its request queue, the path the schedule's run takes from the planner on; progress reads
the partner-month records the worker keeps; a retry moves the run's messages from the dead-letter queue back
to the worker's queue. Every action is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from partnerhub.clock import Clock
from partnerhub.domain.audit import AuditEntry
from partnerhub.domain.billing import CURRENCY, BillableLicense, PriceVersion
from partnerhub.domain.invoicing import (
    Action,
    InvoiceRecord,
    Step,
    month_lines,
    next_action,
    require_ended,
)
from partnerhub.domain.models import Product
from partnerhub.domain.periods import Period
from partnerhub.errors import ValidationFailed

WOULD_INVOICE = "would_invoice"
ALREADY_INVOICED = "already_invoiced"
NOTHING_TO_BILL = "nothing_to_bill"

PREVIEW_PAGE = 100  # partners a dry-run page computes unless asked otherwise
PREVIEW_PAGE_MAX = 500


@dataclass(frozen=True, slots=True)
class PartnerPreview:
    partner_id: str
    state: str  # would_invoice | already_invoiced | nothing_to_bill
    lines: tuple[Mapping[str, Any], ...]
    total: int
    invoice_id: str | None = None


@dataclass(frozen=True, slots=True)
class RunPreview:
    """One page of the dry run: its partners, by id, and their sums."""

    period: str
    partners: tuple[PartnerPreview, ...]
    total: int  # this page's partners' months, invoiced or not
    to_invoice: int  # what a run would invoice now to this page's partners
    currency: str = CURRENCY
    next_cursor: str | None = None  # None: the last page


@dataclass(frozen=True, slots=True)
class RunProgress:
    period: str
    started_at: str | None
    started_by: str | None
    planned: int
    invoiced: int
    nothing_to_bill: int
    failed: int
    pending: int
    dead_lettered: int
    failures: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)
    started_by_name: str | None = None
    """The first starter's email or user name from their token, for people to read (``started_by`` is the id)."""
    last_planned_at: str | None = None
    last_planned_by: str | None = None
    planned_partners: int | None = None
    """How many partner-months the last plan enqueued (None before the planner ran)."""
    last_planned_by_name: str | None = None
    """The email or user name of the operator the last plan was for, when an operator asked for it."""


@dataclass(frozen=True, slots=True)
class Redrive:
    period: str
    redriven: tuple[str, ...]


class PartnerPage(Protocol):
    """A page of the billable registry, by partner id."""

    @property
    def partner_ids(self) -> Sequence[str]: ...

    @property
    def next_cursor(self) -> str | None: ...


class RunLog(Protocol):
    def started(self, period: str, audit: AuditEntry) -> None:
        """Note that an operator started ``period`` and write ``audit``, in one transaction."""
        ...

    def run(self, period: str) -> Mapping[str, Any] | None: ...


class RunQueues(Protocol):
    def request_run(self, period: str, started_by: str | None = None) -> None:
        """Ask the planner for ``period`` on behalf of ``started_by`` (its request queue)."""
        ...

    def dead_letters(self, period: str) -> list[str]:
        """The partners whose message for ``period`` is in the dead-letter queue (nothing is moved)."""
        ...

    def redrive(self, period: str) -> list[str]:
        """Move ``period``'s dead letters back to the worker's queue; the partners moved."""
        ...


class AuditLog(Protocol):
    def record(self, entry: AuditEntry, once: str | None = None) -> bool: ...


def ended_period(text: str, clock: Clock) -> Period:
    """``text`` as a month that has ended (only those can be invoiced): 422 malformed, 409 not yet ended."""
    try:
        period = Period.parse(text)
    except ValueError as error:
        raise ValidationFailed("invalid period", details=[{"field": "period", "reason": "YYYY-MM"}]) from error
    return require_ended(period, clock.now())


def partner_state(record: InvoiceRecord | None) -> str:
    """Where a planned partner-month stands: pending, invoiced, nothing_to_bill or failed."""
    if record is None:
        return "pending"
    if record.step is Step.NOTHING_TO_BILL:
        return "nothing_to_bill"
    if next_action(record) is Action.DONE:
        return "invoiced"
    return "failed" if record.failure is not None else "pending"


class InvoiceRunService:
    """``partners(before)`` and ``partner_page(limit, cursor, before)`` read the billable registry as the planner
    does: the partners billable before the month's end (one whose first license came later has nothing to bill
    in the month), so the dry run, the progress and the run count the same partners."""

    def __init__(
        self,
        partners: Callable[[datetime], Iterable[str]],
        partner_page: Callable[[int, str | None, datetime], PartnerPage],
        records: Callable[[str, list[str]], Mapping[str, InvoiceRecord]],
        licenses: Callable[[str, Period], Iterable[BillableLicense]],
        catalog: Callable[[], tuple[Sequence[Product], Sequence[PriceVersion]]],
        runs: RunLog,
        queues: RunQueues,
        audit_log: AuditLog,
        clock: Clock,
    ) -> None:
        self._partners = partners
        self._partner_page = partner_page
        self._records = records
        self._licenses = licenses
        self._catalog = catalog
        self._runs = runs
        self._queues = queues
        self._audit_log = audit_log
        self._clock = clock

    def preview(self, period_text: str, limit: int = PREVIEW_PAGE, cursor: str | None = None) -> RunPreview:
        """What a run would invoice ``limit`` billable partners, by id from ``cursor`` on, computed as the worker
        computes it; writes nothing. A malformed cursor is 422 (the page reader's), before anything is read."""
        period = ended_period(period_text, self._clock)
        if not 1 <= limit <= PREVIEW_PAGE_MAX:
            raise ValidationFailed(
                "invalid limit", details=[{"field": "limit", "reason": f"from 1 to {PREVIEW_PAGE_MAX}"}]
            )
        page = self._partner_page(limit, cursor, period.end)
        partner_ids = sorted(set(page.partner_ids))
        records = self._records(str(period), partner_ids) if partner_ids else {}
        found = self._previews(period, partner_ids, records)
        return RunPreview(
            period=str(period),
            partners=found,
            total=sum(p.total for p in found),
            to_invoice=sum(p.total for p in found if p.state == WOULD_INVOICE),
            next_cursor=page.next_cursor,
        )

    def _previews(
        self, period: Period, partner_ids: Sequence[str], records: Mapping[str, InvoiceRecord]
    ) -> tuple[PartnerPreview, ...]:
        """Each partner's month as the worker bills it: a done record's lines, a started record's stored lines,
        else the lines computed from its licenses (the catalog read once for the page)."""
        if not partner_ids:
            return ()
        loaded = self._catalog()

        def catalog() -> tuple[Sequence[Product], Sequence[PriceVersion]]:
            return loaded

        found: list[PartnerPreview] = []
        for partner_id in partner_ids:
            record = records.get(partner_id)
            if record is not None and next_action(record) is Action.DONE:
                state = NOTHING_TO_BILL if record.step is Step.NOTHING_TO_BILL else ALREADY_INVOICED
                lines = tuple(record.lines)
                found.append(PartnerPreview(partner_id, state, lines, _total(lines), record.invoice_id))
                continue
            # The worker bills a started record's stored lines, else it computes them: the dry run does the same.
            lines = (
                tuple(record.lines)
                if record is not None and record.lines
                else tuple(month_lines(self._licenses, catalog, partner_id, period))
            )
            found.append(PartnerPreview(partner_id, WOULD_INVOICE if lines else NOTHING_TO_BILL, lines, _total(lines)))
        return tuple(found)

    def start(self, period_text: str, audit: AuditEntry) -> RunProgress:
        """Ask the planner for an ended month (asynchronously), note who did, and the run's progress so far."""
        period = ended_period(period_text, self._clock)
        self._queues.request_run(str(period), audit.actor)
        self._runs.started(str(period), replace(audit, summary={**audit.summary, "period": str(period)}))
        return self.progress(str(period))

    def progress(self, period_text: str) -> RunProgress:
        """The run's partner-months by state (from the worker's records) and its dead letters."""
        try:
            period = Period.parse(period_text)
        except ValueError as error:
            raise ValidationFailed("invalid period", details=[{"field": "period", "reason": "YYYY-MM"}]) from error
        partner_ids = sorted(set(self._partners(period.end)))
        records = self._records(str(period), partner_ids)
        states = {pid: partner_state(records.get(pid)) for pid in partner_ids}
        failures = tuple(
            {"partner_id": pid, **dict(records[pid].failure or {})}
            for pid, state in states.items()
            if state == "failed"
        )
        run = self._runs.run(str(period)) or {}
        counts = {
            name: sum(1 for s in states.values() if s == name)
            for name in ("invoiced", "nothing_to_bill", "failed", "pending")
        }
        return RunProgress(
            period=str(period),
            started_at=run.get("started_at"),
            started_by=run.get("started_by"),
            started_by_name=run.get("started_by_name"),
            last_planned_at=run.get("last_planned_at"),
            last_planned_by=run.get("last_planned_by"),
            last_planned_by_name=_name_of(run, run.get("last_planned_by")),
            planned_partners=int(run["planned_partners"]) if run.get("planned_partners") is not None else None,
            planned=len(partner_ids),
            dead_lettered=len(self._queues.dead_letters(str(period))),
            failures=failures,
            **counts,
        )

    def retry(self, period_text: str, audit: AuditEntry) -> Redrive:
        """Send the run's dead-lettered partner-months back to the worker; the audit entry names them."""
        try:
            period = Period.parse(period_text)
        except ValueError as error:
            raise ValidationFailed("invalid period", details=[{"field": "period", "reason": "YYYY-MM"}]) from error
        moved = tuple(sorted(self._queues.redrive(str(period))))
        summary = {**audit.summary, "period": str(period), "redriven": len(moved), "partners": list(moved[:50])}
        self._audit_log.record(replace(audit, summary=summary))
        return Redrive(str(period), moved)


def _name_of(run: Mapping[str, Any], actor: str | None) -> str | None:
    """The name the run item keeps for ``actor``: the last operator's start, else the first's."""
    if actor is None:
        return None
    if actor == run.get("last_started_by"):
        return run.get("last_started_by_name")
    return run.get("started_by_name") if actor == run.get("started_by") else None


def _total(lines: Iterable[Mapping[str, Any]]) -> int:
    return sum(int(line["amount"]) for line in lines)
