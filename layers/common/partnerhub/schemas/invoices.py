"""Response bodies of the invoice routes (the OpenAPI document is generated from these)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel

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
        )


class InvoiceDetail(InvoiceOut):
    lines: list[InvoiceLineOut]

    @classmethod
    def of(cls, record: InvoiceRecord) -> InvoiceDetail:
        return cls(**InvoiceOut.of(record).model_dump(), lines=[InvoiceLineOut.of(line) for line in record.lines])


class InvoiceList(BaseModel):
    items: list[InvoiceOut]
    next_cursor: str | None
