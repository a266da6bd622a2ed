"""Operators with an authenticator app, for tests: the API refuses an operator's routes without TOTP MFA enrolled.

:func:`enrol` does what the portal's Security page does against the local user pool (Cognito's JSON API at
``/_local/cognito-idp``): ``AssociateSoftwareToken``, then ``VerifySoftwareToken`` with the code an authenticator
app shows at the STACK clock's now, then ``SetUserMFAPreference``. Codes come from ``pyotp``, an implementation of
RFC 6238 independent of the local pool's (``local.totp``): were the two to disagree, every operator sign-in here
would fail. :func:`sign_in` signs in as the local sign-in form does, with the current code once one is needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyotp
import requests

from partnerhub.clock import parse_instant

OPERATORS = "operators"
TARGET = "AWSCognitoIdentityProviderService."


def code_now(api_url: str, secret: str, session: requests.Session | None = None) -> str:
    """The code an authenticator app holding ``secret`` shows at the stack clock's now."""
    reply = (session or requests.Session()).get(f"{api_url}/_local/clock", timeout=30)
    reply.raise_for_status()
    return str(pyotp.TOTP(secret).at(parse_instant(reply.json()["now"])))


def cognito(api_url: str, action: str, body: dict[str, Any], session: requests.Session | None = None) -> Any:
    """One call of the local user pool's Cognito JSON API; raises on Cognito's errors (status 400)."""
    reply = (session or requests.Session()).post(
        f"{api_url}/_local/cognito-idp",
        json=body,
        headers={"x-amz-target": TARGET + action, "content-type": "application/x-amz-json-1.1"},
        timeout=30,
    )
    if reply.status_code != 200:
        raise RuntimeError(f"{action}: {reply.status_code} {reply.text}")
    return reply.json()


def enrol(api_url: str, access_token: str, session: requests.Session | None = None) -> str:
    """Enrol an authenticator app for the user of ``access_token``, TOTP preferred; its secret."""
    secret = str(cognito(api_url, "AssociateSoftwareToken", {"AccessToken": access_token}, session)["SecretCode"])
    code = code_now(api_url, secret, session)
    verified = cognito(api_url, "VerifySoftwareToken", {"AccessToken": access_token, "UserCode": code}, session)
    assert verified["Status"] == "SUCCESS", verified
    preference = {"AccessToken": access_token, "SoftwareTokenMfaSettings": {"Enabled": True, "PreferredMfa": True}}
    cognito(api_url, "SetUserMFAPreference", preference, session)
    return secret


def sign_in(
    api_url: str,
    partner_id: str,
    groups: Iterable[str] = (),
    *,
    secrets: dict[str, str],
    session: requests.Session | None = None,
) -> dict[str, Any]:
    """``POST /_local/token``'s answer for ``partner_id`` in ``groups``. An operator is enrolled first when not yet
    (its secret kept in ``secrets`` by partner id, for the next sign-ins), then signs in with the current code."""
    session = session or requests.Session()
    names = list(groups)
    body: dict[str, Any] = {"partner_id": partner_id, "groups": names}
    if partner_id in secrets:
        body["totp"] = code_now(api_url, secrets[partner_id], session)
    reply = session.post(f"{api_url}/_local/token", json=body, timeout=30)
    if reply.status_code != 200:
        raise RuntimeError(f"sign-in as {partner_id}: {reply.status_code} {reply.text}")
    tokens: dict[str, Any] = reply.json()
    if OPERATORS in names and partner_id not in secrets:
        secrets[partner_id] = enrol(api_url, tokens["access_token"], session)
        return sign_in(api_url, partner_id, names, secrets=secrets, session=session)
    return tokens
