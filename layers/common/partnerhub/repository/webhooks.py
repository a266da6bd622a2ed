"""Webhooks to agencies in the single table: endpoints and their count, events, deliveries and the due index, and
the reading of the table's stream into the changes events are made of.

Items (keys in ``keys.py``, access patterns in ``docs/data-model.md``):

* ``PARTNER#{pid}`` / ``WEBHOOK_ENDPOINT#{id}``: an endpoint, with its signing secrets; ``version`` guards changes.
* ``PARTNER#{pid}`` / ``WEBHOOK_ENDPOINTS``: how many endpoints the partner has (the limit is checked on it).
* ``PARTNER#{pid}`` / ``WEBHOOK_EVENT#{id}``: an event and the exact body its deliveries send; listed by time
  through GSI1 (``WEBHOOK_EVENTS#{pid}``); expires after 30 days (``ttl``).
* ``PARTNER#{pid}`` / ``WEBHOOK_DELIVERY#{endpoint}#{created}#{id}``: one delivery of an event to an endpoint,
  its attempts and what came of them; while an attempt is due it is in the due index (GSI2,
  ``WEBHOOK_DUE#{shard}`` by due time). Expires after 30 days.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from botocore.exceptions import ClientError

from partnerhub import cursors
from partnerhub.domain.accounts import Card
from partnerhub.domain.invoicing import InvoiceRecord
from partnerhub.domain.models import License, Standing
from partnerhub.domain.webhook_deliveries import AttemptRecord, Delivery, DeliveryMessage, DeliveryState
from partnerhub.domain.webhook_endpoints import Endpoint, EndpointConflict, SigningSecret, limit_reached
from partnerhub.domain.webhook_events import (
    RETENTION,
    CardChange,
    Change,
    DeliveryPage,
    Event,
    EventPage,
    InvoiceChange,
    LicenseChange,
    StandingChange,
)
from partnerhub.repository import keys
from partnerhub.repository.dynamo import (
    Item,
    TableRepository,
    cancellation_reasons,
    deserialize,
    error_code,
    pages,
    raise_if_throttled,
    serialize,
    stamp,
    unstamp,
    values,
)
from partnerhub.repository.invoices import record_from_item
from partnerhub.repository.licenses import license_from_item
from partnerhub.repository.partners import card_from_item, profile_key, standing_from_item

_EVENT_READS = 5  # queries per page when a type filter thins the events
_CONDITION_FAILED = "ConditionalCheckFailedException"


class DynamoWebhookRepository(TableRepository):
    # ---------------------------------------------------------------- endpoints

    def create(self, endpoint: Endpoint, limit: int) -> Endpoint:
        count: dict[str, Any] = {
            "TableName": self._table,
            "Key": serialize({"PK": keys.partner_pk(endpoint.partner_id), "SK": keys.WEBHOOK_ENDPOINT_COUNT}),
            "UpdateExpression": "SET partner_id = :pid ADD endpoints :one",
            "ConditionExpression": "attribute_not_exists(endpoints) OR endpoints < :limit",
            "ExpressionAttributeValues": values(pid=endpoint.partner_id, one=1, limit=limit),
        }
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": serialize(endpoint_item(endpoint)),
            "ConditionExpression": "attribute_not_exists(PK)",
        }
        try:
            self._client.transact_write_items(TransactItems=[{"Put": put}, {"Update": count}])  # type: ignore[typeddict-item]
        except ClientError as error:
            raise_if_throttled(error)
            failed = [r.get("Code") == "ConditionalCheckFailed" for r in cancellation_reasons(error)]
            if failed and failed[0]:
                stored = self.endpoint(endpoint.partner_id, endpoint.endpoint_id)
                if stored is not None:
                    return stored  # a retried create: the endpoint it made the first time
            if len(failed) > 1 and failed[1]:
                raise limit_reached(limit) from error
            raise
        return endpoint

    def endpoints(self, partner_id: str) -> list[Endpoint]:
        found = self._items(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues=values(pk=keys.partner_pk(partner_id), prefix=keys.WEBHOOK_ENDPOINT_PREFIX),
            ConsistentRead=True,
        )
        return [endpoint_from_item(item) for item in found]

    def endpoint(self, partner_id: str, endpoint_id: str) -> Endpoint | None:
        item = self._get(keys.partner_pk(partner_id), keys.webhook_endpoint_sk(endpoint_id))
        return None if item is None else endpoint_from_item(item)

    def endpoint_count(self, partner_id: str) -> int:
        """How many endpoints the partner has (operators see it; never the endpoints themselves)."""
        item = self._get(keys.partner_pk(partner_id), keys.WEBHOOK_ENDPOINT_COUNT)
        return int(item.get("endpoints", 0)) if item else 0

    def save(self, before: Endpoint, after: Endpoint) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=serialize(endpoint_item(after)),
                ConditionExpression="version = :v",
                ExpressionAttributeValues=values(v=before.version),
            )
        except ClientError as error:
            raise_if_throttled(error)
            if error_code(error) == _CONDITION_FAILED:
                raise EndpointConflict() from error
            raise

    def delete(self, endpoint: Endpoint) -> None:
        key = {"PK": keys.partner_pk(endpoint.partner_id), "SK": keys.webhook_endpoint_sk(endpoint.endpoint_id)}
        count = {"PK": keys.partner_pk(endpoint.partner_id), "SK": keys.WEBHOOK_ENDPOINT_COUNT}
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": serialize(key),
                            "ConditionExpression": "attribute_exists(PK)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": serialize(count),
                            "UpdateExpression": "ADD endpoints :less",
                            "ExpressionAttributeValues": values(less=-1),
                        }
                    },
                ]
            )
        except ClientError as error:
            raise_if_throttled(error)
            reasons = cancellation_reasons(error)
            if not (reasons and reasons[0].get("Code") == "ConditionalCheckFailed"):
                raise
            # deleted already (a retried request): nothing left to do

    # ---------------------------------------------------------------- events

    def primary_card(self, partner_id: str) -> str | None:
        response = self._client.get_item(
            TableName=self._table, Key=profile_key(partner_id), ProjectionExpression="primary_card"
        )
        item = deserialize(response.get("Item", {}))
        primary = item.get("primary_card")
        return str(primary) if primary else None

    def record(self, event: Event, deliveries: Sequence[Delivery]) -> bool:
        writes: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(event_item(event)),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
        ]
        writes += [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(delivery_item(delivery)),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
            for delivery in deliveries
        ]
        try:
            self._client.transact_write_items(TransactItems=writes)  # type: ignore[arg-type]
        except ClientError as error:
            raise_if_throttled(error)
            reasons = cancellation_reasons(error)
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                return False  # recorded before, with its deliveries (one transaction)
            raise
        return True

    def event(self, partner_id: str, event_id: str) -> Event | None:
        item = self._get(keys.partner_pk(partner_id), keys.webhook_event_sk(event_id))
        return None if item is None else event_from_item(item)

    def event_body(self, partner_id: str, event_id: str) -> str | None:
        found = self.event(partner_id, event_id)
        return None if found is None else found.body

    def events(
        self, partner_id: str, since: datetime, event_type: str | None, limit: int, cursor: str | None
    ) -> EventPage:
        """Newest first, back to ``since``; a type filter reads at most a few pages of the index per call (a page
        may then be short and still have a ``next_cursor``)."""
        partition = keys.webhook_events_gsi_pk(partner_id)
        params: dict[str, Any] = {
            "IndexName": keys.GSI_WEBHOOK_EVENTS,
            "KeyConditionExpression": "GSI1PK = :pk AND GSI1SK >= :since",
            "ExpressionAttributeValues": values(pk=partition, since=stamp(since)),
            "ScanIndexForward": False,
            "Limit": max(limit, 100) if event_type else limit,
        }
        if event_type:
            params["FilterExpression"] = "event_type = :t"
            params["ExpressionAttributeValues"] |= values(t=event_type)
        start = _decode_event_cursor(cursor, partner_id)
        if start is not None:
            params["ExclusiveStartKey"] = start
        found: list[Item] = []
        last: dict[str, Any] | None = start
        for answer in islice(
            pages(self._client.query, TableName=self._table, **params), _EVENT_READS if event_type else 1
        ):
            batch = [deserialize(i) for i in answer.get("Items", [])]
            room = limit - len(found)
            if len(batch) > room:
                found.extend(batch[:room])
                last = serialize({k: found[-1][k] for k in ("PK", "SK", "GSI1PK", "GSI1SK")})
                break
            found.extend(batch)
            last = answer.get("LastEvaluatedKey")
            if last is None or len(found) >= limit:
                break
        next_cursor = _encode_event_cursor(deserialize(last)) if last else None
        return EventPage([event_from_item(item) for item in found], next_cursor)

    # ---------------------------------------------------------------- deliveries

    def add_delivery(self, delivery: Delivery) -> tuple[Delivery, bool]:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=serialize(delivery_item(delivery)),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as error:
            raise_if_throttled(error)
            if error_code(error) != _CONDITION_FAILED:
                raise
            stored = self._get(keys.partner_pk(delivery.partner_id), _delivery_sk(delivery))
            assert stored is not None
            return delivery_from_item(stored), False
        return delivery, True

    def deliveries(self, partner_id: str, endpoint_id: str, limit: int, cursor: str | None) -> DeliveryPage:
        """Newest first."""
        prefix = keys.webhook_deliveries_prefix(endpoint_id)
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": values(pk=keys.partner_pk(partner_id), prefix=prefix),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            sk = cursors.decode(cursor).get("k")
            if not isinstance(sk, str) or not sk.startswith(prefix) or len(sk) > 300:
                raise cursors.invalid()
            params["ExclusiveStartKey"] = serialize({"PK": keys.partner_pk(partner_id), "SK": sk})
        answer = self._client.query(**params)
        found = [delivery_from_item(deserialize(item)) for item in answer.get("Items", [])]
        last = answer.get("LastEvaluatedKey")
        next_cursor = cursors.encode({"k": deserialize(last)["SK"]}) if last else None
        return DeliveryPage(found, next_cursor)

    def claim(self, delivery: Delivery, until: datetime) -> bool:
        if delivery.due_at is None:
            return False
        return (
            self._conditional_update(
                delivery.partner_id,
                _delivery_sk(delivery),
                "SET due_at = :until, GSI2SK = :position",
                "GSI2SK = :expected AND #state = :pending",
                values(
                    until=stamp(until),
                    position=keys.webhook_due_gsi_sk(stamp(until), delivery.delivery_id),
                    expected=keys.webhook_due_gsi_sk(stamp(delivery.due_at), delivery.delivery_id),
                    pending=DeliveryState.PENDING.value,
                ),
            )
            is not None
        )

    def due(self, at: datetime) -> Iterator[Delivery]:
        upper = keys.webhook_due_gsi_sk(stamp(at), "~")
        for shard in range(keys.WEBHOOK_DUE_SHARDS):
            for item in self._items(
                IndexName=keys.GSI_WEBHOOK_DUE,
                KeyConditionExpression="GSI2PK = :pk AND GSI2SK <= :upper",
                ExpressionAttributeValues=values(pk=keys.webhook_due_gsi_pk(shard), upper=upper),
            ):
                yield delivery_from_item(item)

    def start_attempt(self, message: DeliveryMessage, at: datetime, lease_until: datetime) -> Delivery | None:
        sk = keys.webhook_delivery_sk(message.endpoint_id, stamp(message.created_at), message.delivery_id)
        item = self._conditional_update(
            message.partner_id,
            sk,
            "SET attempt = :n, due_at = :lease, GSI2PK = :pk, GSI2SK = :position",
            "attribute_exists(PK) AND #state = :pending AND attempt = :before AND next_attempt_at <= :at",
            values(
                n=message.attempt,
                before=message.attempt - 1,
                at=stamp(at),
                lease=stamp(lease_until),
                pk=keys.webhook_due_gsi_pk(keys.webhook_due_shard(message.delivery_id)),
                position=keys.webhook_due_gsi_sk(stamp(lease_until), message.delivery_id),
                pending=DeliveryState.PENDING.value,
            ),
        )
        return None if item is None else delivery_from_item(item)

    def finish_attempt(self, delivery: Delivery) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=serialize(delivery_item(delivery)),
                ConditionExpression="attempt = :n",
                ExpressionAttributeValues=values(n=delivery.attempt),
            )
        except ClientError as error:
            raise_if_throttled(error)
            if error_code(error) != _CONDITION_FAILED:
                raise
            # another attempt started since (this one outlived its lease): its outcome is the one to keep

    # ---------------------------------------------------------------- plumbing

    def _get(self, pk: str, sk: str) -> Item | None:
        response = self._client.get_item(
            TableName=self._table, Key=serialize({"PK": pk, "SK": sk}), ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else deserialize(item)

    def _conditional_update(
        self, partner_id: str, sk: str, expression: str, condition: str, attribute_values: dict[str, Any]
    ) -> Item | None:
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=serialize({"PK": keys.partner_pk(partner_id), "SK": sk}),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=attribute_values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            raise_if_throttled(error)
            if error_code(error) == _CONDITION_FAILED:
                return None
            raise
        return deserialize(response.get("Attributes", {}))


# ------------------------------------------------------------------ items


def endpoint_item(endpoint: Endpoint) -> Item:
    return {
        "PK": keys.partner_pk(endpoint.partner_id),
        "SK": keys.webhook_endpoint_sk(endpoint.endpoint_id),
        "type": "webhook_endpoint",
        "partner_id": endpoint.partner_id,
        "endpoint_id": endpoint.endpoint_id,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "disabled_at": _stamp(endpoint.disabled_at),
        "failing_since": _stamp(endpoint.failing_since),
        "created_at": stamp(endpoint.created_at),
        "updated_at": stamp(endpoint.updated_at),
        "secrets": [
            {"value": s.value, "created_at": stamp(s.created_at), "expires_at": _stamp(s.expires_at)}
            for s in endpoint.secrets
        ],
        "version": endpoint.version,
    }


def endpoint_from_item(item: Item) -> Endpoint:
    return Endpoint(
        partner_id=item["partner_id"],
        endpoint_id=item["endpoint_id"],
        url=item["url"],
        events=tuple(item["events"]),
        description=item.get("description"),
        enabled=bool(item.get("enabled", True)),
        disabled_reason=item.get("disabled_reason"),
        disabled_at=unstamp(item.get("disabled_at")),
        failing_since=unstamp(item.get("failing_since")),
        created_at=_instant(item["created_at"]),
        updated_at=_instant(item["updated_at"]),
        secrets=tuple(
            SigningSecret(
                value=s["value"], created_at=_instant(s["created_at"]), expires_at=unstamp(s.get("expires_at"))
            )
            for s in item.get("secrets", ())
        ),
        version=int(item.get("version", 1)),
    )


def event_item(event: Event) -> Item:
    created = stamp(event.created_at)
    return {
        "PK": keys.partner_pk(event.partner_id),
        "SK": keys.webhook_event_sk(event.event_id),
        "type": "webhook_event",
        "partner_id": event.partner_id,
        "event_id": event.event_id,
        "event_type": event.type,
        "created_at": created,
        "body": event.body,
        "GSI1PK": keys.webhook_events_gsi_pk(event.partner_id),
        "GSI1SK": keys.webhook_event_gsi_sk(created, event.order, event.event_id),
        "order": event.order,
        "ttl": _expiry(event.created_at),
    }


def event_from_item(item: Item) -> Event:
    return Event(
        event_id=item["event_id"],
        partner_id=item["partner_id"],
        type=item["event_type"],
        created_at=_instant(item["created_at"]),
        body=item["body"],
        order=item.get("order", ""),
    )


def _delivery_sk(delivery: Delivery) -> str:
    return keys.webhook_delivery_sk(delivery.endpoint_id, stamp(delivery.created_at), delivery.delivery_id)


def delivery_item(delivery: Delivery) -> Item:
    due: Item = {}
    if delivery.due_at is not None and delivery.state is DeliveryState.PENDING:
        due = {
            "due_at": stamp(delivery.due_at),
            "GSI2PK": keys.webhook_due_gsi_pk(keys.webhook_due_shard(delivery.delivery_id)),
            "GSI2SK": keys.webhook_due_gsi_sk(stamp(delivery.due_at), delivery.delivery_id),
        }
    return {
        "PK": keys.partner_pk(delivery.partner_id),
        "SK": _delivery_sk(delivery),
        "type": "webhook_delivery",
        "partner_id": delivery.partner_id,
        "endpoint_id": delivery.endpoint_id,
        "delivery_id": delivery.delivery_id,
        "event_id": delivery.event_id,
        "event_type": delivery.type,
        "created_at": stamp(delivery.created_at),
        "state": delivery.state.value,
        "attempt": delivery.attempt,
        "manual": delivery.manual,
        "next_attempt_at": _stamp(delivery.next_attempt_at),
        "delivered_at": _stamp(delivery.delivered_at),
        "status_code": delivery.status_code,
        "duration_ms": delivery.duration_ms,
        "error": delivery.error,
        "response": delivery.response,
        "history": [
            {
                "attempt": a.attempt,
                "at": stamp(a.at),
                "status_code": a.status_code,
                "duration_ms": a.duration_ms,
                "error": a.error,
            }
            for a in delivery.history
        ],
        "ttl": _expiry(delivery.created_at),
        **due,
    }


def delivery_from_item(item: Item) -> Delivery:
    return Delivery(
        partner_id=item["partner_id"],
        endpoint_id=item["endpoint_id"],
        delivery_id=item["delivery_id"],
        event_id=item["event_id"],
        type=item["event_type"],
        created_at=_instant(item["created_at"]),
        state=DeliveryState(item["state"]),
        attempt=int(item.get("attempt", 0)),
        manual=bool(item.get("manual", False)),
        next_attempt_at=unstamp(item.get("next_attempt_at")),
        due_at=unstamp(item.get("due_at")),
        delivered_at=unstamp(item.get("delivered_at")),
        status_code=item.get("status_code"),
        duration_ms=item.get("duration_ms"),
        error=item.get("error"),
        response=item.get("response"),
        history=tuple(
            AttemptRecord(
                attempt=int(a["attempt"]),
                at=_instant(a["at"]),
                status_code=a.get("status_code"),
                duration_ms=int(a.get("duration_ms", 0)),
                error=a.get("error"),
            )
            for a in item.get("history", ())
        ),
    )


# ------------------------------------------------------------------ the table's stream


def stream_changes(records: Sequence[Mapping[str, Any]]) -> Iterator[Change[Any]]:
    """The changes a batch of the table's stream records (``NEW_AND_OLD_IMAGES``) are, in order; records of items
    events are not made of are skipped."""
    for record in records:
        change = stream_change(record)
        if change is not None:
            yield change


def stream_change(record: Mapping[str, Any]) -> Change[Any] | None:
    """One stream record as a change of a license, an invoice, a card or the partner's standing (else None)."""
    data = record.get("dynamodb") or {}
    key = deserialize(data.get("Keys") or {})
    pk, sk = str(key.get("PK", "")), str(key.get("SK", ""))
    if not pk.startswith(keys.partner_pk("")):
        return None
    partner_id = keys.partner_of_pk(pk)
    old = deserialize(data["OldImage"]) if data.get("OldImage") else None
    new = deserialize(data["NewImage"]) if data.get("NewImage") else None
    sequence = str(data.get("SequenceNumber") or "")
    source = str(record.get("eventID") or sequence)
    if sk.startswith(keys.license_sk("")) and _typed(old, new) == "license":
        return LicenseChange(source, partner_id, _license(old), _license(new), sequence)
    if sk.startswith(keys.INVOICE_PREFIX):
        return InvoiceChange(source, partner_id, _invoice(old), _invoice(new), sequence)
    if sk.startswith(keys.CARD_PREFIX):
        return CardChange(source, partner_id, _card(old), _card(new), sequence)
    if sk == keys.PROFILE:
        return StandingChange(source, partner_id, _standing(old), _standing(new), sequence)
    return None


def _typed(old: Item | None, new: Item | None) -> str | None:
    found = (new or old or {}).get("type")
    return None if found is None else str(found)


def _license(item: Item | None) -> License | None:
    return None if item is None else license_from_item(item)


def _invoice(item: Item | None) -> InvoiceRecord | None:
    return None if item is None or "partner_id" not in item else record_from_item(item)


def _card(item: Item | None) -> Card | None:
    return None if item is None else card_from_item(item)


def _standing(item: Item | None) -> Standing | None:
    return None if item is None else standing_from_item(item)


# ------------------------------------------------------------------ helpers


def _stamp(instant: datetime | None) -> str | None:
    return None if instant is None else stamp(instant)


def _instant(text: str) -> datetime:
    found = unstamp(text)
    assert found is not None
    return found


def _expiry(created_at: datetime) -> int:
    """When DynamoDB's TTL may remove the item: a day after the 30 days it is kept for."""
    return int((created_at + RETENTION + timedelta(days=1)).timestamp())


def _encode_event_cursor(last: Item) -> str:
    return cursors.encode({"s": last["GSI1SK"], "k": last["SK"]})


def _decode_event_cursor(cursor: str | None, partner_id: str) -> dict[str, Any] | None:
    """A cursor names only a position; the partition is always the caller's own."""
    if not cursor:
        return None
    payload = cursors.decode(cursor)
    position, sk = payload.get("s"), payload.get("k")
    if not (isinstance(position, str) and isinstance(sk, str)) or len(position) > 200 or len(sk) > 200:
        raise cursors.invalid()
    if not sk.startswith(keys.webhook_event_sk("")):
        raise cursors.invalid()
    return serialize(
        {
            "PK": keys.partner_pk(partner_id),
            "SK": sk,
            "GSI1PK": keys.webhook_events_gsi_pk(partner_id),
            "GSI1SK": position,
        }
    )
