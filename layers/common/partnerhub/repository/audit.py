"""The audit log's items: ``AUDIT`` / ``{at}#{entry_id}``, read newest first.

:func:`audit_put` is the transaction piece the other repositories add to an operator action's own
transaction; :meth:`DynamoAuditRepository.record` writes an entry alone (after a Stripe or SQS action).
"""

from __future__ import annotations

import itertools
import json
import re
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from partnerhub import cursors
from partnerhub.domain.audit import SUMMARY_MAX_CHARS, AuditEntry, AuditPage
from partnerhub.repository import keys
from partnerhub.repository.dynamo import (
    Item,
    TableRepository,
    cancellation_reasons,
    serialize,
    stamp,
    unstamp,
    values,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

_SORT_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z#[A-Za-z0-9]{1,80}$")


_SEQUENCE = itertools.count()
"""Entries written at the same instant sort in the order this process wrote them (a 10-digit hex sequence before
the entry id); instants are microseconds, so entries of two processes share one only on a stopped test clock."""


def audit_item(entry: AuditEntry) -> Item:
    at = stamp(entry.at)
    summary = json.dumps(dict(entry.summary), sort_keys=True, separators=(",", ":"), default=str)
    return {
        "PK": keys.AUDIT,
        "SK": keys.audit_sk(at, f"{next(_SEQUENCE) % 16**10:010x}{entry.entry_id}"),
        "entry_id": entry.entry_id,
        "at": at,
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "summary": summary[:SUMMARY_MAX_CHARS],
        **({"actor_name": entry.actor_name} if entry.actor_name else {}),
    }


def audit_put(table: str, entry: AuditEntry) -> TransactWriteItemTypeDef:
    """The transaction piece writing ``entry`` (its key is new: the instant and the action's receipt)."""
    return {"Put": {"TableName": table, "Item": serialize(audit_item(entry))}}


def entry_from_item(item: Item) -> AuditEntry:
    at = unstamp(str(item["at"]))
    assert at is not None
    try:
        summary = json.loads(str(item.get("summary") or "{}"))
    except ValueError:  # cut at SUMMARY_MAX_CHARS: keep what was said, as text
        summary = {"text": str(item.get("summary"))}
    return AuditEntry(
        entry_id=str(item["entry_id"]),
        at=at,
        actor=str(item["actor"]),
        action=str(item["action"]),
        target=str(item["target"]),
        summary=summary if isinstance(summary, dict) else {"value": summary},
        actor_name=str(item["actor_name"]) if item.get("actor_name") else None,
    )


class DynamoAuditRepository(TableRepository):
    def record(self, entry: AuditEntry, once: str | None = None) -> bool:
        """Write one entry on its own (an action outside DynamoDB, already done). With ``once``, the entry is
        written with a marker of that name, in one transaction, unless the marker exists: False, nothing written."""
        if once is None:
            self._client.put_item(TableName=self._table, Item=serialize(audit_item(entry)))
            return True
        marker = {"PK": keys.AUDIT_ONCE, "SK": keys.audit_once_sk(once), "entry_id": entry.entry_id}
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": serialize(marker),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    audit_put(self._table, entry),
                ]
            )
        except ClientError as error:
            if any(r.get("Code") == "ConditionalCheckFailed" for r in cancellation_reasons(error)):
                return False
            raise
        return True

    def page(self, limit: int = 50, cursor: str | None = None) -> AuditPage:
        """Entries newest first; the cursor is the sort key of the last entry returned."""
        start = _decode_cursor(cursor)
        after = {} if start is None else {"ExclusiveStartKey": serialize({"PK": keys.AUDIT, "SK": start})}
        newest_first = self._items(
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues=values(pk=keys.AUDIT),
            ScanIndexForward=False,
            Limit=limit + 1,
            **after,
        )
        found = list(itertools.islice(newest_first, limit + 1))  # one more than the page: is there a next page
        entries = [entry_from_item(i) for i in found[:limit]]
        more = len(found) > limit
        return AuditPage(entries, _encode_cursor(str(found[limit - 1]["SK"])) if more else None)


def _encode_cursor(sort_key: str) -> str:
    return cursors.encode({"sk": sort_key})


def _decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    value = cursors.decode(cursor).get("sk")
    sort_key = str(value)
    if value is None or not _SORT_KEY.match(sort_key):
        raise cursors.invalid()
    return sort_key
