"""API keys: an agency's scripts call the API with a key instead of a person's token (SPEC "API keys").

A key is ``phk_`` then 40 random base62 characters from ``secrets``. Its first 12 characters (``phk_`` and an
8-character locator) are its public ``prefix``: shown in lists, and the key the authorizer looks the credential up
by. The other 32 characters (about 190 bits) are the secret part. Only the SHA-256 of the whole key is stored, and
the authorizer compares it with the presented key's in constant time (:meth:`Credential.refusal`), so a lookup by
prefix tells nothing about the rest. A key is shown once, in the answer that creates it.

The rules:

* scopes are ``read`` (every partner GET), ``licenses``, ``billing`` and ``sites``; a route declares the scope a
  key needs (``partnerhub.api``), and a route that declares none is for signed-in people only;
* a partner has at most :data:`MAX_ACTIVE_KEYS` active keys (neither revoked nor expired): one more is 409
  ``api_key_limit`` with the limit;
* ``expires_at``, when given, is in the future; a key stops working at that instant (the functions check it
  against the request's own time, so the authorizer's cache never extends it);
* revoking is for good; revoking a revoked key changes nothing; another partner's key is 404;
* creating and revoking are written to the audit log in the same transaction as the key.

Pure: no boto3, no wall clock. The service works through :class:`ApiKeyStore` (``repository/api_keys.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol, get_args

from partnerhub import retry
from partnerhub.clock import Clock
from partnerhub.domain.audit import AuditEntry
from partnerhub.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed

Scope = Literal["read", "licenses", "billing", "sites"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
"""Every scope a key may hold, in the order the portal shows them."""

MAX_ACTIVE_KEYS = 20
MAX_NAME = 100
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"
"""A key's name: 1..100 characters, none of them a control character, not all of them spaces."""

SECRET_PREFIX = "phk_"  # noqa: S105 - the public start of every key, not a secret
_BASE62 = string.digits + string.ascii_letters
_LOCATOR_LENGTH = 8
_SECRET_LENGTH = 32
PREFIX_LENGTH = len(SECRET_PREFIX) + _LOCATOR_LENGTH  # 12: "phk_" and the locator
SECRET = re.compile(rf"^{SECRET_PREFIX}[A-Za-z0-9]{{{_LOCATOR_LENGTH + _SECRET_LENGTH}}}$")
KEY_ID = re.compile(rf"^key_[A-Za-z0-9]{{{_LOCATOR_LENGTH}}}$")

USE_RECORDED_EVERY = timedelta(minutes=1)
"""``last_used_at`` moves at most this often: the authorizer writes it only when the stored one is older."""


def new_secret() -> str:
    """A fresh key, drawn from ``secrets`` at call time: ``phk_`` and 40 base62 characters."""
    return SECRET_PREFIX + "".join(secrets.choice(_BASE62) for _ in range(_LOCATOR_LENGTH + _SECRET_LENGTH))


def prefix_of(secret: str) -> str:
    """The public part of a key: its first 12 characters."""
    return secret[:PREFIX_LENGTH]


def key_id_of(prefix: str) -> str:
    """The key's id, from its prefix's locator: ``key_<locator>``."""
    return "key_" + prefix[len(SECRET_PREFIX) :]


def prefix_of_id(key_id: str) -> str:
    """The prefix a :func:`key_id_of` id names."""
    return SECRET_PREFIX + key_id.removeprefix("key_")


def secret_hash(secret: str) -> str:
    """What is stored of a key: the SHA-256 of the whole key, hex. A key is 190 bits of randomness, so no
    slow hash is needed to make guessing it from the hash hopeless."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def is_key(credential: str) -> bool:
    """Whether a bearer credential is meant as an API key (anything else is taken for a token)."""
    return credential.startswith(SECRET_PREFIX)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as its partner sees it (never the secret)."""

    key_id: str
    name: str
    scopes: tuple[Scope, ...]
    prefix: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    last_used_at: datetime | None = None

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def status(self, now: datetime) -> Literal["active", "expired", "revoked"]:
        if self.revoked_at is not None:
            return "revoked"
        return "active" if self.is_active(now) else "expired"


@dataclass(frozen=True, slots=True)
class Credential:
    """What the authorizer reads of a key, by its prefix: whose it is, what it may do, and its hash."""

    key_id: str
    partner_id: str
    scopes: tuple[Scope, ...]
    secret_hash: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def refusal(self, secret: str, now: datetime) -> str | None:
        """Why ``secret`` is refused at ``now`` (None: it is this key, and the key works). The hashes are compared
        in constant time; a key that is not this one is "unknown", as a prefix nobody holds is."""
        if not hmac.compare_digest(secret_hash(secret), self.secret_hash):
            return UNKNOWN_KEY
        if self.revoked_at is not None:
            return "the API key has been revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "the API key has expired"
        return None

    def use_to_record(self, now: datetime) -> bool:
        """Whether this use should be written as ``last_used_at`` (at most once a :data:`USE_RECORDED_EVERY`)."""
        return self.last_used_at is None or now - self.last_used_at >= USE_RECORDED_EVERY


UNKNOWN_KEY = "the API key is not valid"
MALFORMED_KEY = "the API key is malformed"


def refusal_of_text(credential: str) -> str | None:
    """Why a credential that starts like a key cannot be one, before anything is read (None: well formed)."""
    return None if SECRET.match(credential) else MALFORMED_KEY


@dataclass(frozen=True, slots=True)
class KeyRequest:
    """What a person asks for: a name, one or more scopes, and optionally when the key stops working."""

    name: str
    scopes: tuple[Scope, ...]
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class KeyCounts:
    """A partner's keys by status (what operators see: never a secret, never a prefix)."""

    active: int = 0
    expired: int = 0
    revoked: int = 0


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Every key of a partner, read consistently, and the version of its ring: a create commits only if no other
    create (or revoke) committed since this read."""

    keys: tuple[ApiKey, ...]
    version: int


class ConcurrentChange(Exception):
    """The ring moved between read and write, or the new key's prefix is taken: read again and retry."""


class ApiKeyStore(Protocol):
    def ring(self, partner_id: str) -> KeyRing:
        """Every key of the partner (revoked and expired ones too) and the ring's version, read consistently."""
        ...

    def create(self, partner_id: str, key: ApiKey, credential: Credential, ring: KeyRing, audit: AuditEntry) -> None:
        """Write the key, its credential and ``audit`` if the ring is still at ``ring.version`` and the prefix is new;
        else :class:`ConcurrentChange`, nothing written."""
        ...

    def key(self, partner_id: str, key_id: str) -> ApiKey | None:
        """One of the partner's keys, with its ``last_used_at``; None when the partner has no such key."""
        ...

    def revoke(self, partner_id: str, revoked: ApiKey, audit: AuditEntry) -> bool:
        """Mark the key and its credential revoked and write ``audit``, together, unless it is revoked already
        (False: nothing written)."""
        ...

    def last_used(self, keys: Sequence[ApiKey]) -> dict[str, datetime]:
        """``last_used_at`` of those keys that were used, by key id."""
        ...


def plan_key(request: KeyRequest, ring: KeyRing, now: datetime, created_by: str) -> tuple[ApiKey, str]:
    """The key to create for ``request`` at ``now`` and its secret, or why it is refused: 422 for an expiry not in
    the future, 409 ``api_key_limit`` when the partner holds :data:`MAX_ACTIVE_KEYS` active keys already."""
    if request.expires_at is not None and request.expires_at <= now:
        raise ValidationFailed(
            "the key would be expired already",
            details=[{"field": "expires_at", "reason": "must be in the future"}],
        )
    active = sum(1 for key in ring.keys if key.is_active(now))
    if active >= MAX_ACTIVE_KEYS:
        raise Conflict(
            f"a partner may hold at most {MAX_ACTIVE_KEYS} active API keys; revoke one first",
            code="api_key_limit",
            details=[{"limit": MAX_ACTIVE_KEYS, "active": active}],
        )
    secret = new_secret()
    prefix = prefix_of(secret)
    key = ApiKey(
        key_id=key_id_of(prefix),
        name=request.name,
        scopes=tuple(scope for scope in SCOPES if scope in request.scopes),
        prefix=prefix,
        created_at=now,
        created_by=created_by,
        expires_at=request.expires_at,
    )
    return key, secret


def credential_of(partner_id: str, key: ApiKey, secret: str) -> Credential:
    return Credential(
        key_id=key.key_id,
        partner_id=partner_id,
        scopes=key.scopes,
        secret_hash=secret_hash(secret),
        expires_at=key.expires_at,
    )


def counts_of(keys: Sequence[ApiKey], now: datetime) -> KeyCounts:
    statuses = [key.status(now) for key in keys]
    return KeyCounts(
        active=statuses.count("active"), expired=statuses.count("expired"), revoked=statuses.count("revoked")
    )


def newest_first(keys: Sequence[ApiKey]) -> list[ApiKey]:
    return sorted(keys, key=lambda key: (key.created_at, key.key_id), reverse=True)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who manages a key: the person's actor id (``domain.actors``) and a name for people to read."""

    actor: str
    name: str | None = None


class ApiKeyService:
    """Create, list and revoke a partner's keys; every change is in the audit log, in the same transaction."""

    def __init__(
        self,
        store: ApiKeyStore,
        clock: Clock,
        *,
        max_attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self._clock = clock
        self._max_attempts = max_attempts
        self._sleep = sleep

    def create(self, partner_id: str, request: KeyRequest, by: Actor, receipt_id: str) -> tuple[ApiKey, str]:
        """A new key and its secret (the only time the secret exists outside the caller's hands)."""

        def attempt() -> tuple[ApiKey, str]:
            now = self._clock.now()
            ring = self._store.ring(partner_id)
            key, secret = plan_key(request, ring, now, by.actor)
            audit = AuditEntry(
                entry_id=receipt_id,
                at=now,
                actor=by.actor,
                actor_name=by.name,
                action="api_key.create",
                target=f"partner:{partner_id}",
                summary=_summary(key),
            )
            self._store.create(partner_id, key, credential_of(partner_id, key, secret), ring, audit)
            return key, secret

        try:
            return retry.on_conflict((ConcurrentChange,), attempts=self._max_attempts, sleep=self._sleep)(attempt)
        except ConcurrentChange as error:
            raise ServiceUnavailable("the API keys are changing too fast; try again", code="contention") from error

    def list(self, partner_id: str) -> list[ApiKey]:
        """Every key of the partner, newest first, each with when it was last used."""
        keys = self._store.ring(partner_id).keys
        used = self._store.last_used(keys)
        return newest_first([replace(key, last_used_at=used.get(key.key_id)) for key in keys])

    def revoke(self, partner_id: str, key_id: str, by: Actor, receipt_id: str) -> tuple[ApiKey, bool]:
        """Revoke the key for good, and say whether this call revoked it: a revoked key is answered as it is, and
        nothing is written. Another partner's key is 404."""
        key = self._store.key(partner_id, key_id)
        if key is None:
            raise NotFound("no such API key", code="api_key_not_found")
        if key.revoked_at is not None:
            return key, False
        now = self._clock.now()
        revoked = replace(key, revoked_at=now, revoked_by=by.actor)
        audit = AuditEntry(
            entry_id=receipt_id,
            at=now,
            actor=by.actor,
            actor_name=by.name,
            action="api_key.revoke",
            target=f"partner:{partner_id}",
            summary=_summary(key),
        )
        if self._store.revoke(partner_id, revoked, audit):
            return revoked, True
        current = self._store.key(partner_id, key_id)  # revoked meanwhile by another request
        assert current is not None
        return current, False

    def counts(self, partner_id: str) -> KeyCounts:
        return counts_of(self._store.ring(partner_id).keys, self._clock.now())


def _summary(key: ApiKey) -> dict[str, object]:
    return {
        "key_id": key.key_id,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": list(key.scopes),
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
    }
