"""Request and response bodies of the payment-method, company and account routes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StrictBool, StringConstraints, ValidationInfo, field_validator

from partnerhub.domain.accounts import CUSTOM_FIELD_MAX, Account, Card, CardBook, Company
from partnerhub.domain.models import HTTP_URL
from partnerhub.schemas.types import COUNTRY_PATTERN, NOT_BLANK, limit_as_sent, published

# Stripe ids (``pm_1Nx…``) and its test tokens (``pm_card_visa``).
PAYMENT_METHOD_ID = r"^pm_[A-Za-z0-9_]{1,120}$"
PaymentMethodId = Annotated[str, StringConstraints(pattern=PAYMENT_METHOD_ID)]


class AddPaymentMethodRequest(BaseModel):
    """``{"payment_method_id", "primary"?}``: a card confirmed through a SetupIntent, or a Stripe test token."""

    model_config = ConfigDict(extra="forbid")

    payment_method_id: PaymentMethodId
    primary: StrictBool = True


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


_TRIMMED = {"pattern": NOT_BLANK}
_WEBSITE = rf"^\s*{HTTP_URL}\s*$"


class CompanyRequest(Company):
    """``PUT /v1/company``: every field but ``address_line2`` and ``state`` is required.

    Surrounding space is trimmed before the lengths are checked; a blank ``address_line2`` or ``state`` is
    saved as null; ``country`` is saved in upper case."""

    model_config = ConfigDict(
        json_schema_extra=published(
            name=_TRIMMED,
            contact_first_name=_TRIMMED,
            contact_last_name=_TRIMMED,
            address_line1=_TRIMMED,
            city=_TRIMMED,
            postal_code=_TRIMMED,
            # Trimmed, then an http(s) URI: the string as sent may carry surrounding space, so no "format".
            website={"pattern": _WEBSITE, "maxLength": CUSTOM_FIELD_MAX},
            country={"pattern": COUNTRY_PATTERN},
            # Blank is saved as null, so any length up to the limit is accepted.
            address_line2={"minLength": None},
            state={"minLength": None},
        )
    )

    @field_validator("*", mode="before")
    @classmethod
    def _lengths_as_sent(cls, value: Any, info: ValidationInfo) -> Any:
        return _company_limits(value, info)


_company_limits = limit_as_sent(Company)


CompanyOut = Company
AccountOut = Account

__all__ = [
    "PAYMENT_METHOD_ID",
    "AccountOut",
    "AddPaymentMethodRequest",
    "CompanyOut",
    "CompanyRequest",
    "PaymentMethodList",
    "PaymentMethodOut",
    "SetupIntentOut",
]
