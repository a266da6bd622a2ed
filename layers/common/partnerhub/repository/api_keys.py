"""API keys in the table: the partner's view of each key, the credential the authorizer reads, the key ring.

- ``PARTNER#{pid}`` / ``APIKEY#{key id}``: name, scopes, prefix, created, expiry, revocation (never the secret);
- ``CREDENTIAL#{prefix}`` / ``KEY``: the partner, the scopes, the SHA-256 of the key, expiry, revocation and
  ``last_used_at``: what the authorizer reads by the prefix of a presented key (one ``GetItem``), and the only
  attribute it writes (``record_use``, at most once a minute, conditionally);
- ``PARTNER#{pid}`` / ``APIKEYS``: the ring's ``version``, which every create is conditioned on, so two creates
  racing at 19 active keys cannot make 21.

This module writes all three; creating and revoking write the audit entry in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from partnerhub.domain.api_keys import ApiKey, ConcurrentChange, Credential, KeyRing, Scope, prefix_of_id
from partnerhub.domain.audit import AuditEntry
from partnerhub.repository import keys
from partnerhub.repository.audit import audit_put
from partnerhub.repository.dynamo import (
    Item,
    TableRepository,
    batch_get,
    cancellation_reasons,
    deserialize,
    error_code,
    raise_if_throttled,
    serialize,
    stamp,
    unstamp,
    values,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

_CONFLICTS = ("ConditionalCheckFailed", "TransactionConflict")


def key_item(partner_id: str, key: ApiKey) -> Item:
    return {
        "PK": keys.partner_pk(partner_id),
        "SK": keys.api_key_sk(key.key_id),
        "key_id": key.key_id,
        "name": key.name,
        "scopes": list(key.scopes),
        "prefix": key.prefix,
        "created_at": stamp(key.created_at),
        "created_by": key.created_by,
        "expires_at": stamp(key.expires_at) if key.expires_at else None,
    }


def key_from_item(item: Item) -> ApiKey:
    created_at = unstamp(str(item["created_at"]))
    assert created_at is not None
    return ApiKey(
        key_id=str(item["key_id"]),
        name=str(item["name"]),
        scopes=tuple(cast("list[Scope]", item.get("scopes") or [])),
        prefix=str(item["prefix"]),
        created_at=created_at,
        created_by=str(item.get("created_by") or ""),
        expires_at=unstamp(item.get("expires_at")),
        revoked_at=unstamp(item.get("revoked_at")),
        revoked_by=str(item["revoked_by"]) if item.get("revoked_by") else None,
    )


def credential_key(prefix: str) -> dict[str, Any]:
    return serialize({"PK": keys.credential_pk(prefix), "SK": keys.CREDENTIAL_SK})


def credential_item(credential: Credential, prefix: str) -> Item:
    return {
        "PK": keys.credential_pk(prefix),
        "SK": keys.CREDENTIAL_SK,
        "key_id": credential.key_id,
        "partner_id": credential.partner_id,
        "scopes": list(credential.scopes),
        "secret_hash": credential.secret_hash,
        "expires_at": stamp(credential.expires_at) if credential.expires_at else None,
    }


def credential_from_item(item: Item) -> Credential:
    return Credential(
        key_id=str(item["key_id"]),
        partner_id=str(item["partner_id"]),
        scopes=tuple(cast("list[Scope]", item.get("scopes") or [])),
        secret_hash=str(item["secret_hash"]),
        expires_at=unstamp(item.get("expires_at")),
        revoked_at=unstamp(item.get("revoked_at")),
        last_used_at=unstamp(item.get("last_used_at")),
    )


def _conflicted(error: ClientError) -> bool:
    return error_code(error) == "TransactionConflictException" or any(
        reason.get("Code") in _CONFLICTS for reason in cancellation_reasons(error)
    )


class DynamoApiKeyRepository(TableRepository):
    """The key management side (``domain.api_keys.ApiKeyStore``), and the counts operators read."""

    def ring(self, partner_id: str) -> KeyRing:
        found = self._items(
            KeyConditionExpression="PK = :pk AND SK BETWEEN :low AND :ring",
            ExpressionAttributeValues=values(
                pk=keys.partner_pk(partner_id), low=keys.API_KEY_PREFIX, ring=keys.API_KEY_RING
            ),
            ConsistentRead=True,
        )
        version = 0
        found_keys: list[ApiKey] = []
        for item in found:
            if item["SK"] == keys.API_KEY_RING:
                version = int(item.get("version", 0))
            else:
                found_keys.append(key_from_item(item))
        return KeyRing(tuple(found_keys), version)

    def create(self, partner_id: str, key: ApiKey, credential: Credential, ring: KeyRing, audit: AuditEntry) -> None:
        guard = (
            ("attribute_not_exists(version)", values(next=1, pid=partner_id))
            if ring.version == 0
            else ("version = :seen", values(next=ring.version + 1, seen=ring.version, pid=partner_id))
        )
        items: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": serialize({"PK": keys.partner_pk(partner_id), "SK": keys.API_KEY_RING}),
                    "UpdateExpression": "SET version = :next, partner_id = :pid",
                    "ConditionExpression": guard[0],
                    "ExpressionAttributeValues": guard[1],
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(key_item(partner_id, key)),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(credential_item(credential, key.prefix)),
                    "ConditionExpression": "attribute_not_exists(PK)",  # a prefix names one key, ever
                }
            },
            audit_put(self._table, audit),
        ]
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            raise_if_throttled(error)
            if _conflicted(error):
                raise ConcurrentChange() from error
            raise

    def key(self, partner_id: str, key_id: str) -> ApiKey | None:
        answer = self._client.get_item(
            TableName=self._table,
            Key=serialize({"PK": keys.partner_pk(partner_id), "SK": keys.api_key_sk(key_id)}),
            ConsistentRead=True,
        )
        if "Item" not in answer:
            return None
        found = key_from_item(deserialize(answer["Item"]))
        return replace(found, last_used_at=self.last_used([found]).get(found.key_id))

    def revoke(self, partner_id: str, revoked: ApiKey, audit: AuditEntry) -> bool:
        assert revoked.revoked_at is not None and revoked.revoked_by is not None
        at = stamp(revoked.revoked_at)
        items: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": serialize({"PK": keys.partner_pk(partner_id), "SK": keys.api_key_sk(revoked.key_id)}),
                    "UpdateExpression": "SET revoked_at = :at, revoked_by = :by",
                    "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(revoked_at)",
                    "ExpressionAttributeValues": values(at=at, by=revoked.revoked_by),
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": credential_key(revoked.prefix),
                    "UpdateExpression": "SET revoked_at = :at",
                    "ConditionExpression": "attribute_exists(PK)",
                    "ExpressionAttributeValues": values(at=at),
                }
            },
            audit_put(self._table, audit),
        ]
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            raise_if_throttled(error)
            if any(reason.get("Code") == "ConditionalCheckFailed" for reason in cancellation_reasons(error)):
                return False
            raise
        return True

    def last_used(self, found: Sequence[ApiKey]) -> dict[str, datetime]:
        wanted = [credential_key(key.prefix) for key in found]
        used: dict[str, datetime] = {}
        for item in batch_get(self._client, self._table, wanted, ProjectionExpression="key_id, last_used_at"):
            at = unstamp(item.get("last_used_at"))
            if at is not None:
                used[str(item["key_id"])] = at
        return used


class DynamoCredentials(TableRepository):
    """What the authorizer reads and writes: a credential by prefix, and ``last_used_at`` alone."""

    def credential(self, prefix: str) -> Credential | None:
        answer = self._client.get_item(TableName=self._table, Key=credential_key(prefix), ConsistentRead=True)
        return credential_from_item(deserialize(answer["Item"])) if "Item" in answer else None

    def record_use(self, key_id: str, at: datetime, not_after: datetime) -> bool:
        """Set ``last_used_at`` to ``at`` unless another use at or after ``not_after`` was recorded meanwhile (one
        conditional write: of concurrent authorizers, one wins). False when the condition kept it."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=credential_key(prefix_of_id(key_id)),
                UpdateExpression="SET last_used_at = :at",
                ConditionExpression="attribute_exists(PK) AND "
                "(attribute_not_exists(last_used_at) OR last_used_at < :not_after)",
                ExpressionAttributeValues=values(at=stamp(at), not_after=stamp(not_after)),
                ReturnValues="NONE",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True
