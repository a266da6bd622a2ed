"""The month-end planner: one message per partner with billable licenses in the month to bill.

Started by the schedule at 00:15 UTC on the 1st with ``{}`` (the month that just ended), or by an operator's
run request (``{"period": "YYYY-MM"}``, through the planner's request queue). Partners come from the sparse
billable-partner registry, never from a Scan. Planning the same month twice is harmless: the worker's
partner-month record makes a second message a no-op.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from partnerhub.clock import Clock
from partnerhub.domain.invoicing import PeriodNotEnded, previous_period, require_ended
from partnerhub.domain.periods import Period

LISTED = 1000
"""Partners named in a plan's result, for an operator's by-hand run; the count is always exact."""


class PlanningError(ValueError):
    """The run was asked for a month that cannot be invoiced."""


class BadMessage(ValueError):
    """A message that is not what its queue carries: it can never succeed."""


@dataclass(frozen=True)
class RunRequest:
    """The planner's request queue: run month-end invoicing of ``period``."""

    period: str

    def body(self) -> str:
        return json.dumps({"period": self.period})

    @classmethod
    def parse(cls, body: str) -> RunRequest:
        request = _json_object(body)
        if not isinstance(request.get("period"), str):
            raise BadMessage(f"a run request names no period: {body[:200]!r}")
        return cls(request["period"])


@dataclass(frozen=True)
class PartnerMonth:
    """The worker's queue: invoice ``partner_id`` for ``period`` (``YYYY-MM``)."""

    partner_id: str
    period: str

    def body(self) -> str:
        return json.dumps({"partner_id": self.partner_id, "period": self.period})

    @classmethod
    def parse(cls, body: str) -> PartnerMonth:
        message = _json_object(body)
        partner_id, period = message.get("partner_id"), message.get("period")
        try:
            if not isinstance(partner_id, str) or not isinstance(period, str):
                raise ValueError("partner_id and period must be strings")
            Period.parse(period)
        except ValueError as error:
            raise BadMessage(f"not a partner-month: {body[:200]!r}") from error
        return cls(partner_id, period)


def _json_object(body: str) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except ValueError:
        message = None
    if not isinstance(message, dict):
        raise BadMessage(f"not a JSON object: {body[:200]!r}")
    return message


def period_to_bill(requested: str | None, now: datetime) -> Period:
    """The month asked for, else the one before ``now``'s month; a month not yet ended is refused
    (:class:`~partnerhub.domain.invoicing.PeriodNotEnded`, as every way a run starts refuses it)."""
    if requested is None:
        return previous_period(now)
    try:
        period = Period.parse(requested)
    except ValueError as error:
        raise PlanningError(str(error)) from error
    return require_ended(period, now)


class Queue(Protocol):
    def send(self, messages: Iterable[PartnerMonth]) -> int:
        """Send every message; the count sent."""
        ...


@dataclass(frozen=True)
class Planner:
    """The billable-partner registry, the worker's queue, the clock."""

    billable_partners: Callable[[], Iterable[str]]
    queue: Queue
    clock: Clock

    def plan(self, requested: str | None = None) -> dict[str, Any]:
        """Enqueue every billable partner's month ``requested`` (default: the month before now)."""
        period = str(period_to_bill(requested, self.clock.now()))
        listed: list[str] = []

        def messages() -> Iterator[PartnerMonth]:
            for partner_id in self.billable_partners():
                if len(listed) < LISTED:
                    listed.append(partner_id)
                yield PartnerMonth(partner_id, period)

        enqueued = self.queue.send(messages())
        return {"period": period, "partners_enqueued": enqueued, "partners": listed}

    def plan_scheduled(self, event: Mapping[str, Any] | None) -> dict[str, Any]:
        """The schedule's (or an operator's direct) invocation: ``{}`` or ``{"period": "YYYY-MM"}``."""
        requested = (event or {}).get("period")
        return self.plan(None if requested is None else str(requested))

    def plan_requested(self, body: str) -> dict[str, Any]:
        """A run an operator asked for through the request queue (:class:`RunRequest`). A request that can never
        be planned answers ``{"refused": why}`` (it is dropped); any other failure raises, back to the queue."""
        try:
            return self.plan(RunRequest.parse(body).period)
        except (BadMessage, PlanningError, PeriodNotEnded) as refused:
            return {"refused": str(refused)}
