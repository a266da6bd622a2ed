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

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from partnerhub.domain.billing import BillableLicense
from partnerhub.domain.periods import Period
from partnerhub.domain.tallies import MonthTally, RunningTally
from partnerhub.repository import keys
from partnerhub.repository.dynamo import TableRepository, deserialize, stamp, unstamp, values

_ISSUED = re.compile(r"^i#([0-9]{2})$")
_REVOKED = re.compile(r"^r#([0-9]{2})#([0-9]{2})$")


def tally_issued_name(day: int) -> str:
    """Month tally: licenses issued on ``day``."""
    return f"i#{day:02d}"


def tally_revoked_name(first: int, last: int) -> str:
    """Month tally: licenses revoked this month, active from day ``first`` to day ``last``."""
    return f"r#{first:02d}#{last:02d}"


def tally_open_name(product: str) -> str:
    """Running tally: open licenses of ``product``."""
    return f"o#{product}"


def tally_assigned_name(product: str) -> str:
    """Running tally: assigned open licenses of ``product``."""
    return f"a#{product}"


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
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": values(
                pk=keys.partner_pk(partner_id), lo=keys.month_tally_sk(str(period), ""), hi=keys.RUNNING_TALLY
            ),
            "ConsistentRead": True,
        }
        found = Tallies()
        while True:
            response = self._client.query(**params)
            for raw in response.get("Items", []):
                item = deserialize(raw)
                if item["SK"] == keys.RUNNING_TALLY:
                    found.running = _running(item)
                else:
                    month = Period.parse(item["tally_period"])
                    found.months.setdefault(month, {})[item["tally_product"]] = _month(item)
            if "LastEvaluatedKey" not in response:
                return found
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def open_issued_at(self, partner_id: str, instant: datetime) -> dict[str, int]:
        """Per product, the portal licenses issued at exactly ``instant`` and not revoked by then (GSI1)."""
        exact = stamp(instant)
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": keys.GSI_LICENSES,
            "KeyConditionExpression": "GSI1PK = :pk AND GSI1SK BETWEEN :lo AND :hi",
            "ProjectionExpression": "product, revoked_at, #source",
            "ExpressionAttributeNames": {"#source": "source"},
            "ExpressionAttributeValues": values(
                pk=keys.licenses_gsi_pk(partner_id),
                lo=keys.time_sort_key(exact, ""),
                hi=keys.time_sort_key(exact, "~"),
            ),
        }
        counts: dict[str, int] = {}
        while True:
            response = self._client.query(**params)
            for raw in response.get("Items", []):
                item = deserialize(raw)
                revoked = item.get("revoked_at")
                if item.get("source", "portal") == "portal" and (revoked is None or revoked > exact):
                    counts[item["product"]] = counts.get(item["product"], 0) + 1
            if "LastEvaluatedKey" not in response:
                return counts
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def licenses_active_in(self, partner_id: str, period: Period) -> list[BillableLicense]:
        """Every portal license of the partner that was active at some instant of ``period``."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": keys.GSI_BILLING,
            "KeyConditionExpression": "GSI5PK = :pk AND GSI5SK > :start",
            "FilterExpression": "issued_at < :end",
            "ProjectionExpression": _PROJECTION,
            "ExpressionAttributeNames": _NAMES,
            "ExpressionAttributeValues": values(
                pk=keys.billing_gsi_pk(partner_id), start=stamp(period.start), end=stamp(period.end)
            ),
        }
        licenses: list[BillableLicense] = []
        while True:
            response = self._client.query(**params)
            licenses += [_billable(deserialize(item)) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return licenses
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def billable_partners(self) -> Iterator[str]:
        """Every partner ever issued a portal license, shard by shard, from the sparse registry in GSI1."""
        for shard in range(keys.BILLABLE_SHARDS):
            params: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": keys.GSI_LICENSES,
                "KeyConditionExpression": "GSI1PK = :pk",
                "ExpressionAttributeValues": values(pk=keys.billable_gsi_pk(shard)),
                "ProjectionExpression": "partner_id",
            }
            while True:
                response = self._client.query(**params)
                for item in response.get("Items", []):
                    yield str(deserialize(item)["partner_id"])
                if "LastEvaluatedKey" not in response:
                    break
                params["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _month(item: dict[str, Any]) -> MonthTally:
    tally = MonthTally(assigned=int(item.get("assigned", 0)), last_issued_at=unstamp(item.get("last_issued_at")))
    for name, value in item.items():
        if match := _ISSUED.match(name):
            tally.issued[int(match[1])] = int(value)
        elif match := _REVOKED.match(name):
            tally.revoked[int(match[1]), int(match[2])] = int(value)
    return tally


def _running(item: dict[str, Any]) -> dict[str, RunningTally]:
    running: dict[str, RunningTally] = {}
    for name, value in item.items():
        kind, _, product = name.partition("#")
        if kind == "o" and product:
            running.setdefault(product, RunningTally()).open = int(value)
        elif kind == "a" and product:
            running.setdefault(product, RunningTally()).assigned = int(value)
    return running


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
