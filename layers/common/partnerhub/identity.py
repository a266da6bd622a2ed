"""Who a request comes from, as the HTTP API's authorizer tells the functions.

The API's one authorizer (``functions/authorizer``) verifies the ``Authorization`` header, a Cognito ID token or an
API key, and answers with a context of plain values (an HTTP API simple response carries strings, numbers and
booleans, nothing nested). API Gateway caches that answer for the authorizer's TTL and hands it to every function
as ``requestContext.authorizer.lambda``. This module is the one spelling of that context: the authorizer writes it
(:meth:`Identity.context`), the functions read it (:meth:`Identity.from_context`, in ``partnerhub.api.caller_of``).

A credential the authorizer refuses is answered ``isAuthorized: true`` all the same, as kind ``refused`` with the
reason: HTTP API turns a Lambda authorizer's ``false`` into a bare 403, while the API's contract is a 401 in the
project's error shape, and a refusal cached like an acceptance makes a bad key cost no more than a cached lookup.
Every function's resolver turns a refused identity into that 401 before any route runs (``partnerhub.api``).

An operator's answer also says whether the person has TOTP MFA enrolled (``mfa``: ``totp`` or ``none``), which the
authorizer asks the user pool (``partnerhub.authorizer.MfaDirectory``) because Cognito's tokens do not say it; the
functions refuse an operator route to an operator without it (``partnerhub.api.Caller.require_operator``). It is
cached with the rest of the answer, per token: a person who enrols then uses a fresh token (the portal renews it).

Expiry travels as an instant (``expires_ms``), not as a verdict: the functions compare it with the request's own
time, so a cached answer never keeps a token or a key alive past its expiry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

Kind = Literal["person", "api_key", "refused"]
Mfa = Literal["totp", "none"]

OPERATORS = "operators"
"""The user pool group of the vendor's operators (the JWT group ``operators``)."""
TOTP: Mfa = "totp"
NO_MFA: Mfa = "none"
PERSON: Kind = "person"
API_KEY: Kind = "api_key"
REFUSED: Kind = "refused"


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified caller, or a refused credential and why."""

    kind: Kind
    subject: str = ""
    """The token's ``sub`` (a person), or the key's id (``key_<locator>``)."""
    partner_id: str | None = None
    groups: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    """A key's scopes; a person's token has none (people are not limited by scope)."""
    email: str | None = None
    username: str | None = None
    amr: tuple[str, ...] = ()
    """How the person signed in (the token's ``amr``, when Cognito puts one in), for rules such as operators' MFA."""
    auth_time: int | None = None
    mfa: Mfa | None = None
    """Whether the person has TOTP MFA enrolled; asked of the user pool for operators only (None: not asked)."""
    expires_ms: int | None = None
    """When the credential stops working, in epoch milliseconds (a token's ``exp``, a key's ``expires_at``)."""
    reason: str | None = None

    @classmethod
    def person(cls, claims: Mapping[str, Any]) -> Identity:
        """A person, from the claims of an ID token the authorizer verified."""
        exp = claims.get("exp")
        auth_time = claims.get("auth_time")
        partner = claims.get("custom:partner_id")
        username = claims.get("cognito:username") or claims.get("username")
        return cls(
            kind=PERSON,
            subject=str(claims.get("sub") or ""),
            partner_id=str(partner) if partner else None,
            groups=_names(claims.get("cognito:groups")),
            email=str(claims["email"]) if claims.get("email") else None,
            username=str(username) if username else None,
            amr=_names(claims.get("amr")),
            auth_time=int(auth_time) if isinstance(auth_time, int | float) else None,
            expires_ms=int(exp * 1000) if isinstance(exp, int | float) else None,
        )

    def with_mfa(self, enrolled: bool) -> Identity:
        """This person, with what the user pool says of their MFA."""
        return replace(self, mfa=TOTP if enrolled else NO_MFA)

    @classmethod
    def key(cls, key_id: str, partner_id: str, scopes: Iterable[str], expires_ms: int | None) -> Identity:
        """One of a partner's API keys, with the scopes it was given."""
        return cls(kind=API_KEY, subject=key_id, partner_id=partner_id, scopes=tuple(scopes), expires_ms=expires_ms)

    @classmethod
    def refused(cls, reason: str) -> Identity:
        return cls(kind=REFUSED, reason=reason)

    def context(self) -> dict[str, str | int]:
        """The authorizer's context: plain values only, lists as space-separated names, absent values left out."""
        found: dict[str, str | int | None] = {
            "kind": self.kind,
            "subject": self.subject or None,
            "partner_id": self.partner_id,
            "groups": " ".join(self.groups) or None,
            "scopes": " ".join(self.scopes) or None,
            "email": self.email,
            "username": self.username,
            "amr": " ".join(self.amr) or None,
            "auth_time": self.auth_time,
            "mfa": self.mfa,
            "expires_ms": self.expires_ms,
            "reason": self.reason,
        }
        return {name: value for name, value in found.items() if value is not None}

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> Identity:
        """What :meth:`context` wrote (API Gateway may hand numbers back as numbers or as text)."""
        kind = context.get("kind")
        if kind not in (PERSON, API_KEY):
            return cls.refused(str(context.get("reason") or "no verified identity on the request"))
        return cls(
            kind=kind,
            subject=str(context.get("subject") or ""),
            partner_id=str(context["partner_id"]) if context.get("partner_id") else None,
            groups=_names(context.get("groups")),
            scopes=_names(context.get("scopes")),
            email=str(context["email"]) if context.get("email") else None,
            username=str(context["username"]) if context.get("username") else None,
            amr=_names(context.get("amr")),
            auth_time=_integer(context.get("auth_time")),
            mfa=_mfa(context.get("mfa")),
            expires_ms=_integer(context.get("expires_ms")),
        )


def _names(raw: Any) -> tuple[str, ...]:
    """Names from a list, or from text: space-separated, or a JSON array (a token's claim may be either)."""
    if raw is None:
        return ()
    if isinstance(raw, list | tuple):
        return tuple(str(name) for name in raw if str(name))
    text = str(raw).strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            text = text.strip("[]")
        else:
            return _names(parsed) if isinstance(parsed, list) else ()
    return tuple(part for part in text.replace(",", " ").split() if part)


def _mfa(raw: Any) -> Mfa | None:
    if raw == TOTP:
        return TOTP
    if raw == NO_MFA:
        return NO_MFA
    return None


def _integer(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return int(raw)
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw.strip())
    return None
