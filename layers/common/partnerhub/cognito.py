"""Cognito ID tokens, verified as API Gateway's JWT authorizer verifies them, for the authorizer function.

The checks: an RS256 signature by the key of the user pool's JWKS that the token's ``kid`` names; ``iss`` the
user pool; ``aud`` (an ID token) or ``client_id`` (an access token) the portal's app client; ``exp`` not reached,
``nbf`` and ``iat`` not in the future, all against the injected clock. The JWKS is fetched on first need and kept
for an hour; a ``kid`` it does not hold makes one fresh fetch at most a minute (a rotated key is found, a flood of
forged ``kid`` values is not a flood of fetches).

Whether an operator has TOTP MFA enrolled is the user pool's ``AdminGetUser`` (:class:`CognitoMfa`): its
``UserMFASettingList`` names ``SOFTWARE_TOKEN_MFA`` once the person has verified an authenticator app's code
(``VerifySoftwareToken``) and turned it on (``SetUserMFAPreference``). The authorizer's role may call that one action
on its own pool, nothing else of Cognito.

PyJWT and ``cryptography`` are the authorizer function's own dependencies (``functions/authorizer/requirements.txt``),
not the layer's: only that function imports this module (``tests/unit/test_layers.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import jwt

from partnerhub.authorizer import InvalidToken, UnknownUser

JWKS_LIFETIME_SECONDS = 3600
JWKS_REFRESH_COOLDOWN_SECONDS = 60
JWKS_TIMEOUT_SECONDS = 3
SOFTWARE_TOKEN_MFA = "SOFTWARE_TOKEN_MFA"  # noqa: S105 - the name of an MFA kind, no secret


@dataclass(frozen=True, slots=True)
class UserPool:
    """The user pool whose tokens the API accepts: its issuer URL, the portal's app client, its public keys."""

    issuer: str
    audience: str
    jwks_url: str | None = None

    @property
    def keys_url(self) -> str:
        """Where the pool publishes its keys (Cognito: ``<issuer>/.well-known/jwks.json``)."""
        return self.jwks_url or f"{self.issuer}/.well-known/jwks.json"


class SigningKeys(Protocol):
    """The user pool's public keys by ``kid`` (PyJWT's ``PyJWKClient``): ``PyJWKClientError`` for a kid it does not
    hold, ``PyJWKClientConnectionError`` when the keys cannot be fetched."""

    def get_signing_key(self, kid: str) -> jwt.PyJWK: ...


class CognitoTokens:
    """``partnerhub.authorizer.TokenVerifier`` for one user pool."""

    def __init__(self, pool: UserPool, keys: SigningKeys | None = None) -> None:
        self._pool = pool
        self._keys: SigningKeys = keys or jwt.PyJWKClient(
            pool.keys_url,
            cache_jwk_set=True,
            lifespan=JWKS_LIFETIME_SECONDS,
            timeout=JWKS_TIMEOUT_SECONDS,
            cooldown_duration=JWKS_REFRESH_COOLDOWN_SECONDS,
        )

    def claims(self, token: str, now: datetime) -> Mapping[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidToken("the token is malformed") from error
        if header.get("alg") != "RS256":
            raise InvalidToken("the signing method is not RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no key")
        try:
            key = self._keys.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError:
            raise  # the pool's keys cannot be fetched: not the token's fault, and not to be cached as a refusal
        except jwt.PyJWKClientError as error:
            raise InvalidToken("no key of the user pool matches the token's kid") from error
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                # Times are checked below on the injected clock (the local stack's moves), never on the wall clock.
                options={
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as error:
            raise InvalidToken("the signature is invalid") from error
        self._check(claims, now.timestamp())
        return claims

    def _check(self, claims: Mapping[str, Any], instant: float) -> None:
        if claims.get("iss") != self._pool.issuer:
            raise InvalidToken("the issuer is not the user pool")
        audience = claims.get("aud", claims.get("client_id"))
        audiences = audience if isinstance(audience, list) else [audience]
        if self._pool.audience not in audiences:
            raise InvalidToken("the audience is not the portal's app client")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= instant:
            raise InvalidToken("the token has expired")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and nbf > instant:
            raise InvalidToken("the token is not valid yet")
        iat = claims.get("iat")
        if isinstance(iat, int | float) and iat > instant:
            raise InvalidToken("the token was issued in the future")


class CognitoMfa:
    """``partnerhub.authorizer.MfaDirectory`` for one user pool, over its ``AdminGetUser`` (a boto3 ``cognito-idp``
    client: Cognito's, or the local stack's pool at ``AWS_ENDPOINT_URL_COGNITO_IDP``)."""

    def __init__(self, user_pool_id: str, client: Any) -> None:
        self._pool_id = user_pool_id
        self._client = client

    def totp_enrolled(self, username: str) -> bool:
        try:
            user = self._client.admin_get_user(UserPoolId=self._pool_id, Username=username)
        except self._client.exceptions.UserNotFoundException as error:
            raise UnknownUser(username) from error
        return SOFTWARE_TOKEN_MFA in (user.get("UserMFASettingList") or [])
