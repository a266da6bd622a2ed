"""The month-to-date estimate of a partner's bill: the billing tallies, the catalog, and the pure engine.

The estimate costs the same whatever the number of licenses: it reads the tallies the license
commands keep (``partnerhub.domain.tallies``), at most three DynamoDB calls, usually one (the catalog
is kept for a few minutes, see :class:`EstimateService`).

Which instant the estimate is taken at (``as_of``):

* the current month: the clock's now;
* a past month: the month's end (the next month's 1st, 00:00 UTC). The month is over, so the to-date and
  projected figures are both exactly what ``bill_month`` charges for it over the month's licenses (what
  the month-end invoicer bills);
* a future month: the clock's now, which is before the month starts, so the to-date figures are 0 and
  the projection bills every license not revoked by now for the whole month (what it will cost if
  nothing changes), at the prices scheduled for that month.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from partnerhub.clock import Clock
from partnerhub.domain.billing import Estimate, PriceVersion, estimate_from_tallies
from partnerhub.domain.models import Product
from partnerhub.domain.periods import Period
from partnerhub.domain.tallies import MonthTally, RunningTally
from partnerhub.errors import ValidationFailed

__all__ = ["BillingReads", "CatalogReads", "EstimateService", "NamedEstimate", "parse_period"]


class Tallies(Protocol):
    months: Mapping[Period, Mapping[str, MonthTally]]
    running: Mapping[str, RunningTally]

    def last_issued_at(self, period: Period) -> datetime | None: ...


class BillingReads(Protocol):
    def tallies(self, partner_id: str, period: Period) -> Tallies:
        """The partner's billing tallies of ``period`` and every later month, and the running tally."""
        ...

    def issued_later_that_day(self, partner_id: str, instant: datetime) -> dict[str, int]:
        """Per product, the portal licenses issued at or after ``instant`` and before the next UTC midnight, with
        an active instant (``estimate_from_tallies``' ``issued_from_as_of``)."""
        ...


class CatalogReads(Protocol):
    def load(self) -> tuple[list[Product], list[PriceVersion]]:
        """Every product and every price version."""
        ...


@dataclass(frozen=True, slots=True)
class NamedEstimate:
    """An estimate with the catalog's product names (slug -> name)."""

    estimate: Estimate
    names: dict[str, str]


def parse_period(text: str | None) -> Period | None:
    """``YYYY-MM`` from a query string, ``None`` when absent; 422 naming ``period`` when malformed."""
    if text is None:
        return None
    try:
        return Period.parse(text)
    except ValueError as error:
        raise ValidationFailed(
            "the period is invalid", details=[{"field": "period", "in": "query", "reason": str(error)}]
        ) from None


class EstimateService:
    """Estimates over the billing read, the catalog and the injected clock. No I/O of its own.

    The catalog is kept per execution environment for ``catalog_ttl``, and used only for periods that had
    already started when it was read: a started month's prices never change (scheduling a price for it
    is refused), so a copy read after the month's 1st is exact for it. A future month's prices, and a
    catalog older than the TTL (new products), are read again.
    """

    def __init__(
        self,
        billing: BillingReads,
        catalog: CatalogReads,
        clock: Clock,
        catalog_ttl: timedelta = timedelta(minutes=5),
    ) -> None:
        self._billing = billing
        self._catalog = catalog
        self._clock = clock
        self._catalog_ttl = catalog_ttl
        self._cached: tuple[datetime, tuple[list[Product], list[PriceVersion]]] | None = None

    def _catalog_for(self, period: Period, now: datetime) -> tuple[list[Product], list[PriceVersion]]:
        cached = self._cached
        if cached is not None and period.start <= cached[0] <= now < cached[0] + self._catalog_ttl:
            return cached[1]
        loaded = self._catalog.load()
        self._cached = (now, loaded)
        return loaded

    def estimate(self, partner_id: str, period: Period | None = None) -> NamedEstimate:
        """The estimate of ``period`` (default: the clock's current month) for ``partner_id``."""
        now = self._clock.now()
        period = period or Period.containing(now)
        as_of = min(now, period.end)
        tallies = self._billing.tallies(partner_id, period)
        # A license issued at as_of or later that day has no day to date yet, which a day count cannot tell: a
        # frozen or coarse clock issues at exactly as_of, and a clock moved back leaves records dated after it.
        # Only then is it worth a look, so a clock that only moves forward never pays the extra read.
        latest = tallies.last_issued_at(period)
        later = {}
        if period.start < as_of < period.end and latest is not None and latest >= as_of:
            later = self._billing.issued_later_that_day(partner_id, as_of)
        products, prices = self._catalog_for(period, now)
        estimate = estimate_from_tallies(tallies.months, tallies.running, prices, period, as_of, later)
        return NamedEstimate(estimate=estimate, names={p.product: p.name for p in products})
