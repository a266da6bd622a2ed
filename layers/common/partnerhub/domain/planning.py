"""The month-end planner: one message per partner with billable licenses in the month to bill.

Started by the schedule at 00:15 UTC on the 1st with ``{}`` (the month that just ended), or by an operator's
run request (``{"period": "YYYY-MM"}``, through the planner's request queue). Partners come from the sparse
billable-partner registry, never from a Scan: those whose first license was issued before the month's end (a
partner that started later has nothing to bill in it). Planning the same month twice is harmless: the worker's
partner-month record makes a second message a no-op. Every plan is noted on the month's run item with who or what
asked for it (``domain.actors``: an operator, the schedule, a direct invocation, the local stack's controls).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from partnerhub.clock import Clock
from partnerhub.domain import actors
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
    """The planner's request queue: run month-end invoicing of ``period``, asked by ``started_by`` (an actor id of
    ``domain.actors``: the operator who pressed Start run)."""

    period: str
    started_by: str | None = None

    def body(self) -> str:
        return json.dumps({"period": self.period} | ({"started_by": self.started_by} if self.started_by else {}))

    @classmethod
    def parse(cls, body: str) -> RunRequest:
        request = _json_object(body)
        if not isinstance(request.get("period"), str):
            raise BadMessage(f"a run request names no period: {body[:200]!r}")
        started_by = request.get("started_by")
        if started_by is not None and not isinstance(started_by, str):
            raise BadMessage(f"a run request's started_by is not a string: {body[:200]!r}")
        return cls(request["period"], started_by)


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


class PlanLog(Protocol):
    def planned(self, period: str, started_by: str, at: datetime, partners: int) -> None:
        """Note that ``period`` was planned (``partners`` enqueued) at ``at``, asked by ``started_by``; the first
        plan of a month also names who or what started it."""
        ...


@dataclass(frozen=True)
class Planner:
    """The billable-partner registry, the worker's queue, the clock, and where plans are noted."""

    billable_partners: Callable[[datetime], Iterable[str]]
    """The partners of the registry billable before an instant (the month's end): a partner whose first license
    was issued later has nothing to bill in the month."""
    queue: Queue
    clock: Clock
    runs: PlanLog | None = None

    def plan(self, requested: str | None = None, started_by: str | None = None) -> dict[str, Any]:
        """Enqueue every billable partner's month ``requested`` (default: the month before now), and note who or
        what asked (default: the schedule when no month is named, else a direct invocation)."""
        now = self.clock.now()
        month = period_to_bill(requested, now)
        period = str(month)
        listed: list[str] = []

        def messages() -> Iterator[PartnerMonth]:
            for partner_id in self.billable_partners(month.end):
                if len(listed) < LISTED:
                    listed.append(partner_id)
                yield PartnerMonth(partner_id, period)

        enqueued = self.queue.send(messages())
        by = started_by or (actors.SCHEDULE if requested is None else actors.DIRECT_INVOKE)
        if self.runs is not None:
            self.runs.planned(period, by, now, enqueued)
        return {"period": period, "partners_enqueued": enqueued, "partners": listed, "started_by": by}

    def plan_scheduled(self, event: Mapping[str, Any] | None) -> dict[str, Any]:
        """The schedule's invocation (``{}``), or a direct one (``{"period": "YYYY-MM"}``, and ``"started_by"``
        when the caller names itself, as the local stack's controls do)."""
        requested = (event or {}).get("period")
        started_by = (event or {}).get("started_by")
        return self.plan(
            None if requested is None else str(requested), str(started_by) if isinstance(started_by, str) else None
        )

    def plan_requested(self, body: str) -> dict[str, Any]:
        """A run an operator asked for through the request queue (:class:`RunRequest`). A request that can never
        be planned answers ``{"refused": why}`` (it is dropped); any other failure raises, back to the queue."""
        try:
            request = RunRequest.parse(body)
            return self.plan(request.period, request.started_by)
        except (BadMessage, PlanningError, PeriodNotEnded) as refused:
            return {"refused": str(refused)}
