"""Signed webhook delivery on a background thread: in order, retried with backoff, with test controls."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import urllib.error
import urllib.request
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from partnerhub.clock import Clock


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header value for ``payload``, as ``stripe.Webhook.construct_event`` checks it."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _checked(url: str | None) -> str | None:
    if url is not None and not url.startswith(("http://", "https://")):
        raise ValueError(f"webhook URL must be http(s): {url!r}")
    return url


@dataclass(frozen=True)
class Attempt:
    """One POST of one event to the endpoint."""

    event_id: str
    event_type: str
    attempt: int
    url: str
    status: int | None
    error: str | None
    delivered: bool
    at: str


class WebhookSender:
    """Queue of events to POST to one endpoint, sent one at a time by a daemon thread."""

    def __init__(
        self,
        clock: Clock,
        url: str | None,
        secret: str,
        *,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        timeout_s: float = 5.0,
    ) -> None:
        self.clock = clock
        self.url = _checked(url)
        self.secret = secret
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self._cond = threading.Condition()
        self._queue: deque[dict[str, Any]] = deque()
        self._held: list[dict[str, Any]] = []
        self._holding = False
        self._busy = False
        self._stopping = threading.Event()
        self._attempts: list[Attempt] = []
        self._thread = threading.Thread(target=self._run, name="stripe-emulator-webhooks", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ controls

    def configure(self, url: str | None = None, secret: str | None = None) -> None:
        """Point deliveries at another endpoint and/or signing secret."""
        with self._cond:
            if url is not None:
                self.url = _checked(url or None)
            if secret is not None:
                self.secret = secret

    def enqueue(self, events: list[dict[str, Any]]) -> None:
        """Queue freshly recorded events (or hold them, when holding)."""
        if not events:
            return
        with self._cond:
            if self.url is None:
                return
            if self._holding:
                self._held.extend(events)
            else:
                self._queue.extend(events)
                self._cond.notify_all()

    def hold(self, on: bool = True) -> None:
        """Keep new events back until :meth:`release`."""
        with self._cond:
            self._holding = on

    def release(self, order: str = "in_order", seed: int | None = None, duplicate: bool = False) -> int:
        """Send the held events ``in_order``, ``reversed`` or ``shuffled`` (seeded), each twice if ``duplicate``.

        Holding stops; returns how many deliveries were queued.
        """
        with self._cond:
            held, self._held, self._holding = self._held, [], False
            if order == "reversed":
                held.reverse()
            elif order == "shuffled":
                random.Random(seed).shuffle(held)
            elif order != "in_order":
                self._held, self._holding = held, True
                raise ValueError("order must be in_order, reversed or shuffled")
            batch = [event for event in held for _ in range(2 if duplicate else 1)]
            self._queue.extend(batch)
            self._cond.notify_all()
            return len(batch)

    def redeliver(self, event: dict[str, Any]) -> None:
        """Send one event again, regardless of holding."""
        with self._cond:
            self._queue.append(event)
            self._cond.notify_all()

    def attempts(self) -> list[dict[str, Any]]:
        with self._cond:
            return [asdict(attempt) for attempt in self._attempts]

    def status(self) -> dict[str, Any]:
        with self._cond:
            return {
                "url": self.url,
                "holding": self._holding,
                "held": len(self._held),
                "queued": len(self._queue),
                "busy": self._busy,
            }

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is queued or being sent (held events do not count)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def clear(self) -> None:
        """Drop queued and held events and the attempt log (an in-flight delivery still finishes)."""
        with self._cond:
            self._queue.clear()
            self._held.clear()
            self._holding = False
            self._attempts.clear()
            self._cond.notify_all()

    def stop(self) -> None:
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=5)

    # ------------------------------------------------------------ delivery

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._stopping.is_set())
                if self._stopping.is_set():
                    return
                event = self._queue.popleft()
                url, secret = self.url, self.secret
                self._busy = True
            try:
                if url is not None:
                    self._deliver(event, url, secret)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _deliver(self, event: dict[str, Any], url: str, secret: str) -> None:
        payload = json.dumps(event, indent=2).encode()
        for attempt in range(1, self.max_attempts + 1):
            timestamp = int(self.clock.now().timestamp())
            # Only http(s) URLs get this far (see _checked).
            request = urllib.request.Request(  # noqa: S310
                url,
                data=payload,
                method="POST",
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                    "Stripe-Signature": sign(payload, secret, timestamp),
                },
            )
            status: int | None = None
            error: str | None = None
            try:
                # The URL's scheme is checked to be http(s) when it is configured.
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310  # noqa: S310
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (urllib.error.URLError, OSError) as exc:
                error = str(exc)
            delivered = status is not None and 200 <= status < 300
            with self._cond:
                self._attempts.append(
                    Attempt(
                        event["id"],
                        event["type"],
                        attempt,
                        url,
                        status,
                        error,
                        delivered,
                        datetime.now(UTC).isoformat(),
                    )
                )
            if delivered or attempt == self.max_attempts:
                return
            # Exponential backoff, cut short when the sender is stopped.
            if self._stopping.wait(self.backoff_s * 2 ** (attempt - 1)):
                return
