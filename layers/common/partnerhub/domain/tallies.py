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

A revocation or an assignment change at the very first instant of a month (midnight on the 1st) is the
state at the end of the month that just ended: it goes to that month's tally (unless the license was issued
at that instant too, when it never was in the earlier month), so the counts at a month's end agree with the
license-by-license reading, which takes a license revoked at ``as_of`` as revoked.

A license still open at a month's end is in no later month's tally: it is carried. The licenses open
at the start of month ``M`` are the running total minus what every month from ``M`` on changed, so
no job has to run at a month's end. Every license of ``M`` then has a known (first day, last day)
pair, and its capped charge ``min(days x daily, monthly)`` is exact per pair: the sum over the pairs
is the license-by-license sum of :mod:`partnerhub.domain.billing`, to the cent: the estimate from the
tallies is :func:`partnerhub.domain.billing.estimate_from_tallies`. This module imports nothing but
periods: the license commands that keep the tallies load no billing engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from partnerhub.domain.periods import Period, require_aware

__all__ = [
    "MonthTally",
    "RunningTally",
    "TallyChange",
    "TallyGroup",
    "assignment_tally",
    "groups_of",
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


_INSTANT = timedelta(microseconds=1)


def _event_period(issued_at: datetime, at: datetime) -> Period:
    """The month whose tally an event at ``at`` of a license issued at ``issued_at`` goes to: the month of the
    license's last instant before the event (see the module docstring)."""
    return Period.containing(max(issued_at, at - _INSTANT))


def revoke_tally(product: str, issued_at: datetime, revoked_at: datetime, *, was_assigned: bool) -> TallyChange:
    """One portal license revoked at ``revoked_at``; counted in the month of its last active instant."""
    issued_at = require_aware("issued_at", issued_at)
    revoked_at = require_aware("revoked_at", revoked_at)
    period = _event_period(issued_at, revoked_at)
    first = max(period.start, issued_at)
    # The last active day: the day of the last instant before the revocation; a license revoked when it was
    # issued has none (last = first - 1).
    last = (revoked_at - _INSTANT).day if revoked_at > first else first.day - 1
    return TallyChange(
        period,
        product,
        revoked_days=(first.day, last),
        revoked=1,
        assigned=-1 if was_assigned else 0,
    )


def assignment_tally(product: str, issued_at: datetime, at: datetime, assigned: int) -> TallyChange:
    """A portal license issued at ``issued_at`` assigned (+1) or unassigned (-1) at ``at``."""
    period = _event_period(require_aware("issued_at", issued_at), require_aware("at", at))
    return TallyChange(period, product, assigned=assigned)


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
                apply(assignment_tally(product, issued_at, at, +1))
            elif kind == "unassigned" and assigned:
                assigned = False
                apply(assignment_tally(product, issued_at, at, -1))
            elif kind == "revoked":
                apply(revoke_tally(product, issued_at, at, was_assigned=assigned))
                break
    return months, running


@dataclass(frozen=True, slots=True)
class TallyGroup:
    """``count`` licenses active in a month from its day ``first`` to its day ``last`` (inclusive)."""

    count: int
    first: int
    last: int


def groups_of(tally: MonthTally, carried: int, days_in_month: int) -> list[TallyGroup]:
    """Every license active in the month as groups; ``carried`` licenses were open at its start."""
    starts = dict(tally.issued)
    if carried:
        starts[1] = starts.get(1, 0) + carried
    groups: list[TallyGroup] = []
    for (first, last), count in tally.revoked.items():
        starts[first] = starts.get(first, 0) - count
        if count:
            groups.append(TallyGroup(count, first, last))
    for first, count in starts.items():
        if count < 0:
            raise ValueError(f"the tally revokes more licenses starting on day {first} than it issued")
        if count:
            groups.append(TallyGroup(count, first, days_in_month))
    return groups
