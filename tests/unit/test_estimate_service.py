"""The estimate service: at most one read of the day's later issues, and a catalog kept only while it cannot be
stale."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from partnerhub.clock import ManualClock
from partnerhub.domain.billing import PriceVersion
from partnerhub.domain.estimates import EstimateService
from partnerhub.domain.models import Product
from partnerhub.domain.periods import Period
from partnerhub.domain.tallies import MonthTally, RunningTally, issue_tally
from partnerhub.repository.billing import Tallies

BACKUP = Product(product="jetpack-backup", name="Backup")


class _Catalog:
    def __init__(self) -> None:
        self.loads = 0
        self.prices = [PriceVersion("jetpack-backup", 17, 495, date(2026, 1, 1))]

    def load(self) -> tuple[list[Product], list[PriceVersion]]:
        self.loads += 1
        return [BACKUP], list(self.prices)


class _Billing:
    """One backup license issued 2 March 2026 09:00, kept as the commands keep it."""

    def __init__(self) -> None:
        self.exact_reads = 0
        self.found = Tallies()
        change = issue_tally("jetpack-backup", datetime(2026, 3, 2, 9, tzinfo=UTC), 1)
        self.found.months.setdefault(change.period, {}).setdefault("jetpack-backup", MonthTally()).apply(change)
        self.found.running["jetpack-backup"] = RunningTally(open=1)

    def tallies(self, partner_id: str, period: Period) -> Tallies:
        return self.found

    def issued_later_that_day(self, partner_id: str, instant: datetime) -> dict[str, int]:
        self.exact_reads += 1
        issued = datetime(2026, 3, 2, 9, tzinfo=UTC)
        return {"jetpack-backup": 1} if instant <= issued and instant.date() == issued.date() else {}


def test_the_catalog_is_reused_for_started_months_only() -> None:
    clock = ManualClock(datetime(2026, 3, 10, 12, tzinfo=UTC))
    catalog, billing = _Catalog(), _Billing()
    service = EstimateService(billing, catalog, clock)
    # Given two estimates of March a minute apart: one catalog read
    service.estimate("p")
    clock.set(datetime(2026, 3, 10, 12, 1, tzinfo=UTC))
    march = service.estimate("p").estimate
    assert catalog.loads == 1
    # 2..10 March to date = 9 days x 17; projected 2..31 = 30 days, capped at 495
    assert (march.totals.license_days, march.totals.cost_to_date, march.totals.projected_cost) == (9, 153, 495)
    # When an operator schedules April's price, April (not started) is read afresh every time
    catalog.prices.append(PriceVersion("jetpack-backup", 20, 600, date(2026, 4, 1)))
    april = service.estimate("p", Period(2026, 4)).estimate
    assert catalog.loads == 2
    assert april.totals.projected_cost == 600  # 30 x 20 = 600, the new cap
    # And after the TTL, or with the clock moved back, March is read afresh too
    clock.set(datetime(2026, 3, 10, 12, 7, tzinfo=UTC))
    service.estimate("p")
    assert catalog.loads == 3
    clock.set(datetime(2026, 3, 3, tzinfo=UTC))
    service.estimate("p")
    assert catalog.loads == 4


def test_the_later_issues_of_the_day_are_read_only_when_a_license_may_have_been_issued_then() -> None:
    clock = ManualClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    billing = _Billing()
    service = EstimateService(billing, _Catalog(), clock)
    # At the very instant of the issue: today does not count yet
    assert service.estimate("p").estimate.totals.license_days == 0
    assert billing.exact_reads == 1
    # A microsecond later it does, and the last issue is before as_of: no extra read
    clock.set(datetime(2026, 3, 2, 9, tzinfo=UTC) + timedelta(microseconds=1))
    assert service.estimate("p").estimate.totals.license_days == 1
    assert billing.exact_reads == 1


def test_a_license_issued_later_the_same_day_than_as_of_has_no_day_to_date() -> None:
    # Given the license issued 2 March 09:00 and a clock moved back to 07:00 that day (records dated after as_of)
    clock = ManualClock(datetime(2026, 3, 2, 7, tzinfo=UTC))
    billing = _Billing()
    # When March is estimated
    march = EstimateService(billing, _Catalog(), clock).estimate("p").estimate
    # Then it was not active before as_of: no day to date, yet 30 days projected (2..31 March, capped at 495)
    assert (march.totals.license_days, march.totals.cost_to_date, march.totals.projected_cost) == (0, 0, 495)
    assert billing.exact_reads == 1
