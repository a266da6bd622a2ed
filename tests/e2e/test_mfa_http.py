"""Operators' MFA over HTTP against the local stack: an operator without an authenticator app is refused the
operators' routes (403 mfa_required) and nothing else; enrolling through the local user pool's Cognito API (what the
portal's Security page calls) opens them to a fresh token; from then on signing in wants the app's code. Partners
are never asked. Codes come from pyotp, independent of the pool's own RFC 6238 code."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pyotp
import pytest

from partnerhub.clock import parse_instant
from testkit import mfa
from testkit.stack import ApiSession

if TYPE_CHECKING:
    from testkit.stack import LocalStack

OPERATOR_ROUTE = "/v1/operator/audit"


def bearer(stack: LocalStack, token: str) -> ApiSession:
    session = ApiSession(stack.api_url)
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def sign_in(stack: LocalStack, partner_id: str, groups: list[str], **extra: Any) -> Any:
    return stack.anonymous.post("/_local/token", json={"partner_id": partner_id, "groups": groups, **extra})


@pytest.fixture
def frozen(stack: LocalStack) -> None:
    """The stack clock held still: the authorizer's 60 s cache is then the stack's, not the test's speed."""
    stack.set_clock(stack.now())


def test_an_operator_enrols_then_reaches_the_console_with_a_fresh_token(stack: LocalStack, frozen: None) -> None:
    # Given an operator who has never enrolled an authenticator app
    operator = f"ops-{uuid.uuid4().hex[:8]}"
    first = sign_in(stack, operator, ["operators"])
    assert first.status_code == 200, first.text
    tokens = first.json()
    api = bearer(stack, tokens["token"])

    # When they call an operators' route, it is refused saying why
    refused = api.get(OPERATOR_ROUTE)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "mfa_required"
    # but the same token reads the partner routes of its partner id as before
    assert api.get("/v1/licenses").status_code == 200

    # When they enrol an app through the user pool's API (AssociateSoftwareToken, VerifySoftwareToken, SetUserMFAPreference)
    secret = mfa.enrol(stack.api_url, tokens["access_token"])
    me = mfa.cognito(stack.api_url, "GetUser", {"AccessToken": tokens["access_token"]})
    assert me["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"]

    # Then the old token's answer is still the cached one (the authorizer asked once, within the minute)
    assert api.get(OPERATOR_ROUTE).json()["error"]["code"] == "mfa_required"
    # and a token renewed with the refresh token (no code needed, as Cognito's refresh grant) is let in
    renewed = stack.anonymous.post("/_local/token", json={"refresh_token": tokens["refresh_token"]})
    assert renewed.status_code == 200, renewed.text
    assert bearer(stack, renewed.json()["token"]).get(OPERATOR_ROUTE).status_code == 200

    # And signing in again wants the app's current code
    without = sign_in(stack, operator, ["operators"])
    assert (without.status_code, without.json()["code"]) == (401, "mfa_code_required")
    now = parse_instant(stack.now())
    current = pyotp.TOTP(secret).at(now)
    wrong = f"{(int(current) + 1) % 1_000_000:06d}"
    assert sign_in(stack, operator, ["operators"], totp=wrong).json()["code"] == "mfa_code_invalid"
    again = sign_in(stack, operator, ["operators"], totp=current)
    assert again.status_code == 200, again.text
    assert bearer(stack, again.json()["token"]).get(OPERATOR_ROUTE).status_code == 200


def test_a_partner_is_never_asked_for_mfa(stack: LocalStack) -> None:
    # Given a partner's user without an authenticator app
    partner = f"agency-{uuid.uuid4().hex[:8]}"
    reply = sign_in(stack, partner, [])
    assert reply.status_code == 200, reply.text
    api = bearer(stack, reply.json()["token"])
    # Then their routes answer, and the operators' route is refused for being no operator, not for MFA
    assert api.get("/v1/licenses").status_code == 200
    refused = api.get(OPERATOR_ROUTE)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "not_an_operator")


def test_a_partner_may_enrol_too_and_then_signs_in_with_the_code(stack: LocalStack) -> None:
    partner = f"agency-{uuid.uuid4().hex[:8]}"
    tokens = sign_in(stack, partner, []).json()
    secret = mfa.enrol(stack.api_url, tokens["access_token"])
    assert sign_in(stack, partner, []).json()["code"] == "mfa_code_required"
    code = mfa.code_now(stack.api_url, secret)
    reply = sign_in(stack, partner, [], totp=code)
    assert reply.status_code == 200, reply.text
    assert bearer(stack, reply.json()["token"]).get("/v1/licenses").status_code == 200


def test_the_pools_api_refuses_an_id_token_and_bad_bodies(stack: LocalStack) -> None:
    tokens = sign_in(stack, f"agency-{uuid.uuid4().hex[:8]}", []).json()
    with pytest.raises(RuntimeError, match=r"400.*NotAuthorizedException"):
        mfa.cognito(stack.api_url, "AssociateSoftwareToken", {"AccessToken": tokens["token"]})
    reply = stack.anonymous.post(
        "/_local/cognito-idp",
        data="[]",
        headers={"x-amz-target": "AWSCognitoIdentityProviderService.GetUser"},
    )
    assert (reply.status_code, reply.json()["__type"]) == (400, "SerializationException")
    bad_code = sign_in(stack, "agency-x", [], totp=123456)
    assert bad_code.status_code == 422
