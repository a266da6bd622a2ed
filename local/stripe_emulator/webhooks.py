"""Signed webhook delivery on background threads: concurrent and in no particular order, retried with backoff.

https://docs.stripe.com/webhooks#event-ordering: "Stripe doesn't guarantee the delivery of events in the order
that they're generated"; the endpoint must handle duplicates (#handle-duplicate-events) and concurrent
deliveries. So by default several workers each take a random pending delivery (seeded), and a failed delivery
goes back among the pending ones after its backoff, behind nothing. ``ordered`` delivers one at a time, oldest
first, for a test that is about something else and says why it needs the order.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import stripe

from partnerhub.clock import Clock


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header value for ``payload``: made by Stripe's own SDK, the project's one signer."""
    return str(stripe.WebhookSignature.generate_signature_header(payload.decode(), secret, timestamp))


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


@dataclass
class _Delivery:
    event: dict[str, Any]
    attempt: int = 1
    not_before: float = 0.0  # time.monotonic() before which it is not sent again


class WebhookSender:
    """Deliveries of events to one endpoint by ``concurrency`` daemon threads (one when ``ordered``)."""

    def __init__(
        self,
        clock: Clock,
        url: str | None,
        secret: str,
        *,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        timeout_s: float = 10.0,
        ordered: bool = False,
        concurrency: int = 4,
        seed: int | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.clock = clock
        self.url = _checked(url)
        self.secret = secret
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.ordered = ordered
        self._rng = random.Random(seed)
        self._cond = threading.Condition()
        self._pending: list[_Delivery] = []
        self._held: list[dict[str, Any]] = []
        self._holding = False
        self._busy = 0
        self._stopping = threading.Event()
        self._attempts: list[Attempt] = []
        self._threads = [
            threading.Thread(target=self._run, name=f"stripe-emulator-webhooks-{n}", daemon=True)
            for n in range(concurrency)
        ]
        for thread in self._threads:
            thread.start()

    # ------------------------------------------------------------ controls

    def configure(self, url: str | None = None, secret: str | None = None, ordered: bool | None = None) -> None:
        """Point deliveries at another endpoint and/or signing secret, or change whether they keep order."""
        with self._cond:
            if url is not None:
                self.url = _checked(url or None)
            if secret is not None:
                self.secret = secret
            if ordered is not None:
                self.ordered = ordered
            self._cond.notify_all()

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
                self._pending.extend(_Delivery(event) for event in events)
                self._cond.notify_all()

    def hold(self, on: bool = True) -> None:
        """Keep new events back until :meth:`release`."""
        with self._cond:
            self._holding = on

    def release(self, order: str = "in_order", seed: int | None = None, duplicate: bool = False) -> int:
        """Queue the held events ``in_order``, ``reversed`` or ``shuffled`` (seeded), each twice if ``duplicate``.

        The order is the order they are queued in: an ordered sender delivers them so, an unordered one as it
        delivers everything. Holding stops; returns how many deliveries were queued.
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
            self._pending.extend(_Delivery(event) for event in batch)
            self._cond.notify_all()
            return len(batch)

    def redeliver(self, event: dict[str, Any]) -> None:
        """Send one event again, regardless of holding."""
        with self._cond:
            self._pending.append(_Delivery(event))
            self._cond.notify_all()

    def attempts(self) -> list[dict[str, Any]]:
        with self._cond:
            return [asdict(attempt) for attempt in self._attempts]

    def status(self) -> dict[str, Any]:
        with self._cond:
            return {
                "url": self.url,
                "ordered": self.ordered,
                "concurrency": len(self._threads),
                "holding": self._holding,
                "held": len(self._held),
                "queued": len(self._pending),
                "busy": self._busy,
            }

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is pending or being sent (held events do not count)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def clear(self) -> None:
        """Drop pending and held events and the attempt log (deliveries in flight still finish)."""
        with self._cond:
            self._pending.clear()
            self._held.clear()
            self._holding = False
            self._attempts.clear()
            self._cond.notify_all()

    def stop(self) -> None:
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)

    # ------------------------------------------------------------ delivery

    def _next(self) -> _Delivery | None:
        """The delivery to send now (the lock held), or None: oldest first and one at a time when ordered, else any
        one that is due, at random."""
        if self.ordered:
            if self._busy or not self._pending:
                return None
            head = self._pending[0]
            return self._pending.pop(0) if head.not_before <= time.monotonic() else None
        now = time.monotonic()
        due = [index for index, delivery in enumerate(self._pending) if delivery.not_before <= now]
        if not due:
            return None
        return self._pending.pop(self._rng.choice(due))

    def _wait_time(self) -> float | None:
        """How long until a pending delivery falls due (None: nothing pending)."""
        if not self._pending or (self.ordered and self._busy):
            return None  # woken by notify when one is queued or the one in flight is done
        return max(0.0, min(d.not_before for d in self._pending) - time.monotonic())

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._cond:
                delivery = self._next()
                while delivery is None and not self._stopping.is_set():
                    self._cond.wait(self._wait_time())
                    delivery = self._next()
                if delivery is None:
                    return
                url, secret = self.url, self.secret
                self._busy += 1
            again: _Delivery | None = None
            try:
                again = self._deliver(delivery, url, secret) if url is not None else None
            finally:
                with self._cond:
                    self._busy -= 1
                    if again is not None and self.ordered:
                        self._pending.insert(0, again)  # in order: nothing overtakes it
                    elif again is not None:
                        self._pending.append(again)  # behind nothing: one more pending delivery, due after its backoff
                    self._cond.notify_all()

    def _deliver(self, delivery: _Delivery, url: str, secret: str) -> _Delivery | None:
        """POST one event once; the delivery to try again (after its backoff), or None when it is done."""
        event = delivery.event
        payload = json.dumps(event, indent=2).encode()
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
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            error = str(exc)
        delivered = status is not None and 200 <= status < 300
        with self._cond:
            self._attempts.append(
                Attempt(
                    str(event["id"]),
                    str(event["type"]),
                    delivery.attempt,
                    url,
                    status,
                    error,
                    delivered,
                    # When it was sent, by the machine's clock: a log for people, not a business time.
                    datetime.now(UTC).isoformat(),
                )
            )
        if delivered or delivery.attempt >= self.max_attempts:
            return None
        backoff = self.backoff_s * 2 ** (delivery.attempt - 1)
        return _Delivery(event, delivery.attempt + 1, time.monotonic() + backoff)
