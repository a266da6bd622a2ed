"""Delivering events to agencies' endpoints: the retry schedule, what one attempt changes, when an endpoint is
disabled, the delivery queue's message, and the services that dispatch and attempt deliveries.

Pure: no I/O, no wall clock. How it runs (``docs/integrations.md``, "Webhooks"):

* every delivery is an item that says when its next attempt is due (the due index);
* :class:`Dispatcher` claims due deliveries and sends one message per attempt to the delivery queue, whose message
  group is the endpoint: one endpoint's backlog waits in its own group and never holds up another's;
* :class:`DeliveryService` makes one attempt per message, records its outcome, and schedules the next attempt in
  the due index (after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h), never in the queue. Retries due within
  SQS's 15-minute delay limit also send a wake-up, so they are dispatched on time rather than at the next
  minute's sweep.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import islice
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from partnerhub import retry
from partnerhub.clock import Clock, isoformat
from partnerhub.domain.webhook_endpoints import Endpoint, EndpointConflict

RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
"""After the first attempt fails, the next ones come this long after the one before (SPEC)."""
MAX_ATTEMPTS = 1 + len(RETRY_DELAYS)
ATTEMPT_TIMEOUT_SECONDS = 10
"""A 2xx within this long is delivered."""
DISABLE_AFTER = timedelta(days=5)
"""An endpoint whose every delivery failed for this long is disabled."""
WAKE_LIMIT = timedelta(minutes=15)
"""The longest delay SQS can put on a message: retries sooner than this also get a wake-up."""
DISPATCH_LEASE = timedelta(hours=1)
"""A dispatched delivery is due again after this long if its attempt never started (a lost message)."""
ATTEMPT_LEASE = timedelta(minutes=5)
"""An attempt that started is due again after this long if it never finished (its function died mid-way)."""
HISTORY = MAX_ATTEMPTS


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class AttemptResult(BaseModel):
    """What one attempt saw: the status code (None when no answer came), how long it took, why it failed, and a
    short excerpt of the answer's body (never the whole answer)."""

    model_config = ConfigDict(frozen=True)

    status_code: int | None = None
    duration_ms: int = 0
    error: str | None = None
    response: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


class AttemptRecord(BaseModel):
    """One attempt, as the delivery keeps it."""

    model_config = ConfigDict(frozen=True)

    attempt: int
    at: datetime
    status_code: int | None = None
    duration_ms: int = 0
    error: str | None = None


class Delivery(BaseModel):
    """One event's delivery to one endpoint (or a redelivery someone asked for: ``manual``, a single attempt).

    ``attempt`` counts the attempts made; ``next_attempt_at`` is when the next one is due (None once delivered or
    failed); ``due_at`` is where the delivery stands in the due index (the next attempt, or a lease while a message
    for it is on its way), None when nothing more will happen."""

    model_config = ConfigDict(frozen=True)

    partner_id: str
    endpoint_id: str
    delivery_id: str
    event_id: str
    type: str
    created_at: datetime
    state: DeliveryState = DeliveryState.PENDING
    attempt: int = 0
    manual: bool = False
    next_attempt_at: datetime | None = None
    due_at: datetime | None = None
    delivered_at: datetime | None = None
    status_code: int | None = None
    duration_ms: int | None = None
    error: str | None = None
    response: str | None = None
    history: tuple[AttemptRecord, ...] = ()


def new_delivery(
    partner_id: str, endpoint_id: str, delivery_id: str, event_id: str, event_type: str, at: datetime, *, manual: bool
) -> Delivery:
    """A delivery whose first attempt is due at once."""
    return Delivery(
        partner_id=partner_id,
        endpoint_id=endpoint_id,
        delivery_id=delivery_id,
        event_id=event_id,
        type=event_type,
        created_at=at,
        manual=manual,
        next_attempt_at=at,
        due_at=at,
    )


def next_delay(attempts_made: int, *, manual: bool = False) -> timedelta | None:
    """How long after a failed attempt (the ``attempts_made``-th) the next one comes; None when none will.
    A redelivery someone asked for is one attempt only."""
    if manual or attempts_made >= MAX_ATTEMPTS:
        return None
    return RETRY_DELAYS[attempts_made - 1]


def after_attempt(delivery: Delivery, result: AttemptResult, at: datetime) -> Delivery:
    """The delivery once its current attempt (``delivery.attempt``) ended with ``result`` at ``at``."""
    if result.ok:
        return _ended(delivery, result, at, state=DeliveryState.DELIVERED, next_at=None)
    delay = next_delay(delivery.attempt, manual=delivery.manual)
    if delay is None:
        return _ended(delivery, result, at, state=DeliveryState.FAILED, next_at=None)
    return _ended(delivery, result, at, state=DeliveryState.PENDING, next_at=at + delay)


def given_up(delivery: Delivery, reason: str, at: datetime) -> Delivery:
    """The delivery failed for good without an attempt (its endpoint was deleted or disabled, its event expired)."""
    return _ended(delivery, AttemptResult(error=reason), at, state=DeliveryState.FAILED, next_at=None)


def _ended(
    delivery: Delivery, result: AttemptResult, at: datetime, *, state: DeliveryState, next_at: datetime | None
) -> Delivery:
    record = AttemptRecord(
        attempt=delivery.attempt,
        at=at,
        status_code=result.status_code,
        duration_ms=result.duration_ms,
        error=result.error,
    )
    return delivery.model_copy(
        update={
            "state": state,
            "status_code": result.status_code,
            "duration_ms": result.duration_ms,
            "error": result.error,
            "response": result.response,
            "history": (*delivery.history, record)[-HISTORY:],
            "delivered_at": at if state is DeliveryState.DELIVERED else delivery.delivered_at,
            "next_attempt_at": next_at,
            "due_at": next_at,
        }
    )


def endpoint_after(endpoint: Endpoint, result: AttemptResult, at: datetime) -> Endpoint | None:
    """The endpoint after one of its deliveries' attempts ended (None: unchanged). A success ends a run of failures;
    a failure starts one; an endpoint whose every attempt failed for :data:`DISABLE_AFTER` is disabled, with the
    reason shown."""
    if result.ok:
        return endpoint.model_copy(update={"failing_since": None}) if endpoint.failing_since is not None else None
    if endpoint.failing_since is None:
        return endpoint.model_copy(update={"failing_since": at})
    if endpoint.enabled and at - endpoint.failing_since >= DISABLE_AFTER:
        reason = (
            f"Every delivery failed for {DISABLE_AFTER.days} days (since {isoformat(endpoint.failing_since)}); "
            f"the last error: {result.error or 'no answer'}. Fix the endpoint, then enable it again."
        )
        return endpoint.model_copy(update={"enabled": False, "disabled_reason": reason[:500], "disabled_at": at})
    return None


class BadMessage(ValueError):
    """A delivery queue message this code did not write."""


@dataclass(frozen=True)
class DeliveryMessage:
    """The delivery queue's message: make attempt ``attempt`` of one delivery. Its message group is the endpoint."""

    partner_id: str
    endpoint_id: str
    delivery_id: str
    created_at: datetime
    attempt: int

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryMessage:
        return cls(
            delivery.partner_id, delivery.endpoint_id, delivery.delivery_id, delivery.created_at, delivery.attempt + 1
        )

    @property
    def group(self) -> str:
        return self.endpoint_id

    @property
    def deduplication_id(self) -> str:
        return f"{self.delivery_id}-{self.attempt}"

    def body(self) -> str:
        return json.dumps(
            {
                "partner_id": self.partner_id,
                "endpoint_id": self.endpoint_id,
                "delivery_id": self.delivery_id,
                "created_at": self.created_at.isoformat(),
                "attempt": self.attempt,
            },
            separators=(",", ":"),
        )

    @classmethod
    def parse(cls, text: str) -> DeliveryMessage:
        try:
            data = json.loads(text)
            found = cls(
                str(data["partner_id"]),
                str(data["endpoint_id"]),
                str(data["delivery_id"]),
                datetime.fromisoformat(str(data["created_at"])),
                int(data["attempt"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise BadMessage(f"not a delivery message: {text[:200]!r}") from error
        if found.attempt < 1 or found.created_at.tzinfo is None:
            raise BadMessage(f"not a delivery message: {text[:200]!r}")
        return found


# -- ports ----------------------------------------------------------------------------------------------------------


class DeliveryStore(Protocol):
    def claim(self, delivery: Delivery, until: datetime) -> bool:
        """Move the delivery's place in the due index from ``delivery.due_at`` to ``until``, if it is still there and
        pending: only one dispatcher sends a message for it."""
        ...

    def due(self, at: datetime) -> Iterator[Delivery]:
        """Pending deliveries whose place in the due index is at or before ``at``."""
        ...

    def start_attempt(self, message: DeliveryMessage, at: datetime, lease_until: datetime) -> Delivery | None:
        """Count attempt ``message.attempt`` as made, if the delivery is pending, has made the attempts before it,
        and is due at ``at``; the delivery as it is now, or None (a stale or repeated message)."""
        ...

    def finish_attempt(self, delivery: Delivery) -> None:
        """Write the outcome of ``delivery.attempt`` (unless another attempt has started since)."""
        ...

    def endpoint(self, partner_id: str, endpoint_id: str) -> Endpoint | None: ...

    def save(self, before: Endpoint, after: Endpoint) -> None:
        """Write ``after`` if the endpoint is still ``before``, else ``EndpointConflict``."""
        ...

    def event_body(self, partner_id: str, event_id: str) -> str | None:
        """The event's body, exactly as every attempt sends it; None once it is no longer kept."""
        ...


class DeliveryQueue(Protocol):
    def send(self, messages: Sequence[DeliveryMessage]) -> None: ...


class Wake(Protocol):
    def after(self, delay: timedelta) -> None:
        """Ask for a sweep of the due index in ``delay`` (at most 15 minutes)."""
        ...


class Sender(Protocol):
    def send(self, url: str, body: bytes, message_id: str, at: datetime, secrets: Sequence[str]) -> AttemptResult:
        """POST ``body`` to ``url``, signed with every one of ``secrets``; never raises for what the endpoint does."""
        ...


# -- services -------------------------------------------------------------------------------------------------------


class Dispatcher:
    """Sends due deliveries to the delivery queue, each claimed first so that one message goes out per attempt."""

    def __init__(self, store: DeliveryStore, queue: DeliveryQueue, clock: Clock, *, sweep_limit: int = 2000) -> None:
        self._store = store
        self._queue = queue
        self._clock = clock
        self._sweep_limit = sweep_limit

    def dispatch(self, deliveries: Sequence[Delivery]) -> int:
        """Claim each delivery (lease: :data:`DISPATCH_LEASE`) and send a message for those claimed; how many."""
        until = self._clock.now() + DISPATCH_LEASE
        claimed = [d for d in deliveries if d.state is DeliveryState.PENDING and self._store.claim(d, until)]
        if claimed:
            self._queue.send([DeliveryMessage.of(d) for d in claimed])
        return len(claimed)

    def sweep(self) -> int:
        """Dispatch every delivery due now (up to the sweep limit; the next sweep takes the rest)."""
        due = list(islice(self._store.due(self._clock.now()), self._sweep_limit))
        return self.dispatch(due)


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRYING = "retrying"
    FAILED = "failed"
    SKIPPED = "skipped"  # a stale or repeated message: nothing done


class DeliveryService:
    """Makes the attempt a delivery queue message asks for, and records what came of it."""

    def __init__(
        self, store: DeliveryStore, sender: Sender, wake: Wake, clock: Clock, *, max_attempts: int = 5
    ) -> None:
        self._store = store
        self._sender = sender
        self._wake = wake
        self._clock = clock
        self._max_attempts = max_attempts

    def attempt(self, message: DeliveryMessage) -> tuple[Outcome, Delivery | None]:
        started = self._clock.now()
        delivery = self._store.start_attempt(message, started, started + ATTEMPT_LEASE)
        if delivery is None:
            return Outcome.SKIPPED, None
        endpoint = self._store.endpoint(delivery.partner_id, delivery.endpoint_id)
        body = self._store.event_body(delivery.partner_id, delivery.event_id)
        if endpoint is None or not endpoint.enabled or body is None:
            reason = (
                "the endpoint was deleted"
                if endpoint is None
                else "the endpoint is disabled"
                if not endpoint.enabled
                else "the event is no longer kept (30 days)"
            )
            done = given_up(delivery, f"{reason}: no attempt made", self._clock.now())
            self._store.finish_attempt(done)
            return Outcome.FAILED, done
        result = self._sender.send(
            endpoint.url, body.encode(), delivery.event_id, started, endpoint.signing_secrets(started)
        )
        ended = self._clock.now()
        done = after_attempt(delivery, result, ended)
        self._store.finish_attempt(done)
        self._note_on_endpoint(endpoint, result, ended)
        if done.state is DeliveryState.DELIVERED:
            return Outcome.DELIVERED, done
        if done.state is DeliveryState.FAILED:
            return Outcome.FAILED, done
        assert done.next_attempt_at is not None
        delay = done.next_attempt_at - ended
        if delay <= WAKE_LIMIT:
            self._wake.after(delay)
        return Outcome.RETRYING, done

    def _note_on_endpoint(self, seen: Endpoint, result: AttemptResult, at: datetime) -> None:
        """Start, end or act on the endpoint's run of failures (re-read when another writer moved it first). Giving
        up after the conflict retries only delays the note to the endpoint's next attempt."""
        current: Endpoint | None = seen

        def note() -> None:
            nonlocal current
            if current is None:
                return
            after = endpoint_after(current, result, at)
            if after is None:
                return
            try:
                self._store.save(current, after.model_copy(update={"version": current.version + 1, "updated_at": at}))
            except EndpointConflict:
                current = self._store.endpoint(seen.partner_id, seen.endpoint_id)
                raise

        with contextlib.suppress(EndpointConflict):
            retry.on_conflict((EndpointConflict,), attempts=self._max_attempts)(note)
