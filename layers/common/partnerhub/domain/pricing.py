"""Versioned prices: what is in force, what is scheduled, and the rules for scheduling a change.

The rules (SPEC "Money and time", "Billing and prices"):

* A price version takes effect on the 1st of a month and a month is billed entirely at the version in
  force on its 1st. So a change may only be scheduled for a month that has not started yet by the
  injected clock: ``effective_from`` is the 1st of next month or later. A well-formed 1st of the current
  or a past month is a state conflict (409 ``month_already_started``); anything that is not the 1st of a
  month is malformed input (422 naming ``effective_from``, refused by the request schema already).
* A scheduled version is replaced by scheduling the same product and month again.
* Prices are integer cents, ``daily_price >= 0`` and ``monthly_price >= daily_price`` (422 naming the field).
* An unknown product is 404 ``product_not_found``.

The service reads and writes through :class:`CatalogStore` (the DynamoDB catalog partition in production).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from partnerhub.clock import Clock
from partnerhub.domain.audit import AuditEntry
from partnerhub.domain.billing import CURRENCY, PriceVersion, price_in_force
from partnerhub.domain.models import Product
from partnerhub.domain.periods import Period
from partnerhub.errors import Conflict, NotFound, ValidationFailed

__all__ = [
    "MAX_PRICE",
    "CatalogStore",
    "PriceService",
    "ProductPrices",
    "first_schedulable_day",
    "plan_price_change",
    "price_table",
]

# A ceiling on any price (1,000,000.00 USD): far above every real price, low enough that a mistyped
# price can never overflow a Stripe amount.
MAX_PRICE = 100_000_000


class CatalogStore(Protocol):
    def load(self) -> tuple[list[Product], list[PriceVersion]]:
        """Every product and every price version."""
        ...

    def put_price(self, price: PriceVersion, *, only_if_new: bool = False, audit: AuditEntry | None = None) -> bool:
        """Store a price version, replacing one of the same product and month (with ``audit`` in the same write)."""
        ...

    def delete_price(self, product: str, effective_from: date, audit: AuditEntry) -> bool:
        """Remove a price version and write ``audit``, together; False (nothing written) when there is none."""
        ...


@dataclass(frozen=True, slots=True)
class ProductPrices:
    """A product with the version in force now (``current``, ``None`` if it has none yet) and later ones."""

    product: Product
    current: PriceVersion | None
    scheduled: tuple[PriceVersion, ...]

    @property
    def currency(self) -> str:
        return CURRENCY


def first_schedulable_day(now_period: Period) -> date:
    """The earliest ``effective_from`` a change may name while ``now_period`` runs: the next month's 1st."""
    return now_period.next().first_day


def price_table(
    products: Iterable[Product], versions: Sequence[PriceVersion], now_period: Period
) -> list[ProductPrices]:
    """Per product (sorted by slug): the version in force for ``now_period`` and the later versions, in order."""
    after = now_period.first_day
    table: list[ProductPrices] = []
    for product in sorted(products, key=lambda p: p.product):
        current = price_in_force(versions, product.product, now_period)
        scheduled = sorted(
            (v for v in versions if v.product == product.product and v.effective_from > after),
            key=lambda v: v.effective_from,
        )
        table.append(ProductPrices(product=product, current=current, scheduled=tuple(scheduled)))
    return table


def plan_price_change(
    products: Iterable[Product],
    product: str,
    daily_price: int,
    monthly_price: int,
    effective_from: date,
    now_period: Period,
    confirm_free: bool = False,
) -> PriceVersion:
    """The version to store for a change requested while ``now_period`` runs, or the reason it is refused.

    Raises :class:`NotFound` for an unknown product, :class:`ValidationFailed` for prices that break the
    rules or a date that is not a month's 1st, and :class:`Conflict` (``month_already_started``) for the
    1st of the current or a past month. A daily price of 0 (the monthly price is never below it, so nothing
    would be billed) is refused unless ``confirm_free`` says the product is meant to be free.
    """
    if product not in {p.product for p in products}:
        raise NotFound("no such product", code="product_not_found")
    problems: list[dict[str, str]] = []
    for field, value in (("daily_price", daily_price), ("monthly_price", monthly_price)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PRICE:
            problems.append({"field": field, "reason": f"must be an integer number of cents, 0..{MAX_PRICE}"})
    if not problems and monthly_price < daily_price:
        problems.append({"field": "monthly_price", "reason": "must not be below the daily price"})
    if not problems and daily_price == 0 and not confirm_free:
        # With the monthly price at or above it, a daily price of 0 bills nothing: the product becomes free.
        problems.append(
            {
                "field": "daily_price",
                "reason": "0 makes the product free (nothing is billed); send confirm_free: true if that is meant",
            }
        )
    if effective_from.day != 1:
        problems.append({"field": "effective_from", "reason": "must be the first day of a month (YYYY-MM-01)"})
    if problems:
        raise ValidationFailed("the price is invalid", details=problems)
    earliest = first_schedulable_day(now_period)
    if effective_from < earliest:
        raise Conflict(
            f"{Period.of_day(effective_from)} has already started; the earliest month a change may name is"
            f" {Period.of_day(earliest)} (effective_from {earliest.isoformat()})",
            code="month_already_started",
            details=[{"field": "effective_from", "reason": f"must be {earliest.isoformat()} or later"}],
        )
    return PriceVersion(
        product=product, daily_price=daily_price, monthly_price=monthly_price, effective_from=effective_from
    )


class PriceService:
    """Read the price table and schedule changes, over the catalog store and the injected clock."""

    def __init__(self, catalog: CatalogStore, clock: Clock) -> None:
        self._catalog = catalog
        self._clock = clock

    def prices(self) -> list[ProductPrices]:
        """Every product's current and scheduled prices, from one read of the catalog."""
        products, versions = self._catalog.load()
        return price_table(products, versions, Period.containing(self._clock.now()))

    def schedule(
        self,
        product: str,
        daily_price: int,
        monthly_price: int,
        effective_from: date,
        audit: AuditEntry | None = None,
        confirm_free: bool = False,
    ) -> ProductPrices:
        """Schedule (or replace) ``product``'s version for the month ``effective_from`` starts; its prices after.
        ``audit`` is written in the same write as the version; ``confirm_free`` allows a free product."""
        products, versions = self._catalog.load()
        now_period = Period.containing(self._clock.now())
        version = plan_price_change(
            products, product, daily_price, monthly_price, effective_from, now_period, confirm_free
        )
        self._catalog.put_price(version, audit=audit)
        others = [v for v in versions if (v.product, v.effective_from) != (product, effective_from)]
        table = price_table([p for p in products if p.product == product], [*others, version], now_period)
        return table[0]

    def cancel(self, product: str, effective_from: date, audit: AuditEntry) -> ProductPrices:
        """Cancel a scheduled version that is not yet in effect; ``product``'s prices after.

        An unknown product, or no version of it from ``effective_from``, is 404; a version whose month has
        started (it is in effect, or was) is 409 ``price_in_effect``: a started month is billed at it.
        """
        products, versions = self._catalog.load()
        if product not in {p.product for p in products}:
            raise NotFound("no such product", code="product_not_found")
        now_period = Period.containing(self._clock.now())
        if not any(v.product == product and v.effective_from == effective_from for v in versions):
            raise NotFound("no price of this product takes effect on that day", code="scheduled_price_not_found")
        if effective_from < first_schedulable_day(now_period):
            raise Conflict(
                f"the price from {effective_from.isoformat()} is already in effect; a started month keeps its price",
                code="price_in_effect",
            )
        if not self._catalog.delete_price(product, effective_from, audit):
            raise NotFound("no price of this product takes effect on that day", code="scheduled_price_not_found")
        others = [v for v in versions if (v.product, v.effective_from) != (product, effective_from)]
        return price_table([p for p in products if p.product == product], others, now_period)[0]
