"""The billing reads: the licenses that can be active in a month, the billable partners, and the tallies."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from partnerhub import clients
from partnerhub.clock import ManualClock
from partnerhub.domain.billing import bill_month
from partnerhub.domain.estimates import EstimateService
from partnerhub.domain.licenses import LicenseService
from partnerhub.domain.models import Site
from partnerhub.domain.periods import Period
from partnerhub.repository import keys
from partnerhub.repository.billing import DynamoBillingRepository
from partnerhub.repository.catalog import DynamoCatalogRepository
from partnerhub.repository.licenses import DynamoLicenseRepository
from partnerhub.repository.tallies import DynamoTallyRepository


def test_licenses_active_in_a_month(paying_partner: str, aws: object) -> None:
    clock = ManualClock(datetime(2026, 9, 20, tzinfo=UTC))
    service = LicenseService(DynamoLicenseRepository(os.environ["TABLE_NAME"], clients.dynamodb()), clock)

    def issue() -> str:
        return service.issue(paying_partner, "jetpack-backup", 1, "user:t", receipt_id=f"r-{clock.now()}")[
            0
        ].license_key

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

    billing = DynamoBillingRepository(os.environ["TABLE_NAME"], clients.dynamodb())
    october = {lic.license_key for lic in billing.licenses_active_in(paying_partner, Period(2026, 10))}
    november = {lic.license_key for lic in billing.licenses_active_in(paying_partner, Period(2026, 11))}

    assert october == {assigned_early, revoked_mid_october}
    assert november == {assigned_early, issued_in_november, unassigned_november}
    assert paying_partner in set(billing.billable_partners())
    # Billable since its first license (20 September, kept by every later issue): in October, not in August
    assert paying_partner in set(billing.billable_partners(Period(2026, 10).end))
    assert paying_partner in set(billing.billable_partners(Period(2026, 9).end))
    assert paying_partner not in set(billing.billable_partners(Period(2026, 8).end))

    def paged(before: datetime) -> set[str]:
        found, cursor = set(), None
        while True:
            page = billing.billable_partner_page(50, cursor, before)
            found |= set(page.partner_ids)
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    assert paying_partner in paged(Period(2026, 9).end) and paying_partner not in paged(Period(2026, 8).end)


def test_the_estimate_reads_tallies_and_equals_the_month_bill_over_the_licenses(
    paying_partner: str, aws: object
) -> None:
    table = os.environ["TABLE_NAME"]
    clock = ManualClock(datetime(2027, 4, 28, 15, tzinfo=UTC))
    repository = DynamoLicenseRepository(table, clients.dynamodb())
    service = LicenseService(repository, clock)
    # Given a 100-license order (two transactions), carried over a month's end
    bulk = service.issue(paying_partner, "jetpack-scan", 100, "user:t", receipt_id="bulk")
    clock.set(datetime(2027, 5, 3, 0, 0, tzinfo=UTC))
    # revoked at midnight sharp: 28 April..2 May, so 2 days of May
    service.revoke(paying_partner, bulk[0].license_key, "user:t")
    clock.set(datetime(2027, 5, 9, 12, tzinfo=UTC))
    service.assign(paying_partner, bulk[1].license_key, Site(site_id="9", site_url="https://c.example"), "user:t")
    service.record_external(
        paying_partner, "jetpack-scan", Site(site_id="8", site_url="https://d.example"), "op:t", None, "ext"
    )
    (short,) = service.issue(paying_partner, "jetpack-backup", 1, "user:t", receipt_id="short")
    clock.set(datetime(2027, 5, 20, 6, tzinfo=UTC))
    service.revoke(paying_partner, short.license_key, "user:t")
    clock.set(datetime(2027, 6, 2, 10, tzinfo=UTC))
    service.unassign(paying_partner, bulk[1].license_key, "user:t")
    service.issue(paying_partner, "jetpack-backup", 2, "user:t", receipt_id="june")

    client = clients.dynamodb()  # one client, as the billing function's composition root makes it
    billing_reads = DynamoBillingRepository(table, client)
    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    try:
        service_under_test = EstimateService(billing_reads, DynamoCatalogRepository(table, client), clock)
        # When May is asked in June (the month is over)
        may = service_under_test.estimate(paying_partner, Period(2027, 5)).estimate
    finally:
        client.meta.events.unregister("before-call.dynamodb")
    # Then it costs two DynamoDB calls (tallies and catalog) whatever the number of licenses
    assert sorted(calls) == ["Query", "Query"]
    # And it equals what the month-end invoicer bills from the licenses themselves
    _, prices = DynamoCatalogRepository(table, clients.dynamodb()).load()
    invoice = bill_month(billing_reads.licenses_active_in(paying_partner, Period(2027, 5)), prices, Period(2027, 5))
    assert [(p.product, p.projected_license_days, p.projected_cost) for p in may.products] == [
        (line.product, line.license_days, line.amount) for line in invoice.lines
    ]
    # By hand: scan 99 licenses all 31 days (capped at 395 each) + 1 for 2 days (28 cents); backup 9..20 May = 12 days
    assert invoice.total == may.totals.cost_to_date == 99 * 395 + 2 * 14 + 12 * 17
    # At May's end 99 scan licenses were open, one of them assigned; the external one is not counted
    assert (may.totals.counts.assigned, may.totals.counts.unassigned, may.totals.counts.total) == (1, 98, 101)

    # And the migration rebuilds the same tallies from the licenses and their history
    kept = billing_reads.tallies(paying_partner, Period(2027, 4))
    table_client = billing_reads._client
    for month in kept.months:
        for product in kept.months[month]:
            table_client.delete_item(
                TableName=table,
                Key={
                    "PK": {"S": keys.partner_pk(paying_partner)},
                    "SK": {"S": keys.month_tally_sk(str(month), product)},
                },
            )
    assert billing_reads.tallies(paying_partner, Period(2027, 4)).months == {}
    DynamoTallyRepository(table, table_client).rebuild(paying_partner)
    assert billing_reads.tallies(paying_partner, Period(2027, 4)) == kept
