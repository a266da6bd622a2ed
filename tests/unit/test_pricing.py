"""Scheduling price changes and reading the price table, with an in-memory catalog and a manual clock."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from partnerhub.clock import ManualClock
from partnerhub.domain.audit import AuditEntry
from partnerhub.domain.billing import PriceVersion
from partnerhub.domain.estimates import parse_period
from partnerhub.domain.models import Product
from partnerhub.domain.periods import Period
from partnerhub.domain.pricing import (
    MAX_PRICE,
    PriceService,
    first_schedulable_day,
    plan_price_change,
    price_table,
)
from partnerhub.errors import Conflict, NotFound, ValidationFailed

BACKUP = Product(product="jetpack-backup", name="Jetpack VaultPress Backup")
SCAN = Product(product="jetpack-scan", name="Jetpack Scan")
LAUNCH = date(2024, 1, 1)
MARCH = Period(2026, 3)


def version(product: str, daily: int, monthly: int, effective: date) -> PriceVersion:
    return PriceVersion(product=product, daily_price=daily, monthly_price=monthly, effective_from=effective)


class FakeCatalog:
    def __init__(self, products: list[Product], prices: list[PriceVersion]) -> None:
        self.products = products
        self.stored = {(p.product, p.effective_from): p for p in prices}
        self.writes: list[PriceVersion] = []
        self.audit: list[AuditEntry] = []

    def load(self) -> tuple[list[Product], list[PriceVersion]]:
        return list(self.products), list(self.stored.values())

    def put_price(self, price: PriceVersion, *, only_if_new: bool = False, audit: AuditEntry | None = None) -> bool:
        self.writes.append(price)
        self.stored[(price.product, price.effective_from)] = price
        if audit is not None:
            self.audit.append(audit)
        return True

    def delete_price(self, product: str, effective_from: date, audit: AuditEntry) -> bool:
        if self.stored.pop((product, effective_from), None) is None:
            return False
        self.audit.append(audit)
        return True


@pytest.fixture
def catalog() -> FakeCatalog:
    return FakeCatalog(
        [SCAN, BACKUP], [version("jetpack-backup", 17, 495, LAUNCH), version("jetpack-scan", 14, 395, LAUNCH)]
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 15, 9, 0, tzinfo=UTC))


class TestPriceTable:
    def test_current_is_the_version_in_force_this_month_and_later_ones_are_scheduled(self) -> None:
        versions = [
            version("jetpack-backup", 17, 495, LAUNCH),
            version("jetpack-backup", 18, 520, date(2026, 3, 1)),
            version("jetpack-backup", 20, 560, date(2026, 6, 1)),
            version("jetpack-backup", 19, 540, date(2026, 4, 1)),
        ]

        [row] = price_table([BACKUP], versions, MARCH)

        assert row.current == versions[1]  # March's own version, not the launch price
        assert row.scheduled == (versions[3], versions[2])  # April then June
        assert row.currency == "usd"

    def test_products_are_sorted_by_slug(self) -> None:
        table = price_table([SCAN, BACKUP], [version("jetpack-scan", 14, 395, LAUNCH)], MARCH)

        assert [row.product.product for row in table] == ["jetpack-backup", "jetpack-scan"]
        assert table[0].current is None and table[0].scheduled == ()  # a product with no price yet

    def test_next_month_is_the_first_schedulable(self) -> None:
        assert first_schedulable_day(MARCH) == date(2026, 4, 1)
        assert first_schedulable_day(Period(2026, 12)) == date(2027, 1, 1)


class TestPlanPriceChange:
    def test_next_month_is_accepted(self) -> None:
        planned = plan_price_change([BACKUP], "jetpack-backup", 19, 550, date(2026, 4, 1), MARCH)

        assert planned == version("jetpack-backup", 19, 550, date(2026, 4, 1))

    @pytest.mark.parametrize("effective", [date(2026, 3, 1), date(2026, 2, 1), date(2024, 1, 1)])
    def test_a_month_already_started_is_a_conflict(self, effective: date) -> None:
        with pytest.raises(Conflict) as caught:
            plan_price_change([BACKUP], "jetpack-backup", 19, 550, effective, MARCH)

        assert caught.value.status == 409
        assert caught.value.code == "month_already_started"
        assert caught.value.details == [{"field": "effective_from", "reason": "must be 2026-04-01 or later"}]

    def test_a_day_other_than_the_first_is_invalid(self) -> None:
        with pytest.raises(ValidationFailed) as caught:
            plan_price_change([BACKUP], "jetpack-backup", 19, 550, date(2026, 4, 2), MARCH)

        assert [d["field"] for d in caught.value.details] == ["effective_from"]

    def test_monthly_below_daily_is_invalid_naming_monthly_price(self) -> None:
        with pytest.raises(ValidationFailed) as caught:
            plan_price_change([BACKUP], "jetpack-backup", 600, 550, date(2026, 4, 1), MARCH)

        assert caught.value.status == 422
        assert caught.value.details == [{"field": "monthly_price", "reason": "must not be below the daily price"}]

    @pytest.mark.parametrize(("daily", "monthly"), [(0, 0), (0, 550)])
    def test_a_free_product_is_refused_unless_confirmed(self, daily: int, monthly: int) -> None:
        # Given a daily price of 0: whatever the monthly price, min(days x 0, monthly) bills nothing
        # When it is scheduled without saying the product is meant to be free, it is refused under daily_price
        with pytest.raises(ValidationFailed) as caught:
            plan_price_change([BACKUP], "jetpack-backup", daily, monthly, date(2026, 4, 1), MARCH)
        assert caught.value.status == 422
        assert [d["field"] for d in caught.value.details] == ["daily_price"]
        assert "free" in caught.value.details[0]["reason"]
        # And with confirm_free it is scheduled as asked
        free = plan_price_change([BACKUP], "jetpack-backup", daily, monthly, date(2026, 4, 1), MARCH, confirm_free=True)
        assert (free.daily_price, free.monthly_price) == (0, monthly)

    def test_confirm_free_changes_nothing_for_a_priced_product(self) -> None:
        planned = plan_price_change([BACKUP], "jetpack-backup", 1, 1, date(2026, 4, 1), MARCH, confirm_free=True)
        assert (planned.daily_price, planned.monthly_price) == (1, 1)

    @pytest.mark.parametrize(
        ("daily", "monthly", "fields"),
        [
            (-1, 550, ["daily_price"]),
            (19, -5, ["monthly_price"]),
            (19.0, 550, ["daily_price"]),
            (True, 550, ["daily_price"]),
            (19, MAX_PRICE + 1, ["monthly_price"]),
            ("19", "550", ["daily_price", "monthly_price"]),
        ],
    )
    def test_prices_must_be_integer_cents_in_range(self, daily: object, monthly: object, fields: list[str]) -> None:
        with pytest.raises(ValidationFailed) as caught:
            plan_price_change([BACKUP], "jetpack-backup", daily, monthly, date(2026, 4, 1), MARCH)  # type: ignore[arg-type]

        assert [d["field"] for d in caught.value.details] == fields

    def test_an_unknown_product_is_not_found(self) -> None:
        with pytest.raises(NotFound) as caught:
            plan_price_change([BACKUP], "jetpack-nope", 19, 550, date(2026, 4, 1), MARCH)

        assert caught.value.code == "product_not_found"

    def test_an_unknown_product_is_not_found_before_its_prices_are_judged(self) -> None:
        with pytest.raises(NotFound):
            plan_price_change([BACKUP], "jetpack-nope", -1, -1, date(2020, 1, 1), MARCH)


class TestPriceService:
    def test_schedules_next_month_and_answers_the_products_prices(
        self, catalog: FakeCatalog, clock: ManualClock
    ) -> None:
        service = PriceService(catalog, clock)

        row = service.schedule("jetpack-backup", 19, 550, date(2026, 4, 1))

        assert catalog.writes == [version("jetpack-backup", 19, 550, date(2026, 4, 1))]
        assert row.product == BACKUP
        assert row.current == version("jetpack-backup", 17, 495, LAUNCH)
        assert row.scheduled == (version("jetpack-backup", 19, 550, date(2026, 4, 1)),)

    def test_scheduling_the_same_month_again_replaces_the_version(
        self, catalog: FakeCatalog, clock: ManualClock
    ) -> None:
        service = PriceService(catalog, clock)
        service.schedule("jetpack-backup", 19, 550, date(2026, 4, 1))

        row = service.schedule("jetpack-backup", 18, 530, date(2026, 4, 1))

        assert row.scheduled == (version("jetpack-backup", 18, 530, date(2026, 4, 1)),)
        assert [r.scheduled for r in service.prices() if r.product == BACKUP] == [row.scheduled]

    def test_a_scheduled_version_becomes_current_when_its_month_starts(
        self, catalog: FakeCatalog, clock: ManualClock
    ) -> None:
        service = PriceService(catalog, clock)
        service.schedule("jetpack-backup", 19, 550, date(2026, 4, 1))

        clock.set(datetime(2026, 4, 1, 0, 0, tzinfo=UTC))
        [backup, _scan] = service.prices()

        assert backup.current == version("jetpack-backup", 19, 550, date(2026, 4, 1))
        assert backup.scheduled == ()

    def test_refused_changes_write_nothing(self, catalog: FakeCatalog, clock: ManualClock) -> None:
        service = PriceService(catalog, clock)

        with pytest.raises(Conflict):
            service.schedule("jetpack-backup", 19, 550, date(2026, 3, 1))
        with pytest.raises(ValidationFailed):
            service.schedule("jetpack-backup", 600, 550, date(2026, 4, 1))
        with pytest.raises(NotFound):
            service.schedule("jetpack-nope", 19, 550, date(2026, 4, 1))

        assert catalog.writes == []

    def test_the_last_instant_of_a_month_still_refuses_that_month(
        self, catalog: FakeCatalog, clock: ManualClock
    ) -> None:
        clock.set(datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC))

        with pytest.raises(Conflict):
            PriceService(catalog, clock).schedule("jetpack-backup", 19, 550, date(2026, 3, 1))
        assert PriceService(catalog, clock).schedule("jetpack-backup", 19, 550, date(2026, 4, 1)).scheduled


class TestParsePeriod:
    def test_absent_means_the_default(self) -> None:
        assert parse_period(None) is None

    def test_a_month(self) -> None:
        assert parse_period("2026-03") == MARCH

    @pytest.mark.parametrize("text", ["", "2026-3", "2026-13", "2026-03-01", "0000-01", "march"])
    def test_malformed_names_the_period(self, text: str) -> None:
        with pytest.raises(ValidationFailed) as caught:
            parse_period(text)

        assert [d["field"] for d in caught.value.details] == ["period"]


def an_entry(clock: ManualClock) -> AuditEntry:
    return AuditEntry("r1", clock.now(), "operator:op-1", "price.cancel", "product:jetpack-backup", {})


class TestCancelScheduledPrice:
    def test_a_version_not_yet_in_effect_is_removed_with_its_audit_entry(
        self, catalog: FakeCatalog, clock: ManualClock
    ) -> None:
        # Given a change scheduled for May while March runs
        service = PriceService(catalog, clock)
        service.schedule("jetpack-backup", 20, 600, date(2026, 5, 1))

        # When it is cancelled
        prices = service.cancel("jetpack-backup", date(2026, 5, 1), an_entry(clock))

        # Then nothing is scheduled any more, the launch price stays, and the entry was written with it
        assert prices.scheduled == ()
        assert prices.current == version("jetpack-backup", 17, 495, LAUNCH)
        assert [e.action for e in catalog.audit] == ["price.cancel"]

    def test_a_version_already_in_effect_is_409(self, catalog: FakeCatalog, clock: ManualClock) -> None:
        with pytest.raises(Conflict) as refused:
            PriceService(catalog, clock).cancel("jetpack-backup", LAUNCH, an_entry(clock))
        assert refused.value.code == "price_in_effect"
        assert catalog.audit == []
        assert (BACKUP.product, LAUNCH) in catalog.stored

    def test_no_such_version_or_product_is_404(self, catalog: FakeCatalog, clock: ManualClock) -> None:
        service = PriceService(catalog, clock)
        with pytest.raises(NotFound) as missing:
            service.cancel("jetpack-backup", date(2026, 9, 1), an_entry(clock))
        assert missing.value.code == "scheduled_price_not_found"
        with pytest.raises(NotFound) as unknown:
            service.cancel("jetpack-nothing", date(2026, 9, 1), an_entry(clock))
        assert unknown.value.code == "product_not_found"
        assert catalog.audit == []
