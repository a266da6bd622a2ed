"""Reads for billing: a partner's licenses that can be active in a month, and the partners to bill.

The estimate (`GET /v1/billing`) and the month-end invoicer call the same read and then the same
pure computation (`partnerhub.domain.billing`), so a past month's estimate equals its invoice.

One Query, bounded by the licenses active in or after the month, never by the partner's history:
the sparse billing index (GSI5) holds only portal licenses, sorted by revocation time with active
ones last, so licenses revoked before the month started are never read. Only licenses issued after
the month ended (a past month asked for later) are read and filtered out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from partnerhub.domain.billing import BillableLicense
from partnerhub.domain.periods import Period
from partnerhub.repository import keys
from partnerhub.repository.dynamo import TableRepository, deserialize, stamp, unstamp, values

if TYPE_CHECKING:
    pass

_PROJECTION = "license_key, product, issued_at, revoked_at, #source, #status"
_NAMES = {"#source": "source", "#status": "status"}


class DynamoBillingRepository(TableRepository):
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
