"""The operators' audit log: who did what to which object, when, and with which request.

Pure: an entry is a plain value. Where the action is a DynamoDB write, the repository writes the entry in
the same transaction as the action (so there is never an action without its entry, nor an entry without its
action); where the action happens in Stripe or SQS, the entry is written after the action succeeded.
Idempotent replays (the same Idempotency-Key) never run the command again, so they never write a second entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SUMMARY_MAX_CHARS = 2000
"""A summary is the request's fields, cut to this many characters of JSON (a request is small anyway)."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One operator action. ``entry_id`` is the action's receipt (a hash of the Idempotency-Key when one was
    sent), ``actor`` the operator's id (``domain.actors``), ``target`` names the object (``product:jetpack-backup``,
    ``invoice:in_...``, ``partner:agency-42``, ``invoice-run:2026-11``)."""

    entry_id: str
    at: datetime
    actor: str
    action: str
    target: str
    summary: Mapping[str, Any] = field(default_factory=dict)
    actor_name: str | None = None
    """The operator's email (or user name) from the token, for people reading the log; ``actor`` stays the id."""


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: list[AuditEntry]
    next_cursor: str | None
