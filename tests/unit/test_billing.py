"""The billing rules by example. Every expectation is computed by hand in the comment above it.

Prices unless said otherwise: product ``seo`` at 150 cents a day capped at 3000 cents a month
(the cap bites from day 20: 20 x 150 = 3000).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from partnerhub.domain.billing import (
    BillableLicense,
    LicenseCharge,
    MissingPriceError,
    Period,
    PriceVersion,
    bill_month,
    estimate_month,
    license_charge,
    license_days,
    price_in_force,
)

MARCH = Period(2026, 3)  # 31 days
APRIL = Period(2026, 4)  # 30 days
SEO = PriceVersion("seo", daily_price=150, monthly_price=3000, effective_from=date(2026, 1, 1))
ADS = PriceVersion("ads", daily_price=40, monthly_price=1000, effective_from=date(2026, 1, 1))


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def lic(
    key: str,
    issued_at: datetime,
    revoked_at: datetime | None = None,
    *,
    product: str = "seo",
    source: str = "portal",
    assigned: bool = False,
) -> BillableLicense:
    return BillableLicense(key, product, issued_at, revoked_at, source=source, assigned=assigned)


# --- A month in the life of a license ---------------------------------------------------------------


def test_issue_transfer_revoke_is_one_unbroken_interval() -> None:
    # Given a license issued on 3 March at 10:00, transferred from one client to another on 10 March
    # (a transfer changes the assignee, not the license, so its interval is untouched)
    # and revoked on 20 March at 15:00
    license_ = lic("LIC-1", at(2026, 3, 3, 10), at(2026, 3, 20, 15), assigned=True)
    # When March is billed
    bill = bill_month([license_], [SEO], MARCH)
    # Then it is active on 3..20 March = 18 days, 18 x 150 = 2700 (under the 3000 cap)
    (line,) = bill.lines
    assert line.charges == (LicenseCharge("LIC-1", 18, 2700),)
    assert (line.licenses, line.license_days, line.amount) == (1, 18, 2700)
    assert bill.total == 2700


def test_the_cap_applies_per_license_not_per_line() -> None:
    # Given two licenses active all of March (31 days) and one active 5 days
    licenses = [
        lic("A", at(2026, 2, 1)),
        lic("B", at(2026, 1, 15), at(2026, 4, 2)),
        lic("C", at(2026, 3, 10, 8), at(2026, 3, 14, 9)),
    ]
    # When March is billed
    bill = bill_month(licenses, [SEO], MARCH)
    # Then A and B each cost min(31 x 150 = 4650, 3000) = 3000; C costs 5 x 150 = 750 (10..14 March)
    (line,) = bill.lines
    assert line.charges == (LicenseCharge("A", 31, 3000), LicenseCharge("B", 31, 3000), LicenseCharge("C", 5, 750))
    # and the line is 6750, not min(67 x 150, 3000)
    assert (line.licenses, line.license_days, line.amount) == (3, 67, 6750)
    assert bill.total == 6750


def test_exactly_at_the_cap() -> None:
    # 20 days x 150 = 3000 = the cap; 19 days = 2850
    assert license_charge(20, SEO) == 3000
    assert license_charge(19, SEO) == 2850
    assert license_charge(21, SEO) == 3000
    assert license_charge(0, SEO) == 0


def test_a_price_change_takes_effect_for_the_whole_next_month() -> None:
    # Given seo rises to 200/day, 4000/month from 1 April
    new_price = PriceVersion("seo", daily_price=200, monthly_price=4000, effective_from=date(2026, 4, 1))
    prices = [new_price, SEO]
    # and a license issued on 21 March at noon, never revoked
    licenses = [lic("A", at(2026, 3, 21, 12))]
    # When March and April are billed
    march, april = bill_month(licenses, prices, MARCH), bill_month(licenses, prices, APRIL)
    # Then March uses the old price: 21..31 = 11 days x 150 = 1650
    assert (march.lines[0].daily_price, march.lines[0].license_days, march.total) == (150, 11, 1650)
    # and April the new one: 30 days x 200 = 6000, capped at 4000
    assert (april.lines[0].daily_price, april.lines[0].license_days, april.total) == (200, 30, 4000)


def test_price_in_force_is_the_latest_version_on_or_before_the_first() -> None:
    v1 = PriceVersion("seo", 100, 2000, date(2026, 1, 1))
    v2 = PriceVersion("seo", 120, 2400, date(2026, 3, 1))
    v3 = PriceVersion("seo", 150, 3000, date(2026, 6, 1))
    versions = [v3, v1, v2, ADS]
    assert price_in_force(versions, "seo", Period(2025, 12)) is None
    assert price_in_force(versions, "seo", Period(2026, 2)) == v1
    assert price_in_force(versions, "seo", Period(2026, 3)) == v2
    assert price_in_force(versions, "seo", Period(2026, 5)) == v2
    assert price_in_force(versions, "seo", Period(2026, 6)) == v3
    assert price_in_force(versions, "crm", Period(2026, 6)) is None


def test_two_different_prices_effective_the_same_month_are_refused() -> None:
    clash = PriceVersion("seo", 999, 9999, date(2026, 1, 1))
    with pytest.raises(ValueError, match="two different prices"):
        price_in_force([SEO, clash], "seo", MARCH)
    with pytest.raises(ValueError, match="two different prices"):
        bill_month([lic("A", at(2026, 3, 1))], [SEO, clash], MARCH)


# --- Day boundaries -----------------------------------------------------------------------------------


def test_issued_one_second_before_midnight_on_the_last_day() -> None:
    # Given a license issued at 23:59:59 on 31 March, still active
    licenses = [lic("A", at(2026, 3, 31, 23, 59, 59))]
    # Then March bills that one day (150) and April bills all 30 days from the 1st (capped at 3000)
    assert license_days(at(2026, 3, 31, 23, 59, 59), None, MARCH) == 1
    assert bill_month(licenses, [SEO], MARCH).total == 150
    april = bill_month(licenses, [SEO], APRIL)
    assert (april.lines[0].license_days, april.total) == (30, 3000)


def test_revoked_at_midnight_does_not_count_that_day() -> None:
    # Given a license issued 10 March 10:00 and revoked 20 March 00:00:00
    issued, revoked = at(2026, 3, 10, 10), at(2026, 3, 20)
    # Then it was active 10..19 March: 10 days, 1500
    assert license_days(issued, revoked, MARCH) == 10
    assert bill_month([lic("A", issued, revoked)], [SEO], MARCH).total == 1500
    # and one second later it would have counted the 20th too
    assert license_days(issued, revoked + timedelta(seconds=1), MARCH) == 11


def test_revoked_at_midnight_on_the_first_is_not_billed_in_that_month() -> None:
    # Active until exactly 1 April 00:00: all of March, nothing in April
    issued, revoked = at(2026, 3, 1), at(2026, 4, 1)
    assert license_days(issued, revoked, MARCH) == 31
    assert license_days(issued, revoked, APRIL) == 0
    assert bill_month([lic("A", issued, revoked)], [SEO], APRIL).lines == ()


@pytest.mark.parametrize(
    ("period", "days"),
    [(Period(2028, 2), 29), (Period(2027, 2), 28), (Period(2026, 4), 30), (Period(2026, 5), 31)],
)
def test_a_whole_month_counts_every_day_of_it(period: Period, days: int) -> None:
    # Given prices high enough that the cap does not hide the day count: 100/day, 5000/month
    price = PriceVersion("seo", 100, 5000, date(2026, 1, 1))
    # and a license issued before the month and never revoked
    bill = bill_month([lic("A", at(2025, 12, 31, 18))], [price], period)
    # Then it bills every day: Feb 2028 29 x 100, Feb 2027 28 x 100, April 30 x 100, May 31 x 100
    assert bill.lines[0].license_days == days
    assert bill.total == days * 100


def test_leap_day_is_a_day() -> None:
    # Issued 28 Feb 2028 12:00, revoked 1 Mar 2028 06:00: 28 and 29 Feb in February, 1 March in March
    issued, revoked = at(2028, 2, 28, 12), at(2028, 3, 1, 6)
    assert license_days(issued, revoked, Period(2028, 2)) == 2
    assert license_days(issued, revoked, Period(2028, 3)) == 1


def test_issued_and_revoked_the_same_day_counts_one_day() -> None:
    bill = bill_month([lic("A", at(2026, 3, 14, 9), at(2026, 3, 14, 17))], [SEO], MARCH)
    assert bill.lines[0].charges == (LicenseCharge("A", 1, 150),)


def test_issued_and_revoked_at_the_same_instant_is_active_on_no_day() -> None:
    instant = at(2026, 3, 14, 9)
    assert license_days(instant, instant, MARCH) == 0
    bill = bill_month([lic("A", instant, instant)], [SEO], MARCH)
    assert (bill.lines, bill.total) == ((), 0)


def test_revoked_before_ever_being_assigned_is_still_billed() -> None:
    # Unassigned licenses cost the same as assigned ones: 3..6 March = 4 days x 150 = 600
    bill = bill_month([lic("A", at(2026, 3, 3, 8), at(2026, 3, 6, 12), assigned=False)], [SEO], MARCH)
    assert bill.total == 600


def test_instants_in_other_timezones_are_read_in_utc() -> None:
    # 31 March 20:00 at UTC-05:00 is 1 April 01:00 UTC: nothing in March, 30 days of April
    eastern = timezone(timedelta(hours=-5))
    license_ = lic("A", datetime(2026, 3, 31, 20, tzinfo=eastern))
    assert license_.issued_at == at(2026, 4, 1, 1)
    assert bill_month([license_], [SEO], MARCH).lines == ()
    assert bill_month([license_], [SEO], APRIL).lines[0].license_days == 30


def test_a_license_outside_the_month_is_not_billed() -> None:
    licenses = [lic("before", at(2026, 1, 5), at(2026, 2, 10)), lic("after", at(2026, 4, 1))]
    assert bill_month(licenses, [SEO], MARCH).lines == ()


# --- Invoice shape ----------------------------------------------------------------------------------------


def test_external_licenses_are_never_billed() -> None:
    # Given one external license active all March (and no price for its product, which must not matter)
    licenses = [lic("EXT-1", at(2026, 2, 1), source="external", product="legacy")]
    bill = bill_month(licenses, [SEO], MARCH)
    # Then there is nothing to bill; the license is only counted for information
    assert (bill.lines, bill.total, bill.external_licenses) == ((), 0, 1)


def test_lines_are_sorted_by_product_and_total_is_their_sum() -> None:
    licenses = [
        lic("S1", at(2026, 3, 1)),  # seo 31 days -> capped 3000
        lic("A2", at(2026, 3, 30, 12), product="ads"),  # ads 30..31 = 2 days x 40 = 80
        lic("A1", at(2026, 3, 1), at(2026, 3, 11), product="ads"),  # ads 1..10 = 10 days x 40 = 400
    ]
    bill = bill_month(licenses, [SEO, ADS], MARCH)
    assert [line.product for line in bill.lines] == ["ads", "seo"]
    ads, seo = bill.lines
    assert ads.charges == (LicenseCharge("A1", 10, 400), LicenseCharge("A2", 2, 80))
    assert (ads.licenses, ads.license_days, ads.amount) == (2, 12, 480)
    assert seo.amount == 3000
    assert bill.total == 3480
    assert (ads.daily_price, ads.monthly_price, ads.currency) == (40, 1000, "usd")


def test_a_month_with_nothing_to_bill() -> None:
    bill = bill_month([], [SEO], MARCH)
    assert (bill.lines, bill.total, bill.period) == ((), 0, MARCH)
    assert (bill.currency, bill.external_licenses) == ("usd", 0)


def test_a_billed_product_without_a_price_is_an_error() -> None:
    with pytest.raises(MissingPriceError, match="'crm' in 2026-03") as caught:
        bill_month([lic("A", at(2026, 3, 2), product="crm")], [SEO], MARCH)
    assert (caught.value.product, caught.value.period) == ("crm", MARCH)
    # A price that only starts next month does not help this month either
    later = PriceVersion("crm", 10, 100, date(2026, 4, 1))
    with pytest.raises(MissingPriceError):
        bill_month([lic("A", at(2026, 3, 2), product="crm")], [later], MARCH)


# --- The month-to-date estimate ---------------------------------------------------------------------------


def test_estimate_of_a_past_month_equals_the_invoice() -> None:
    licenses = [
        lic("A", at(2026, 2, 1), assigned=True),
        lic("B", at(2026, 3, 3, 10), at(2026, 3, 20, 15)),
        lic("C", at(2026, 3, 30, 12), product="ads"),
        lic("X", at(2026, 3, 1), source="external"),
    ]
    invoice = bill_month(licenses, [SEO, ADS], MARCH)
    for as_of in (MARCH.end, at(2026, 6, 15, 9)):
        estimate = estimate_month(licenses, [SEO, ADS], MARCH, as_of)
        # A: 3000 (capped), B: 18 x 150 = 2700, C: 2 x 40 = 80 -> 5780
        assert estimate.totals.cost_to_date == estimate.totals.projected_cost == invoice.total == 5780
        assert estimate.totals.license_days == estimate.totals.projected_license_days == 31 + 18 + 2
        assert [(p.product, p.cost_to_date) for p in estimate.products] == [
            (line.product, line.amount) for line in invoice.lines
        ]


def test_today_counts_once_the_license_was_active_during_it() -> None:
    # Given a license active since 1 March 00:00 and one issued on 7 March at 09:00
    licenses = [lic("old", at(2026, 3, 1)), lic("new", at(2026, 3, 7, 9))]

    def to_date(as_of: datetime) -> dict[str, int]:
        estimate = estimate_month(licenses, [SEO], MARCH, as_of)
        return {"days": estimate.totals.license_days, "cost": estimate.totals.cost_to_date}

    # At exactly 7 March 00:00:00 nothing has happened on the 7th yet: "old" has 1..6 = 6 days
    assert to_date(at(2026, 3, 7)) == {"days": 6, "cost": 900}
    # One second into the 7th, "old" has been active today: 7 days
    assert to_date(at(2026, 3, 7, 0, 0, 1)) == {"days": 7, "cost": 1050}
    # At 09:00:00 exactly "new" has not yet been active for any instant: still 7 days
    assert to_date(at(2026, 3, 7, 9)) == {"days": 7, "cost": 1050}
    # From 09:00:01 "new" counts today: 7 + 1 = 8 days
    assert to_date(at(2026, 3, 7, 9, 0, 1)) == {"days": 8, "cost": 1200}


def test_estimate_mid_month_projects_unrevoked_licenses_to_the_month_end() -> None:
    # Given, at 10 March 12:00:
    as_of = at(2026, 3, 10, 12)
    licenses = [
        lic("A", at(2026, 3, 1), assigned=True),  # active, assigned
        lic("B", at(2026, 3, 5, 9)),  # active, unassigned
        lic("C", at(2026, 3, 2, 10), at(2026, 3, 4, 10), assigned=True),  # revoked on the 4th
        lic("D", at(2026, 3, 3, 1), product="ads"),  # another product
    ]
    estimate = estimate_month(licenses, [SEO, ADS], MARCH, as_of)
    ads, seo = estimate.products
    # Then to date: A 1..10 = 10 days (1500), B 5..10 = 6 days (900), C 2..4 = 3 days (450)
    assert (seo.license_days, seo.cost_to_date) == (19, 2850)
    # Projected: A 31 days -> capped 3000, B 5..31 = 27 days -> capped 3000, C stays at 3 days 450
    assert (seo.projected_license_days, seo.projected_cost) == (61, 6450)
    # Counts: A assigned, B unassigned, C revoked (in total only)
    assert (seo.counts.assigned, seo.counts.unassigned, seo.counts.total) == (1, 1, 3)
    # ads: D 3..10 = 8 days x 40 = 320 to date; 3..31 = 29 days x 40 = 1160 capped at 1000
    assert (ads.license_days, ads.cost_to_date, ads.projected_cost) == (8, 320, 1000)
    assert (ads.counts.assigned, ads.counts.unassigned, ads.counts.total) == (0, 1, 1)
    # Totals are the sums
    totals = estimate.totals
    assert (totals.license_days, totals.cost_to_date, totals.projected_cost) == (27, 3170, 7450)
    assert (totals.counts.assigned, totals.counts.unassigned, totals.counts.total) == (1, 2, 4)
    assert estimate.as_of == datetime(2026, 3, 10, 12, tzinfo=UTC)


def test_estimate_of_a_future_month_projects_a_whole_month() -> None:
    # Given, on 20 March, a license active since February and one revoked in March
    as_of = at(2026, 3, 20, 8)
    licenses = [lic("A", at(2026, 2, 1), assigned=True), lic("B", at(2026, 3, 1), at(2026, 3, 15))]
    estimate = estimate_month(licenses, [SEO], APRIL, as_of)
    # Then nothing is due to date, and April projects A for its 30 days (capped at 3000); B is gone
    (seo,) = estimate.products
    assert (seo.license_days, seo.cost_to_date) == (0, 0)
    assert (seo.projected_license_days, seo.projected_cost) == (30, 3000)
    assert (seo.counts.assigned, seo.counts.unassigned, seo.counts.total) == (1, 0, 1)


def test_estimate_of_an_empty_month() -> None:
    estimate = estimate_month([], [SEO], MARCH, at(2026, 3, 10))
    assert estimate.products == ()
    assert (estimate.totals.cost_to_date, estimate.totals.projected_cost, estimate.totals.counts.total) == (0, 0, 0)


def test_estimate_leaves_out_external_licenses_and_products_with_no_day_in_the_period() -> None:
    licenses = [lic("X", at(2026, 3, 1), source="external"), lic("gone", at(2026, 1, 1), at(2026, 2, 1))]
    assert estimate_month(licenses, [SEO], MARCH, at(2026, 3, 10)).products == ()


# --- Validation -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"daily_price": -1}, ValueError, "daily_price"),
        ({"monthly_price": -1}, ValueError, "monthly_price"),
        ({"daily_price": 200, "monthly_price": 100}, ValueError, "must not be below"),
        ({"effective_from": date(2026, 3, 2)}, ValueError, "first day of a month"),
        ({"effective_from": at(2026, 3, 1)}, TypeError, "must be a date"),
        ({"currency": "eur"}, ValueError, "currency"),
        ({"product": ""}, ValueError, "product"),
        ({"daily_price": 1.5}, TypeError, "integer number of cents"),
        ({"daily_price": True}, TypeError, "integer number of cents"),
    ],
)
def test_price_versions_are_validated(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    fields: dict[str, object] = {"product": "seo", "daily_price": 150, "monthly_price": 3000}
    fields["effective_from"] = date(2026, 3, 1)
    fields.update(kwargs)
    with pytest.raises(error, match=message):
        PriceVersion(**fields)  # type: ignore[arg-type]


def test_licenses_are_validated() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        lic("A", datetime(2026, 3, 1))  # naive on purpose
    with pytest.raises(ValueError, match="timezone-aware"):
        lic("A", at(2026, 3, 1), datetime(2026, 3, 2))  # naive on purpose
    with pytest.raises(ValueError, match="before issued_at"):
        lic("A", at(2026, 3, 2), at(2026, 3, 1))
    with pytest.raises(ValueError, match="license_key"):
        lic("", at(2026, 3, 1))


def test_functions_refuse_naive_instants_and_negative_days() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        license_days(datetime(2026, 3, 1), None, MARCH)  # naive on purpose
    with pytest.raises(ValueError, match="timezone-aware"):
        estimate_month([], [SEO], MARCH, datetime(2026, 3, 1))  # naive on purpose
    with pytest.raises(ValueError, match="before issued_at"):
        license_days(at(2026, 3, 2), at(2026, 3, 1), MARCH)
    with pytest.raises(ValueError, match="non-negative"):
        license_charge(-1, SEO)


def test_the_worked_example_in_the_docs() -> None:
    # docs/billing.md, "Worked example": keep the two in step.
    a = lic("A", at(2026, 2, 1), assigned=True)
    b_then = lic("B", at(2026, 3, 3, 10), assigned=True)
    c_then = lic("C", at(2026, 3, 10, 10))
    x = lic("X", at(2026, 2, 1), source="external", assigned=True)

    # The estimate on 12 March at 08:00, before B and C were revoked and before D existed
    estimate = estimate_month([a, b_then, c_then, x], [SEO, ADS], MARCH, at(2026, 3, 12, 8))
    (seo,) = estimate.products
    assert (seo.license_days, seo.cost_to_date) == (25, 3750)
    assert (seo.projected_license_days, seo.projected_cost) == (82, 9000)
    assert (seo.counts.assigned, seo.counts.unassigned, seo.counts.total) == (2, 1, 3)

    # The invoice for March, after B and C were revoked on the 20th and D issued at the last second
    b = lic("B", at(2026, 3, 3, 10), at(2026, 3, 20, 15), assigned=True)
    c = lic("C", at(2026, 3, 10, 10), at(2026, 3, 20))
    d = lic("D", at(2026, 3, 31, 23, 59, 59), product="ads")
    final = [a, b, c, d, x]
    bill = bill_month(final, [SEO, ADS], MARCH)
    ads_line, seo_line = bill.lines
    assert (ads_line.licenses, ads_line.license_days, ads_line.amount) == (1, 1, 40)
    assert (seo_line.licenses, seo_line.license_days, seo_line.amount) == (3, 59, 7200)
    assert seo_line.charges == (
        LicenseCharge("A", 31, 3000),
        LicenseCharge("B", 18, 2700),
        LicenseCharge("C", 10, 1500),
    )
    assert (bill.total, bill.external_licenses) == (7240, 1)
    after = estimate_month(final, [SEO, ADS], MARCH, at(2026, 4, 1)).totals
    assert after.cost_to_date == after.projected_cost == 7240
    assert bill_month(final, [SEO, ADS], APRIL).lines[0].license_days == 30
