"""The HTTP API's one authorizer: the ``Authorization`` header in, who is calling out (``partnerhub.identity``).

Two kinds of credential arrive as ``Bearer <credential>``:

* an API key (``phk_...``): malformed text is refused without a read; otherwise one consistent ``GetItem`` of
  the credential by the key's public prefix, then the stored SHA-256 compared with the presented key's in constant
  time, and revocation and expiry checked on the injected clock (``domain.api_keys.Credential.refusal``). A use is
  recorded as ``last_used_at`` at most once a minute, by one conditional write;
* anything else is taken for a Cognito ID token and verified as API Gateway's JWT authorizer verified it (issuer,
  audience, expiry, signature against the user pool's keys: ``partnerhub.cognito``).

A person in the ``operators`` group costs one more call: the user pool is asked whether the person has TOTP MFA
enrolled (:class:`MfaDirectory`, ``AdminGetUser`` on Cognito), and the answer says so (``mfa``); the functions
refuse operators' routes without it. Cognito's ID tokens carry no claim that says it (its ``amr`` claim is still
rolling out and only reports how a sign-in went, not what is enrolled), and a token stays valid after an enrolment
is reset, so the pool itself is asked, once per token per cache lifetime. Partners' tokens and API keys never are.

The partner id comes only from the verified credential: the token's ``custom:partner_id`` claim, or the partner
the key was made for. A refusal is an :class:`~partnerhub.identity.Identity` of kind ``refused`` (see that module
for why it is not ``isAuthorized: false``); a failure to verify at all (the user pool's keys cannot be fetched,
DynamoDB is down) is raised, so API Gateway answers 500 and caches nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from partnerhub.clock import Clock
from partnerhub.domain.api_keys import (
    UNKNOWN_KEY,
    USE_RECORDED_EVERY,
    Credential,
    is_key,
    prefix_of,
    refusal_of_text,
)
from partnerhub.identity import OPERATORS, Identity
from partnerhub.observability import logger


class InvalidToken(Exception):
    """The token is not one the user pool issued, or not any more; ``reason`` says which check it failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenVerifier(Protocol):
    def claims(self, token: str, now: datetime) -> Mapping[str, Any]:
        """The claims of a token valid at ``now``; :class:`InvalidToken` otherwise."""
        ...


class UnknownUser(Exception):
    """The user pool has no such user (any more)."""


class MfaDirectory(Protocol):
    def totp_enrolled(self, username: str) -> bool:
        """Whether the user pool's user has TOTP MFA enrolled; :class:`UnknownUser` when there is no such user."""
        ...


class Credentials(Protocol):
    def credential(self, prefix: str) -> Credential | None: ...

    def record_use(self, key_id: str, at: datetime, not_after: datetime) -> bool: ...


def bearer(authorization: str | None) -> str:
    """The credential of an ``Authorization`` header: its value without the ``Bearer`` scheme (either case)."""
    value = (authorization or "").strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value


class Authorizer:
    """Decides who a request comes from."""

    def __init__(self, tokens: TokenVerifier, credentials: Credentials, clock: Clock, mfa: MfaDirectory) -> None:
        self._tokens = tokens
        self._credentials = credentials
        self._clock = clock
        self._mfa = mfa

    def identify(self, authorization: str | None) -> Identity:
        presented = bearer(authorization)
        if not presented:
            return Identity.refused("no credential in the Authorization header")
        if is_key(presented):
            return self._key(presented)
        return self._token(presented)

    def _token(self, token: str) -> Identity:
        try:
            claims = self._tokens.claims(token, self._clock.now())
        except InvalidToken as refused:
            logger.info("token refused", extra={"reason": refused.reason})
            return Identity.refused(f"invalid token: {refused.reason}")
        person = Identity.person(claims)
        if OPERATORS not in person.groups:
            return person
        if not person.username:
            return Identity.refused("invalid token: it names no user")
        try:
            return person.with_mfa(self._mfa.totp_enrolled(person.username))
        except UnknownUser:
            logger.info("token refused", extra={"reason": "the user no longer exists"})
            return Identity.refused("invalid token: the user no longer exists")

    def _key(self, secret: str) -> Identity:
        malformed = refusal_of_text(secret)
        if malformed is not None:
            logger.info("API key refused", extra={"reason": malformed})
            return Identity.refused(malformed)
        prefix = prefix_of(secret)
        credential = self._credentials.credential(prefix)
        now = self._clock.now()
        refusal = UNKNOWN_KEY if credential is None else credential.refusal(secret, now)
        if refusal is not None or credential is None:
            logger.info("API key refused", extra={"reason": refusal, "key_prefix": prefix})
            return Identity.refused(refusal or UNKNOWN_KEY)
        if credential.use_to_record(now):
            self._record_use(credential, now)
        expires = int(credential.expires_at.timestamp() * 1000) if credential.expires_at else None
        return Identity.key(credential.key_id, credential.partner_id, credential.scopes, expires)

    def _record_use(self, credential: Credential, now: datetime) -> None:
        """``last_used_at`` is a convenience for people: a throttled write must not refuse a good key."""
        try:
            self._credentials.record_use(credential.key_id, now, now - USE_RECORDED_EVERY)
        except ClientError as error:
            logger.warning("last use not recorded", extra={"key_id": credential.key_id, "error": str(error)})
