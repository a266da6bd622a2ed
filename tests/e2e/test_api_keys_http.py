"""API keys over HTTP against the local stack, through the very authorizer function deployed in front of the API
and the gateway's cache of its answers: a key made and used, its scope on every route, revocation within the cache
time and expiry to the instant (both on the stack's clock), isolation, and each refusal."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from local.template import Route, Template
from partnerhub.domain.api_keys import SCOPES
from testkit.scopes import EXPECTED
from testkit.stack import ApiSession, LocalStack

ROOT = Path(__file__).resolve().parents[2]
ROUTES = [route for route in Template(ROOT / "template.yaml").routes if route.authorized]
CACHE_SECONDS = 60  # template.yaml: the authorizer's ReauthorizeEvery
# Ids of the right shape that name nothing: a call that gets past the authorizer and the scope ends in a 404 or a 422
NOBODYS = {
    "license_key": "jetpack-backup_" + "N0thing" * 4,
    "payment_method_id": "pm_nothing",
    "invoice_id": "in_nothing",
    "key_id": "key_N0th1ng0",
    "site_id": "site-nothing",
    "partner_id": "agency-nobody",
    "product": "jetpack-backup",
    "effective_from": "2031-01-01",
    "period": "2026-01",
    "endpoint_id": "we_N0th1ng0",
    "event_id": "evt_N0th1ng0",
}


@pytest.fixture
def partner() -> str:
    return f"agency-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def clock_back(stack: LocalStack) -> Iterator[None]:
    """The stack is shared by the session: whatever a test does to the clock, it is put back."""
    was = stack.now()
    try:
        yield
    finally:
        stack.set_clock(was)


def make_key(stack: LocalStack, partner: str, *scopes: str, **extra: Any) -> dict[str, Any]:
    reply = stack.client(partner).post("/v1/api-keys", json={"name": "script", "scopes": list(scopes), **extra})
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def as_key(stack: LocalStack, secret: str) -> ApiSession:
    session = ApiSession(stack.api_url)
    session.headers["Authorization"] = f"Bearer {secret}"
    return session


def concrete(route: Route) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: NOBODYS[m.group(1)], route.path)


def test_a_key_is_made_once_and_used_like_a_token(stack: LocalStack, partner: str) -> None:
    # Given a person's key that may read and handle licenses
    made = make_key(stack, partner, "read", "licenses")
    script = as_key(stack, made["secret"])

    # When the script works with it (the README's session)
    counts = script.get("/v1/licenses/counts")
    labelled = script.get("/v1/licenses", params={"status": "all"})

    # Then it is the partner's account, and the key's use shows in the list (never its secret)
    assert counts.status_code == 200 and counts.json()["all"] == 0
    assert labelled.status_code == 200 and labelled.json()["items"] == []
    (listed,) = stack.client(partner).get("/v1/api-keys").json()["items"]
    assert listed["id"] == made["id"] and listed["last_used_at"] is not None
    assert "secret" not in listed and made["secret"] not in str(listed)


@pytest.mark.parametrize("route", ROUTES, ids=[r.route_key for r in ROUTES])
def test_each_route_takes_a_key_only_with_its_scope(stack: LocalStack, partner: str, route: Route) -> None:
    needed = EXPECTED[route.route_key]
    others = [scope for scope in SCOPES if scope != needed]

    # A key with every other scope is refused for its scope
    refused = as_key(stack, make_key(stack, partner, *others)["secret"]).request(route.method, concrete(route), json={})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "insufficient_scope"

    # A key with just the route's scope gets past the authorizer and the scope, to the route's own answer
    if needed is not None:
        allowed = as_key(stack, make_key(stack, partner, needed)["secret"]).request(
            route.method, concrete(route), json={}
        )
        assert allowed.status_code not in (401, 403), allowed.text


def test_a_revoked_key_is_refused_once_the_cached_answer_expires(
    stack: LocalStack, partner: str, clock_back: None
) -> None:
    # Given a key in use (the authorizer's answer for it is now cached)
    made = make_key(stack, partner, "read")
    script = as_key(stack, made["secret"])
    assert script.get("/v1/licenses/counts").status_code == 200

    # When a person revokes it
    revoked = stack.client(partner).delete(f"/v1/api-keys/{made['id']}")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"

    # Then it keeps working at most as long as the cache keeps the answer (the delay docs/security.md states) ...
    stack.advance(f"PT{CACHE_SECONDS - 2}S")
    assert script.get("/v1/licenses/counts").status_code == 200
    # ... and is refused once the answer has expired
    stack.advance("PT3S")
    refused = script.get("/v1/licenses/counts")
    assert refused.status_code == 401
    assert refused.json()["error"] == {"code": "unauthorized", "message": "the API key has been revoked", "details": []}


def test_a_key_expires_at_its_instant_on_the_stacks_clock_cache_or_not(
    stack: LocalStack, partner: str, clock_back: None
) -> None:
    # Given a key that expires in an hour, by the stack's clock
    now = datetime.fromisoformat(stack.now().replace("Z", "+00:00"))
    expires = (now + timedelta(hours=1)).replace(microsecond=0)
    made = make_key(stack, partner, "read", expires_at=expires.isoformat())
    assert made["expires_at"] == expires.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    script = as_key(stack, made["secret"])

    # When it is used a second before (its answer cached), it works
    stack.set_clock((expires - timedelta(seconds=1)).isoformat())
    assert script.get("/v1/licenses/counts").status_code == 200

    # Then at its instant it is refused, although the cached answer is still fresh
    stack.set_clock(expires.isoformat())
    refused = script.get("/v1/licenses/counts")
    assert refused.status_code == 401 and refused.json()["error"]["message"] == "the API key has expired"
    assert stack.client(partner).get("/v1/api-keys").json()["items"][0]["status"] == "expired"


@pytest.mark.parametrize(
    ("credential", "message"),
    [
        ("phk_short", "the API key is malformed"),
        ("phk_" + "Unkn0wnKey" * 4, "the API key is not valid"),
    ],
)
def test_a_malformed_or_unknown_key_is_401(stack: LocalStack, credential: str, message: str) -> None:
    reply = as_key(stack, credential).get("/v1/licenses")
    assert reply.status_code == 401
    assert reply.json()["error"]["message"] == message


def test_a_key_of_a_known_prefix_with_the_wrong_secret_is_401(stack: LocalStack, partner: str) -> None:
    made = make_key(stack, partner, "read")
    guess = made["prefix"] + "G" * 32
    reply = as_key(stack, guess).get("/v1/licenses")
    assert reply.status_code == 401 and reply.json()["error"]["message"] == "the API key is not valid"


def test_keys_never_manage_keys_or_webhook_endpoints_nor_reach_operators(stack: LocalStack, partner: str) -> None:
    script = as_key(stack, make_key(stack, partner, *SCOPES)["secret"])
    for method, path, body in (
        ("POST", "/v1/api-keys", {"name": "child", "scopes": ["read"]}),
        ("GET", "/v1/api-keys", None),
        ("POST", "/v1/webhook-endpoints", {"url": "https://hooks.example.com/", "events": ["*"]}),
        ("GET", "/v1/webhook-endpoints", None),
        ("GET", "/v1/operator/partners", None),
        ("PUT", "/v1/prices/jetpack-backup", {"daily_price": 1, "monthly_price": 20, "effective_from": "2031-01-01"}),
    ):
        reply = script.request(method, path, json=body)
        assert reply.status_code == 403 and reply.json()["error"]["code"] == "insufficient_scope", (path, reply.text)
    assert len(stack.client(partner).get("/v1/api-keys").json()["items"]) == 1
    assert stack.client(partner).get("/v1/webhook-endpoints").json()["items"] == []


def test_unknown_scopes_are_422_and_the_limit_is_409(stack: LocalStack, partner: str) -> None:
    person = stack.client(partner)
    unknown = person.post("/v1/api-keys", json={"name": "x", "scopes": ["read", "everything"]})
    assert unknown.status_code == 422
    assert [d["field"] for d in unknown.json()["error"]["details"]] == ["scopes.1"]

    for n in range(20):
        assert person.post("/v1/api-keys", json={"name": f"k{n}", "scopes": ["read"]}).status_code == 201
    over = person.post("/v1/api-keys", json={"name": "k20", "scopes": ["read"]})
    assert over.status_code == 409
    assert over.json()["error"]["code"] == "api_key_limit"
    assert over.json()["error"]["details"] == [{"limit": 20, "active": 20}]


def test_another_partners_key_never_sees_or_revokes_yours(stack: LocalStack, partner: str) -> None:
    # Given partner A's license and key, and partner B with a key of every scope
    a = stack.client(partner)
    mine = make_key(stack, partner, "read")
    card = a.post("/v1/payment-methods", json={"payment_method_id": "pm_card_visa"})
    assert card.status_code == 201, card.text
    license_key = a.post("/v1/licenses", json={"product": "jetpack-backup", "quantity": 1}).json()["items"][0][
        "license_key"
    ]
    b_partner = f"agency-{uuid.uuid4().hex[:10]}"
    b_key = as_key(stack, make_key(stack, b_partner, *SCOPES)["secret"])

    # Then B's key finds none of A's objects, and B cannot revoke A's key
    assert b_key.get(f"/v1/licenses/{license_key}").status_code == 404
    assert b_key.post(f"/v1/licenses/{license_key}/revoke").status_code == 404
    assert stack.client(b_partner).delete(f"/v1/api-keys/{mine['id']}").status_code == 404
    assert a.get(f"/v1/licenses/{license_key}").json()["status"] == "unassigned"
    assert as_key(stack, mine["secret"]).get("/v1/licenses/counts").json()["all"] == 1
