"""Billing periods: parsing, boundaries and month lengths."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from partnerhub.domain.periods import Period


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-03", Period(2026, 3)), ("2026-12", Period(2026, 12)), ("2028-02", Period(2028, 2))],
)
def test_parse_accepts_year_dash_two_digit_month(text: str, expected: Period) -> None:
    assert Period.parse(text) == expected
    assert str(Period.parse(text)) == text


@pytest.mark.parametrize(
    "text", ["", "2026", "2026-1", "2026-13", "2026-00", "2026-03-01", "26-03", " 2026-03", "2026/03", "２０２６-03"]
)
def test_parse_rejects_anything_else_with_a_clear_message(text: str) -> None:
    with pytest.raises(ValueError, match="period"):
        Period.parse(text)


def test_constructor_validates_month_and_year() -> None:
    with pytest.raises(ValueError, match="month"):
        Period(2026, 13)
    with pytest.raises(ValueError, match="year"):
        Period(0, 1)


@pytest.mark.parametrize(
    ("period", "days"),
    [
        (Period(2028, 2), 29),  # leap year
        (Period(2027, 2), 28),
        (Period(2100, 2), 28),  # divisible by 100, not by 400
        (Period(2000, 2), 29),  # divisible by 400
        (Period(2026, 4), 30),
        (Period(2026, 3), 31),
        (Period(2026, 12), 31),
    ],
)
def test_days_in_month(period: Period, days: int) -> None:
    assert period.days == days
    assert period.end - period.start == timedelta(days=days)
    assert period.last_day == period.first_day + timedelta(days=days - 1)


def test_start_and_end_are_utc_midnights_and_end_is_exclusive() -> None:
    period = Period(2026, 12)
    assert period.start == datetime(2026, 12, 1, tzinfo=UTC)
    assert period.end == datetime(2027, 1, 1, tzinfo=UTC)
    assert period.first_day == date(2026, 12, 1)
    assert Period.containing(period.end) == Period(2027, 1)
    assert Period.containing(period.end - timedelta(microseconds=1)) == period


def test_next_and_previous_cross_years() -> None:
    assert Period(2026, 12).next() == Period(2027, 1)
    assert Period(2027, 1).previous() == Period(2026, 12)
    assert Period(2026, 5).next().previous() == Period(2026, 5)


def test_periods_order_chronologically() -> None:
    assert Period(2026, 12) < Period(2027, 1) < Period(2027, 2)
    assert sorted([Period(2027, 1), Period(2026, 3), Period(2026, 12)]) == [
        Period(2026, 3),
        Period(2026, 12),
        Period(2027, 1),
    ]


def test_containing_reads_the_instant_in_utc() -> None:
    # 2026-03-31 23:30 at UTC-05:00 is already 2026-04-01 04:30 UTC.
    eastern = timezone(timedelta(hours=-5))
    assert Period.containing(datetime(2026, 3, 31, 23, 30, tzinfo=eastern)) == Period(2026, 4)


def test_containing_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Period.containing(datetime(2026, 3, 1))  # naive on purpose


def test_of_day() -> None:
    assert Period.of_day(date(2028, 2, 29)) == Period(2028, 2)
