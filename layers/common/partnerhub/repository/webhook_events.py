"""Webhook dedupe records: one item per Stripe event id, so an event is processed at most once.

``STRIPE_EVENT#{evt}`` / ``EVENT`` holds ``status`` (``processing`` or ``done``), the claim token of the
delivery processing it, ``lease_until`` (epoch seconds) and ``ttl``. A delivery claims the event with a
conditional put that succeeds when no record exists, or when a ``processing`` claim's lease ran out (its
Lambda died mid-way). It then processes, and marks the record done; a failure deletes the claim instead,
so Stripe's retry processes the event afresh.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from partnerhub.repository import keys
from partnerhub.repository.dynamo import (
    Item,
    TableRepository,
    deserialize,
    error_code,
    raise_if_throttled,
    serialize,
    stamp,
    values,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PROCESSING = "processing"
DONE = "done"


class ClaimResult(StrEnum):
    CLAIMED = "claimed"  # ours to process
    DONE = "done"  # processed before: a duplicate delivery
    BUSY = "busy"  # another delivery holds an unexpired claim


@dataclass(frozen=True)
class Claim:
    result: ClaimResult
    event_id: str
    token: str | None = None


class DynamoWebhookEventRepository(TableRepository):
    def __init__(
        self,
        table_name: str,
        *,
        lease_seconds: int = 60,
        retention_days: int = 30,
        client: DynamoDBClient | None = None,
    ) -> None:
        super().__init__(table_name, client)
        self._lease = lease_seconds
        self._retention = retention_days * 86400

    def claim(self, event_id: str, event_type: str, now: datetime) -> Claim:
        """Take the event for processing, unless it is done or another delivery is on it."""
        token = secrets.token_hex(16)
        epoch = int(now.timestamp())
        item = {
            "PK": keys.stripe_event_pk(event_id),
            "SK": keys.STRIPE_EVENT,
            "event_id": event_id,
            "event_type": event_type,
            "status": PROCESSING,
            "claim": token,
            "claimed_at": stamp(now),
            "lease_until": epoch + self._lease,
            "ttl": epoch + self._retention,
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item=serialize(item),
                ConditionExpression="attribute_not_exists(PK) OR (#status = :processing AND lease_until < :now)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values(processing=PROCESSING, now=epoch),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise_if_throttled(error)
                raise
            old = deserialize(error.response.get("Item") or {}) or self.get(event_id) or {}  # type: ignore[arg-type]
            status = ClaimResult.DONE if old.get("status") == DONE else ClaimResult.BUSY
            return Claim(status, event_id)
        return Claim(ClaimResult.CLAIMED, event_id, token)

    def complete(self, claim: Claim, now: datetime, outcome: dict[str, Any]) -> bool:
        """Mark the event done; False when the claim was lost meanwhile (its lease ran out and another took it)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(claim.event_id),
                UpdateExpression="SET #status = :done, done_at = :at, outcome = :outcome REMOVE lease_until",
                ConditionExpression="#claim = :claim",
                ExpressionAttributeNames={"#status": "status", "#claim": "claim"},
                ExpressionAttributeValues=values(
                    done=DONE,
                    at=stamp(now),
                    outcome={k: v for k, v in outcome.items() if v is not None},
                    claim=claim.token,
                ),
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise_if_throttled(error)
            raise
        return True

    def release(self, claim: Claim) -> None:
        """Give the event up after a failure, so the next delivery processes it (only while the claim is ours)."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=self._key(claim.event_id),
                ConditionExpression="#claim = :claim",
                ExpressionAttributeNames={"#claim": "claim"},
                ExpressionAttributeValues=values(claim=claim.token),
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise

    def get(self, event_id: str) -> Item | None:
        response = self._client.get_item(TableName=self._table, Key=self._key(event_id), ConsistentRead=True)
        item = response.get("Item")
        return deserialize(item) if item else None

    @staticmethod
    def _key(event_id: str) -> dict[str, Any]:
        return serialize({"PK": keys.stripe_event_pk(event_id), "SK": keys.STRIPE_EVENT})
