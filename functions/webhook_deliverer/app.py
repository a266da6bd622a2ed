"""Deliveries to agencies' endpoints: each message of the delivery queue (FIFO, one message group per endpoint) is
one attempt, made here and nowhere else: the URL's addresses checked at this moment, a signed POST, a 2xx within
10 s is delivered. A failed attempt is recorded with its next attempt in the due index (``webhook_scheduler``
dispatches it when due); the message itself always succeeds, so an endpoint's failures never block its group.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing.lambda_context import LambdaContext

from partnerhub import clients
from partnerhub.clock import Clock, SystemClock
from partnerhub.composition import Function, entry_point
from partnerhub.domain.webhook_deliveries import BadMessage, DeliveryMessage, DeliveryService, Outcome
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.outbound.addresses import HostGuard, Resolver, system_resolver
from partnerhub.outbound.http import HttpSender
from partnerhub.queues import WebhookWakeQueue
from partnerhub.repository.webhooks import DynamoWebhookRepository
from partnerhub.settings import AgencyWebhookSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_METRICS = {
    Outcome.DELIVERED: "WebhookDelivered",
    Outcome.RETRYING: "WebhookAttemptFailed",
    Outcome.FAILED: "WebhookDeliveryFailed",
}


def record_handler(service: DeliveryService) -> Callable[[SQSRecord], str]:
    """What the batch processor runs for each message."""

    @tracer.capture_method
    def handle(record: SQSRecord) -> str:
        try:
            message = DeliveryMessage.parse(record.body)
        except BadMessage:  # it can only end in the dead-letter queue
            logger.error("webhook delivery refused a malformed message", extra={"message_id": record.message_id})
            raise
        outcome, delivery = service.attempt(message)
        if outcome in _METRICS:
            metrics.add_metric(name=_METRICS[outcome], unit=MetricUnit.Count, value=1)
        if delivery is not None:
            # What the deliveries log shows, never the signature headers or the secrets.
            logger.info(
                f"webhook delivery {outcome.value}",
                extra={
                    "partner_id": delivery.partner_id,
                    "endpoint_id": delivery.endpoint_id,
                    "delivery_id": delivery.delivery_id,
                    "event_id": delivery.event_id,
                    "attempt": delivery.attempt,
                    "status_code": delivery.status_code,
                    "duration_ms": delivery.duration_ms,
                    "error": delivery.error,
                },
            )
        return outcome.value

    return handle


def build(
    settings: AgencyWebhookSettings | None = None,
    *,
    clock: Clock | None = None,
    dynamodb: "DynamoDBClient | None" = None,
    sqs: Any = None,
    resolver: Resolver | None = None,
) -> Function[DeliveryService]:
    """The composition root: every client and service of this function, made once per execution environment."""
    settings = settings or AgencyWebhookSettings.from_env()
    allow_local = settings.webhook_allow_local_urls
    sender = HttpSender(
        HostGuard(resolver or system_resolver, allow_local=allow_local),
        allow_local=allow_local,
        timeout=settings.webhook_attempt_timeout_seconds,
    )
    service = DeliveryService(
        DynamoWebhookRepository(settings.table_name, dynamodb or clients.dynamodb()),
        sender,
        WebhookWakeQueue(sqs or clients.sqs(), settings.webhook_wake_queue_url),
        clock or SystemClock(),
    )
    processor = SqsFifoPartialProcessor()
    handle = record_handler(service)

    @logger.inject_lambda_context
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)

    return Function(service, lambda_handler)


lambda_handler = entry_point(build)
