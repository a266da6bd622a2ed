"""Stripe's idempotency keys: replay the first result for the same key and parameters, per API key.

https://docs.stripe.com/api/idempotent_requests: Stripe saves "the resulting status code and body of the first
request made for any given idempotency key, regardless of whether it succeeds or fails", 500s included, once the
endpoint began executing, and prunes keys "after they're at least 24 hours old".
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Stripe prunes keys once they are at least 24 hours old.
KEY_LIFETIME_S = 24 * 3600


@dataclass(frozen=True)
class Saved:
    """The first response given for one key."""

    fingerprint: str
    status: int
    body: bytes
    saved_at: int
    headers: dict[str, str] = field(default_factory=dict)
    """Headers replayed with it (``Stripe-Should-Retry`` on a saved 500)."""


class IdempotencyCache:
    """Saved responses by (API key, Idempotency-Key). Callers serialise access with the store's lock."""

    def __init__(self) -> None:
        self._saved: dict[tuple[str, str], Saved] = {}

    def get(self, scope: str, key: str, now: int) -> Saved | None:
        saved = self._saved.get((scope, key))
        if saved is not None and now - saved.saved_at >= KEY_LIFETIME_S:
            del self._saved[(scope, key)]
            return None
        return saved

    def put(self, scope: str, key: str, saved: Saved) -> None:
        self._saved[(scope, key)] = saved

    def clear(self) -> None:
        self._saved.clear()
