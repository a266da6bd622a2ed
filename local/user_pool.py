"""The local user pool: its users' TOTP MFA, answering the part of Cognito's JSON API the project calls.

Cognito's user pool API is JSON over ``POST /`` with ``X-Amz-Target: AWSCognitoIdentityProviderService.<Action>``;
the local stack serves the same at ``/_local/cognito-idp`` for the portal (the user's own calls, authorized by an
access token with the ``aws.cognito.signin.user.admin`` scope) and for the authorizer function (``AdminGetUser``, by
boto3 pointed here with ``AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER``, as it would call Cognito):

* ``GetUser`` -- the signed-in user, with ``UserMFASettingList`` and ``PreferredMfaSetting``;
* ``AssociateSoftwareToken`` -- a fresh TOTP secret (``SecretCode``), pending until verified;
* ``VerifySoftwareToken`` -- a code of the pending secret, checked on the STACK clock (``local.totp``);
* ``SetUserMFAPreference`` -- TOTP on (and preferred) or off, once a secret is verified;
* ``AdminGetUser`` and ``AdminSetUserMFAPreference`` -- what the authorizer and an operator's reset call.

Errors are Cognito's: status 400 with ``{"__type": "<Exception>", "message": ...}``, which boto3 raises as that
exception. A user exists once someone signs in as them (``POST /_local/token``). Enrolments live in memory, like the
pool's signing keys: a restarted stack has a new pool (its old tokens do not verify either).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from local import totp
from local.auth import USER_ADMIN_SCOPE, AuthError, LocalAuth

TARGET_PREFIX = "AWSCognitoIdentityProviderService."
SOFTWARE_TOKEN_MFA = "SOFTWARE_TOKEN_MFA"  # noqa: S105 - the name of an MFA kind, no secret
LOCAL_POOL_ID = "us-east-1_local"
COGNITO_ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER"
"""boto3's endpoint for the ``cognito-idp`` service alone: the local stack sets it to its pool, everything else of
AWS stays on moto (``AWS_ENDPOINT_URL``)."""  # what local/resources.py makes of the template's UserPool


class CognitoError(Exception):
    """A Cognito API error: its type (boto3's exception name) and message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class LocalUser:
    username: str
    partner_id: str
    pending_secret: str | None = None
    secret: str | None = None
    """The verified TOTP secret (an authenticator app holds it)."""
    totp_enabled: bool = False
    totp_preferred: bool = False

    @property
    def mfa_settings(self) -> list[str]:
        return [SOFTWARE_TOKEN_MFA] if self.totp_enabled else []

    def described(self) -> dict[str, Any]:
        """The user as ``GetUser``/``AdminGetUser`` describe it (absent lists left out, as Cognito does)."""
        answer: dict[str, Any] = {
            "Username": self.username,
            "UserAttributes": [
                {"Name": "sub", "Value": _sub(self.partner_id)},
                {"Name": "email", "Value": f"{self.partner_id}@partners.local"},
                {"Name": "custom:partner_id", "Value": self.partner_id},
            ],
        }
        if self.totp_enabled:
            answer["UserMFASettingList"] = self.mfa_settings
        if self.totp_enabled and self.totp_preferred:
            answer["PreferredMfaSetting"] = SOFTWARE_TOKEN_MFA
        return answer


def _sub(partner_id: str) -> str:
    from local.auth import subject_for

    return subject_for(partner_id)


class LocalUserPool:
    """The users of the local pool and their MFA; thread-safe (the gateway serves requests on threads)."""

    def __init__(self, auth: LocalAuth, now: Callable[[], datetime], pool_id: str = LOCAL_POOL_ID) -> None:
        self.auth = auth
        self.now = now
        self.pool_id = pool_id
        self._users: dict[str, LocalUser] = {}
        self._refresh: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    # -- sign-in (POST /_local/token) -------------------------------------------------------------

    def user(self, username: str, partner_id: str) -> LocalUser:
        """The user signing in, made on first sign-in."""
        with self._lock:
            return self._users.setdefault(username, LocalUser(username=username, partner_id=partner_id))

    def find(self, username: str) -> LocalUser | None:
        with self._lock:
            return self._users.get(username)

    def refresh_token(self, partner_id: str, groups: tuple[str, ...]) -> str:
        """An opaque refresh token for this sign-in: it renews the tokens without the code, as Cognito's refresh
        grant does (it does not expire: moving the stack clock by days must not sign people out)."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._refresh[token] = (partner_id, groups)
        return token

    def refreshed(self, token: str) -> tuple[str, tuple[str, ...]] | None:
        """Who a refresh token signs in again (partner id and groups), or None for a token this pool never gave."""
        with self._lock:
            return self._refresh.get(token)

    def check_sign_in_code(self, user: LocalUser, code: str | None) -> str | None:
        """Why a sign-in must stop for MFA (``mfa_code_required``, ``mfa_code_invalid``), or None to go on."""
        if not user.totp_enabled or user.secret is None:
            return None
        if not code:
            return "mfa_code_required"
        return None if totp.verify(user.secret, code, self.now()) else "mfa_code_invalid"

    # -- the JSON API --------------------------------------------------------------------------------

    def call(self, target: str | None, body: Mapping[str, Any]) -> dict[str, Any]:
        """One API call by its ``X-Amz-Target``; :class:`CognitoError` for Cognito's errors."""
        action = (target or "").removeprefix(TARGET_PREFIX)
        handler = {
            "GetUser": self._get_user,
            "AssociateSoftwareToken": self._associate,
            "VerifySoftwareToken": self._verify,
            "SetUserMFAPreference": self._set_preference,
            "AdminGetUser": self._admin_get_user,
            "AdminSetUserMFAPreference": self._admin_set_preference,
        }.get(action)
        if handler is None:
            raise CognitoError("UnknownOperationException", f"the local user pool does not answer {action or target}")
        return handler(body)

    def _signed_in(self, body: Mapping[str, Any]) -> LocalUser:
        """The user whose access token the call carries (signature, expiry on the stack clock, scope)."""
        token = body.get("AccessToken")
        if not isinstance(token, str) or not token:
            raise CognitoError("NotAuthorizedException", "Access Token is required")
        try:
            claims = self.auth.verify(token, self.now())
        except AuthError as error:
            raise CognitoError("NotAuthorizedException", f"Invalid Access Token: {error.description}") from error
        if claims.get("token_use") != "access":
            raise CognitoError("NotAuthorizedException", "Invalid Access Token: not an access token")
        if USER_ADMIN_SCOPE not in str(claims.get("scope", "")).split():
            raise CognitoError("NotAuthorizedException", "Access Token does not have required scopes")
        user = self.find(str(claims.get("username", "")))
        if user is None:
            raise CognitoError("UserNotFoundException", "User does not exist.")
        return user

    def _get_user(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._signed_in(body).described()

    def _associate(self, body: Mapping[str, Any]) -> dict[str, Any]:
        user = self._signed_in(body)
        with self._lock:
            user.pending_secret = totp.new_secret()
            return {"SecretCode": user.pending_secret}

    def _verify(self, body: Mapping[str, Any]) -> dict[str, Any]:
        user = self._signed_in(body)
        code = body.get("UserCode")
        if not isinstance(code, str) or not (len(code) == totp.DIGITS and code.isdigit()):
            raise CognitoError("InvalidParameterException", "UserCode must be 6 digits")
        with self._lock:
            if user.pending_secret is None:
                raise CognitoError("InvalidParameterException", "Call AssociateSoftwareToken first")
            if not totp.verify(user.pending_secret, code, self.now()):
                raise CognitoError("EnableSoftwareTokenMFAException", "Code mismatch")
            user.secret, user.pending_secret = user.pending_secret, None
        return {"Status": "SUCCESS"}

    def _set_preference(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self._apply_preference(self._signed_in(body), body)
        return {}

    def _admin_user(self, body: Mapping[str, Any]) -> LocalUser:
        if body.get("UserPoolId") != self.pool_id:
            raise CognitoError("ResourceNotFoundException", f"User pool {body.get('UserPoolId')} does not exist.")
        user = self.find(str(body.get("Username", "")))
        if user is None:
            raise CognitoError("UserNotFoundException", "User does not exist.")
        return user

    def _admin_get_user(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {**self._admin_user(body).described(), "Enabled": True, "UserStatus": "CONFIRMED"}

    def _admin_set_preference(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self._apply_preference(self._admin_user(body), body)
        return {}

    def _apply_preference(self, user: LocalUser, body: Mapping[str, Any]) -> None:
        settings = body.get("SoftwareTokenMfaSettings")
        if not isinstance(settings, Mapping):
            return
        with self._lock:
            if settings.get("Enabled") is True:
                if user.secret is None:
                    raise CognitoError("InvalidParameterException", "User has not verified software token mfa")
                user.totp_enabled = True
                user.totp_preferred = settings.get("PreferredMfa") is True
            elif settings.get("Enabled") is False:
                # Turned off (an operator's reset): the device is forgotten, a new one must be associated.
                user.totp_enabled = user.totp_preferred = False
                user.secret = None
