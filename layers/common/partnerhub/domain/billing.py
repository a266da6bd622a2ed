"""The billing engine: license-days, per-license caps, monthly invoices and the month-to-date estimate.

Pure and deterministic: no I/O, no wall clock, no floats. Amounts are integer cents in ``usd``;
instants are timezone-aware and read in UTC. See ``docs/billing.md`` for the rules with a worked example.

The rules in one place:

* A license is active on UTC day ``D`` when ``[issued_at, revoked_at)`` overlaps ``[D 00:00, D+1 00:00)``
  (``revoked_at`` ``None`` = still active). Assigned or not makes no difference.
* A license's charge for a month is ``min(days * daily_price, monthly_price)`` at the prices in force on
  the month's 1st; the cap applies per license.
* ``source == "external"`` licenses are never billed.
* The estimate and the invoice share one computation (:func:`_charge_products`), which bills every
  license over its interval clipped to a window ``[period.start, window_end)``. The invoice and the
  projection use ``window_end = period.end`` (an unrevoked license runs to the month's end); "to date"
  uses ``min(period.end, as_of)``. Hence for a past month ``cost_to_date == projected_cost ==
  bill_month(...).total``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from partnerhub.domain.periods import Period, require_aware
from partnerhub.domain.tallies import MonthTally, RunningTally, groups_of

__all__ = [
    "CURRENCY",
    "EXTERNAL_SOURCE",
    "BillableLicense",
    "Estimate",
    "EstimateCounts",
    "EstimateTotals",
    "InvoiceLine",
    "LicenseCharge",
    "MissingPriceError",
    "MonthlyBill",
    "Period",
    "PriceVersion",
    "ProductEstimate",
    "bill_month",
    "estimate_from_tallies",
    "estimate_month",
    "license_charge",
    "license_days",
    "price_in_force",
]

CURRENCY = "usd"
EXTERNAL_SOURCE = "external"


class MissingPriceError(LookupError):
    """A product has billable days in a period but no price version in force for it."""

    def __init__(self, product: str, period: Period) -> None:
        super().__init__(
            f"no price in force for product {product!r} in {period} (need effective_from <= {period.first_day})"
        )
        self.product = product
        self.period = period


def _require_cents(name: str, value: int) -> None:
    # bool is an int subclass and floats must never carry money: refuse both explicitly.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer number of cents, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")


@dataclass(frozen=True, slots=True)
class PriceVersion:
    """A product's prices from ``effective_from`` (a month's 1st) until the next version takes over."""

    product: str
    daily_price: int
    monthly_price: int
    effective_from: date
    currency: str = CURRENCY

    def __post_init__(self) -> None:
        if not isinstance(self.product, str) or not self.product:
            raise ValueError(f"product must be a non-empty slug, got {self.product!r}")
        _require_cents("daily_price", self.daily_price)
        _require_cents("monthly_price", self.monthly_price)
        if self.monthly_price < self.daily_price:
            raise ValueError(
                f"monthly_price ({self.monthly_price}) must not be below daily_price ({self.daily_price})"
                f" for {self.product!r}"
            )
        # datetime is a date subclass; an instant here would hide a timezone question, so refuse it.
        if isinstance(self.effective_from, datetime) or not isinstance(self.effective_from, date):
            raise TypeError(f"effective_from must be a date, got {self.effective_from!r}")
        if self.effective_from.day != 1:
            raise ValueError(f"effective_from must be the first day of a month, got {self.effective_from}")
        if self.currency != CURRENCY:
            raise ValueError(f"currency must be {CURRENCY!r}, got {self.currency!r}")


@dataclass(frozen=True, slots=True)
class BillableLicense:
    """What billing needs to know about one license. Datetimes are normalised to UTC."""

    license_key: str
    product: str
    issued_at: datetime
    revoked_at: datetime | None = None
    source: str = "portal"
    assigned: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.license_key, str) or not self.license_key:
            raise ValueError(f"license_key must be a non-empty string, got {self.license_key!r}")
        if not isinstance(self.product, str) or not self.product:
            raise ValueError(f"product must be a non-empty slug, got {self.product!r}")
        # Frozen dataclass: normalising in place needs object.__setattr__.
        issued = require_aware("issued_at", self.issued_at)
        object.__setattr__(self, "issued_at", issued)
        if self.revoked_at is not None:
            revoked = require_aware("revoked_at", self.revoked_at)
            if revoked < issued:
                raise ValueError(
                    f"license {self.license_key}: revoked_at {revoked.isoformat()}"
                    f" is before issued_at {issued.isoformat()}"
                )
            object.__setattr__(self, "revoked_at", revoked)

    @property
    def billable(self) -> bool:
        """False for external licenses, which are never billed."""
        return self.source != EXTERNAL_SOURCE

    def revoked_by(self, instant: datetime) -> bool:
        """Whether the license had been revoked at ``instant`` (revocation takes effect at ``revoked_at``)."""
        return self.revoked_at is not None and self.revoked_at <= instant


def _clipped_days(issued_at: datetime, revoked_at: datetime | None, start: datetime, end: datetime) -> int:
    """UTC calendar days that ``[issued_at, revoked_at)`` clipped to ``[start, end)`` touches.

    All four instants must already be in UTC (the hot path of billing, so no checks here): the day
    count is then plain date-ordinal arithmetic, O(1), with no iteration over days. The clipped
    interval runs from ``lo``'s day to ``hi``'s day, except that an ``hi`` exactly at midnight does not
    reach into the day it opens.
    """
    lo = max(start, issued_at)
    hi = end if revoked_at is None else min(end, revoked_at)
    if lo >= hi:
        return 0
    days = hi.toordinal() - lo.toordinal()
    if hi.hour or hi.minute or hi.second or hi.microsecond:
        days += 1
    return days


def license_days(issued_at: datetime, revoked_at: datetime | None, period: Period) -> int:
    """Days of ``period`` on which a license active over ``[issued_at, revoked_at)`` was active.

    ``revoked_at`` ``None`` means still active. Revoked exactly at 00:00:00 of a day does not count
    that day; issued at 23:59:59 does; issued and revoked at the same instant counts no day.
    """
    issued = require_aware("issued_at", issued_at)
    revoked = None if revoked_at is None else require_aware("revoked_at", revoked_at)
    if revoked is not None and revoked < issued:
        raise ValueError("revoked_at must not be before issued_at")
    return _clipped_days(issued, revoked, period.start, period.end)


def license_charge(days: int, price: PriceVersion) -> int:
    """One license's charge for a month: ``min(days * daily_price, monthly_price)`` cents."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValueError(f"days must be a non-negative integer, got {days!r}")
    return min(days * price.daily_price, price.monthly_price)


def price_in_force(versions: Iterable[PriceVersion], product: str, period: Period) -> PriceVersion | None:
    """The version of ``product`` with the latest ``effective_from`` on or before the period's 1st.

    A whole month is billed at the prices in force on its first day. Returns ``None`` if the product
    had no price yet. Two different versions with the same ``effective_from`` are ambiguous: ``ValueError``.
    """
    first_day = period.first_day
    best: PriceVersion | None = None
    for version in versions:
        if version.product != product or version.effective_from > first_day:
            continue
        if best is None or version.effective_from > best.effective_from:
            best = version
        elif version.effective_from == best.effective_from and version != best:
            raise ValueError(f"two different prices for {product!r} effective from {version.effective_from}")
    return best


def _prices_for(versions: Iterable[PriceVersion], period: Period) -> dict[str, PriceVersion]:
    """Every product's price in force for ``period``, in one pass over the versions."""
    first_day = period.first_day
    chosen: dict[str, PriceVersion] = {}
    for version in versions:
        if version.effective_from > first_day:
            continue
        best = chosen.get(version.product)
        if best is None or version.effective_from > best.effective_from:
            chosen[version.product] = version
        elif version.effective_from == best.effective_from and version != best:
            raise ValueError(f"two different prices for {version.product!r} effective from {version.effective_from}")
    return chosen


class LicenseCharge(NamedTuple):
    """One license's share of an invoice line.

    A named tuple rather than a dataclass: one is built per license per month, and tuple
    construction and ordering are much cheaper.
    """

    license_key: str
    days: int
    amount: int


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One product's charges for a month. ``amount`` is the sum of per-license (capped) charges."""

    product: str
    licenses: int
    license_days: int
    daily_price: int
    monthly_price: int
    amount: int
    charges: tuple[LicenseCharge, ...]
    currency: str = CURRENCY


@dataclass(frozen=True, slots=True)
class MonthlyBill:
    """The invoice computation for one month: lines sorted by product slug, and their total.

    ``external_licenses`` counts external licenses active in the month, for information only.
    """

    period: Period
    lines: tuple[InvoiceLine, ...]
    total: int
    external_licenses: int = 0
    currency: str = CURRENCY


@dataclass(frozen=True, slots=True)
class _ProductCharges:
    price: PriceVersion
    charges: list[LicenseCharge]  # days >= 1
    licenses: list[BillableLicense]  # the licenses charged, in the same order


def _charge_products(
    licenses: Iterable[BillableLicense],
    prices: Mapping[str, PriceVersion],
    period: Period,
    window_end: datetime,
) -> tuple[dict[str, _ProductCharges], int]:
    """The one computation behind invoices and estimates.

    Bills each billable license over ``[issued_at, revoked_at)`` clipped to ``[period.start,
    window_end)`` (``window_end <= period.end``) at the prices in force for ``period``; licenses with no
    day in the window are left out. Returns the charges by product and how many external licenses
    were active in the window. Raises :class:`MissingPriceError` for a product with days but no price.
    """
    start = period.start
    out: dict[str, _ProductCharges] = {}
    external = 0
    for lic in licenses:
        days = _clipped_days(lic.issued_at, lic.revoked_at, start, window_end)
        if days == 0:
            continue
        if lic.source == EXTERNAL_SOURCE:
            external += 1
            continue
        group = out.get(lic.product)
        if group is None:
            price = prices.get(lic.product)
            if price is None:
                raise MissingPriceError(lic.product, period)
            group = out[lic.product] = _ProductCharges(price, [], [])
        price = group.price
        group.charges.append(LicenseCharge(lic.license_key, days, min(days * price.daily_price, price.monthly_price)))
        group.licenses.append(lic)
    return out, external


def bill_month(licenses: Iterable[BillableLicense], prices: Iterable[PriceVersion], period: Period) -> MonthlyBill:
    """The invoice for ``period``: one line per product with billable days, sorted by product slug.

    Each license is charged ``min(days * daily_price, monthly_price)`` at the prices in force on the
    period's 1st. External licenses are not billed. Nothing to bill gives no lines and total 0.
    Raises :class:`MissingPriceError` if a product with billable days has no price in force.
    """
    groups, external = _charge_products(licenses, _prices_for(prices, period), period, period.end)
    lines: list[InvoiceLine] = []
    for product in sorted(groups):
        group = groups[product]
        # Sorted so the result does not depend on the order the licenses were read in.
        charges = tuple(sorted(group.charges))
        lines.append(
            InvoiceLine(
                product=product,
                licenses=len(charges),
                license_days=sum([c.days for c in charges]),
                daily_price=group.price.daily_price,
                monthly_price=group.price.monthly_price,
                amount=sum([c.amount for c in charges]),
                charges=charges,
            )
        )
    return MonthlyBill(
        period=period, lines=tuple(lines), total=sum(line.amount for line in lines), external_licenses=external
    )


@dataclass(frozen=True, slots=True)
class EstimateCounts:
    """Licenses of a product in the period: ``total`` billable ones, of which unrevoked ones by assignment.

    ``assigned + unassigned <= total``: the difference is licenses revoked by ``as_of``.
    """

    assigned: int
    unassigned: int
    total: int


@dataclass(frozen=True, slots=True)
class ProductEstimate:
    """One product's month-to-date figures."""

    product: str
    counts: EstimateCounts
    license_days: int
    cost_to_date: int
    projected_license_days: int
    projected_cost: int
    daily_price: int
    monthly_price: int
    currency: str = CURRENCY


@dataclass(frozen=True, slots=True)
class EstimateTotals:
    """The products' figures summed."""

    counts: EstimateCounts
    license_days: int
    cost_to_date: int
    projected_license_days: int
    projected_cost: int
    currency: str = CURRENCY


@dataclass(frozen=True, slots=True)
class Estimate:
    """The month-to-date estimate of ``period`` as seen at ``as_of``; products sorted by slug."""

    period: Period
    as_of: datetime
    products: tuple[ProductEstimate, ...]
    totals: EstimateTotals


def estimate_month(
    licenses: Iterable[BillableLicense], prices: Iterable[PriceVersion], period: Period, as_of: datetime
) -> Estimate:
    """The month-to-date estimate of ``period`` at instant ``as_of``.

    * **To date** (``license_days``, ``cost_to_date``): the invoice computation over the part of the month
      before ``as_of``, i.e. each license billed over ``[issued_at, min(revoked_at, as_of))``. A day counts
      once the license has been active at some instant of that day strictly before ``as_of``: a license
      active since yesterday counts today from ``as_of`` = today 00:00:00.000001 on, not at 00:00:00 sharp;
      one issued today at 09:00 counts today once ``as_of`` is past 09:00.
    * **Projected** (``projected_license_days``, ``projected_cost``): every license not revoked stays active
      to the month's end, a revoked one counts its real days. That is exactly what
      ``bill_month(licenses, prices, period)`` charges today, so it is the invoice if nothing changes.
    * **Counts**: ``total`` is the licenses with at least one projected day in the period;
      ``assigned``/``unassigned`` split those of them not revoked by ``as_of``.

    Both figures go through the one invoice computation, so for a past month (``as_of >= period.end``)
    ``cost_to_date == projected_cost == bill_month(...).total``. For a future month (``as_of`` before it
    starts) to-date figures are 0 and the projection bills every unrevoked license for the whole month
    (from its ``issued_at`` if that falls inside the month). Prices are those in force for ``period``.
    Raises :class:`MissingPriceError` if a product with projected days has no price in force.
    """
    as_of = require_aware("as_of", as_of)
    licenses = list(licenses)
    price_table = _prices_for(prices, period)
    # Projection: the invoice computation itself. An unrevoked license already runs to the month's end
    # there, and a revoked one keeps its real interval.
    projected, _ = _charge_products(licenses, price_table, period, period.end)
    # To date: the same computation over the part of the month before as_of.
    to_date, _ = _charge_products(licenses, price_table, period, min(period.end, as_of))

    products: list[ProductEstimate] = []
    for product in sorted(projected):
        group = projected[product]
        assigned = unassigned = 0
        for lic in group.licenses:
            if lic.revoked_by(as_of):
                continue
            if lic.assigned:
                assigned += 1
            else:
                unassigned += 1
        # Every day to date is also a projected day, so to-date products are a subset of projected ones.
        done = to_date.get(product)
        done_charges = done.charges if done is not None else []
        products.append(
            ProductEstimate(
                product=product,
                counts=EstimateCounts(assigned=assigned, unassigned=unassigned, total=len(group.charges)),
                license_days=sum([c.days for c in done_charges]),
                cost_to_date=sum([c.amount for c in done_charges]),
                projected_license_days=sum([c.days for c in group.charges]),
                projected_cost=sum([c.amount for c in group.charges]),
                daily_price=group.price.daily_price,
                monthly_price=group.price.monthly_price,
            )
        )
    return Estimate(period=period, as_of=as_of, products=tuple(products), totals=_totals(products))


def estimate_from_tallies(
    months: Mapping[Period, Mapping[str, MonthTally]],
    running: Mapping[str, RunningTally],
    prices: Iterable[PriceVersion],
    period: Period,
    as_of: datetime,
    issued_from_as_of: Mapping[str, int] | None = None,
) -> Estimate:
    """The estimate of ``period`` at ``as_of`` from the billing tallies: equal to :func:`estimate_month`.

    ``months`` holds the tallies of ``period`` and of every later month that has any (earlier months
    are not needed); ``running`` the running tallies. ``issued_from_as_of`` counts, per product, the
    licenses issued at or after ``as_of`` and before the next midnight, with an active instant: such a
    license has not been active strictly before ``as_of``, so today does not count for it yet, which a
    day count cannot tell from one issued a microsecond before ``as_of`` (a license issued at exactly
    ``as_of``, or a record dated after it, as a clock moved back leaves). ``counts`` splits the licenses
    open at ``min(as_of, period end)`` by assignment at that instant. Raises :class:`MissingPriceError` for a
    product with days but no price.
    """
    as_of = require_aware("as_of", as_of)
    price_table = _prices_for(prices, period)
    length = period.days
    if as_of >= period.end:
        to_date_last = length
    elif as_of <= period.start:
        to_date_last = 0
    else:
        midnight = not (as_of.hour or as_of.minute or as_of.second or as_of.microsecond)
        to_date_last = as_of.day - 1 if midnight else as_of.day
    not_active_yet = issued_from_as_of or {}
    here = months.get(period, {})
    later = [tallies for month, tallies in months.items() if month > period]

    products: list[ProductEstimate] = []
    for product in sorted(set(running) | set(here)):
        run = running.get(product, RunningTally())
        open_at_end = run.open - sum(t[product].opened for t in later if product in t)
        assigned_at_end = run.assigned - sum(t[product].assigned for t in later if product in t)
        tally = here.get(product, MonthTally())
        carried = open_at_end - tally.opened
        if carried < 0:
            raise ValueError(f"the tallies of {product!r} do not add up for {period}")
        total = days = cost = days_to_date = cost_to_date = 0
        price = price_table.get(product)
        for group in groups_of(tally, carried, length):
            span = group.last - group.first + 1
            if span <= 0:
                continue
            if price is None:
                raise MissingPriceError(product, period)
            total += group.count
            days += group.count * span
            cost += group.count * min(span * price.daily_price, price.monthly_price)
            done = min(group.last, to_date_last) - group.first + 1
            if done > 0:
                days_to_date += group.count * done
                cost_to_date += group.count * min(done * price.daily_price, price.monthly_price)
        if total == 0 or price is None:
            continue
        today = to_date_last == as_of.day and period.start < as_of < period.end
        not_yet = not_active_yet.get(product, 0) if today else 0
        if not_yet:
            # Issued at as_of or later today: counted above with today done; today is not done for them yet.
            days_to_date -= not_yet
            cost_to_date -= not_yet * min(price.daily_price, price.monthly_price)
        products.append(
            ProductEstimate(
                product=product,
                counts=EstimateCounts(assigned=assigned_at_end, unassigned=open_at_end - assigned_at_end, total=total),
                license_days=days_to_date,
                cost_to_date=cost_to_date,
                projected_license_days=days,
                projected_cost=cost,
                daily_price=price.daily_price,
                monthly_price=price.monthly_price,
            )
        )
    return Estimate(period=period, as_of=as_of, products=tuple(products), totals=_totals(products))


def _totals(products: Sequence[ProductEstimate]) -> EstimateTotals:
    """The estimate's totals: each field summed over its products."""
    return EstimateTotals(
        counts=EstimateCounts(
            assigned=sum(p.counts.assigned for p in products),
            unassigned=sum(p.counts.unassigned for p in products),
            total=sum(p.counts.total for p in products),
        ),
        license_days=sum(p.license_days for p in products),
        cost_to_date=sum(p.cost_to_date for p in products),
        projected_license_days=sum(p.projected_license_days for p in products),
        projected_cost=sum(p.projected_cost for p in products),
    )
