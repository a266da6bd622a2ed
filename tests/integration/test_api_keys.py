"""API keys over the real handlers and the authorizer function, against moto: a key is made, used, listed and
revoked as SPEC "API keys" says; only its hash is kept; the limit holds under a race; every change is audited;
the authorizer reads one credential and writes its last use at most once a minute."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from local.auth import LocalAuth, username_for
from local.events import LambdaContext
from partnerhub import clients
from partnerhub.authorizer import Authorizer
from partnerhub.clock import ManualClock
from partnerhub.cognito import CognitoMfa, CognitoTokens, UserPool
from partnerhub.repository import keys
from partnerhub.repository.api_keys import DynamoCredentials
from partnerhub.settings import AuthorizerSettings, OperatorSettings
from testkit.events import load_event
from tests.integration.conftest import Function, Reply, import_function


@pytest.fixture(scope="module")
def api_keys(function: Callable[..., Function], dynamodb: Any) -> Function:
    return function("api_keys", dynamodb=dynamodb)


@pytest.fixture(scope="module")
def authorizer(aws: Any, table: str, dynamodb: Any, clock: ManualClock) -> Function:
    """The authorizer as the local stack builds it: its own user pool (keys never fetched: no token is sent here)."""
    settings = AuthorizerSettings(
        table_name=table,
        cognito_issuer="https://issuer.example",
        cognito_audience="aud",
        cognito_user_pool_id="us-east-1_local",
    )
    pool = UserPool(issuer="https://issuer.example", audience="aud", jwks_url="http://127.0.0.1:9/jwks.json")
    return import_function("authorizer", settings=settings, dynamodb=dynamodb, clock=clock, user_pool=pool)


def create(api_keys: Function, partner: str, body: dict[str, Any], key: str | None = None) -> Reply:
    headers = {"idempotency-key": key} if key else None
    event = load_event("api_keys/create", partner_id=partner, body=body, headers=headers)
    if key is None:
        event["headers"].pop("idempotency-key")
    return api_keys(event)


def identify(authorizer: Function, secret: str) -> dict[str, Any]:
    event = json.loads(json.dumps(load_event("authorizer/api_key")))
    event["identitySource"] = [f"Bearer {secret}"]
    event["headers"]["authorization"] = f"Bearer {secret}"
    answer: dict[str, Any] = authorizer.built.handler(event, LambdaContext("test-authorizer"))
    assert answer["isAuthorized"] is True
    return dict(answer["context"])


def table_text(dynamodb: Any, table: str) -> str:
    items: list[Any] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        items += page["Items"]
    return json.dumps(items)


def test_a_key_is_shown_once_and_only_its_hash_is_stored(
    api_keys: Function, authorizer: Function, partner_id: str, dynamodb: Any, table: str, now: datetime
) -> None:
    # When a person makes a key (under an Idempotency-Key)
    reply = create(api_keys, partner_id, {"name": "Nightly sync", "scopes": ["licenses", "read"]}, key="make-1")

    # Then the answer holds the key, once
    assert reply.status == 201, reply.body
    secret = reply.body["secret"]
    assert re.fullmatch(r"phk_[A-Za-z0-9]{40}", secret)
    assert reply.body["prefix"] == secret[:12]
    assert reply.body["id"] == "key_" + secret[4:12]
    assert reply.body["scopes"] == ["read", "licenses"]
    assert (reply.body["status"], reply.body["created_at"], reply.body["expires_at"]) == (
        "active",
        "2026-11-10T12:00:00Z",
        None,
    )

    # And nowhere in the table is the key itself: not in the key, not in its credential, not in the replay record
    assert secret not in table_text(dynamodb, table)

    # And a retry with the same Idempotency-Key answers the same key, without the secret
    replay = create(api_keys, partner_id, {"name": "Nightly sync", "scopes": ["licenses", "read"]}, key="make-1")
    assert replay.status == 201
    assert replay.body == {**reply.body, "secret": None}
    listed = api_keys(load_event("api_keys/list", partner_id=partner_id)).body["items"]
    assert [k["id"] for k in listed] == [reply.body["id"]]

    # And the authorizer knows the key for what it is
    assert identify(authorizer, secret) == {
        "kind": "api_key",
        "subject": reply.body["id"],
        "partner_id": partner_id,
        "scopes": "read licenses",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "ci", "scopes": ["read", "admin"]}, "scopes.1"),
        ({"name": "ci", "scopes": []}, "scopes"),
        ({"name": "ci", "scopes": ["read", "read"]}, "scopes"),
        ({"name": "ci"}, "scopes"),
        ({"name": "", "scopes": ["read"]}, "name"),
        ({"name": "   ", "scopes": ["read"]}, "name"),
        ({"name": "x" * 101, "scopes": ["read"]}, "name"),
        ({"name": "ci", "scopes": ["read"], "expires_at": "2027-01-01T00:00:00"}, "expires_at"),
        ({"name": "ci", "scopes": ["read"], "expires_at": "2026-11-10T11:59:59Z"}, "expires_at"),
        ({"name": "ci", "scopes": ["read"], "owner": "me"}, "owner"),
    ],
)
def test_a_bad_request_is_422_naming_the_field_and_makes_nothing(
    api_keys: Function, partner_id: str, now: datetime, body: dict[str, Any], field: str
) -> None:
    reply = create(api_keys, partner_id, body)
    assert reply.status == 422, reply.body
    assert field in [d["field"] for d in reply.body["error"]["details"]]
    assert api_keys(load_event("api_keys/list", partner_id=partner_id)).body["items"] == []


def test_the_21st_active_key_is_409_with_the_limit_until_one_is_revoked(
    api_keys: Function, partner_id: str, now: datetime, clock: ManualClock
) -> None:
    # Given 20 active keys, one of which expires in an hour
    made = [create(api_keys, partner_id, {"name": f"k{n}", "scopes": ["read"]}).body["id"] for n in range(19)] + [
        create(api_keys, partner_id, {"name": "short", "scopes": ["read"], "expires_at": "2026-11-10T13:00:00Z"}).body[
            "id"
        ]
    ]
    assert len(set(made)) == 20

    # When a 21st is asked for, it is refused with the limit
    refused = create(api_keys, partner_id, {"name": "one more", "scopes": ["read"]})
    assert refused.status == 409
    assert refused.body["error"]["code"] == "api_key_limit"
    assert refused.body["error"]["details"] == [{"limit": 20, "active": 20}]

    # Then once one is revoked there is room for one
    revoke = load_event(
        "api_keys/revoke", partner_id=partner_id, path={"key_id": made[0]}, drop_headers=("idempotency-key",)
    )
    assert api_keys(revoke).status == 200
    assert create(api_keys, partner_id, {"name": "replacement", "scopes": ["read"]}).status == 201
    assert create(api_keys, partner_id, {"name": "one more", "scopes": ["read"]}).status == 409

    # And once the short one has expired (by the clock), there is room for one more
    clock.advance(timedelta(hours=1))
    assert create(api_keys, partner_id, {"name": "after expiry", "scopes": ["read"]}).status == 201


def test_concurrent_creates_at_19_make_exactly_one_more(
    environments: Callable[[str, int], list[Function]], api_keys: Function, partner_id: str, now: datetime
) -> None:
    # Given 19 active keys, and eight execution environments asking for one more each at the same instant
    for n in range(19):
        assert create(api_keys, partner_id, {"name": f"k{n}", "scopes": ["read"]}).status == 201
    racers = environments("api_keys", 8)
    barrier = threading.Barrier(len(racers))
    replies: list[Reply] = []

    def race(racer: Function, n: int) -> None:
        barrier.wait()
        replies.append(create(racer, partner_id, {"name": f"racer {n}", "scopes": ["read"]}))

    threads = [threading.Thread(target=race, args=(racer, n)) for n, racer in enumerate(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then exactly one made it, the others were told the limit (or to retry), and the partner holds 20
    statuses = sorted(reply.status for reply in replies)
    assert statuses.count(201) == 1, [(r.status, r.body) for r in replies]
    assert set(statuses) <= {201, 409, 503}
    assert len(api_keys(load_event("api_keys/list", partner_id=partner_id)).body["items"]) == 20


def test_creating_and_revoking_are_in_the_audit_log(
    api_keys: Function,
    function: Callable[..., Function],
    aws: Any,
    table: str,
    dynamodb: Any,
    partner_id: str,
    now: datetime,
) -> None:
    made = create(api_keys, partner_id, {"name": "ci", "scopes": ["sites"]}, key="audit-make").body
    revoke = load_event(
        "api_keys/revoke",
        partner_id=partner_id,
        path={"key_id": made["id"]},
        headers={"idempotency-key": "audit-revoke"},
    )
    assert api_keys(revoke).status == 200
    assert api_keys(revoke).status == 200  # a replay writes no second entry

    settings = OperatorSettings(
        table_name=table,
        invoice_run_queue_url=aws.queue_urls["InvoiceRunRequestQueue"],
        invoice_queue_url=aws.queue_urls["InvoiceQueue"],
        invoice_dead_letter_queue_url=aws.queue_urls["InvoiceDeadLetterQueue"],
    )
    operator = function("operator", settings=settings, dynamodb=dynamodb)
    entries = operator(load_event("operator/audit", query={"limit": "100"})).body["items"]
    mine = [e for e in entries if e["target"] == f"partner:{partner_id}"]
    assert [(e["action"], e["actor"]) for e in mine] == [
        ("api_key.revoke", f"user:user-of-{partner_id}"),
        ("api_key.create", f"user:user-of-{partner_id}"),
    ]
    assert mine[1]["summary"] == {
        "key_id": made["id"],
        "name": "ci",
        "prefix": made["prefix"],
        "scopes": ["sites"],
        "expires_at": None,
    }
    assert made["secret"] not in json.dumps(entries)


def test_operators_see_how_many_keys_a_partner_holds_never_the_keys(
    api_keys: Function,
    function: Callable[..., Function],
    aws: Any,
    table: str,
    dynamodb: Any,
    paying_partner: str,
    partners: Any,
    now: datetime,
    clock: ManualClock,
) -> None:
    partners.save_company(paying_partner, _company(), now)  # a partner operators can look up
    made = [create(api_keys, paying_partner, {"name": f"k{n}", "scopes": ["read"]}).body for n in range(3)]
    create(api_keys, paying_partner, {"name": "brief", "scopes": ["read"], "expires_at": "2026-11-10T12:30:00Z"})
    api_keys(
        load_event(
            "api_keys/revoke",
            partner_id=paying_partner,
            path={"key_id": made[0]["id"]},
            drop_headers=("idempotency-key",),
        )
    )
    clock.advance(timedelta(hours=1))

    settings = OperatorSettings(
        table_name=table,
        invoice_run_queue_url=aws.queue_urls["InvoiceRunRequestQueue"],
        invoice_queue_url=aws.queue_urls["InvoiceQueue"],
        invoice_dead_letter_queue_url=aws.queue_urls["InvoiceDeadLetterQueue"],
    )
    operator = function("operator", settings=settings, dynamodb=dynamodb)
    reply = operator(load_event("operator/get_partner", path={"partner_id": paying_partner}))

    assert reply.status == 200, reply.body
    assert reply.body["api_keys"] == {"active": 2, "expired": 1, "revoked": 1}
    text = json.dumps(reply.body)
    assert not any(key["prefix"] in text or key["secret"] in text for key in made)


def _company() -> Any:
    from partnerhub.domain.accounts import Company

    return Company(
        name="Keys Agency",
        contact_first_name="Ada",
        contact_last_name="Lovelace",
        website="https://keys.example",
        address_line1="1 Main St",
        city="Paris",
        country="FR",
        postal_code="75001",
    )


def test_another_partners_key_is_404_and_stays_as_it_was(
    api_keys: Function, authorizer: Function, partner_id: str, now: datetime
) -> None:
    made = create(api_keys, partner_id, {"name": "mine", "scopes": ["read"]}).body
    thief = load_event(
        "api_keys/revoke", partner_id="agency-thief", path={"key_id": made["id"]}, drop_headers=("idempotency-key",)
    )
    reply = api_keys(thief)
    assert reply.status == 404 and reply.body["error"]["code"] == "api_key_not_found"
    assert identify(authorizer, made["secret"])["kind"] == "api_key"
    (listed,) = api_keys(load_event("api_keys/list", partner_id=partner_id)).body["items"]
    assert listed["revoked_at"] is None


def test_a_key_cannot_manage_keys(api_keys: Function, partner_id: str, now: datetime) -> None:
    for name, extra in (("api_keys/create", {"body": {"name": "x", "scopes": ["read"]}}), ("api_keys/list", {})):
        event = load_event(name, partner_id=partner_id, key_scopes=("read", "licenses", "billing", "sites"), **extra)
        reply = api_keys(event)
        assert reply.status == 403 and reply.body["error"]["code"] == "insufficient_scope"
    assert api_keys(load_event("api_keys/list", partner_id=partner_id)).body["items"] == []


def test_a_revoked_or_expired_key_is_refused_by_the_authorizer(
    api_keys: Function, authorizer: Function, partner_id: str, now: datetime, clock: ManualClock
) -> None:
    revoked = create(api_keys, partner_id, {"name": "r", "scopes": ["read"]}).body
    expiring = create(
        api_keys, partner_id, {"name": "e", "scopes": ["read"], "expires_at": "2026-11-10T12:10:00Z"}
    ).body
    api_keys(
        load_event(
            "api_keys/revoke", partner_id=partner_id, path={"key_id": revoked["id"]}, drop_headers=("idempotency-key",)
        )
    )

    assert identify(authorizer, revoked["secret"]) == {"kind": "refused", "reason": "the API key has been revoked"}
    assert identify(authorizer, expiring["secret"])["expires_ms"] == int(
        datetime(2026, 11, 10, 12, 10, tzinfo=UTC).timestamp() * 1000
    )
    clock.advance(timedelta(minutes=10))
    assert identify(authorizer, expiring["secret"]) == {"kind": "refused", "reason": "the API key has expired"}


def test_the_last_use_is_kept_to_the_minute_with_one_write_a_minute(
    api_keys: Function,
    authorizer: Function,
    partner_id: str,
    now: datetime,
    clock: ManualClock,
    dynamodb: Any,
    table: str,
) -> None:
    made = create(api_keys, partner_id, {"name": "busy", "scopes": ["read"]}).body
    writes: list[str] = []

    def count(params: Any, **_: Any) -> None:
        writes.append(str(params))

    dynamodb.meta.events.register("provide-client-params.dynamodb.UpdateItem", count, unique_id="count-updates")
    try:
        # When the key is used ten times in 50 seconds, then again at 61 seconds
        for _ in range(10):
            identify(authorizer, made["secret"])
            clock.advance(timedelta(seconds=5))
        clock.advance(timedelta(seconds=11))
        identify(authorizer, made["secret"])
    finally:
        dynamodb.meta.events.unregister("provide-client-params.dynamodb.UpdateItem", unique_id="count-updates")

    # Then two writes, and the list shows the last one
    assert len(writes) == 2
    (listed,) = api_keys(load_event("api_keys/list", partner_id=partner_id)).body["items"]
    assert listed["last_used_at"] == "2026-11-10T12:01:01Z"


def test_an_unknown_key_costs_one_read_of_its_credential(authorizer: Function, dynamodb: Any) -> None:
    # An unknown key: one GetItem of CREDENTIAL#<prefix>, nothing else
    reads: list[dict[str, Any]] = []
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb", lambda params, **_: reads.append(params), unique_id="reads"
    )
    try:
        assert identify(authorizer, "phk_Nobody00" + "q" * 32)["kind"] == "refused"
    finally:
        dynamodb.meta.events.unregister("provide-client-params.dynamodb", unique_id="reads")
    assert [r["Key"]["PK"]["S"] for r in reads] == [keys.credential_pk("phk_Nobody00")]


def test_the_authorizer_verifies_the_pools_tokens(table: str, dynamodb: Any, clock: ManualClock, now: datetime) -> None:
    # Given a user pool, and the authorizer reading the pool's keys from its JWKS
    pool = LocalAuth(issuer="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool")

    class PoolKeys:
        def get_signing_key(self, kid: str) -> jwt.PyJWK:
            for key in pool.jwks()["keys"]:
                if key["kid"] == kid:
                    return jwt.PyJWK.from_dict(key)
            raise jwt.PyJWKClientError(f"no key {kid}")

    # and the pool's users in Cognito (moto's): an operator without MFA
    cognito = clients.cognito_idp()
    pool_id = cognito.create_user_pool(PoolName="partnerhub-test")["UserPool"]["Id"]
    cognito.admin_create_user(UserPoolId=pool_id, Username=username_for("agency-42"))
    checker = Authorizer(
        CognitoTokens(UserPool(pool.issuer, pool.audience), PoolKeys()),
        DynamoCredentials(table, dynamodb),
        clock,
        CognitoMfa(pool_id, cognito),
    )

    # When a token of the pool is presented, it is the person it names, and Cognito's AdminGetUser says the
    # operator has no MFA enrolled
    identity = checker.identify(f"Bearer {pool.issue_token('agency-42', ['operators'], now)}")
    assert (identity.kind, identity.partner_id, identity.groups) == ("person", "agency-42", ("operators",))
    assert identity.email == "agency-42@partners.local"
    assert identity.mfa == "none"

    # And an operator's token whose user the pool no longer has is refused
    gone = checker.identify(f"Bearer {pool.issue_token('agency-gone', ['operators'], now)}")
    assert (gone.kind, gone.reason) == ("refused", "invalid token: the user no longer exists")
    # while a partner's token costs no call to Cognito at all
    calls: list[str] = []
    cognito.meta.events.register("before-call.cognito-idp", lambda model, **_: calls.append(model.name))
    assert checker.identify(f"Bearer {pool.issue_token('agency-gone', [], now)}").kind == "person"
    assert calls == []

    # And a token signed by another key under the same issuer is refused
    forged = LocalAuth(issuer=pool.issuer).issue_token("agency-42", [], now)
    assert checker.identify(f"Bearer {forged}").kind == "refused"
