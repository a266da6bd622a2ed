"""The local user pool's MFA as Cognito's JSON API answers it: an authenticator app is associated, verified with
its code on the stack clock (codes computed by pyotp, not by the pool's own RFC 6238 code), turned on, seen by
GetUser and AdminGetUser, asked for at sign-in, and reset by an administrator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest

from local.auth import LocalAuth, username_for
from local.user_pool import LOCAL_POOL_ID, CognitoError, LocalUserPool
from partnerhub.clock import ManualClock

NOW = datetime(2026, 12, 7, 15, 0, 10, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def pool(clock: ManualClock) -> LocalUserPool:
    return LocalUserPool(LocalAuth(issuer="http://127.0.0.1:9/_local/cognito"), clock.now)


def signed_in(pool: LocalUserPool, clock: ManualClock, partner_id: str = "ops-1") -> str:
    """The access token of a sign-in (the user made on the way, as POST /_local/token makes it)."""
    pool.user(username_for(partner_id), partner_id)
    return pool.auth.issue_access_token(partner_id, ["operators"], clock.now())


def call(pool: LocalUserPool, action: str, **body: Any) -> Any:
    return pool.call(f"AWSCognitoIdentityProviderService.{action}", body)


def test_an_app_is_associated_verified_and_turned_on(pool: LocalUserPool, clock: ManualClock) -> None:
    # Given an operator signed in without MFA
    access = signed_in(pool, clock)
    assert "UserMFASettingList" not in call(pool, "GetUser", AccessToken=access)

    # When they associate an app and type the code it shows now
    secret = call(pool, "AssociateSoftwareToken", AccessToken=access)["SecretCode"]
    code = pyotp.TOTP(secret).at(clock.now())
    assert call(pool, "VerifySoftwareToken", AccessToken=access, UserCode=code) == {"Status": "SUCCESS"}
    call(
        pool,
        "SetUserMFAPreference",
        AccessToken=access,
        SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True},
    )

    # Then GetUser and AdminGetUser say TOTP is on and preferred
    me = call(pool, "GetUser", AccessToken=access)
    assert (me["UserMFASettingList"], me["PreferredMfaSetting"]) == (["SOFTWARE_TOKEN_MFA"], "SOFTWARE_TOKEN_MFA")
    admin = call(pool, "AdminGetUser", UserPoolId=LOCAL_POOL_ID, Username=username_for("ops-1"))
    assert admin["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"]

    # And a sign-in now wants the app's current code, on the stack clock
    user = pool.user(username_for("ops-1"), "ops-1")
    assert pool.check_sign_in_code(user, None) == "mfa_code_required"
    assert pool.check_sign_in_code(user, "000000" if code != "000000" else "111111") == "mfa_code_invalid"
    clock.advance(timedelta(days=3))
    assert pool.check_sign_in_code(user, code) == "mfa_code_invalid"  # three days on, the old code is stale
    assert pool.check_sign_in_code(user, pyotp.TOTP(secret).at(clock.now())) is None


def test_a_wrong_code_enrols_nothing(pool: LocalUserPool, clock: ManualClock) -> None:
    access = signed_in(pool, clock)
    secret = call(pool, "AssociateSoftwareToken", AccessToken=access)["SecretCode"]
    stale = pyotp.TOTP(secret).at(clock.now() - timedelta(minutes=5))
    with pytest.raises(CognitoError) as refused:
        call(pool, "VerifySoftwareToken", AccessToken=access, UserCode=stale)
    assert refused.value.kind == "EnableSoftwareTokenMFAException"
    # Nor can TOTP be turned on without a verified app
    with pytest.raises(CognitoError) as unverified:
        call(pool, "SetUserMFAPreference", AccessToken=access, SoftwareTokenMfaSettings={"Enabled": True})
    assert unverified.value.kind == "InvalidParameterException"
    assert pool.check_sign_in_code(pool.user(username_for("ops-1"), "ops-1"), None) is None


@pytest.mark.parametrize(
    ("token", "kind"),
    [(None, "NotAuthorizedException"), ("not-a-token", "NotAuthorizedException"), ("id", "NotAuthorizedException")],
)
def test_the_users_own_calls_want_an_access_token(
    pool: LocalUserPool, clock: ManualClock, token: str | None, kind: str
) -> None:
    signed_in(pool, clock)
    if token == "id":  # an ID token is no access token
        token = pool.auth.issue_token("ops-1", ["operators"], clock.now())
    with pytest.raises(CognitoError) as refused:
        call(pool, "AssociateSoftwareToken", **({"AccessToken": token} if token else {}))
    assert refused.value.kind == kind


def test_an_expired_access_token_is_refused_on_the_stack_clock(pool: LocalUserPool, clock: ManualClock) -> None:
    access = signed_in(pool, clock)
    clock.advance(timedelta(hours=2))
    with pytest.raises(CognitoError) as refused:
        call(pool, "GetUser", AccessToken=access)
    assert refused.value.kind == "NotAuthorizedException"


def test_an_administrator_resets_a_lost_app(pool: LocalUserPool, clock: ManualClock) -> None:
    # Given an operator with an app enrolled
    access = signed_in(pool, clock)
    secret = call(pool, "AssociateSoftwareToken", AccessToken=access)["SecretCode"]
    call(pool, "VerifySoftwareToken", AccessToken=access, UserCode=pyotp.TOTP(secret).at(clock.now()))
    call(
        pool,
        "SetUserMFAPreference",
        AccessToken=access,
        SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True},
    )
    # When an administrator turns it off (the runbook's AdminSetUserMFAPreference)
    name = username_for("ops-1")
    call(
        pool,
        "AdminSetUserMFAPreference",
        UserPoolId=LOCAL_POOL_ID,
        Username=name,
        SoftwareTokenMfaSettings={"Enabled": False},
    )
    # Then the user signs in without a code, and must enrol again before the console
    assert "UserMFASettingList" not in call(pool, "AdminGetUser", UserPoolId=LOCAL_POOL_ID, Username=name)
    assert pool.check_sign_in_code(pool.user(name, "ops-1"), None) is None


def test_unknown_users_pools_and_actions_are_cognitos_errors(pool: LocalUserPool) -> None:
    with pytest.raises(CognitoError) as unknown:
        call(pool, "AdminGetUser", UserPoolId=LOCAL_POOL_ID, Username="nobody")
    assert unknown.value.kind == "UserNotFoundException"
    with pytest.raises(CognitoError) as other_pool:
        call(pool, "AdminGetUser", UserPoolId="us-east-1_Other", Username="nobody")
    assert other_pool.value.kind == "ResourceNotFoundException"
    with pytest.raises(CognitoError) as action:
        call(pool, "DeleteUserPool", UserPoolId=LOCAL_POOL_ID)
    assert action.value.kind == "UnknownOperationException"
