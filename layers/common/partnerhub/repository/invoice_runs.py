"""Month-end runs: ``INVOICE_RUN`` / ``RUN#{YYYY-MM}``: who or what started the month first and when (an operator's
start, written with its audit entry in one transaction, or the planner's first plan: the schedule, a direct
invocation, the local stack's controls), how often it was started, and the last plan (when, by whom, how many)."""

from __future__ import annotations

from datetime import datetime
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
                        "last_started_by = :by, last_started_by_name = :name, period = :p ADD starts :one",
                        "ExpressionAttributeValues": values(
                            at=at, by=audit.actor, name=audit.actor_name, p=period, one=1
                        ),
                    }
                },
                audit_put(self._table, audit),
            ]
        )

    def planned(self, period: str, started_by: str, at: datetime, partners: int) -> None:
        """The planner planned ``period``: when, for whom, how many partner-months. The month's first start (by an
        operator, written by :meth:`started`, or by this plan) keeps its name."""
        now = stamp(at)
        self._client.update_item(
            TableName=self._table,
            Key=self._key(period),
            UpdateExpression="SET started_at = if_not_exists(started_at, :at), "
            "started_by = if_not_exists(started_by, :by), last_planned_at = :at, last_planned_by = :by, "
            "planned_partners = :n, period = :p ADD plans :one",
            ExpressionAttributeValues=values(at=now, by=started_by, n=partners, p=period, one=1),
        )

    def run(self, period: str) -> Item | None:
        found = self._client.get_item(TableName=self._table, Key=self._key(period), ConsistentRead=True).get("Item")
        return deserialize(found) if found else None

    @staticmethod
    def _key(period: str) -> dict[str, Any]:
        return serialize({"PK": keys.INVOICE_RUNS, "SK": keys.invoice_run_sk(period)})
