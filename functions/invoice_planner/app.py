"""Month-end planner: one SQS message per partner with billable licenses in the month (``domain.planning``).

Invoked by EventBridge Scheduler at 00:15 UTC on the 1st with ``{}``, by an operator directly with
``{"period": "YYYY-MM"}`` (the local stack's controls add ``"started_by"``), or by its request queue (SQS records
whose bodies are run requests). Each plan is noted on the month's run item (who or what asked, how many).
"""

from typing import Any

from aws_lambda_powertools.utilities.typing.lambda_context import LambdaContext

from partnerhub import clients
from partnerhub.clock import Clock, SystemClock
from partnerhub.composition import Function, entry_point
from partnerhub.domain.planning import Planner
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.queues import InvoiceQueue
from partnerhub.repository.billing import DynamoBillingRepository
from partnerhub.repository.invoice_runs import DynamoInvoiceRunRepository
from partnerhub.settings import InvoicePlannerSettings


def build(
    settings: InvoicePlannerSettings | None = None,
    *,
    clock: Clock | None = None,
    dynamodb: Any = None,
    sqs: Any = None,
) -> Function[Planner]:
    """The composition root: every client and service of this function, made once per execution environment."""
    settings = settings or InvoicePlannerSettings.from_env()
    dynamodb = dynamodb or clients.dynamodb()
    planner = Planner(
        DynamoBillingRepository(settings.table_name, dynamodb).billable_partners,
        InvoiceQueue(sqs or clients.sqs(), settings.invoice_queue_url),
        clock or SystemClock(),
        DynamoInvoiceRunRepository(settings.table_name, dynamodb),
    )

    def planned(plan: dict[str, Any]) -> dict[str, Any]:
        if "refused" in plan:
            logger.error("invoice run request refused", extra={"reason": plan["refused"]})
            return plan
        metrics.add_metric(name="PartnerMonthsEnqueued", unit=MetricUnit.Count, value=plan["partners_enqueued"])
        logger.info(
            "month-end invoicing planned",
            extra={"period": plan["period"], "partners_enqueued": plan["partners_enqueued"]},
        )
        return plan

    @logger.inject_lambda_context
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        if isinstance(event, dict) and "Records" in event:
            return {"runs": [planned(planner.plan_requested(str(r.get("body", "")))) for r in event["Records"]]}
        return planned(planner.plan_scheduled(event))

    return Function(planner, lambda_handler)


lambda_handler = entry_point(build)
