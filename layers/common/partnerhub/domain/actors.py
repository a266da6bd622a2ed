"""Who did something, as the history, the audit log and the logs name them: the one place an actor id is spelled.

An id names a person by the token's ``sub`` claim, which Cognito never reuses; a name for people to read travels
beside it (``AuditEntry.actor_name``)."""

from __future__ import annotations


def user(subject: str) -> str:
    """A person signed in to a partner's account."""
    return f"user:{subject}"


def operator(subject: str) -> str:
    """An operator (Cognito group ``operators``) acting on any partner."""
    return f"operator:{subject}"


def api_key(key_id: str) -> str:
    """An agency's script, calling with one of the partner's API keys (``key_<locator>``)."""
    return f"api_key:{key_id}"


SCHEDULE = "schedule"
"""EventBridge Scheduler's monthly run of the month-end planner (00:15 UTC on the 1st)."""

DIRECT_INVOKE = "invoke"
"""Someone invoked the month-end planner directly with ``{"period"}`` (``aws lambda invoke``), naming no one."""


def local(via: str) -> str:
    """The local stack's controls (never deployed): ``local:invoice-run`` (``POST /_local/invoice-run``),
    ``local:make-invoice`` (``make invoice``)."""
    return f"local:{via}"
