"""The authorizer over every route: no credential, a bad token or a key that is malformed or nobody's is 401
everywhere but the webhook, and the partner id comes only from the verified credential (the token, or the partner
the key was made for), never from the query, a header or the body."""

from __future__ import annotations

import re

import pytest

from local.template import Route
from tests.reliability.conftest import LocalStack, api_routes, issue, site

AUTHORIZED = [r for r in api_routes() if r.authorized]


def concrete(route: Route) -> str:
    return re.sub(r"\{([^}+]+)\+?\}", "x", route.path)


@pytest.mark.parametrize("token", ["none", "garbage", "forged", "malformed key", "nobody's key"])
@pytest.mark.parametrize("route", AUTHORIZED, ids=[r.route_key for r in AUTHORIZED])
def test_every_route_but_the_webhook_needs_a_valid_token(stack: LocalStack, route: Route, token: str) -> None:
    good = stack.token("agency-someone")
    headers = {
        "none": {},
        "garbage": {"Authorization": "Bearer not-a-jwt"},
        # a real token with its signature swapped for another's: the claims can't be trusted
        "forged": {"Authorization": "Bearer " + good.rsplit(".", 1)[0] + "." + "A" * 43},
        "malformed key": {"Authorization": "Bearer phk_tooShort"},
        "nobody's key": {"Authorization": "Bearer phk_" + "N0b0dy5K3y" * 4},
    }[token]
    reply = stack.anonymous.request(route.method, concrete(route), headers=headers, json={})
    assert reply.status_code == 401, reply.text


def test_the_partner_id_comes_only_from_the_token(stack: LocalStack, paying_partner: str) -> None:
    # Given partner A with a license, and partner B who names A everywhere but in the token
    victim = stack.client(paying_partner)
    key = issue(victim, 1)[0]["license_key"]
    thief = stack.client("agency-thief-0001")
    disguise = {"X-Partner-Id": paying_partner, "X-Custom-Partner-Id": paying_partner}

    listed = thief.get("/v1/licenses", params={"partner_id": paying_partner}, headers=disguise)
    assigned = thief.put(f"/v1/licenses/{key}/site", json={**site(5), "partner_id": paying_partner}, headers=disguise)

    # Then B sees and touches only its own (empty) account
    assert listed.status_code == 200 and listed.json()["items"] == []
    assert assigned.status_code in (404, 422), assigned.text
    assert victim.get(f"/v1/licenses/{key}").json()["site"] is None


def test_a_key_is_the_partner_it_was_made_for_whatever_the_request_says(stack: LocalStack, paying_partner: str) -> None:
    # Given partner A with a license, and partner B's key, which names A everywhere it can
    victim = stack.client(paying_partner)
    key = issue(victim, 1)[0]["license_key"]
    made = stack.client("agency-thief-0002").post("/v1/api-keys", json={"name": "x", "scopes": ["read", "licenses"]})
    thief = stack.anonymous
    disguise = {"Authorization": f"Bearer {made.json()['secret']}", "X-Partner-Id": paying_partner}

    listed = thief.get("/v1/licenses", params={"partner_id": paying_partner}, headers=disguise)
    revoked = thief.post(f"/v1/licenses/{key}/revoke", json={"partner_id": paying_partner}, headers=disguise)

    # Then the key sees and touches only B's (empty) account
    assert listed.status_code == 200 and listed.json()["items"] == []
    assert revoked.status_code in (404, 422), revoked.text
    assert victim.get(f"/v1/licenses/{key}").json()["status"] != "revoked"
