"""API keys, the rules alone (``domain/api_keys.py``): what a key looks like, the limit, expiry, revocation, the audit
entries, and who may see what, over an in-memory store."""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from partnerhub.clock import ManualClock
from partnerhub.domain.api_keys import (
    MAX_ACTIVE_KEYS,
    Actor,
    ApiKey,
    ApiKeyService,
    ConcurrentChange,
    Credential,
    KeyRequest,
    KeyRing,
    counts_of,
    credential_of,
    key_id_of,
    new_secret,
    plan_key,
    prefix_of,
    prefix_of_id,
    refusal_of_text,
    secret_hash,
)
from partnerhub.domain.audit import AuditEntry
from partnerhub.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
PERSON = Actor("user:4c1f0e9a", "ada@agency.example")


class MemoryKeys:
    """``ApiKeyStore`` in memory, with the conditions the table enforces (ring version, a prefix used once)."""

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, ApiKey]] = {}
        self.credentials: dict[str, Credential] = {}
        self.versions: dict[str, int] = {}
        self.audit: list[AuditEntry] = []
        self.used: dict[str, datetime] = {}
        self.conflicts_to_raise = 0

    def ring(self, partner_id: str) -> KeyRing:
        return KeyRing(tuple(self.keys.get(partner_id, {}).values()), self.versions.get(partner_id, 0))

    def create(self, partner_id: str, key: ApiKey, credential: Credential, ring: KeyRing, audit: AuditEntry) -> None:
        if self.conflicts_to_raise:
            self.conflicts_to_raise -= 1
            self.versions[partner_id] = self.versions.get(partner_id, 0) + 1  # another create won meanwhile
            raise ConcurrentChange()
        if self.versions.get(partner_id, 0) != ring.version or key.prefix in self.credentials:
            raise ConcurrentChange()
        self.versions[partner_id] = ring.version + 1
        self.keys.setdefault(partner_id, {})[key.key_id] = key
        self.credentials[key.prefix] = credential
        self.audit.append(audit)

    def key(self, partner_id: str, key_id: str) -> ApiKey | None:
        found = self.keys.get(partner_id, {}).get(key_id)
        return replace(found, last_used_at=self.used.get(key_id)) if found else None

    def revoke(self, partner_id: str, revoked: ApiKey, audit: AuditEntry) -> bool:
        current = self.keys[partner_id][revoked.key_id]
        if current.revoked_at is not None:
            return False
        self.keys[partner_id][revoked.key_id] = revoked
        self.credentials[revoked.prefix] = replace(self.credentials[revoked.prefix], revoked_at=revoked.revoked_at)
        self.audit.append(audit)
        return True

    def last_used(self, keys: Sequence[ApiKey]) -> dict[str, datetime]:
        return {key.key_id: self.used[key.key_id] for key in keys if key.key_id in self.used}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def store() -> MemoryKeys:
    return MemoryKeys()


@pytest.fixture
def service(store: MemoryKeys, clock: ManualClock) -> ApiKeyService:
    return ApiKeyService(store, clock, sleep=lambda _: None)


def a_key(n: int, *, expires_at: datetime | None = None, revoked_at: datetime | None = None) -> ApiKey:
    prefix = f"phk_k{n:07d}"
    return ApiKey(
        key_id=key_id_of(prefix),
        name=f"key {n}",
        scopes=("read",),
        prefix=prefix,
        created_at=NOW - timedelta(days=30),
        created_by="user:x",
        expires_at=expires_at,
        revoked_at=revoked_at,
    )


# -- what a key is -----------------------------------------------------------------------------------------------


def test_a_secret_is_phk_and_40_base62_characters_drawn_afresh() -> None:
    # When keys are drawn
    secrets = [new_secret() for _ in range(200)]

    # Then each is phk_ and 40 letters and digits (more than the 32 the SPEC asks), and none repeats
    assert all(re.fullmatch(r"phk_[A-Za-z0-9]{40}", s) for s in secrets)
    assert len(set(secrets)) == len(secrets)
    # and the characters are spread over all of base62 (200 keys x 40 characters hit every one of the 62)
    assert set("".join(s[4:] for s in secrets)) == set(string.digits + string.ascii_letters)


def test_the_prefix_is_the_first_12_characters_and_names_the_id() -> None:
    secret = "phk_AbCd1234" + "x" * 32
    assert prefix_of(secret) == "phk_AbCd1234"
    assert key_id_of("phk_AbCd1234") == "key_AbCd1234"
    assert prefix_of_id("key_AbCd1234") == "phk_AbCd1234"


def test_only_the_sha256_of_the_key_is_kept() -> None:
    secret = "phk_AbCd1234" + "y" * 32
    credential = credential_of("agency-1", a_key(1), secret)
    assert credential.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(credential)


@pytest.mark.parametrize(
    "text", ["phk_", "phk_short", "phk_" + "a" * 39, "phk_" + "a" * 41, "phk_" + "a" * 39 + "-", "phk_" + "é" * 40]
)
def test_text_that_cannot_be_a_key_is_refused_before_anything_is_read(text: str) -> None:
    assert refusal_of_text(text) == "the API key is malformed"


def test_well_formed_text_passes_the_first_check() -> None:
    assert refusal_of_text("phk_" + "a1" * 20) is None


# -- the credential the authorizer reads -------------------------------------------------------------------------


SECRET = "phk_AbCd1234" + "S" * 32


def credential(**changes: object) -> Credential:
    made = Credential(key_id="key_AbCd1234", partner_id="agency-1", scopes=("read",), secret_hash=secret_hash(SECRET))
    return replace(made, **changes)  # type: ignore[arg-type]


def test_the_right_secret_of_a_live_key_is_accepted() -> None:
    assert credential().refusal(SECRET, NOW) is None


def test_another_secret_with_the_same_prefix_is_an_unknown_key() -> None:
    # The prefix is public (it is shown in lists): knowing it is not knowing the key
    assert credential().refusal("phk_AbCd1234" + "T" * 32, NOW) == "the API key is not valid"


def test_a_revoked_key_is_refused() -> None:
    assert credential(revoked_at=NOW - timedelta(seconds=1)).refusal(SECRET, NOW) == "the API key has been revoked"


def test_a_key_stops_working_at_its_expiry_instant() -> None:
    expiring = credential(expires_at=NOW)
    assert expiring.refusal(SECRET, NOW - timedelta(microseconds=1)) is None
    assert expiring.refusal(SECRET, NOW) == "the API key has expired"


def test_a_use_is_recorded_at_most_once_a_minute() -> None:
    assert credential(last_used_at=None).use_to_record(NOW)
    assert not credential(last_used_at=NOW - timedelta(seconds=59)).use_to_record(NOW)
    assert credential(last_used_at=NOW - timedelta(seconds=60)).use_to_record(NOW)


# -- planning a key ----------------------------------------------------------------------------------------------


def test_the_limit_counts_only_active_keys() -> None:
    # Given 19 active keys, and an expired one and a revoked one that no longer count
    live = [a_key(n) for n in range(19)]
    ring = KeyRing((*live, a_key(19, expires_at=NOW), a_key(20, revoked_at=NOW - timedelta(days=1))), version=21)

    # When the 20th active key is asked for, it is made
    key, secret = plan_key(KeyRequest("ci", ("read",)), ring, NOW, "user:x")
    assert key.prefix == prefix_of(secret) and key.key_id == key_id_of(key.prefix)

    # And with it counted, the 21st is refused with the limit
    full = KeyRing((*ring.keys, key), version=22)
    with pytest.raises(Conflict) as refused:
        plan_key(KeyRequest("one more", ("read",)), full, NOW, "user:x")
    assert refused.value.code == "api_key_limit"
    assert refused.value.details == [{"limit": MAX_ACTIVE_KEYS, "active": 20}]
    assert MAX_ACTIVE_KEYS == 20


def test_an_expiry_not_in_the_future_is_refused() -> None:
    for when in (NOW, NOW - timedelta(days=1)):
        with pytest.raises(ValidationFailed) as refused:
            plan_key(KeyRequest("ci", ("read",), expires_at=when), KeyRing((), 0), NOW, "user:x")
        assert refused.value.details == [{"field": "expires_at", "reason": "must be in the future"}]


def test_scopes_are_kept_in_the_documented_order() -> None:
    key, _ = plan_key(KeyRequest("ci", ("sites", "read", "billing")), KeyRing((), 0), NOW, "user:x")
    assert key.scopes == ("read", "billing", "sites")


def test_counts_by_status() -> None:
    keys = [a_key(1), a_key(2, expires_at=NOW), a_key(3, revoked_at=NOW), a_key(4, expires_at=NOW + timedelta(days=1))]
    counts = counts_of(keys, NOW)
    assert (counts.active, counts.expired, counts.revoked) == (2, 1, 1)


# -- the service -------------------------------------------------------------------------------------------------


def test_creating_a_key_writes_its_audit_entry_with_it(service: ApiKeyService, store: MemoryKeys) -> None:
    # When a person creates a key
    key, secret = service.create("agency-1", KeyRequest("Nightly sync", ("licenses", "read")), PERSON, "receipt-1")

    # Then the key is the partner's, the credential holds the hash of the secret, and the audit log says who and what
    assert store.keys["agency-1"][key.key_id] == key
    assert store.credentials[key.prefix].secret_hash == secret_hash(secret)
    assert store.credentials[key.prefix].partner_id == "agency-1"
    (entry,) = store.audit
    assert (entry.entry_id, entry.at, entry.actor, entry.actor_name) == ("receipt-1", NOW, PERSON.actor, PERSON.name)
    assert (entry.action, entry.target) == ("api_key.create", "partner:agency-1")
    assert entry.summary == {
        "key_id": key.key_id,
        "name": "Nightly sync",
        "prefix": key.prefix,
        "scopes": ["read", "licenses"],
        "expires_at": None,
    }
    assert secret not in repr(entry)


def test_a_lost_race_is_retried_with_a_fresh_read(service: ApiKeyService, store: MemoryKeys) -> None:
    # Given two other creates commit between this one's read and write
    store.conflicts_to_raise = 2

    # When it creates, it reads again and commits on the third try
    key, _ = service.create("agency-1", KeyRequest("ci", ("read",)), PERSON, "receipt-1")
    assert list(store.keys["agency-1"]) == [key.key_id]


def test_endless_races_are_a_503_to_retry(store: MemoryKeys, clock: ManualClock) -> None:
    store.conflicts_to_raise = 100
    service = ApiKeyService(store, clock, max_attempts=3, sleep=lambda _: None)
    with pytest.raises(ServiceUnavailable):
        service.create("agency-1", KeyRequest("ci", ("read",)), PERSON, "receipt-1")
    assert store.keys == {}


def test_revoking_is_audited_once_and_a_second_revoke_changes_nothing(
    service: ApiKeyService, store: MemoryKeys, clock: ManualClock
) -> None:
    key, _ = service.create("agency-1", KeyRequest("ci", ("read",)), PERSON, "receipt-1")
    clock.advance(timedelta(hours=1))

    revoked, changed = service.revoke("agency-1", key.key_id, PERSON, "receipt-2")
    again, changed_again = service.revoke("agency-1", key.key_id, PERSON, "receipt-3")

    assert changed and not changed_again
    assert revoked.revoked_at == NOW + timedelta(hours=1) and revoked.revoked_by == PERSON.actor
    assert again == revoked
    assert store.credentials[key.prefix].revoked_at == NOW + timedelta(hours=1)
    assert [(e.entry_id, e.action) for e in store.audit] == [
        ("receipt-1", "api_key.create"),
        ("receipt-2", "api_key.revoke"),
    ]


def test_another_partners_key_is_not_found(service: ApiKeyService, store: MemoryKeys) -> None:
    key, _ = service.create("agency-1", KeyRequest("ci", ("read",)), PERSON, "receipt-1")
    with pytest.raises(NotFound) as missing:
        service.revoke("agency-2", key.key_id, Actor("user:other"), "receipt-2")
    assert missing.value.code == "api_key_not_found"
    assert store.keys["agency-1"][key.key_id].revoked_at is None
    assert service.list("agency-2") == []


def test_the_list_is_newest_first_with_the_last_use(
    service: ApiKeyService, store: MemoryKeys, clock: ManualClock
) -> None:
    first, _ = service.create("agency-1", KeyRequest("first", ("read",)), PERSON, "r1")
    clock.advance(timedelta(minutes=5))
    second, _ = service.create("agency-1", KeyRequest("second", ("read",)), PERSON, "r2")
    store.used[first.key_id] = NOW + timedelta(minutes=7)

    listed = service.list("agency-1")

    assert [k.key_id for k in listed] == [second.key_id, first.key_id]
    assert [k.last_used_at for k in listed] == [None, NOW + timedelta(minutes=7)]
