"""The due index's sweep: every delivery whose next attempt is due is claimed and sent to the delivery queue.

Run by EventBridge Scheduler every minute (the retries 30 minutes and more away), and by the wake-up queue, whose
messages the deliverer delays by exactly a retry's wait when it is 15 minutes or less (5 s, 5 min), so those come
on time. A wake-up is only a hint: whatever it finds due, or the next minute's sweep does, is dispatched once.
"""

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing.lambda_context import LambdaContext

from partnerhub import clients
from partnerhub.clock import Clock, SystemClock
from partnerhub.composition import Function, entry_point
from partnerhub.domain.webhook_deliveries import Dispatcher
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.queues import WebhookDeliveryQueue
from partnerhub.repository.webhooks import DynamoWebhookRepository
from partnerhub.settings import AgencyWebhookSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def build(
    settings: AgencyWebhookSettings | None = None,
    *,
    clock: Clock | None = None,
    dynamodb: "DynamoDBClient | None" = None,
    sqs: Any = None,
) -> Function[Dispatcher]:
    """The composition root: every client and service of this function, made once per execution environment."""
    settings = settings or AgencyWebhookSettings.from_env()
    repository = DynamoWebhookRepository(settings.table_name, dynamodb or clients.dynamodb())
    queue = WebhookDeliveryQueue(sqs or clients.sqs(), settings.webhook_delivery_queue_url)
    dispatcher = Dispatcher(repository, queue, clock or SystemClock())

    @logger.inject_lambda_context
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        dispatched = dispatcher.sweep()
        if dispatched:
            metrics.add_metric(name="WebhookDeliveriesDispatched", unit=MetricUnit.Count, value=dispatched)
            logger.info("due webhook deliveries dispatched", extra={"dispatched": dispatched})
        return {"dispatched": dispatched}

    return Function(dispatcher, lambda_handler)


lambda_handler = entry_point(build)
