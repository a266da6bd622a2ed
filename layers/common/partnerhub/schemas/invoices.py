"""Response bodies of the invoice routes (the OpenAPI document is generated from these)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from partnerhub.domain.invoicing import InvoiceRecord

InvoiceStatus = Literal["draft", "open", "paid", "void", "uncollectible"]


class InvoiceLineOut(BaseModel):
    product: str
    name: str
    licenses: int
    license_days: int
    daily_price: int
    monthly_price: int
    amount: int
    currency: str
    description: str

    @classmethod
    def of(cls, line: Mapping[str, Any]) -> InvoiceLineOut:
        return cls(
            product=str(line["product"]),
            name=str(line.get("name", line["product"])),
            licenses=int(line["licenses"]),
            license_days=int(line["license_days"]),
            daily_price=int(line["daily_price"]),
            monthly_price=int(line["monthly_price"]),
            amount=int(line["amount"]),
            currency=str(line.get("currency", "usd")),
            description=str(line["description"]),
        )


class PayInvoiceRequest(BaseModel):
    """``POST /v1/invoices/{id}/pay``: the primary card unless another of the partner's cards is named."""

    model_config = ConfigDict(extra="forbid")

    payment_method_id: str | None = Field(default=None, min_length=1, max_length=255)


class PaymentMethodOut(BaseModel):
    brand: str | None
    last4: str | None


class PaymentErrorOut(BaseModel):
    """Why the last payment attempt failed, and the card it was on."""

    code: str
    message: str
    payment_method: PaymentMethodOut | None

    @classmethod
    def of(cls, error: Mapping[str, Any] | None) -> PaymentErrorOut | None:
        if not error:
            return None
        method = error.get("payment_method")
        return cls(
            code=str(error.get("code", "card_declined")),
            message=str(error.get("message", "")),
            payment_method=PaymentMethodOut(brand=method.get("brand"), last4=method.get("last4")) if method else None,
        )


class InvoiceOut(BaseModel):
    id: str
    number: str | None
    period: str
    status: InvoiceStatus
    past_due: bool
    total: int
    amount_due: int
    amount_paid: int
    currency: str
    due_date: str | None
    created: str | None
    paid_at: str | None
    amount_remaining: int
    attempt_count: int
    next_payment_attempt: str | None
    last_payment_error: PaymentErrorOut | None
    starting_balance: int
    carried_to_next: int

    @classmethod
    def of(cls, record: InvoiceRecord) -> InvoiceOut:
        assert record.invoice_id is not None and record.status is not None
        return cls(
            id=record.invoice_id,
            number=record.number,
            period=record.period,
            status=record.status,
            past_due=record.past_due,
            total=record.total,
            amount_due=record.amount_due,
            amount_paid=record.amount_paid,
            currency=record.currency,
            due_date=record.due_date,
            created=record.created,
            paid_at=record.paid_at,
            amount_remaining=record.amount_remaining,
            attempt_count=record.attempt_count,
            next_payment_attempt=record.next_payment_attempt,
            last_payment_error=PaymentErrorOut.of(record.last_payment_error),
            starting_balance=record.starting_balance,
            carried_to_next=record.carried_to_next,
        )


class InvoiceDetail(InvoiceOut):
    lines: list[InvoiceLineOut]

    @classmethod
    def of(cls, record: InvoiceRecord) -> InvoiceDetail:
        return cls(**InvoiceOut.of(record).model_dump(), lines=[InvoiceLineOut.of(line) for line in record.lines])


class InvoiceList(BaseModel):
    items: list[InvoiceOut]
    next_cursor: str | None
