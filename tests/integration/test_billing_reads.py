"""The billing read returns exactly the licenses that can be active in a month, and the billable partners."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from partnerhub.clock import ManualClock
from partnerhub.domain.licenses import LicenseService
from partnerhub.domain.models import Site
from partnerhub.domain.periods import Period
from partnerhub.repository.billing import DynamoBillingRepository
from partnerhub.repository.licenses import DynamoLicenseRepository


def test_licenses_active_in_a_month(paying_partner: str, aws: object) -> None:
    clock = ManualClock(datetime(2026, 9, 20, tzinfo=UTC))
    service = LicenseService(DynamoLicenseRepository(os.environ["TABLE_NAME"]), clock)

    def issue() -> str:
        return service.issue(paying_partner, "jetpack-backup", 1, "user:t", receipt_id=f"r-{clock.now()}")[0].license_key

    gone_in_september = issue()
    service.revoke(paying_partner, gone_in_september, "user:t")  # revoked 2026-09-20: never active in October
    clock.set(datetime(2026, 9, 25, tzinfo=UTC))
    assigned_early = issue()
    service.assign(paying_partner, assigned_early, Site(site_id="1", site_url="https://a.example"), "user:t")
    clock.set(datetime(2026, 10, 15, tzinfo=UTC))
    revoked_mid_october = issue()
    clock.set(datetime(2026, 10, 20, tzinfo=UTC))
    service.revoke(paying_partner, revoked_mid_october, "user:t")
    clock.set(datetime(2026, 11, 2, tzinfo=UTC))
    issued_in_november = issue()
    service.assign(paying_partner, issued_in_november, Site(site_id="2", site_url="https://b.example"), "user:t")
    unassigned_november = issue()

    billing = DynamoBillingRepository(os.environ["TABLE_NAME"])
    october = {lic.license_key for lic in billing.licenses_active_in(paying_partner, Period(2026, 10))}
    november = {lic.license_key for lic in billing.licenses_active_in(paying_partner, Period(2026, 11))}

    assert october == {assigned_early, revoked_mid_october}
    assert november == {assigned_early, issued_in_november, unassigned_november}
    assert paying_partner in set(billing.billable_partners())
