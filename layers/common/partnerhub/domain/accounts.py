"""A partner's account: company details, saved cards (which one is primary) and standing as the API shows it.

The rules are pure: :func:`with_card`, :func:`without_card` and :func:`with_primary` turn one
:class:`CardBook` into the next. :class:`AccountService` runs them against a repository (the table
mirror) and a :class:`CardGateway` (Stripe): Stripe is changed first, then the mirror, so the mirror
never shows a card Stripe does not hold, and every Stripe write carries an idempotency key derived
from what it means.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Protocol

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints

from partnerhub import retry
from partnerhub.clock import Clock
from partnerhub.domain.models import HTTP_URL, Standing
from partnerhub.errors import NotFound, ServiceUnavailable

# ISO 3166-1 alpha-2: the 249 officially assigned codes.
COUNTRY_CODES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
    BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
    DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET
    FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
    HK HM HN HR HT HU
    ID IE IL IM IN IO IQ IR IS IT
    JE JM JO JP
    KE KG KH KI KM KN KP KR KW KY KZ
    LA LB LC LI LK LR LS LT LU LV LY
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
    NA NC NE NF NG NI NL NO NP NR NU NZ
    OM
    PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA
    RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
    TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
    UA UG UM US UY UZ
    VA VC VE VG VI VN VU
    WF WS
    YE YT
    ZA ZM ZW
    """.split()  # noqa: SIM905 - the list reads best as the table it is
)

# Stripe shows at most 140 characters in an invoice custom field's value.
CUSTOM_FIELD_MAX = 140
_URL = re.compile(HTTP_URL)


def _country(value: str) -> str:
    code = value.strip().upper()
    if code not in COUNTRY_CODES:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, such as US or DE")
    return code


def _website(value: str) -> str:
    if not _URL.fullmatch(value):
        raise ValueError("must be an absolute http(s) URL (RFC 3986: ASCII, other characters percent-encoded)")
    return value


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
OptionalText = Annotated[Text | None, BeforeValidator(_blank_to_none)]
Country = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2), AfterValidator(_country)]
Website = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=CUSTOM_FIELD_MAX), AfterValidator(_website)
]
PostalCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]


class Company(BaseModel):
    """The details every future invoice carries: legal name, contact, website and billing address."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Text
    contact_first_name: Name
    contact_last_name: Name
    website: Website
    address_line1: Text
    address_line2: OptionalText = None
    city: Text
    state: OptionalText = None
    country: Country
    postal_code: PostalCode

    @property
    def contact_name(self) -> str:
        return f"{self.contact_first_name} {self.contact_last_name}"


@dataclass(frozen=True)
class CardDetails:
    """What Stripe says of a card attached to the partner's customer."""

    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class Card:
    """A card in the table mirror."""

    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    added_at: datetime

    @classmethod
    def of(cls, details: CardDetails, added_at: datetime) -> Card:
        return cls(details.id, details.brand, details.last4, details.exp_month, details.exp_year, added_at)


@dataclass(frozen=True)
class CardBook:
    """A partner's saved cards and which one is primary. ``version`` orders every change to the book."""

    cards: tuple[Card, ...] = ()
    primary: str | None = None
    version: int = 0
    customer_id: str | None = None  # read with the book from the partner's record: no second read

    @property
    def has_payment_method(self) -> bool:
        return bool(self.cards)

    def get(self, payment_method_id: str) -> Card | None:
        return next((card for card in self.cards if card.id == payment_method_id), None)

    def require(self, payment_method_id: str) -> Card:
        card = self.get(payment_method_id)
        if card is None:
            raise NotFound("no such payment method", code="payment_method_not_found")
        return card


@dataclass(frozen=True)
class SetupIntent:
    id: str
    client_secret: str


class Account(BaseModel):
    """``GET /v1/account``: what the partner may do now, and why not."""

    model_config = ConfigDict(frozen=True)

    partner_id: str
    has_payment_method: bool
    can_issue_licenses: bool
    can_assign_licenses: bool
    past_due_invoices: list[str]


# Pure rules ---------------------------------------------------------------------------------------
def with_card(book: CardBook, card: Card, *, primary: bool) -> CardBook:
    """Add (or refresh) a card. The first card is always primary; otherwise ``primary`` decides."""
    known = book.get(card.id)
    kept = known or card
    cards = book.cards if known else (*book.cards, card)
    becomes_primary = primary or book.primary is None or book.get(book.primary) is None
    return replace(book, cards=cards, primary=kept.id if becomes_primary else book.primary)


def without_card(book: CardBook, payment_method_id: str) -> CardBook:
    """Remove a card. Removing the primary promotes the most recently added card left, if any."""
    book.require(payment_method_id)
    cards = tuple(card for card in book.cards if card.id != payment_method_id)
    primary = book.primary if book.primary != payment_method_id else promoted(cards)
    return replace(book, cards=cards, primary=primary)


def with_primary(book: CardBook, payment_method_id: str) -> CardBook:
    book.require(payment_method_id)
    return replace(book, primary=payment_method_id)


def promoted(cards: Sequence[Card]) -> str | None:
    """The card that becomes primary when the primary goes: the newest one (ties broken by id)."""
    if not cards:
        return None
    return max(cards, key=lambda card: (card.added_at, card.id)).id


def account_of(partner_id: str, standing: Standing) -> Account:
    return Account(
        partner_id=partner_id,
        has_payment_method=standing.has_payment_method,
        can_issue_licenses=standing.can_issue,
        can_assign_licenses=standing.can_assign,
        past_due_invoices=list(standing.past_due_invoices),
    )


# Ports ----------------------------------------------------------------------------------------------
class ConcurrentChange(Exception):
    """The card book changed between read and write (or a transaction collided); re-read and retry."""


class AccountRepository(Protocol):
    """The partner's record and card mirror in the table."""

    def stripe_customer_id(self, partner_id: str) -> str | None: ...

    def claim_stripe_customer(self, partner_id: str, customer_id: str) -> str:
        """Record ``customer_id`` unless one is recorded already; answer the one recorded."""
        ...

    def card_book(self, partner_id: str) -> CardBook: ...

    def commit_cards(self, partner_id: str, before: CardBook, after: CardBook) -> None:
        """Write ``after`` if the book is still at ``before.version``; else raise :class:`ConcurrentChange`."""
        ...

    def company(self, partner_id: str) -> Company | None: ...

    def save_company(self, partner_id: str, company: Company, at: datetime) -> None: ...

    def standing(self, partner_id: str) -> Standing: ...


class CardGateway(Protocol):
    """What the account rules need from the payment provider. Every write takes an idempotency key.

    Declines raise ``PaymentRequired``; a payment method that does not exist or belongs to another
    customer raises ``NotFound``; provider outages raise ``UpstreamError``.
    """

    def create_customer(self, partner_id: str, idempotency_key: str) -> str: ...

    def create_setup_intent(self, customer_id: str, partner_id: str, idempotency_key: str) -> SetupIntent: ...

    def attached_card(self, customer_id: str, payment_method_id: str) -> CardDetails | None:
        """The card if it is attached to this customer already (confirmed through a SetupIntent)."""
        ...

    def attach(self, customer_id: str, payment_method_id: str, idempotency_key: str) -> CardDetails: ...

    def set_default(self, customer_id: str, payment_method_id: str, idempotency_key: str) -> None: ...

    def detach(self, payment_method_id: str, idempotency_key: str) -> None:
        """Detach; a card that is no longer attached counts as detached."""
        ...

    def update_customer(self, customer_id: str, company: Company, idempotency_key: str) -> None: ...


class AccountService:
    def __init__(
        self,
        repository: AccountRepository,
        gateway: CardGateway,
        clock: Clock,
        publishable_key: str,
        *,
        max_attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._repo = repository
        self._gateway = gateway
        self._clock = clock
        self.publishable_key = publishable_key
        self._max_attempts = max_attempts
        self._sleep = sleep

    # Stripe customer ----------------------------------------------------------------------------
    def customer(self, partner_id: str) -> str:
        """The partner's one Stripe customer, created on first need.

        Concurrent first calls send the same idempotency key, so Stripe makes one customer; the
        conditional write keeps the first id recorded should the key have expired in between.
        """
        return self._repo.stripe_customer_id(partner_id) or self._new_customer(partner_id)

    def _new_customer(self, partner_id: str) -> str:
        created = self._gateway.create_customer(partner_id, f"customer:{partner_id}")
        return self._repo.claim_stripe_customer(partner_id, created)

    # Cards ----------------------------------------------------------------------------------------
    def setup_intent(self, partner_id: str, receipt_id: str) -> SetupIntent:
        customer = self.customer(partner_id)
        return self._gateway.create_setup_intent(customer, partner_id, f"setup-intent:{partner_id}:{receipt_id}")

    def cards(self, partner_id: str) -> CardBook:
        return self._repo.card_book(partner_id)

    def add_card(self, partner_id: str, payment_method_id: str, primary: bool, receipt_id: str) -> tuple[Card, bool]:
        """Attach the card to the partner's customer (if the browser has not) and mirror it."""
        book = self._repo.card_book(partner_id)
        customer = book.customer_id or self._new_customer(partner_id)
        details = self._gateway.attached_card(customer, payment_method_id) or self._gateway.attach(
            customer, payment_method_id, f"attach:{partner_id}:{payment_method_id}:{receipt_id}"
        )

        def attempt(before: CardBook) -> tuple[Card, bool]:
            after = with_card(before, Card.of(details, self._clock.now()), primary=primary)
            if after.primary == details.id:
                self._push_primary(partner_id, customer, details.id, receipt_id)
            if after != before:
                self._repo.commit_cards(partner_id, before, after)
            card = after.require(details.id)
            return card, after.primary == card.id

        return self._on_book(partner_id, attempt, first=book)

    def make_primary(self, partner_id: str, payment_method_id: str, receipt_id: str) -> Card:
        def attempt(before: CardBook) -> Card:
            after = with_primary(before, payment_method_id)
            customer = before.customer_id or self.customer(partner_id)
            self._push_primary(partner_id, customer, payment_method_id, receipt_id)
            if after != before:
                self._repo.commit_cards(partner_id, before, after)
            return after.require(payment_method_id)

        return self._on_book(partner_id, attempt)

    def remove_card(self, partner_id: str, payment_method_id: str, receipt_id: str) -> CardBook:
        """Detach the card; when it was primary, the newest card left becomes primary (in Stripe too)."""
        book = self._repo.card_book(partner_id)
        book.require(payment_method_id)
        self._gateway.detach(payment_method_id, f"detach:{partner_id}:{payment_method_id}")

        def attempt(before: CardBook) -> CardBook:
            if before.get(payment_method_id) is None:
                return before  # removed by a concurrent request meanwhile: the outcome is the same
            after = without_card(before, payment_method_id)
            if after.primary is not None:
                customer = before.customer_id or self.customer(partner_id)
                self._push_primary(partner_id, customer, after.primary, receipt_id)
            self._repo.commit_cards(partner_id, before, after)
            return after

        # A change during the Stripe call makes the first commit fail its version condition; then it re-reads.
        return self._on_book(partner_id, attempt, first=book)

    def _push_primary(self, partner_id: str, customer: str, payment_method_id: str, receipt_id: str) -> None:
        """Make the card Stripe's default, even when the mirror already calls it primary.

        The mirror can be ahead of Stripe: a card confirmed in the browser may reach the mirror through
        its webhook (and be promoted there) before Stripe was told it is the default. The key names the
        request too, so switching back to an earlier card never replays an old answer.
        """
        key = f"primary:{partner_id}:{payment_method_id}:{receipt_id}"
        self._gateway.set_default(customer, payment_method_id, key)

    # Company ------------------------------------------------------------------------------------
    def company(self, partner_id: str) -> Company:
        company = self._repo.company(partner_id)
        if company is None:
            raise NotFound("no company details saved yet", code="company_not_found")
        return company

    def save_company(self, partner_id: str, company: Company, receipt_id: str) -> Company:
        """Push the details to the Stripe customer (future invoices) first, then keep them on the record."""
        customer = self.customer(partner_id)
        self._gateway.update_customer(customer, company, f"company:{partner_id}:{receipt_id}")
        self._repo.save_company(partner_id, company, self._clock.now())
        return company

    # Standing -----------------------------------------------------------------------------------
    def account(self, partner_id: str) -> Account:
        return account_of(partner_id, self._repo.standing(partner_id))

    def _on_book[T](self, partner_id: str, attempt: Callable[[CardBook], T], first: CardBook | None = None) -> T:
        """Run ``attempt`` on the card book (``first`` if already read), re-reading it after a lost race."""
        books = iter([first])  # the first try may use the book already read; a retry reads it again

        def once() -> T:
            return attempt(next(books, None) or self._repo.card_book(partner_id))

        try:
            return retry.on_conflict((ConcurrentChange,), attempts=self._max_attempts, sleep=self._sleep)(once)
        except ConcurrentChange as error:
            raise ServiceUnavailable(
                "the payment methods are changing too fast; try again", code="contention"
            ) from error


__all__: Sequence[str] = (
    "COUNTRY_CODES",
    "Account",
    "AccountRepository",
    "AccountService",
    "Card",
    "CardBook",
    "CardDetails",
    "CardGateway",
    "Company",
    "ConcurrentChange",
    "SetupIntent",
    "account_of",
    "promoted",
    "with_card",
    "with_primary",
    "without_card",
)
