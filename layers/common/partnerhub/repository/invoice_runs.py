"""Month-end runs started by operators: ``INVOICE_RUN`` / ``RUN#{YYYY-MM}`` (who started it first, when, how
often), written with the start's audit entry in one transaction."""

from __future__ import annotations

from typing import Any

from partnerhub.domain.audit import AuditEntry
from partnerhub.repository import keys
from partnerhub.repository.audit import audit_put
from partnerhub.repository.dynamo import Item, TableRepository, deserialize, serialize, stamp, values


class DynamoInvoiceRunRepository(TableRepository):
    def started(self, period: str, audit: AuditEntry) -> None:
        at = stamp(audit.at)
        self._client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": self._key(period),
                        "UpdateExpression": "SET started_at = if_not_exists(started_at, :at), "
                        "started_by = if_not_exists(started_by, :by), "
                        "started_by_name = if_not_exists(started_by_name, :name), last_started_at = :at, "
                        "last_started_by = :by, period = :p ADD starts :one",
                        "ExpressionAttributeValues": values(
                            at=at, by=audit.actor, name=audit.actor_name, p=period, one=1
                        ),
                    }
                },
                audit_put(self._table, audit),
            ]
        )

    def run(self, period: str) -> Item | None:
        found = self._client.get_item(TableName=self._table, Key=self._key(period), ConsistentRead=True).get("Item")
        return deserialize(found) if found else None

    @staticmethod
    def _key(period: str) -> dict[str, Any]:
        return serialize({"PK": keys.INVOICE_RUNS, "SK": keys.invoice_run_sk(period)})
