"""What an invoice's page shows beyond the record's figures: whether each line's monthly cap applied, and the
invoice's payments with the card each was made with.

Pure: the record and the partner's saved cards in, plain values out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


def cap_applied(line: Mapping[str, Any]) -> bool:
    """Whether the monthly cap lowered the line: its amount is under license-days x the daily price.

    Each license is charged ``min(days * daily, monthly)``, never more than ``days * daily``, so the line's sum falls
    short of ``license_days * daily_price`` exactly when at least one of its licenses reached the cap.
    """
    return int(line["amount"]) < int(line["license_days"]) * int(line["daily_price"])


@dataclass(frozen=True, slots=True)
class CardSeen:
    brand: str
    last4: str


@dataclass(frozen=True, slots=True)
class PaymentView:
    """One of the invoice's payments (a Stripe InvoicePayment): ``paid``, ``open`` (attempted or waiting, not
    paid yet) or ``canceled`` (the invoice was voided or paid another way)."""

    id: str
    status: str
    amount: int  # what it paid, or what it asks for while not paid
    created: str | None
    paid_at: str | None
    payment_method_id: str | None
    card: CardSeen | None  # None: no card tried yet, or a card removed since


def payments(stored: Iterable[Mapping[str, Any]], cards: Mapping[str, CardSeen]) -> tuple[PaymentView, ...]:
    """The record's payments, oldest first, each with its card as the partner saved it (``cards`` by id)."""
    found = []
    for payment in stored:
        method = payment.get("payment_method_id")
        paid = payment.get("status") == "paid"
        found.append(
            PaymentView(
                id=str(payment["id"]),
                status=str(payment.get("status", "open")),
                amount=int(payment.get("amount_paid") or 0) if paid else int(payment.get("amount_requested") or 0),
                created=payment.get("created"),
                paid_at=payment.get("paid_at"),
                payment_method_id=str(method) if method else None,
                card=cards.get(str(method)) if method else None,
            )
        )
    return tuple(found)
