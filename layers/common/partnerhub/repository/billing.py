"""Reads for billing: a partner's licenses that can be active in a month, and the partners to bill.

The estimate (`GET /v1/billing`) and the month-end invoicer call the same read and then the same
pure computation (`partnerhub.domain.billing`), so a past month's estimate equals its invoice.

Reads are bounded by the licenses active in or after the month, never by the partner's history:
the status index (GSI2) keeps each status in its own partition sorted by the time the license
entered it, so revoked licenses are read only when revoked after the month started, and
unassigned ones only when issued before it ended.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from partnerhub.domain.billing import BillableLicense
from partnerhub.domain.periods import Period
from partnerhub.repository import keys
from partnerhub.repository.dynamo import default_client, deserialize, stamp, unstamp, values

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_PROJECTION = "license_key, product, issued_at, revoked_at, #source, #status"
_NAMES = {"#source": "source", "#status": "status"}


class DynamoBillingRepository:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self._table = table_name
        self._client = client or default_client()

    def licenses_active_in(self, partner_id: str, period: Period) -> list[BillableLicense]:
        """Every license of the partner that was active at some instant of ``period`` (external ones too:
        the billing engine lists but never bills them)."""
        start, end = stamp(period.start), stamp(period.end)
        found: list[dict[str, Any]] = []
        # Unassigned: sorted by issue time, so the key condition stops at the month's end.
        found += self._query(keys.status_gsi_pk(partner_id, "unassigned"), "GSI2SK < :end", values(end=end), None)
        # Assigned: sorted by assignment time, which says nothing of issue time: filter on it.
        found += self._query(keys.status_gsi_pk(partner_id, "assigned"), None, values(end=end), "issued_at < :end")
        # Revoked: only those revoked after the month began could have been active in it.
        found += self._query(
            keys.status_gsi_pk(partner_id, "revoked"),
            "GSI2SK > :start",
            values(start=start, end=end),
            "issued_at < :end",
        )
        return [_billable(item) for item in found]

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

    def _query(
        self, partition: str, sort_condition: str | None, attribute_values: dict[str, Any], filter_: str | None
    ) -> list[dict[str, Any]]:
        condition = "GSI2PK = :pk" + (f" AND {sort_condition}" if sort_condition else "")
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": keys.GSI_BY_STATUS,
            "KeyConditionExpression": condition,
            "ProjectionExpression": _PROJECTION,
            "ExpressionAttributeNames": _NAMES,
        }
        used = {k: v for k, v in attribute_values.items() if k in condition or (filter_ and k in filter_)}
        params["ExpressionAttributeValues"] = values(pk=partition) | used
        if filter_:
            params["FilterExpression"] = filter_
        items: list[dict[str, Any]] = []
        while True:
            response = self._client.query(**params)
            items += [deserialize(i) for i in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return items
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
