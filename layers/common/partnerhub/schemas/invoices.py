"""Response bodies of the invoice routes (the OpenAPI document is generated from these)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from partnerhub.domain.invoice_detail import CardSeen, PaymentView, cap_applied, payments
from partnerhub.domain.invoicing import InvoiceRecord

InvoiceStatus = Literal["draft", "open", "paid", "void", "uncollectible"]


class InvoiceLineOut(BaseModel):
    product: str
    name: str = Field(description="The product's name")
    licenses: int = Field(description="Licenses billed on the line (active on at least one day of the month)")
    license_days: int = Field(description="The line's quantity: days active, summed over its licenses")
    daily_price: int = Field(description="Cents per license-day (the price in force on the month's first day)")
    monthly_price: int = Field(description="The cap: cents per license and month")
    amount: int = Field(description="Cents: each license's min(days x daily price, monthly price), summed")
    cap_applied: bool = Field(
        description="Whether the monthly cap lowered the line: at least one license reached it, so `amount` is "
        "under `license_days` x `daily_price`"
    )
    currency: str
    description: str = Field(description="The line as the invoice (and its PDF) words it")

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
            cap_applied=cap_applied(line),
            currency=str(line.get("currency", "usd")),
            description=str(line["description"]),
        )


class PayInvoiceRequest(BaseModel):
    """``POST /v1/invoices/{id}/pay``: the primary card unless another of the partner's cards is named."""

    model_config = ConfigDict(extra="forbid")

    payment_method_id: str | None = Field(default=None, pattern=r"^pm_[A-Za-z0-9_]{1,120}$")


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


class InvoicePaymentOut(BaseModel):
    """One of the invoice's payments (Stripe's InvoicePayment): every attempt to collect the invoice charges
    through it (``attempt_count`` on the invoice counts them)."""

    id: str
    status: Literal["paid", "open", "canceled"] = Field(
        description="`paid`; `open`: not paid yet (waiting for an attempt, or the last one failed); `canceled`: the "
        "invoice was voided or settled another way"
    )
    amount: int = Field(description="Cents: what it paid, or what it asks for while not paid")
    created: str | None
    paid_at: str | None
    payment_method: PaymentMethodOut | None = Field(
        description="The card it was last tried on, as saved on the account; null before any attempt, or when "
        "that card has been removed since"
    )

    @classmethod
    def of(cls, payment: PaymentView) -> InvoicePaymentOut:
        status = payment.status if payment.status in ("paid", "canceled") else "open"
        card = PaymentMethodOut(brand=payment.card.brand, last4=payment.card.last4) if payment.card else None
        return cls(
            id=payment.id,
            status=status,
            amount=payment.amount,
            created=payment.created,
            paid_at=payment.paid_at,
            payment_method=card,
        )


class InvoiceDetail(InvoiceOut):
    lines: list[InvoiceLineOut]
    payments: list[InvoicePaymentOut] = Field(description="The invoice's payments, oldest first")
    pdf_url: str | None = Field(
        description="Where the PDF is downloaded: this API's `GET /v1/invoices/{id}/pdf` (null for a draft)"
    )

    @classmethod
    def of(cls, record: InvoiceRecord, cards: Mapping[str, CardSeen] | None = None) -> InvoiceDetail:
        """``cards``: the partner's saved cards by id, naming the card each payment was made with."""
        summary = InvoiceOut.of(record)
        return cls(
            **summary.model_dump(),
            lines=[InvoiceLineOut.of(line) for line in record.lines],
            payments=[InvoicePaymentOut.of(p) for p in payments(record.payments, cards or {})],
            pdf_url=f"/v1/invoices/{summary.id}/pdf" if record.invoice_pdf else None,
        )


class InvoiceList(BaseModel):
    items: list[InvoiceOut]
    next_cursor: str | None
