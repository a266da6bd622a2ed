"""Local stand-in for Cognito tokens and the HTTP API JWT authorizer.

A fresh RS256 key pair is generated each time the stack starts and is never written anywhere, so a
token from a previous run never validates. :meth:`LocalAuth.issue_token` mints ID tokens shaped like
Cognito's; :meth:`LocalAuth.verify` checks them the way API Gateway's JWT authorizer does: signature
(``kid``/``alg``), ``iss``, ``aud`` (or ``client_id``), ``exp``, ``nbf`` and ``iat`` -- the time checks
against the STACK clock, not the wall clock. Advancing the stack clock by days therefore expires
tokens issued before the jump, exactly as a real token would have expired by then; get a new one.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

TOKEN_LIFETIME = timedelta(hours=1)
LOCAL_CLIENT_ID = "partnerhub-local-client"
USER_ADMIN_SCOPE = "aws.cognito.signin.user.admin"
# A fixed namespace so a partner's ``sub`` is the same on every run (bookmarks and seeds stay valid).
_SUB_NAMESPACE = uuid.UUID("6f1f7c52-3f0e-4b8e-9d7c-2a8f0f5b9e11")


class AuthError(Exception):
    """The request is not authorized; ``description`` goes into ``www-authenticate`` like API Gateway's."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def subject_for(partner_id: str) -> str:
    """The stable Cognito-style ``sub`` of a partner's local user."""
    return str(uuid.uuid5(_SUB_NAMESPACE, partner_id))


def username_for(partner_id: str) -> str:
    """The local user pool's user name of a partner's local user (``cognito:username``)."""
    return f"partner-{partner_id}"


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class LocalAuth:
    """Issues and verifies local ID tokens."""

    def __init__(self, issuer: str, audience: str = LOCAL_CLIENT_ID) -> None:
        self.issuer = issuer
        self.audience = audience
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        self._public = self._key.public_key()

    def jwks(self) -> dict[str, Any]:
        """The public key set, as Cognito publishes it at ``/.well-known/jwks.json``."""
        numbers = self._public.public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "alg": "RS256",
                    "use": "sig",
                    "kid": self.kid,
                    "n": _b64url_uint(numbers.n),
                    "e": _b64url_uint(numbers.e),
                }
            ]
        }

    def issue_token(self, partner_id: str, groups: Iterable[str] = (), now: datetime | None = None) -> str:
        """An ID token for ``partner_id`` in ``groups``, valid for an hour from ``now`` (the stack clock)."""
        if now is None:
            raise ValueError("issue_token needs the stack clock's now")
        issued = int(now.timestamp())
        sub = subject_for(partner_id)
        claims: dict[str, Any] = {
            "sub": sub,
            "custom:partner_id": partner_id,
            "cognito:groups": list(groups),
            "cognito:username": username_for(partner_id),
            "email": f"{partner_id}@partners.local",
            "email_verified": True,
            "iss": self.issuer,
            "aud": self.audience,
            "token_use": "id",
            "auth_time": issued,
            "iat": issued,
            "exp": issued + int(TOKEN_LIFETIME.total_seconds()),
            "event_id": str(uuid.uuid4()),
            "jti": str(uuid.uuid4()),
            "origin_jti": str(uuid.uuid4()),
        }
        if not claims["cognito:groups"]:
            # Cognito leaves the claim out entirely for a user in no group.
            del claims["cognito:groups"]
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def issue_access_token(self, partner_id: str, groups: Iterable[str] = (), now: datetime | None = None) -> str:
        """An access token for the same user, with the scope that lets it call the user's own Cognito API
        (``aws.cognito.signin.user.admin``: GetUser, AssociateSoftwareToken, ...), as the hosted sign-in issues it."""
        if now is None:
            raise ValueError("issue_access_token needs the stack clock's now")
        issued = int(now.timestamp())
        claims: dict[str, Any] = {
            "sub": subject_for(partner_id),
            "cognito:groups": list(groups),
            "iss": self.issuer,
            "client_id": self.audience,
            "token_use": "access",
            "scope": f"openid email {USER_ADMIN_SCOPE}",
            "auth_time": issued,
            "iat": issued,
            "exp": issued + int(TOKEN_LIFETIME.total_seconds()),
            "jti": str(uuid.uuid4()),
            "username": username_for(partner_id),
        }
        if not claims["cognito:groups"]:
            del claims["cognito:groups"]
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def verify(self, header_value: str | None, now: datetime) -> dict[str, Any]:
        """The token's claims if the JWT authorizer would let it through at ``now``; else :class:`AuthError`."""
        if not header_value or not header_value.strip():
            raise AuthError("missing token")
        token = header_value.strip()
        # The authorizer strips an optional "Bearer " prefix from the identity source.
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError("token is malformed") from exc
        if header.get("alg") != "RS256":
            raise AuthError("signing method is not RS256")
        if header.get("kid") != self.kid:
            raise AuthError("no key in the JWKS matches the token's kid")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public,
                algorithms=["RS256"],
                options={
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise AuthError("signature is invalid") from exc
        if claims.get("iss") != self.issuer:
            raise AuthError(f"issuer {claims.get('iss')!r} is not {self.issuer!r}")
        audience = claims.get("aud", claims.get("client_id"))
        audiences = audience if isinstance(audience, list) else [audience]
        if self.audience not in audiences:
            raise AuthError("audience does not match")
        instant = now.timestamp()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= instant:
            raise AuthError("the token has expired")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and nbf > instant:
            raise AuthError("the token is not valid yet")
        iat = claims.get("iat")
        if isinstance(iat, int | float) and iat > instant:
            raise AuthError("the token was issued in the future")
        return claims


def render_claim(value: Any) -> str:
    """A claim value as the HTTP API JWT authorizer hands it to the integration: always a string.

    Arrays become ``"[a b c]"`` (space separated in brackets), numbers and booleans their plain text,
    objects ``"map[k:v]"``. Handlers must parse ``cognito:groups`` out of that string.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(render_claim(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{render_claim(v)}" for k, v in sorted(value.items())) + "]"
    if value is None:
        return ""
    return json.dumps(value, default=str)


def render_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Every claim rendered with :func:`render_claim`."""
    return {name: render_claim(value) for name, value in claims.items()}
