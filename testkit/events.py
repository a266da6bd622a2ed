"""Load the sample events in events/ and adapt them to a test: partner, groups, body, path and query."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

EVENTS = Path(__file__).resolve().parents[1] / "events"


@cache
def _raw(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def load_event(
    name: str,
    *,
    partner_id: str | None = None,
    groups: tuple[str, ...] | None = None,
    body: Any = ...,
    raw_body: str | None = None,
    path: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    drop_headers: tuple[str, ...] = (),
    key_scopes: tuple[str, ...] | None = None,
    mfa: str | None = None,
) -> dict[str, Any]:
    """A copy of ``events/<name>.json`` changed as asked; everything else stays as the sample has it.

    The caller is the authorizer's context (``partnerhub.identity``): ``partner_id`` and ``groups`` change the
    person's; ``key_scopes`` makes the caller one of the partner's API keys with those scopes; ``mfa`` what the
    authorizer found of the person's MFA (``totp``, ``none``; the operators' samples have ``totp``)."""
    event = copy.deepcopy(_raw(name))
    identity = event.get("requestContext", {}).get("authorizer", {}).get("lambda")
    if identity is not None and partner_id is not None:
        identity["partner_id"] = partner_id
        identity["subject"] = f"user-of-{partner_id}"
    if identity is not None and groups is not None:
        identity.pop("groups", None)
        if groups:
            identity["groups"] = " ".join(groups)
    if identity is not None and key_scopes is not None:
        for person_only in ("groups", "email", "username", "amr", "auth_time", "mfa"):
            identity.pop(person_only, None)
        identity.update(kind="api_key", subject="key_Sample01", scopes=" ".join(key_scopes))
    if identity is not None and mfa is not None:
        identity["mfa"] = mfa
    if body is not ...:
        event["body"] = json.dumps(body)
        # A JSON body travels as JSON, as every HTTP client sends it.
        event.setdefault("headers", {}).setdefault("content-type", "application/json")
    if raw_body is not None:
        event["body"] = raw_body
    if path:
        event["pathParameters"] = {**event.get("pathParameters", {}), **path}
        raw_path = event["routeKey"].split(" ", 1)[1]
        for param, value in event["pathParameters"].items():
            raw_path = raw_path.replace("{" + param + "}", value)
        event["rawPath"] = raw_path
        event["requestContext"]["http"]["path"] = raw_path
    if query is not None:
        event["queryStringParameters"] = dict(query)
        event["rawQueryString"] = urlencode(query)
    for name_ in drop_headers:
        event["headers"].pop(name_, None)
    if headers:
        event["headers"].update({k.lower(): v for k, v in headers.items()})
    return event
