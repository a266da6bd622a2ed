"""Billing tallies: the month's estimate in O(products), whatever the number of licenses.

Pure: no I/O, no wall clock. The repository keeps, in the same transaction as every issue, revoke,
assign and unassign of a portal license, two kinds of small counters (``docs/billing.md``):

* a **month tally** per partner, month and product, written by the events that happen in that month:
  ``issued[s]``, licenses issued on day ``s``; ``revoked[(s, e)]``, licenses revoked this month whose
  first active day of the month was ``s`` (1 when issued in an earlier month) and last active day ``e``
  (``e = s - 1`` when they had no day in the month); ``assigned``, the net change of assigned licenses.
  At most 31 + 31 x 32 / 2 counters, whatever the number of licenses;
* a **running tally** per partner and product: licenses open now (issued, not revoked) and, of them,
  how many are assigned.

A license still open at a month's end is in no later month's tally: it is carried. The licenses open
at the start of month ``M`` are the running total minus what every month from ``M`` on changed, so
no job has to run at a month's end. Every license of ``M`` then has a known (first day, last day)
pair, and its capped charge ``min(days x daily, monthly)`` is exact per pair: the sum over the pairs
is the license-by-license sum of :mod:`partnerhub.domain.billing`, to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from partnerhub.domain.billing import (
    Estimate,
    EstimateTotals,
    LicenseCounts,
    MissingPriceError,
    PriceVersion,
    ProductEstimate,
    _clipped_days,
    _prices_for,
)
from partnerhub.domain.periods import Period, require_aware

__all__ = [
    "MonthTally",
    "RunningTally",
    "TallyChange",
    "assignment_tally",
    "estimate_from_tallies",
    "issue_tally",
    "revoke_tally",
    "tallies_of",
]


@dataclass(frozen=True, slots=True)
class TallyChange:
    """What one event adds to its month's tally and to the running tally of ``product``.

    ``issued_day``/``issued``: ``issued`` licenses with first day ``issued_day``;
    ``revoked_days``/``revoked``: one license revoked with that (first day, last day) pair;
    ``assigned``: the change in assigned open licenses. The running tally gains
    ``issued - revoked`` open licenses and ``assigned`` assigned ones.
    """

    period: Period
    product: str
    issued_day: int = 0
    issued: int = 0
    revoked_days: tuple[int, int] = (0, 0)
    revoked: int = 0
    assigned: int = 0
    issued_at: datetime | None = None

    @property
    def opened(self) -> int:
        """The change in open licenses."""
        return self.issued - self.revoked


def issue_tally(product: str, issued_at: datetime, quantity: int, assigned: int = 0) -> TallyChange:
    """``quantity`` portal licenses of ``product`` issued at ``issued_at`` (``assigned`` of them on a site)."""
    issued_at = require_aware("issued_at", issued_at)
    return TallyChange(
        Period.containing(issued_at),
        product,
        issued_day=issued_at.day,
        issued=quantity,
        assigned=assigned,
        issued_at=issued_at,
    )


def revoke_tally(product: str, issued_at: datetime, revoked_at: datetime, *, was_assigned: bool) -> TallyChange:
    """One portal license revoked at ``revoked_at``; counted in the month of the revocation."""
    issued_at = require_aware("issued_at", issued_at)
    revoked_at = require_aware("revoked_at", revoked_at)
    period = Period.containing(revoked_at)
    first = max(period.start, issued_at)
    days = _clipped_days(issued_at, revoked_at, period.start, period.end)
    return TallyChange(
        period,
        product,
        revoked_days=(first.day, first.day + days - 1),
        revoked=1,
        assigned=-1 if was_assigned else 0,
    )


def assignment_tally(product: str, at: datetime, assigned: int) -> TallyChange:
    """A portal license assigned (+1) or unassigned (-1) at ``at``."""
    return TallyChange(Period.containing(require_aware("at", at)), product, assigned=assigned)


@dataclass(slots=True)
class MonthTally:
    """One product's counters for one month (see the module docstring)."""

    issued: dict[int, int] = field(default_factory=dict)
    revoked: dict[tuple[int, int], int] = field(default_factory=dict)
    assigned: int = 0
    last_issued_at: datetime | None = None

    def apply(self, change: TallyChange) -> None:
        """Add ``change`` (in memory; the repository does the same with DynamoDB ``ADD``)."""
        if change.issued:
            self.issued[change.issued_day] = self.issued.get(change.issued_day, 0) + change.issued
            if change.issued_at is not None:
                self.last_issued_at = max(change.issued_at, self.last_issued_at or change.issued_at)
        if change.revoked:
            self.revoked[change.revoked_days] = self.revoked.get(change.revoked_days, 0) + change.revoked
        self.assigned += change.assigned

    @property
    def opened(self) -> int:
        """The month's net change in open licenses."""
        return sum(self.issued.values()) - sum(self.revoked.values())


@dataclass(slots=True)
class RunningTally:
    """One product's open licenses now and, of them, the assigned ones."""

    open: int = 0
    assigned: int = 0

    def apply(self, change: TallyChange) -> None:
        self.open += change.opened
        self.assigned += change.assigned


def tallies_of(
    lives: Iterable[tuple[str, datetime, Iterable[tuple[str, datetime]]]],
) -> tuple[dict[Period, dict[str, MonthTally]], dict[str, RunningTally]]:
    """The tallies the commands would have kept, rebuilt from portal licenses and their history.

    Each life is ``(product, issued_at, [(history type, at), ...])`` in history order (``assigned``,
    ``transferred``, ``unassigned``, ``revoked``). For licenses issued before the tallies existed.
    """
    months: dict[Period, dict[str, MonthTally]] = {}
    running: dict[str, RunningTally] = {}

    def apply(change: TallyChange) -> None:
        months.setdefault(change.period, {}).setdefault(change.product, MonthTally()).apply(change)
        running.setdefault(change.product, RunningTally()).apply(change)

    for product, issued_at, events in lives:
        apply(issue_tally(product, issued_at, 1))
        assigned = False
        for kind, at in events:
            if kind == "assigned" and not assigned:
                assigned = True
                apply(assignment_tally(product, at, +1))
            elif kind == "unassigned" and assigned:
                assigned = False
                apply(assignment_tally(product, at, -1))
            elif kind == "revoked":
                apply(revoke_tally(product, issued_at, at, was_assigned=assigned))
                break
    return months, running


@dataclass(frozen=True, slots=True)
class _Group:
    count: int
    first: int  # first active day of the month
    last: int  # last active day (the month's last day for licenses still open at its end)


def _groups(tally: MonthTally, carried: int, days_in_month: int) -> list[_Group]:
    """Every license active in the month as (count, first day, last day) groups."""
    starts = dict(tally.issued)
    if carried:
        starts[1] = starts.get(1, 0) + carried
    groups: list[_Group] = []
    for (first, last), count in tally.revoked.items():
        starts[first] = starts.get(first, 0) - count
        if count:
            groups.append(_Group(count, first, last))
    for first, count in starts.items():
        if count < 0:
            raise ValueError(f"the tally revokes more licenses starting on day {first} than it issued")
        if count:
            groups.append(_Group(count, first, days_in_month))
    return groups


def estimate_from_tallies(
    months: Mapping[Period, Mapping[str, MonthTally]],
    running: Mapping[str, RunningTally],
    prices: Iterable[PriceVersion],
    period: Period,
    as_of: datetime,
    issued_at_as_of: Mapping[str, int] | None = None,
) -> Estimate:
    """The estimate of ``period`` at ``as_of``, equal to :func:`~partnerhub.domain.billing.estimate_month`.

    ``months`` holds the tallies of ``period`` and of every later month that has any (earlier months
    are not needed); ``running`` the running tallies. ``issued_at_as_of`` counts, per product, the
    open licenses issued at exactly ``as_of``: such a license has not yet been active strictly before
    ``as_of``, so today does not count for it yet (a day count cannot tell it from one issued a
    microsecond earlier). ``counts`` splits the licenses open at ``min(as_of, period end)`` by
    assignment at that instant. Raises :class:`MissingPriceError` for a product with days but no price.
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
    exact = issued_at_as_of or {}
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
        for group in _groups(tally, carried, length):
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
        not_yet = exact.get(product, 0) if to_date_last == as_of.day and period.start < as_of < period.end else 0
        if not_yet:
            # Issued at exactly as_of: counted above with today done; today is not done for them yet.
            days_to_date -= not_yet
            cost_to_date -= not_yet * min(price.daily_price, price.monthly_price)
        products.append(
            ProductEstimate(
                product=product,
                counts=LicenseCounts(assigned=assigned_at_end, unassigned=open_at_end - assigned_at_end, total=total),
                license_days=days_to_date,
                cost_to_date=cost_to_date,
                projected_license_days=days,
                projected_cost=cost,
                daily_price=price.daily_price,
                monthly_price=price.monthly_price,
            )
        )
    totals = EstimateTotals(
        counts=LicenseCounts(
            assigned=sum(p.counts.assigned for p in products),
            unassigned=sum(p.counts.unassigned for p in products),
            total=sum(p.counts.total for p in products),
        ),
        license_days=sum(p.license_days for p in products),
        cost_to_date=sum(p.cost_to_date for p in products),
        projected_license_days=sum(p.projected_license_days for p in products),
        projected_cost=sum(p.projected_cost for p in products),
    )
    return Estimate(period=period, as_of=as_of, products=tuple(products), totals=totals)
