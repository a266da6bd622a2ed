"""Reads for billing: the tallies behind the estimate, a month's licenses, and the partners to bill.

The estimate (`GET /v1/billing`) reads the partner's billing tallies (``partnerhub.domain.tallies``):
one Query of the month's and later months' tally items plus the running tally, bounded by products
and months, never by licenses. The licenses commands keep them in their own transactions
(``repository/licenses.py``); this module owns their attribute names.

The month-end invoicer reads the month's licenses (it names them on the invoice lines) and bills them
with ``bill_month``: one Query of the sparse billing index (GSI5), which holds only portal licenses
sorted by revocation time with active ones last, so licenses revoked before the month started are
never read. The property tests check that both give the same amount, to the cent.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any

from partnerhub import cursors
from partnerhub.domain.billing import BillableLicense
from partnerhub.domain.periods import Period
from partnerhub.domain.tallies import MonthTally, RunningTally
from partnerhub.repository import keys
from partnerhub.repository.dynamo import TableRepository, stamp, unstamp, values
from partnerhub.repository.tallies import month_tally, running_tallies

if TYPE_CHECKING:  # types only: the month-end planner reads the billable registry and loads no license model
    from partnerhub.domain.invoicing import InvoiceRecord
    from partnerhub.domain.models import HistoryEvent, License


@dataclass(frozen=True)
class PartnerIdPage:
    """One page of the billable registry: partner ids in order, and the cursor of the next page (None: last)."""

    partner_ids: list[str]
    next_cursor: str | None


@dataclass
class Tallies:
    """A partner's month tallies from a month on, and the running tally."""

    months: dict[Period, dict[str, MonthTally]] = field(default_factory=dict)
    running: dict[str, RunningTally] = field(default_factory=dict)

    def last_issued_at(self, period: Period) -> datetime | None:
        """The latest issue instant recorded in ``period``'s tallies."""
        stamps = [t.last_issued_at for t in self.months.get(period, {}).values() if t.last_issued_at is not None]
        return max(stamps, default=None)


_PROJECTION = "license_key, product, issued_at, revoked_at, #source, #status"
_NAMES = {"#source": "source", "#status": "status"}


class DynamoBillingRepository(TableRepository):
    def tallies(self, partner_id: str, period: Period) -> Tallies:
        """The tallies of ``period`` and every later month, and the running tally: one Query (two past 1 MB)."""
        found = Tallies()
        for item in self._items(
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues=values(
                pk=keys.partner_pk(partner_id), lo=keys.month_tally_sk(str(period), ""), hi=keys.RUNNING_TALLY
            ),
            ConsistentRead=True,
        ):
            if item["SK"] == keys.RUNNING_TALLY:
                found.running = running_tallies(item)
            else:
                month = Period.parse(item["tally_period"])
                found.months.setdefault(month, {})[item["tally_product"]] = month_tally(item)
        return found

    def issued_later_that_day(self, partner_id: str, instant: datetime) -> dict[str, int]:
        """Per product, the portal licenses issued at or after ``instant`` and before the next UTC midnight with
        an active instant (not revoked as they were issued), from GSI1: what the tallies count a day to date for
        on ``instant``'s day although they were not active before it (see ``estimate_from_tallies``)."""
        midnight = datetime.combine(instant.astimezone(UTC).date() + timedelta(days=1), time(), tzinfo=UTC)
        counts: dict[str, int] = {}
        for item in self._items(
            IndexName=keys.GSI_LICENSES,
            KeyConditionExpression="GSI1PK = :pk AND GSI1SK BETWEEN :lo AND :hi",
            ProjectionExpression="product, issued_at, revoked_at, #source",
            ExpressionAttributeNames={"#source": "source"},
            ExpressionAttributeValues=values(
                pk=keys.licenses_gsi_pk(partner_id),
                lo=keys.time_sort_key(stamp(instant), ""),
                hi=keys.time_sort_key(stamp(midnight), ""),
            ),
        ):
            revoked = item.get("revoked_at")
            if item.get("source", "portal") == "portal" and (revoked is None or revoked > item["issued_at"]):
                counts[item["product"]] = counts.get(item["product"], 0) + 1
        return counts

    def licenses_active_in(self, partner_id: str, period: Period) -> list[BillableLicense]:
        """Every portal license of the partner that was active at some instant of ``period``."""
        return [
            _billable(item)
            for item in self._items(
                IndexName=keys.GSI_BILLING,
                KeyConditionExpression="GSI5PK = :pk AND GSI5SK > :start",
                FilterExpression="issued_at < :end",
                ProjectionExpression=_PROJECTION,
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues=values(
                    pk=keys.billing_gsi_pk(partner_id), start=stamp(period.start), end=stamp(period.end)
                ),
            )
        ]

    def license_lives(
        self, partner_id: str, period: Period, *, after: str | None = None, page_size: int | None = None
    ) -> Iterator[tuple[License, list[HistoryEvent]]]:
        """Every portal license active at some instant of ``period``, with its whole history, in key order.

        One paginated, consistent Query of the partner's ``LICENSE#`` range (each license's history items
        sort right after it), yielded license by license as the pages arrive: at most one page (1 MB, or
        ``page_size`` items) and one license's history are held at a time. ``after`` resumes after that
        license key. It reads every license of the partner and its history, not only the month's: the
        re-billing reads (``docs/billing.md``) pay that to know where each license was on each day.
        """
        from partnerhub.repository.licenses import history_from_item, license_from_item

        pk = keys.partner_pk(partner_id)
        limit = {} if page_size is None else {"Limit": page_size}
        start, end = stamp(period.start), stamp(period.end)
        current: tuple[License, list[HistoryEvent]] | None = None
        for item in self._items(
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues=values(
                pk=pk, lo=keys.history_sk_upper(after) if after else keys.license_sk(""), hi=keys.LICENSES_UPPER
            ),
            ConsistentRead=True,
            **limit,
        ):
            kind = item.get("type")
            if kind == "license":
                if current is not None:
                    yield current
                current = None
                revoked = item.get("revoked_at")
                active = item["issued_at"] < end and (revoked is None or revoked > start)
                if item.get("source", "portal") == "portal" and active:
                    current = (license_from_item(item), [])
            elif kind == "history" and current is not None:
                current[1].append(history_from_item(item))
        if current is not None:
            yield current

    def invoice_records(self, partner_id: str, first: Period, last: Period) -> dict[str, InvoiceRecord]:
        """The partner-month invoice records from ``first`` to ``last`` by period: one Query."""
        from partnerhub.repository.invoices import record_from_item

        records = (
            record_from_item(item)
            for item in self._items(
                KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
                ExpressionAttributeValues=values(
                    pk=keys.partner_pk(partner_id), lo=keys.invoice_sk(str(first)), hi=keys.invoice_sk(str(last))
                ),
            )
        )
        return {record.period: record for record in records}

    def billable_partners(self, before: datetime | None = None) -> Iterator[str]:
        """Every partner issued a portal license (before ``before``: a month's end), shard by shard, from the
        sparse registry in GSI1. An entry that does not say since when (written before ``since`` was kept)
        counts in every month."""
        for shard in range(keys.BILLABLE_SHARDS):
            yield from self._registry_shard(shard, before=before)

    def billable_partner_page(
        self, limit: int, cursor: str | None = None, before: datetime | None = None
    ) -> PartnerIdPage:
        """The billable registry by partner id (billable before ``before``), ``limit`` partners a page: each
        shard's next ``limit + 1`` ids after the cursor's (``GSI1SK > :after``, DynamoDB's ``Limit``), merged. A
        page costs one Query a shard (more only past DynamoDB's 1 MB pages, or where many entries began after
        ``before``), bounded by ``limit``, never by the number of partners."""
        after = _decode_billable_cursor(cursor)
        wanted = limit + 1  # one more than the page: is there a next page
        shards = [
            list(islice(self._registry_shard(shard, after, wanted, before), wanted))
            for shard in range(keys.BILLABLE_SHARDS)
        ]
        # A partner is in one shard only (keys.billable_shard), so the merged ids are distinct
        merged = list(islice(heapq.merge(*shards), wanted))
        if len(merged) > limit:
            page = merged[:limit]
            return PartnerIdPage(page, _encode_billable_cursor(page[-1]))
        return PartnerIdPage(merged, None)

    def _registry_shard(
        self, shard: int, after: str | None = None, limit: int | None = None, before: datetime | None = None
    ) -> Iterator[str]:
        """One shard of the billable registry in partner id order, after ``after``, billable before ``before``;
        DynamoDB reads ``limit`` ids a page (its own 1 MB pages otherwise), and the next page only when the caller
        asks for more."""
        condition, bounds = "GSI1PK = :pk", values(pk=keys.billable_gsi_pk(shard))
        if after is not None:
            condition, bounds = condition + " AND GSI1SK > :after", bounds | values(after=after)
        since: dict[str, Any] = {}
        if before is not None:
            since = {
                "FilterExpression": "attribute_not_exists(#since) OR #since < :before",
                "ExpressionAttributeNames": {"#since": "since"},
            }
            bounds |= values(before=stamp(before))
        for item in self._items(
            IndexName=keys.GSI_LICENSES,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=bounds,
            ProjectionExpression="partner_id",
            **since,
            **({} if limit is None else {"Limit": limit}),
        ):
            yield str(item["partner_id"])


def _encode_billable_cursor(partner_id: str) -> str:
    return cursors.encode({"after": partner_id})


def _decode_billable_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    from partnerhub.domain.models import PARTNER_ID  # here: the month-end planner never reads a page

    value = cursors.decode(cursor).get("after")
    if not isinstance(value, str) or not PARTNER_ID.match(value):
        raise cursors.invalid()
    return value


def _instant(text: str) -> datetime:
    instant = unstamp(text)
    assert instant is not None
    return instant


def _billable(item: dict[str, Any]) -> BillableLicense:
    issued = unstamp(item["issued_at"])
    assert issued is not None
    return BillableLicense(
        license_key=item["license_key"],
        product=item["product"],
        issued_at=issued,
        revoked_at=unstamp(item.get("revoked_at")),
        source=item.get("source", "portal"),
        assigned=item.get("status") == "assigned",
    )
