"""The estimate from tallies equals the license-by-license computation, over random histories.

The oracle is :func:`partnerhub.domain.billing.estimate_month` over the licenses themselves (whose own
rules are worked by hand in ``test_billing.py``); the tallies are fed only the events, in time order,
as the repository feeds them in each command's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from partnerhub.domain.billing import BillableLicense, Period, PriceVersion, estimate_from_tallies, estimate_month
from partnerhub.domain.tallies import (
    MonthTally,
    RunningTally,
    TallyChange,
    assignment_tally,
    issue_tally,
    revoke_tally,
    tallies_of,
)

PRODUCTS = ["ads", "seo"]
# 2028: a leap February (29 days) between a 31-day January and a 31-day March; then a 30-day April.
START = datetime(2027, 12, 20, tzinfo=UTC)
SPAN_DAYS = 150
PERIODS = [Period(2027, 12), Period(2028, 1), Period(2028, 2), Period(2028, 3), Period(2028, 4), Period(2028, 5)]


@dataclass
class _License:
    key: str
    product: str
    issued_at: datetime
    external: bool
    revoked_at: datetime | None = None
    # (instant, assigned after it): the assignment history, for the state at any instant.
    assignments: list[tuple[datetime, bool]] | None = None

    def assigned_at(self, instant: datetime) -> bool:
        state = False
        for at, assigned in self.assignments or []:
            if at <= instant:
                state = assigned
        return state and not (self.revoked_at is not None and self.revoked_at <= instant)


class _Tallies:
    """In memory, what the repository keeps in DynamoDB."""

    def __init__(self) -> None:
        self.months: dict[Period, dict[str, MonthTally]] = {}
        self.running: dict[str, RunningTally] = {}
        self.last_issued: dict[Period, datetime] = {}

    def apply(self, change: TallyChange) -> None:
        self.months.setdefault(change.period, {}).setdefault(change.product, MonthTally()).apply(change)
        self.running.setdefault(change.product, RunningTally()).apply(change)


# Steps of whole days plus the edges of a day: midnight sharp, a microsecond either side, mid-day.
steps = st.one_of(
    st.just(timedelta(0)),
    st.integers(min_value=0, max_value=12).map(lambda d: timedelta(days=d)),
    st.sampled_from([timedelta(microseconds=1), timedelta(hours=9), timedelta(hours=23, minutes=59, seconds=59)]),
)
events = st.lists(
    st.tuples(
        steps,
        st.sampled_from(["issue", "issue", "external", "revoke", "assign", "transfer", "unassign"]),
        st.sampled_from(PRODUCTS),
        st.integers(min_value=1, max_value=3),
        st.integers(min_value=0, max_value=10_000),
    ),
    max_size=25,
)


@st.composite
def price_lists(draw: st.DrawFn) -> list[PriceVersion]:
    """A price per product from before the window, and changes at random months' firsts."""
    versions: dict[tuple[str, date], PriceVersion] = {}
    for product in PRODUCTS:
        for effective in [date(2027, 1, 1), *draw(st.lists(st.sampled_from([p.first_day for p in PERIODS])))]:
            daily = draw(st.integers(min_value=0, max_value=300))
            monthly = daily + draw(st.integers(min_value=0, max_value=9000))
            versions.setdefault((product, effective), PriceVersion(product, daily, monthly, effective))
    return list(versions.values())


def _replay(history: list[tuple[timedelta, str, str, int, int]]) -> tuple[list[_License], _Tallies, datetime]:
    """Apply the events in time order to the licenses and, as the repository does, to the tallies."""
    now = START + timedelta(hours=draw_offset(history))
    licenses: list[_License] = []
    tallies = _Tallies()
    for step, kind, product, quantity, pick in history:
        now += step
        if kind in {"issue", "external"}:
            for n in range(quantity):
                licenses.append(_License(f"L{len(licenses)}-{n}", product, now, external=kind == "external"))
            if kind == "issue":
                tallies.apply(issue_tally(product, now, quantity))
            continue
        candidates = [lic for lic in licenses if lic.revoked_at is None]
        if not candidates:
            continue
        lic = candidates[pick % len(candidates)]
        was_assigned = lic.assigned_at(now)
        if kind == "revoke":
            lic.revoked_at = now
            if not lic.external:
                tallies.apply(revoke_tally(lic.product, lic.issued_at, now, was_assigned=was_assigned))
        elif (kind == "assign" and not was_assigned) or (kind == "transfer" and was_assigned):
            # A transfer keeps the license assigned: it changes nothing billing counts.
            lic.assignments = [*(lic.assignments or []), (now, True)]
            if not lic.external and not was_assigned:
                tallies.apply(assignment_tally(lic.product, lic.issued_at, now, +1))
        elif kind == "unassign" and was_assigned:
            lic.assignments = [*(lic.assignments or []), (now, False)]
            if not lic.external:
                tallies.apply(assignment_tally(lic.product, lic.issued_at, now, -1))
    return licenses, tallies, now


def draw_offset(history: list[tuple[timedelta, str, str, int, int]]) -> int:
    # The first event's hour varies with the history (deterministically), so issue instants are not all midnight.
    return history[0][4] % 24 if history else 0


def _oracle(licenses: list[_License], prices: list[PriceVersion], period: Period, now: datetime) -> object:
    as_of = min(now, period.end)
    billable = [
        BillableLicense(
            lic.key,
            lic.product,
            lic.issued_at,
            lic.revoked_at,
            source="external" if lic.external else "portal",
            assigned=lic.assigned_at(as_of),
        )
        for lic in licenses
    ]
    return estimate_month(billable, prices, period, as_of)


@settings(max_examples=300, deadline=None)
@given(events, price_lists(), st.sampled_from(PERIODS), st.sampled_from([timedelta(0), timedelta(days=40)]))
@example(  # a revocation at midnight on the 1st, as a month is asked at its end
    history=[
        (timedelta(days=6), "issue", "ads", 1, 0),
        (timedelta(days=6), "issue", "ads", 1, 0),
        (timedelta(0), "revoke", "ads", 1, 0),
    ],
    prices=[PriceVersion("ads", 17, 495, date(2027, 1, 1)), PriceVersion("seo", 0, 0, date(2027, 1, 1))],
    period=Period(2027, 12),
    later=timedelta(0),
)
@example(  # an unassignment at midnight on the 1st
    history=[
        (timedelta(days=6), "issue", "ads", 1, 0),
        (timedelta(0), "assign", "ads", 1, 0),
        (timedelta(days=6), "unassign", "ads", 1, 0),
    ],
    prices=[PriceVersion("ads", 17, 495, date(2027, 1, 1)), PriceVersion("seo", 0, 0, date(2027, 1, 1))],
    period=Period(2027, 12),
    later=timedelta(0),
)
def test_the_estimate_from_tallies_equals_the_license_by_license_computation(
    history: list[tuple[timedelta, str, str, int, int]],
    prices: list[PriceVersion],
    period: Period,
    later: timedelta,
) -> None:
    # Given a random history of issues, revokes, assignments and transfers (external licenses among them)
    licenses, tallies, last_event = _replay(history)
    # When the month is estimated at the last event (its "now") or later
    now = last_event + later
    as_of = min(now, period.end)
    exact = {}
    for lic in licenses:
        if not lic.external and lic.issued_at == as_of and (lic.revoked_at is None or lic.revoked_at > as_of):
            exact[lic.product] = exact.get(lic.product, 0) + 1
    months = {month: tallies.months[month] for month in tallies.months if month >= period}
    from_tallies = estimate_from_tallies(months, tallies.running, prices, period, as_of, exact)
    # Then every figure equals the computation over the licenses themselves, to the cent
    assert from_tallies == _oracle(licenses, prices, period, now)


@settings(max_examples=150, deadline=None)
@given(events)
def test_tallies_rebuilt_from_licenses_and_history_equal_the_ones_kept_by_the_commands(
    history: list[tuple[timedelta, str, str, int, int]],
) -> None:
    # Given the tallies kept event by event
    licenses, kept, _ = _replay(history)
    # When they are rebuilt from the portal licenses and their history, as the migration does
    lives = []
    for lic in licenses:
        if lic.external:
            continue
        events: list[tuple[str, datetime]] = []
        assigned = False
        for when, to in lic.assignments or []:
            events.append(("transferred" if assigned and to else "assigned" if to else "unassigned", when))
            assigned = to
        if lic.revoked_at is not None:
            events.append(("revoked", lic.revoked_at))
        lives.append((lic.product, lic.issued_at, events))
    months, running = tallies_of(lives)

    # Then they are the same counters (zero counters aside)
    def nonzero(tally: MonthTally) -> tuple[object, ...]:
        return (
            {k: v for k, v in tally.issued.items() if v},
            {k: v for k, v in tally.revoked.items() if v},
            tally.assigned,
            tally.last_issued_at,
        )

    assert {(m, p): nonzero(t) for m, ts in months.items() for p, t in ts.items()} == {
        (m, p): nonzero(t) for m, ts in kept.months.items() for p, t in ts.items()
    }
    assert running == kept.running


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


BACKUP = PriceVersion("backup", 17, 495, date(2026, 1, 1))
SCAN = PriceVersion("scan", 14, 395, date(2026, 1, 1))


@pytest.mark.parametrize(
    ("as_of", "days", "to_date", "projected"),
    [
        (at(1, 9), 0, 0, 1385),
        (at(10, 9), 30, 480, 1385),
        (at(25, 9), 68, 1120, 1292),
        (datetime(2026, 4, 2, tzinfo=UTC), 80, 1292, 1292),
    ],
)
def test_the_readme_march_by_tallies(as_of: datetime, days: int, to_date: int, projected: int) -> None:
    # Given the README's March: A, B (backup) and C (scan) issued 1 March 09:00, C revoked 12 March 09:00,
    # D (backup) issued 20 March 09:00, B revoked 25 March 09:00 (A's transfer changes nothing billed)
    events = [
        (at(1, 9), issue_tally("backup", at(1, 9), 2)),
        (at(1, 9), issue_tally("scan", at(1, 9), 1)),
        (at(10, 9), assignment_tally("backup", at(1, 9), at(10, 9), +1)),
        (at(12, 9), revoke_tally("scan", at(1, 9), at(12, 9), was_assigned=False)),
        (at(20, 9), issue_tally("backup", at(20, 9), 1)),
        (at(25, 9), revoke_tally("backup", at(1, 9), at(25, 9), was_assigned=True)),
    ]
    tallies = _Tallies()
    for when, change in events:
        if when <= as_of:
            tallies.apply(change)
    # Licenses issued at exactly as_of (A, B and C at 1 March 09:00) have no day to date yet
    exact = {"backup": 2, "scan": 1} if as_of == at(1, 9) else {}
    # When March is estimated
    estimate = estimate_from_tallies(tallies.months, tallies.running, [BACKUP, SCAN], Period(2026, 3), as_of, exact)
    # Then the figures are the README's table, worked by hand there
    assert (estimate.totals.license_days, estimate.totals.cost_to_date, estimate.totals.projected_cost) == (
        days,
        to_date,
        projected,
    )


def test_a_license_carried_over_months_with_no_events_is_billed_every_month() -> None:
    # Given one backup license issued 20 January 2026 at 09:00, and nothing since
    tallies = _Tallies()
    tallies.apply(issue_tally("backup", datetime(2026, 1, 20, 9, tzinfo=UTC), 1))
    # When February (28 days) is asked in April
    february = estimate_from_tallies({}, tallies.running, [BACKUP], Period(2026, 2), datetime(2026, 3, 1, tzinfo=UTC))
    # Then it is active all 28 days: min(28 x 17 = 476, 495) = 476 cents; open and unassigned at the month's end
    assert (february.totals.projected_license_days, february.totals.projected_cost) == (28, 476)
    assert (february.totals.counts.assigned, february.totals.counts.unassigned, february.totals.counts.total) == (
        0,
        1,
        1,
    )
    # And January counts 20..31 = 12 days, 12 x 17 = 204 cents (January's tally is needed for the carry)
    january = estimate_from_tallies(
        tallies.months, tallies.running, [BACKUP], Period(2026, 1), datetime(2026, 4, 1, tzinfo=UTC)
    )
    assert (january.totals.projected_license_days, january.totals.projected_cost) == (12, 204)


def test_revoked_at_midnight_of_the_first_has_no_day_in_that_month() -> None:
    # Given a license issued 10 January and revoked at 1 February 00:00:00 sharp
    tallies = _Tallies()
    tallies.apply(issue_tally("backup", datetime(2026, 1, 10, tzinfo=UTC), 1))
    tallies.apply(
        revoke_tally("backup", datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC), was_assigned=False)
    )
    asked = datetime(2026, 3, 5, tzinfo=UTC)
    # Then February has nothing to bill, and January has 10..31 = 22 days, min(22 x 17 = 374, 495) = 374
    assert estimate_from_tallies(tallies.months, tallies.running, [BACKUP], Period(2026, 2), asked).products == ()
    january = estimate_from_tallies(tallies.months, tallies.running, [BACKUP], Period(2026, 1), asked)
    assert (january.totals.projected_license_days, january.totals.projected_cost) == (22, 374)


@pytest.mark.parametrize("assigned", [False, True])
def test_a_license_revoked_at_the_first_instant_of_a_month_is_not_open_at_the_end_of_the_last(assigned: bool) -> None:
    # Given a license issued 26 December 2027 (assigned or not) and revoked at 1 January 2028 00:00:00 sharp, and
    # another issued at that very instant
    december_26, new_year = datetime(2027, 12, 26, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
    tallies = _Tallies()
    tallies.apply(issue_tally("backup", december_26, 1, assigned=int(assigned)))
    tallies.apply(revoke_tally("backup", december_26, new_year, was_assigned=assigned))
    tallies.apply(issue_tally("backup", new_year, 1))
    # When December is asked at its end
    december = estimate_from_tallies(tallies.months, tallies.running, [BACKUP], Period(2027, 12), new_year)
    # Then it billed 26..31 December (6 days, 6 x 17 = 102) for one license that is revoked by then: neither
    # assigned nor unassigned (the one issued at midnight is January's)
    assert (december.totals.license_days, december.totals.cost_to_date) == (6, 102)
    counts = december.totals.counts
    assert (counts.total, counts.assigned, counts.unassigned) == (1, 0, 0)
    # And January carries only the new one
    january = estimate_from_tallies(tallies.months, tallies.running, [BACKUP], Period(2028, 1), new_year)
    assert (january.totals.counts.total, january.totals.counts.unassigned) == (1, 1)


def test_an_unassignment_at_the_first_instant_of_a_month_is_the_state_at_the_end_of_the_last() -> None:
    # Given a license issued and assigned 26 December 2027, unassigned at 1 January 2028 00:00:00 sharp
    december_26, new_year = datetime(2027, 12, 26, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
    tallies = _Tallies()
    tallies.apply(issue_tally("backup", december_26, 1, assigned=1))
    tallies.apply(assignment_tally("backup", december_26, new_year, -1))
    # When December is asked at its end: the license is unassigned at that instant
    december = estimate_from_tallies(tallies.months, tallies.running, [BACKUP], Period(2027, 12), new_year)
    assert (december.totals.counts.assigned, december.totals.counts.unassigned) == (0, 1)
