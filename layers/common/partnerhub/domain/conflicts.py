"""Lost races: a versioned write or a transaction that another command got to first. The commands re-read and
try again (``retry.on_conflict``); neither ever reaches a caller."""

from __future__ import annotations


class VersionConflict(Exception):
    """The record changed between read and write; re-read and try again."""


class TransientConflict(Exception):
    """DynamoDB cancelled a transaction because another one touched the same items; retry."""
