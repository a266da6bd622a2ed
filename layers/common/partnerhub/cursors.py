"""Opaque list cursors: a small JSON object in URL-safe base64 without padding.

Each list decides what its cursor holds and checks it after ``decode``; a cursor that is not one of its own is
422 naming ``cursor`` (``invalid``), never a 5xx."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from partnerhub.errors import ValidationFailed

LIST_REASON = "not a cursor of this list"


def encode(payload: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def invalid(reason: str = LIST_REASON, where: str | None = None) -> ValidationFailed:
    detail = {"field": "cursor", "in": where, "reason": reason} if where else {"field": "cursor", "reason": reason}
    return ValidationFailed("invalid cursor", details=[detail])


def decode(cursor: str, reason: str = LIST_REASON, where: str | None = None) -> dict[str, Any]:
    """The JSON object ``encode`` wrote; ``invalid`` for anything else."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid(reason, where) from None
    if not isinstance(payload, dict):
        raise invalid(reason, where)
    return payload
