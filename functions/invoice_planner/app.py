"""Month-end planner: one SQS message per partner with billable licenses in the month.

Started by EventBridge Scheduler at 00:15 UTC on the 1st with ``{}`` (bill the month that just ended), or by an
operator with ``{"period": "YYYY-MM"}``. Partners come from the sparse billable-partner registry (GSI1, sharded),
never from a Scan. Enqueuing the same month twice is harmless: the worker's partner-month record makes a
second message a no-op.
"""

import partnerhub.lean  # noqa: F401  (first: Powertools then loads only the modules used)

# isort: split
import json
from collections.abc import Iterable, Iterator
from typing import Any

from aws_lambda_powertools.utilities.typing.lambda_context import LambdaContext

from partnerhub import clock
from partnerhub.domain.invoicing import billable_period, previous_period
from partnerhub.domain.periods import Period
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.repository.billing import DynamoBillingRepository
from partnerhub.settings import InvoicePlannerSettings

settings = InvoicePlannerSettings.from_env()
billing = DynamoBillingRepository(settings.table_name)
_BATCH = 10  # SendMessageBatch takes at most ten entries
_SEND_ATTEMPTS = 5
_LISTED = 1000  # partners named in the result, for an operator's by-hand run; the count is always exact
_sqs: Any = None


class PlanningError(ValueError):
    """The run was asked for a month that cannot be invoiced."""


def sqs() -> Any:
    """One SQS client per execution environment, made on first use."""
    global _sqs
    if _sqs is None:
        import boto3

        _sqs = boto3.client("sqs")
    return _sqs


def period_to_bill(event: dict[str, Any]) -> Period:
    """The month asked for, else the one before the clock's month; a month not yet ended is refused."""
    now = clock.current().now()
    requested = (event or {}).get("period")
    if requested is None:
        return previous_period(now)
    try:
        period = Period.parse(requested)
    except ValueError as error:
        raise PlanningError(str(error)) from error
    if not billable_period(period, now):
        raise PlanningError(f"{period} has not ended yet (it ends {period.end.isoformat()}); it cannot be invoiced")
    return period


def batches(partners: Iterable[str], size: int = _BATCH) -> Iterator[list[str]]:
    batch: list[str] = []
    for partner_id in partners:
        batch.append(partner_id)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def enqueue(period: Period, partner_ids: list[str]) -> None:
    """Send one batch; entries SQS refused are sent again (a few times) before the run fails."""
    entries = {
        str(i): {"Id": str(i), "MessageBody": json.dumps({"partner_id": pid, "period": str(period)})}
        for i, pid in enumerate(partner_ids)
    }
    for _ in range(_SEND_ATTEMPTS):
        response = sqs().send_message_batch(QueueUrl=settings.invoice_queue_url, Entries=list(entries.values()))
        failed = response.get("Failed", [])
        if not failed:
            return
        logger.warning("some messages were not enqueued; retrying them", extra={"failed": failed})
        entries = {f["Id"]: entries[f["Id"]] for f in failed}
    raise RuntimeError(f"could not enqueue {len(entries)} partner-month message(s) for {period}")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    period = period_to_bill(event)
    enqueued = 0
    listed: list[str] = []
    for batch in batches(billing.billable_partners()):
        enqueue(period, batch)
        enqueued += len(batch)
        listed += batch[: max(0, _LISTED - len(listed))]
    metrics.add_metric(name="PartnerMonthsEnqueued", unit=MetricUnit.Count, value=enqueued)
    logger.info("month-end invoicing planned", extra={"period": str(period), "partners_enqueued": enqueued})
    return {"period": str(period), "partners_enqueued": enqueued, "partners": listed}
