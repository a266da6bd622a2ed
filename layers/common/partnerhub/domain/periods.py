"""Billing periods: UTC calendar months, spelled ``YYYY-MM``.

Pure: no I/O and no wall clock. A period is half-open, ``[start, end)``, so the instant
``end`` (the next month's 1st at 00:00:00 UTC) already belongs to the next period.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

_PERIOD = re.compile(r"^([0-9]{4})-([0-9]{2})$")

# 9999-12 has no representable exclusive end (10000-01-01), so the last period is 9998-12.
MIN_YEAR = 1
MAX_YEAR = 9998


def require_aware(name: str, value: datetime) -> datetime:
    """Return ``value`` in UTC; raise ``ValueError`` if it is naive.

    A naive datetime is refused rather than assumed UTC: in billing a silently misread
    timezone shifts days between months.
    """
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A UTC calendar month. Ordered chronologically; ``str()`` gives ``YYYY-MM``."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if isinstance(self.year, bool) or not isinstance(self.year, int):
            raise TypeError(f"year must be an int, got {self.year!r}")
        if isinstance(self.month, bool) or not isinstance(self.month, int):
            raise TypeError(f"month must be an int, got {self.month!r}")
        if not MIN_YEAR <= self.year <= MAX_YEAR:
            raise ValueError(f"year must be between {MIN_YEAR} and {MAX_YEAR}, got {self.year}")
        if not 1 <= self.month <= 12:
            raise ValueError(f"month must be between 1 and 12, got {self.month}")

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse ``YYYY-MM`` (four-digit year, two-digit month 01-12).

        Raises ``ValueError`` naming the expected format for anything else (``""``, ``"2026-1"``,
        ``"2026-13"``, ``"2026-03-01"``).
        """
        match = _PERIOD.match(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"period must be YYYY-MM, e.g. 2026-03; got {text!r}")
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise ValueError(f"period month must be 01-12; got {text!r}")
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise ValueError(f"period year must be {MIN_YEAR:04d}-{MAX_YEAR}; got {text!r}")
        return cls(year, month)

    @classmethod
    def containing(cls, instant: datetime) -> Period:
        """The period containing ``instant`` (timezone-aware; read in UTC)."""
        utc = require_aware("instant", instant)
        return cls(utc.year, utc.month)

    @classmethod
    def of_day(cls, day: date) -> Period:
        """The period containing the calendar day ``day``."""
        return cls(day.year, day.month)

    @property
    def first_day(self) -> date:
        """The 1st of the month."""
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        """The last calendar day of the month."""
        return date(self.year, self.month, self.days)

    @property
    def start(self) -> datetime:
        """The first instant of the month: the 1st at 00:00:00 UTC (inclusive)."""
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The next month's 1st at 00:00:00 UTC (exclusive)."""
        if self.month == 12:
            return datetime(self.year + 1, 1, 1, tzinfo=UTC)
        return datetime(self.year, self.month + 1, 1, tzinfo=UTC)

    @property
    def days(self) -> int:
        """How many calendar days the month has (28-31)."""
        return calendar.monthrange(self.year, self.month)[1]

    def next(self) -> Period:
        """The following month."""
        return Period(self.year + 1, 1) if self.month == 12 else Period(self.year, self.month + 1)

    def previous(self) -> Period:
        """The preceding month."""
        return Period(self.year - 1, 12) if self.month == 1 else Period(self.year, self.month - 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"
