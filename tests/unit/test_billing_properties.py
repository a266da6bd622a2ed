"""Properties of the billing engine that must hold for any licenses, prices and instants."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from partnerhub.domain.billing import (
    BillableLicense,
    MonthlyBill,
    Period,
    PriceVersion,
    bill_month,
    estimate_month,
    license_charge,
    license_days,
)

MODEST = settings(max_examples=200, deadline=None)
# Whole portfolios cost many draws per example; fewer examples keep the suite quick.
PORTFOLIOS = settings(max_examples=100, deadline=None)

# Months around a leap February and a year end, with 28-, 29-, 30- and 31-day months.
PERIODS = [Period(2027, 11), Period(2027, 12), Period(2028, 1), Period(2028, 2), Period(2028, 3), Period(2028, 4)]
WINDOW_START = datetime(2027, 9, 1, tzinfo=UTC)
WINDOW_DAYS = 300  # to late June 2028: instants fall before, inside and after every period above
PRODUCTS = ["ads", "crm", "seo"]

periods = st.sampled_from(PERIODS)

# Instants favour the edges of a day (00:00:00, 23:59:59, a microsecond either side of midnight),
# where an off-by-one in the day arithmetic would show.
_days = st.integers(min_value=0, max_value=WINDOW_DAYS)
instants = st.one_of(
    _days.map(lambda day: WINDOW_START + timedelta(days=day)),
    _days.map(lambda day: WINDOW_START + timedelta(days=day, seconds=86399)),
    _days.map(lambda day: WINDOW_START + timedelta(days=day, microseconds=-1)),
    _days.map(lambda day: WINDOW_START + timedelta(days=day, microseconds=1)),
    st.integers(min_value=0, max_value=WINDOW_DAYS * 86_400_000_000).map(
        lambda micros: WINDOW_START + timedelta(microseconds=micros)
    ),
)


@st.composite
def intervals(draw: st.DrawFn) -> tuple[datetime, datetime | None]:
    issued = draw(instants)
    if draw(st.booleans()):
        return issued, None
    other = draw(st.one_of(instants, st.just(issued)))
    return min(issued, other), max(issued, other)


@st.composite
def price_lists(draw: st.DrawFn) -> list[PriceVersion]:
    """For every product one price in force from before the first period, sometimes a later change too."""
    versions = []
    for product in PRODUCTS:
        for effective_from in (date(2027, 1, 1), draw(st.sampled_from([p.first_day for p in PERIODS]))):
            daily = draw(st.integers(min_value=0, max_value=500))
            monthly = daily + draw(st.integers(min_value=0, max_value=20000))
            versions.append(PriceVersion(product, daily, monthly, effective_from))
    # A product whose two versions start the same month would be ambiguous: keep the first.
    unique: dict[tuple[str, date], PriceVersion] = {}
    for version in versions:
        unique.setdefault((version.product, version.effective_from), version)
    return list(unique.values())


@st.composite
def license_lists(draw: st.DrawFn) -> list[BillableLicense]:
    count = draw(st.integers(min_value=0, max_value=10))
    out = []
    for index in range(count):
        issued, revoked = draw(intervals())
        out.append(
            BillableLicense(
                license_key=f"LIC-{index:03d}",
                product=draw(st.sampled_from(PRODUCTS)),
                issued_at=issued,
                revoked_at=revoked,
                source=draw(st.sampled_from(["portal", "portal", "portal", "external"])),
                assigned=draw(st.booleans()),
            )
        )
    return out


def brute_force_days(issued: datetime, revoked: datetime | None, period: Period) -> int:
    """The definition, literally: days D of the period where [issued, revoked) meets [D, D+1)."""
    count = 0
    for offset in range(period.days):
        day_start = period.start + timedelta(days=offset)
        day_end = day_start + timedelta(days=1)
        if issued < day_end and (revoked is None or revoked > day_start) and (revoked is None or issued < revoked):
            count += 1
    return count


def per_license_amounts(bill: MonthlyBill) -> list[int]:
    return [charge.amount for line in bill.lines for charge in line.charges]


# --- license-days -----------------------------------------------------------------------------------------


@MODEST
@given(intervals(), periods)
def test_license_days_matches_the_definition_day_by_day(
    interval: tuple[datetime, datetime | None], period: Period
) -> None:
    issued, revoked = interval
    assert license_days(issued, revoked, period) == brute_force_days(issued, revoked, period)


@MODEST
@given(intervals(), periods)
def test_days_per_license_never_exceed_the_days_in_the_month(
    interval: tuple[datetime, datetime | None], period: Period
) -> None:
    assert 0 <= license_days(*interval, period) <= period.days


@MODEST
@given(intervals(), st.lists(instants, max_size=5), periods, price_lists())
def test_splitting_an_interval_into_consecutive_pieces(
    interval: tuple[datetime, datetime | None], cuts: list[datetime], period: Period, prices: list[PriceVersion]
) -> None:
    issued, revoked = interval
    inner = sorted({c for c in cuts if issued < c and (revoked is None or c < revoked)})
    bounds: list[datetime | None] = [issued, *inner, revoked]
    pieces = list(pairwise(bounds))
    whole = license_days(issued, revoked, period)
    piece_days = [license_days(start, end, period) for start, end in pieces if start is not None]

    # No piece is active on more days than the whole
    assert all(days <= whole for days in piece_days)
    # Together the pieces cover every day of the whole; a day is counted twice only when a cut falls inside it
    assert whole <= sum(piece_days) <= whole + len(inner)
    # and cuts at midnight make pieces that share no day, whose days add up exactly
    if all(c == datetime.combine(c.date(), datetime.min.time(), UTC) for c in inner):
        assert sum(piece_days) == whole

    # With the cap, one license never costs more than the same time cut into several licenses
    price = prices[0]
    whole_charge = license_charge(whole, price)
    piece_charges = [license_charge(days, price) for days in piece_days]
    assert all(charge <= whole_charge for charge in piece_charges)
    assert whole_charge <= sum(piece_charges)


@MODEST
@given(intervals())
def test_consecutive_months_add_up_to_the_whole_interval(interval: tuple[datetime, datetime | None]) -> None:
    issued, revoked = interval
    # The months partition time at midnights, so no day is counted twice or lost
    total = sum(license_days(issued, revoked, period) for period in PERIODS)
    expected = sum(brute_force_days(issued, revoked, period) for period in PERIODS)
    assert total == expected


# --- The invoice ------------------------------------------------------------------------------------------


@PORTFOLIOS
@given(license_lists(), price_lists(), periods, st.randoms(use_true_random=False))
def test_reordering_licenses_never_changes_the_bill(
    licenses: list[BillableLicense], prices: list[PriceVersion], period: Period, random: Random
) -> None:
    shuffled = list(licenses)
    random.shuffle(shuffled)
    reversed_prices = list(reversed(prices))
    assert bill_month(shuffled, reversed_prices, period) == bill_month(licenses, prices, period)


@PORTFOLIOS
@given(license_lists(), price_lists(), periods)
def test_recomputing_gives_the_same_bill(
    licenses: list[BillableLicense], prices: list[PriceVersion], period: Period
) -> None:
    first = bill_month(licenses, prices, period)
    assert bill_month(iter(licenses), iter(prices), period) == first


@PORTFOLIOS
@given(license_lists(), price_lists(), periods)
def test_per_license_bounds_and_sums(
    licenses: list[BillableLicense], prices: list[PriceVersion], period: Period
) -> None:
    bill = bill_month(licenses, prices, period)
    billable = [lic for lic in licenses if lic.source != "external"]
    assert sorted(line.product for line in bill.lines) == [line.product for line in bill.lines]
    for line in bill.lines:
        assert line.licenses == len(line.charges) >= 1
        assert line.license_days == sum(c.days for c in line.charges)
        assert line.amount == sum(c.amount for c in line.charges)
        for charge in line.charges:
            # A month never costs more than monthly_price per license, and never more than its days at the daily price
            assert 1 <= charge.days <= period.days
            assert 0 <= charge.amount == min(charge.days * line.daily_price, line.monthly_price)
    assert bill.total == sum(line.amount for line in bill.lines) == sum(per_license_amounts(bill))
    # Every billable license active in the month appears exactly once, and no external one does
    billed_keys = sorted(c.license_key for line in bill.lines for c in line.charges)
    expected_keys = sorted(lic.license_key for lic in billable if license_days(lic.issued_at, lic.revoked_at, period))
    assert billed_keys == expected_keys


@PORTFOLIOS
@given(license_lists(), price_lists(), periods)
def test_external_licenses_do_not_change_the_bill(
    licenses: list[BillableLicense], prices: list[PriceVersion], period: Period
) -> None:
    internal_only = [lic for lic in licenses if lic.source != "external"]
    with_external = bill_month(licenses, prices, period)
    without = bill_month(internal_only, prices, period)
    assert (with_external.lines, with_external.total) == (without.lines, without.total)


# --- The estimate ---------------------------------------------------------------------------------------------


@PORTFOLIOS
@given(license_lists(), price_lists(), periods, instants)
def test_cost_to_date_never_exceeds_the_projection(
    licenses: list[BillableLicense], prices: list[PriceVersion], period: Period, as_of: datetime
) -> None:
    estimate = estimate_month(licenses, prices, period, as_of)
    for product in estimate.products:
        assert 0 <= product.cost_to_date <= product.projected_cost
        assert 0 <= product.license_days <= product.projected_license_days
        assert product.counts.assigned + product.counts.unassigned <= product.counts.total
    assert estimate.totals.cost_to_date == sum(p.cost_to_date for p in estimate.products)
    assert estimate.totals.projected_cost == sum(p.projected_cost for p in estimate.products)
    assert estimate.totals.cost_to_date <= estimate.totals.projected_cost


@PORTFOLIOS
@given(license_lists(), price_lists(), periods, st.integers(min_value=0, max_value=200_000_000))
def test_estimate_of_a_past_month_is_the_invoice(
    licenses: list[BillableLicense], prices: list[PriceVersion], period: Period, seconds_after_end: int
) -> None:
    as_of = period.end + timedelta(seconds=seconds_after_end)
    estimate = estimate_month(licenses, prices, period, as_of)
    bill = bill_month(licenses, prices, period)
    assert estimate.totals.cost_to_date == estimate.totals.projected_cost == bill.total
    assert [(p.product, p.license_days, p.cost_to_date, p.counts.total) for p in estimate.products] == [
        (line.product, line.license_days, line.amount, line.licenses) for line in bill.lines
    ]


@PORTFOLIOS
@given(license_lists(), price_lists(), periods, instants, instants)
def test_cost_to_date_only_grows_with_as_of(
    licenses: list[BillableLicense], prices: list[PriceVersion], period: Period, one: datetime, other: datetime
) -> None:
    earlier, later = min(one, other), max(one, other)
    before = estimate_month(licenses, prices, period, earlier).totals
    after = estimate_month(licenses, prices, period, later).totals
    assert before.license_days <= after.license_days
    assert before.cost_to_date <= after.cost_to_date


@PORTFOLIOS
@given(license_lists(), price_lists(), periods, instants)
def test_to_date_is_the_invoice_of_intervals_cut_at_as_of(
    licenses: list[BillableLicense], prices: list[PriceVersion], period: Period, as_of: datetime
) -> None:
    # Restate "to date" through the public invoice: every license as if revoked at as_of at the latest;
    # licenses issued after as_of did not exist yet.
    cut = [
        replace(lic, revoked_at=as_of if lic.revoked_at is None or lic.revoked_at > as_of else lic.revoked_at)
        for lic in licenses
        if lic.issued_at <= as_of
    ]
    assert estimate_month(licenses, prices, period, as_of).totals.cost_to_date == bill_month(cut, prices, period).total


@PORTFOLIOS
@given(license_lists(), price_lists(), periods, instants)
def test_projection_is_the_invoice_with_unrevoked_licenses_kept_to_the_month_end(
    licenses: list[BillableLicense], prices: list[PriceVersion], period: Period, as_of: datetime
) -> None:
    kept = [replace(lic, revoked_at=lic.revoked_at or period.end) for lic in licenses if lic.issued_at < period.end]
    estimate = estimate_month(licenses, prices, period, as_of)
    assert estimate.totals.projected_cost == bill_month(kept, prices, period).total
    # which is what today's data would be invoiced, whatever as_of is
    bill = bill_month(licenses, prices, period)
    assert estimate.totals.projected_cost == bill.total
    assert estimate.totals.projected_license_days == sum(line.license_days for line in bill.lines)


@PORTFOLIOS
@given(license_lists(), price_lists(), periods)
def test_a_future_month_has_nothing_to_date(
    licenses: list[BillableLicense], prices: list[PriceVersion], period: Period
) -> None:
    estimate = estimate_month(licenses, prices, period, period.start - timedelta(microseconds=1))
    assert estimate.totals.license_days == estimate.totals.cost_to_date == 0
