"""Re-billing clients: the estimate grouped by client, site or product, the month's statement license by
license (the CSV export), and the billing history of recent months.

The grouped estimate and the statement read the month's licenses with their history (``LicenseLives``), so
they cost in proportion to the partner's licenses; the plain estimate (``EstimateService``) stays on the
tallies. The rules of days, sites, labels and splits are :mod:`partnerhub.domain.splits`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from partnerhub.clock import Clock
from partnerhub.domain.billing import (
    BillableLicense,
    Estimate,
    MissingPriceError,
    PriceVersion,
    estimate_from_tallies,
    estimate_month,
    price_in_force,
)
from partnerhub.domain.estimates import CatalogReads, NamedEstimate, Tallies
from partnerhub.domain.invoicing import InvoiceRecord
from partnerhub.domain.models import HistoryEvent, License
from partnerhub.domain.periods import Period
from partnerhub.domain.splits import (
    Group,
    LicenseMonth,
    LicenseShare,
    SiteKey,
    group_totals,
    labels_at,
    moves_of,
    share_of,
)

__all__ = [
    "MAX_HISTORY_MONTHS",
    "GroupedEstimate",
    "HistoryMonth",
    "LicenseLives",
    "RebillingService",
    "StatementLine",
]

MAX_HISTORY_MONTHS = 24


class LicenseLives(Protocol):
    def license_lives(
        self, partner_id: str, period: Period, *, after: str | None = None, page_size: int | None = None
    ) -> Iterator[tuple[License, list[HistoryEvent]]]:
        """Every portal license active in ``period`` with its history, in key order, after ``after``."""
        ...

    def tallies(self, partner_id: str, period: Period) -> Tallies: ...

    def invoice_records(self, partner_id: str, first: Period, last: Period) -> dict[str, InvoiceRecord]: ...


@dataclass(frozen=True, slots=True)
class GroupedEstimate:
    """The estimate computed license by license, and its groups (which sum to its totals exactly)."""

    named: NamedEstimate
    by: str
    groups: list[Group]
    site_urls: dict[str, str]


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One row of the month's statement: a license (or, by site, a license on one site) with its days and cents."""

    license: License
    client: str | None
    tags: tuple[str, ...]
    site_id: str | None
    site_url: str | None
    license_days: int
    daily_price: int
    monthly_price: int
    amount: int


@dataclass(frozen=True, slots=True)
class HistoryMonth:
    period: str
    total: int
    invoice_id: str | None
    status: str


def _site_urls(license: License, history: Iterable[HistoryEvent], into: dict[str, str]) -> None:
    """The latest URL each site id had, as this license saw it."""
    for event in sorted(history, key=lambda e: e.seq):
        for site in (event.previous_site, event.site):
            if site is not None:
                into[site.site_id] = site.site_url
    if license.site is not None:
        into[license.site.site_id] = license.site.site_url


class RebillingService:
    """Grouped estimates, statements and the billing history, over the billing reads, the catalog and a clock."""

    def __init__(self, reads: LicenseLives, catalog: CatalogReads, clock: Clock, page_size: int | None = None) -> None:
        self._reads = reads
        self._catalog = catalog
        self._clock = clock
        self._page_size = page_size

    def now(self) -> datetime:
        return self._clock.now()

    # The month, license by license -----------------------------------------------------------------
    def _as_of(self, period: Period) -> datetime:
        return min(self._clock.now(), period.end)

    def _shares(
        self, partner_id: str, period: Period, as_of: datetime, prices: list[PriceVersion], after: str | None = None
    ) -> Iterator[tuple[License, list[HistoryEvent], LicenseShare]]:
        table: dict[str, PriceVersion | None] = {}
        inclusive = as_of < period.end  # as_of itself (the moment of asking) or the period's end (exclusive)
        for license, history in self._reads.license_lives(partner_id, period, after=after, page_size=self._page_size):
            if license.product not in table:
                table[license.product] = price_in_force(prices, license.product, period)
            price = table[license.product]
            labels = labels_at(license.labels, history, as_of, inclusive=inclusive)
            month = LicenseMonth(
                license_key=license.license_key,
                product=license.product,
                issued_at=license.issued_at,
                revoked_at=license.revoked_at,
                moves=tuple(moves_of(history)),
                client=labels.client,
                tags=labels.tags,
            )
            share = share_of(month, price, period.start, period.end, as_of)
            if price is None and share.projected.total:
                raise MissingPriceError(license.product, period)
            yield license, history, share

    def grouped(self, partner_id: str, period: Period | None, by: str) -> GroupedEstimate:
        """The estimate of ``period`` (default: this month) with ``groups`` by ``client``, ``site`` or ``product``.

        Both come from one read of the month's licenses, so the groups sum exactly to the totals. The
        estimate equals the tallies' one (the property tests hold the two computations equal)."""
        period = period or Period.containing(self._clock.now())
        as_of = self._as_of(period)
        products, prices = self._catalog.load()
        billables: list[BillableLicense] = []
        shares: list[LicenseShare] = []
        urls: dict[str, str] = {}
        for license, history, share in self._shares(partner_id, period, as_of, prices):
            shares.append(share)
            _site_urls(license, history, urls)
            at_cut = _site_at(share, as_of, period)
            billables.append(
                BillableLicense(
                    license_key=license.license_key,
                    product=license.product,
                    issued_at=license.issued_at,
                    revoked_at=license.revoked_at,
                    assigned=at_cut is not None,
                )
            )
        estimate: Estimate = estimate_month(billables, prices, period, as_of)
        named = NamedEstimate(estimate=estimate, names={p.product: p.name for p in products})
        return GroupedEstimate(named=named, by=by, groups=group_totals(shares, by), site_urls=urls)

    def statement(
        self, partner_id: str, period: Period, *, by_site: bool, after: str | None = None
    ) -> Iterator[tuple[str, list[StatementLine]]]:
        """The month's statement, license by license in key order: ``(license_key, lines)`` for each license
        with a day to date (the whole month once it is over). A license's amount is its capped charge; by
        site it is split across its sites (:func:`partnerhub.domain.splits.split`), so the lines of a past
        month sum to its invoice and those of the current month to the estimate's ``cost_to_date``."""
        as_of = self._as_of(period)
        _, prices = self._catalog.load()
        for license, history, share in self._shares(partner_id, period, as_of, prices, after):
            if share.to_date.total and share.price is not None:
                yield license.license_key, _statement_lines(license, history, share, by_site=by_site)

    # Months ----------------------------------------------------------------------------------------
    def history(self, partner_id: str, months: int) -> list[HistoryMonth]:
        """The last ``months`` months, newest first: an invoiced month as its invoice says; the current month
        as its projection (``projected``); a past month not invoiced yet as what it will be invoiced
        (``pending``); a month with nothing to bill as 0 (``none``). Two queries and the catalog."""
        now = self._clock.now()
        current = Period.containing(now)
        periods = [current]
        while len(periods) < months:
            periods.append(periods[-1].previous())
        oldest = periods[-1]
        records = self._reads.invoice_records(partner_id, oldest, current)
        tallies = self._reads.tallies(partner_id, oldest)
        _, prices = self._catalog.load()
        found: list[HistoryMonth] = []
        for period in periods:
            record = records.get(str(period))
            if record is not None and record.invoice_id is not None:
                found.append(HistoryMonth(str(period), record.total, record.invoice_id, record.status or "draft"))
                continue
            as_of = min(now, period.end)
            estimate = estimate_from_tallies(tallies.months, tallies.running, prices, period, as_of)
            total = estimate.totals.projected_cost
            status = "projected" if period == current else ("pending" if total else "none")
            found.append(HistoryMonth(str(period), total, None, status))
        return found


def _statement_lines(
    license: License, history: list[HistoryEvent], share: LicenseShare, *, by_site: bool
) -> list[StatementLine]:
    price = share.price
    assert price is not None
    urls: dict[str, str] = {}
    _site_urls(license, history, urls)

    def line(site: SiteKey, days: int, amount: int) -> StatementLine:
        return StatementLine(
            license=license,
            client=share.license.client,
            tags=share.license.tags,
            site_id=site,
            site_url=urls.get(site) if site is not None else None,
            license_days=days,
            daily_price=price.daily_price,
            monthly_price=price.monthly_price,
            amount=amount,
        )

    if not by_site:
        return [line(share.to_date.last, share.to_date.total, share.cost_to_date)]
    cents = share.cost_to_date_by_site()
    order = sorted(share.to_date.days, key=lambda s: (s is None, s or ""))
    return [line(site, share.to_date.days[site], cents[site]) for site in order]


def _site_at(share: LicenseShare, as_of: datetime, period: Period) -> SiteKey:
    """The site the license was on at ``min(as_of, period end)``, for the estimate's assigned count."""
    cut = min(as_of, period.end)
    site: SiteKey = None
    for move in share.license.moves:
        if move.at < cut or (move.at == cut and cut < period.end):
            site = move.site
    return site
