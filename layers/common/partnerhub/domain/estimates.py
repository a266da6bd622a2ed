"""The month-to-date estimate of a partner's bill: the billing read, the catalog, and the pure engine.

Which instant the estimate is taken at (``as_of``):

* the current month: the clock's now;
* a past month: the month's end (the next month's 1st, 00:00 UTC). The month is over, so the to-date and
  projected figures are both exactly what ``bill_month`` charges for it, over the same read the month-end
  invoicer makes;
* a future month: the clock's now, which is before the month starts, so the to-date figures are 0 and
  the projection bills every license not revoked by now for the whole month (what it will cost if
  nothing changes), at the prices scheduled for that month.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from partnerhub.clock import Clock
from partnerhub.domain.billing import BillableLicense, Estimate, PriceVersion, estimate_month
from partnerhub.domain.models import Product
from partnerhub.domain.periods import Period
from partnerhub.errors import ValidationFailed

__all__ = ["BillingReads", "CatalogReads", "EstimateService", "NamedEstimate", "parse_period"]


class BillingReads(Protocol):
    def licenses_active_in(self, partner_id: str, period: Period) -> list[BillableLicense]:
        """The partner's licenses active at some instant of ``period`` (bounded by the month, not history)."""
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
    """Estimates over the billing read, the catalog and the injected clock. No I/O of its own."""

    def __init__(self, billing: BillingReads, catalog: CatalogReads, clock: Clock) -> None:
        self._billing = billing
        self._catalog = catalog
        self._clock = clock

    def estimate(self, partner_id: str, period: Period | None = None) -> NamedEstimate:
        """The estimate of ``period`` (default: the clock's current month) for ``partner_id``."""
        now = self._clock.now()
        period = period or Period.containing(now)
        as_of = min(now, period.end)
        licenses = self._billing.licenses_active_in(partner_id, period)
        products, prices = self._catalog.load()
        estimate = estimate_month(licenses, prices, period, as_of)
        return NamedEstimate(estimate=estimate, names={p.product: p.name for p in products})
