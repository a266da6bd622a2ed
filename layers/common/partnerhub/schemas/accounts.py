"""Request and response bodies of the payment-method, company and account routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from partnerhub.domain.accounts import Account, Card, CardBook, Company

# Stripe ids (``pm_1Nx…``) and its test tokens (``pm_card_visa``).
PaymentMethodId = Annotated[str, StringConstraints(pattern=r"^pm_[A-Za-z0-9_]{1,120}$")]


class AddPaymentMethodRequest(BaseModel):
    """``{"payment_method_id", "primary"?}``: a card confirmed through a SetupIntent, or a Stripe test token."""

    model_config = ConfigDict(extra="forbid")

    payment_method_id: PaymentMethodId
    primary: bool = True


class SetupIntentOut(BaseModel):
    setup_intent_id: str
    client_secret: str
    publishable_key: str


class PaymentMethodOut(BaseModel):
    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    primary: bool

    @classmethod
    def of(cls, card: Card, primary: bool) -> PaymentMethodOut:
        return cls(
            id=card.id,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            primary=primary,
        )


class PaymentMethodList(BaseModel):
    items: list[PaymentMethodOut]

    @classmethod
    def of(cls, book: CardBook) -> PaymentMethodList:
        # Primary first, then the newest first: the order a person picks from.
        ordered = sorted(book.cards, key=lambda card: (card.id != book.primary, -card.added_at.timestamp(), card.id))
        return cls(items=[PaymentMethodOut.of(card, card.id == book.primary) for card in ordered])


class CompanyRequest(Company):
    """``PUT /v1/company``: every field but ``address_line2`` and ``state`` is required."""


CompanyOut = Company
AccountOut = Account

__all__ = [
    "AccountOut",
    "AddPaymentMethodRequest",
    "CompanyOut",
    "CompanyRequest",
    "PaymentMethodList",
    "PaymentMethodOut",
    "SetupIntentOut",
]
