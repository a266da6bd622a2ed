"""What the operators' console reads and sends: the audit log, partners, month-end runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from partnerhub.domain.accounts import Company
from partnerhub.domain.audit import AuditEntry
from partnerhub.domain.invoice_runs import PartnerPreview, Redrive, RunPreview, RunProgress
from partnerhub.domain.models import Counts, LicenseCounts
from partnerhub.schemas.api_keys import KeyCountsOut
from partnerhub.schemas.invoices import InvoiceLineOut, InvoiceOut
from partnerhub.schemas.types import PERIOD_PATTERN


class AuditEntryOut(BaseModel):
    id: str
    at: datetime
    actor: str = Field(description="`operator:<token subject>`")
    actor_name: str | None = Field(
        default=None, description="The operator's email or user name from the token, when it carried one"
    )
    action: str = Field(description="e.g. `price.schedule`, `invoice.void`, `invoice_run.start`")
    target: str = Field(description="e.g. `product:jetpack-backup`, `invoice:in_...`, `partner:agency-42`")
    summary: dict[str, Any] = Field(description="The request's fields, and what the action found or changed")

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            id=entry.entry_id,
            at=entry.at,
            actor=entry.actor,
            actor_name=entry.actor_name,
            action=entry.action,
            target=entry.target,
            summary=dict(entry.summary),
        )


class AuditList(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None = None


class PartnerSummaryOut(BaseModel):
    partner_id: str
    company_name: str | None
    has_payment_method: bool
    past_due: bool
    past_due_invoices: list[str]
    licenses: Counts


class PartnerList(BaseModel):
    items: list[PartnerSummaryOut]
    next_cursor: str | None = None


class PartnerDetail(PartnerSummaryOut):
    company: Company | None
    stripe_customer_id: str | None
    license_counts: LicenseCounts
    invoices: list[InvoiceOut]
    api_keys: KeyCountsOut = Field(description="The partner's API keys by status (never a key or its prefix)")
    webhook_endpoints: int = Field(description="How many webhook endpoints the partner has (never what they are)")


class PartnerPreviewOut(BaseModel):
    partner_id: str
    state: str = Field(description="`would_invoice`, `already_invoiced` or `nothing_to_bill`")
    invoice_id: str | None
    lines: list[InvoiceLineOut]
    total: int

    @classmethod
    def of(cls, preview: PartnerPreview) -> PartnerPreviewOut:
        return cls(
            partner_id=preview.partner_id,
            state=preview.state,
            invoice_id=preview.invoice_id,
            lines=[InvoiceLineOut.of(line) for line in preview.lines],
            total=preview.total,
        )


class RunPreviewOut(BaseModel):
    period: str
    currency: str
    partners: list[PartnerPreviewOut] = Field(description="This page's partners, by partner id")
    total: int = Field(
        description="This page's partners' months, already invoiced or not (cents); the month's total is the sum "
        "over every page"
    )
    to_invoice: int = Field(
        description="What a run started now would invoice this page's partners (cents); the run's is the sum over "
        "every page"
    )
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next partners (null: this is the last page)",
    )

    @classmethod
    def of(cls, preview: RunPreview) -> RunPreviewOut:
        return cls(
            period=preview.period,
            currency=preview.currency,
            partners=[PartnerPreviewOut.of(p) for p in preview.partners],
            total=preview.total,
            to_invoice=preview.to_invoice,
            next_cursor=preview.next_cursor,
        )


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: str = Field(pattern=PERIOD_PATTERN, description="YYYY-MM, a month that has ended")


class RunFailureOut(BaseModel):
    partner_id: str
    step: str | None = None
    message: str | None = None
    at: str | None = None


class RunProgressOut(BaseModel):
    period: str
    started_at: str | None = Field(description="When the month's run was first started (null: never)")
    started_by: str | None = Field(
        description="Who or what started it first: `operator:<sub>` (Start run), `schedule` (00:15 UTC on the "
        "1st), `invoke` (the planner invoked directly), `local:invoice-run` or `local:make-invoice` (the local "
        "stack's controls)"
    )
    started_by_name: str | None = Field(default=None, description="An operator's email or user name, to read")
    last_planned_at: str | None = Field(default=None, description="When the planner last planned the month")
    last_planned_by: str | None = Field(default=None, description="Who or what asked for that plan (as `started_by`)")
    last_planned_by_name: str | None = Field(default=None, description="That operator's email or user name, to read")
    planned_partners: int | None = Field(
        default=None, description="Partner-months the last plan enqueued (null before the planner ran)"
    )
    planned: int = Field(
        description="Partners billable in the month: the billable registry's partners whose first license was "
        "issued before the month's end, as the planner and the dry run read it"
    )
    invoiced: int
    nothing_to_bill: int
    failed: int = Field(description="Stopped at a step; retried by the queue, then in the dead-letter queue")
    pending: int = Field(description="Not yet processed, or in progress")
    dead_lettered: int
    failures: list[RunFailureOut]

    @classmethod
    def of(cls, progress: RunProgress) -> RunProgressOut:
        return cls(
            period=progress.period,
            started_at=progress.started_at,
            started_by=progress.started_by,
            started_by_name=progress.started_by_name,
            last_planned_at=progress.last_planned_at,
            last_planned_by=progress.last_planned_by,
            last_planned_by_name=progress.last_planned_by_name,
            planned_partners=progress.planned_partners,
            planned=progress.planned,
            invoiced=progress.invoiced,
            nothing_to_bill=progress.nothing_to_bill,
            failed=progress.failed,
            pending=progress.pending,
            dead_lettered=progress.dead_lettered,
            failures=[
                RunFailureOut(
                    partner_id=str(f["partner_id"]),
                    step=_text(f.get("step")),
                    message=_text(f.get("error")),
                    at=_text(f.get("at")),
                )
                for f in progress.failures
            ],
        )


class RedriveOut(BaseModel):
    period: str
    redriven: int
    partners: list[str]

    @classmethod
    def of(cls, redrive: Redrive) -> RedriveOut:
        return cls(period=redrive.period, redriven=len(redrive.redriven), partners=list(redrive.redriven))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
