"""Month-end planner: one SQS message per partner with billable licenses in the month.

Started by EventBridge Scheduler at 00:15 UTC on the 1st with ``{}`` (bill the month that just ended), or by an
operator with ``{"period": "YYYY-MM"}``. Partners come from the sparse billable-partner registry (GSI1, sharded),
never from a Scan. Enqueuing the same month twice is harmless: the worker's partner-month record makes a
second message a no-op.
"""

import partnerhub.lean  # noqa: F401  (first: Powertools then loads only the modules used)

# isort: split
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.typing.lambda_context import LambdaContext

from partnerhub import retry
from partnerhub.clock import Clock, SystemClock
from partnerhub.composition import Function
from partnerhub.domain.invoicing import PeriodNotEnded, previous_period, require_ended
from partnerhub.domain.periods import Period
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.repository.billing import DynamoBillingRepository
from partnerhub.settings import InvoicePlannerSettings

_BATCH = 10  # SendMessageBatch takes at most ten entries
_SEND_ATTEMPTS = 5
_LISTED = 1000  # partners named in the result, for an operator's by-hand run; the count is always exact


class PlanningError(ValueError):
    """The run was asked for a month that cannot be invoiced."""


def period_to_bill(event: dict[str, Any], now: Any) -> Period:
    """The month asked for, else the one before ``now``'s month; a month not yet ended is refused."""
    requested = (event or {}).get("period")
    if requested is None:
        return previous_period(now)
    try:
        period = Period.parse(requested)
    except ValueError as error:
        raise PlanningError(str(error)) from error
    return require_ended(period, now)


def batches(partners: Iterable[str], size: int = _BATCH) -> Iterator[list[str]]:
    batch: list[str] = []
    for partner_id in partners:
        batch.append(partner_id)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True)
class Planner:
    """The planner's services: the billable-partner registry, the queue, the clock."""

    billing: DynamoBillingRepository
    sqs: Any
    queue_url: str
    clock: Clock
    sleep: Callable[[float], None] = time.sleep

    def enqueue(self, period: Period, partner_ids: list[str]) -> None:
        """Send one batch; entries SQS refused are sent again (a few times) before the run fails."""
        entries = {
            str(i): {"Id": str(i), "MessageBody": json.dumps({"partner_id": pid, "period": str(period)})}
            for i, pid in enumerate(partner_ids)
        }

        def send() -> list[dict[str, Any]]:
            nonlocal entries
            response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=list(entries.values()))
            failed: list[dict[str, Any]] = response.get("Failed", [])
            if failed:
                logger.warning("some messages were not enqueued; retrying them", extra={"failed": failed})
                entries = {f["Id"]: entries[f["Id"]] for f in failed}
            return failed

        try:
            retry.on_partial_send(attempts=_SEND_ATTEMPTS, sleep=self.sleep)(send)
        except retry.RetryError as exhausted:
            message = f"could not enqueue {len(entries)} partner-month message(s) for {period}"
            raise RuntimeError(message) from exhausted

    def plan(self, event: dict[str, Any]) -> dict[str, Any]:
        period = period_to_bill(event, self.clock.now())
        enqueued = 0
        listed: list[str] = []
        for batch in batches(self.billing.billable_partners()):
            self.enqueue(period, batch)
            enqueued += len(batch)
            listed += batch[: max(0, _LISTED - len(listed))]
        metrics.add_metric(name="PartnerMonthsEnqueued", unit=MetricUnit.Count, value=enqueued)
        logger.info("month-end invoicing planned", extra={"period": str(period), "partners_enqueued": enqueued})
        return {"period": str(period), "partners_enqueued": enqueued, "partners": listed}

    def plan_requested(self, record: dict[str, Any]) -> dict[str, Any]:
        """A run an operator asked for through the request queue (an SQS record ``{"period"}``). A request that
        can never be planned is logged and dropped; any other failure goes back to the queue and is retried."""
        try:
            return self.plan(_requested_period(str(record.get("body", ""))))
        except (PlanningError, PeriodNotEnded) as refused:
            logger.error("invoice run request refused", extra={"reason": str(refused)})
            return {"refused": str(refused)}


def _requested_period(body: str) -> dict[str, Any]:
    try:
        request = json.loads(body)
    except ValueError:
        request = None
    if not isinstance(request, dict) or not isinstance(request.get("period"), str):
        raise PlanningError(f"a run request names no period: {body[:200]!r}")
    return {"period": request["period"]}


class _SqsOnFirstUse:
    """The SQS client, made when the first batch is sent: a run that fails before (a month not yet ended)
    never pays for it, and neither does the function's start (a second boto3 client loads its service model)."""

    def __init__(self) -> None:
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("sqs")
        return getattr(self._client, name)


def build(
    settings: InvoicePlannerSettings | None = None,
    *,
    clock: Clock | None = None,
    dynamodb: Any = None,
    sqs: Any = None,
) -> Function[Planner]:
    """The composition root: every client and service of this function, made once per execution environment."""
    settings = settings or InvoicePlannerSettings.from_env()
    planner = Planner(
        DynamoBillingRepository(settings.table_name, dynamodb),
        sqs if sqs is not None else _SqsOnFirstUse(),
        settings.invoice_queue_url,
        clock or SystemClock(),
    )

    @logger.inject_lambda_context
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        if isinstance(event, dict) and "Records" in event:
            return {"runs": [planner.plan_requested(record) for record in event["Records"]]}
        return planner.plan(event)

    return Function(planner, lambda_handler)


lambda_handler = build().handler
