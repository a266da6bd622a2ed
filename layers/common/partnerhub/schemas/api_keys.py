"""Request and response bodies of the API key routes (``POST/GET/DELETE /v1/api-keys``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints

from partnerhub.clock import isoformat
from partnerhub.domain.api_keys import KEY_ID, MAX_NAME, NAME_PATTERN, SCOPES, ApiKey, KeyCounts, KeyRequest, Scope

Instant = Annotated[datetime, PlainSerializer(isoformat, return_type=str)]
KEY_ID_PATTERN = KEY_ID.pattern


def _distinct(scopes: list[Scope]) -> list[Scope]:
    if len(set(scopes)) != len(scopes):
        raise ValueError("scopes must not repeat")
    return scopes


class KeyCreateRequest(BaseModel):
    """``{"name", "scopes", "expires_at"?}``: a name people recognise the key by, one or more scopes
    (``read``, ``licenses``, ``billing``, ``sites``; any other is 422), and when it stops working (an instant with
    its time zone, in the future; none: until revoked)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(pattern=NAME_PATTERN, min_length=1, max_length=MAX_NAME)]
    scopes: Annotated[
        list[Scope],
        Field(min_length=1, max_length=len(SCOPES), json_schema_extra={"uniqueItems": True}),
        AfterValidator(_distinct),
    ]
    expires_at: AwareDatetime | None = None

    def to_domain(self) -> KeyRequest:
        return KeyRequest(name=self.name, scopes=tuple(self.scopes), expires_at=self.expires_at)


class ApiKeyOut(BaseModel):
    id: str = Field(description="`key_` and the prefix's last 8 characters")
    name: str
    scopes: list[Scope]
    prefix: str = Field(description="The first 12 characters of the key (`phk_...`), to recognise it by")
    status: Literal["active", "expired", "revoked"]
    created_at: Instant
    expires_at: Instant | None
    last_used_at: Instant | None = Field(description="To the minute: a use is recorded at most once a minute")
    revoked_at: Instant | None

    @classmethod
    def of(cls, key: ApiKey, now: datetime) -> ApiKeyOut:
        return cls(
            id=key.key_id,
            name=key.name,
            scopes=list(key.scopes),
            prefix=key.prefix,
            status=key.status(now),
            created_at=key.created_at,
            expires_at=key.expires_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


class ApiKeyCreated(ApiKeyOut):
    secret: str | None = Field(
        description="The key itself (`phk_` and 40 letters and digits), in this answer only: it is stored only as a "
        "hash. A replay of the request (same Idempotency-Key) answers null here; revoke that key and make another."
    )

    @classmethod
    def created(cls, key: ApiKey, now: datetime, secret: str) -> ApiKeyCreated:
        return cls(**ApiKeyOut.of(key, now).model_dump(), secret=secret)


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut]


class KeyCountsOut(BaseModel):
    """A partner's API keys by status, as operators see them (never a secret or a prefix)."""

    active: int
    expired: int
    revoked: int

    @classmethod
    def of(cls, counts: KeyCounts) -> KeyCountsOut:
        return cls(active=counts.active, expired=counts.expired, revoked=counts.revoked)
