"""Events for agencies' webhooks, from the table's stream (NEW_AND_OLD_IMAGES): each record of a license, an
invoice, a card or the partner's standing is read into a change, the change into events, and each event is recorded
with one delivery per endpoint that wants it, which is then dispatched to the delivery queue.

No API call and no month-end step waits for any of this. A record that fails is reported (partial batch response)
and the stream gives it again; an event made from the same record twice is one event (its id comes from the
record's). Records that still fail after the event source's retries go to its failure queue (and alarm).
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing.lambda_context import LambdaContext

from partnerhub import clients
from partnerhub.clock import Clock, SystemClock
from partnerhub.composition import Function, entry_point
from partnerhub.domain.webhook_deliveries import Dispatcher
from partnerhub.domain.webhook_events import EventRecorder
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.queues import WebhookDeliveryQueue
from partnerhub.repository.webhooks import DynamoWebhookRepository, stream_changes
from partnerhub.schemas.webhooks import event_data
from partnerhub.settings import AgencyWebhookSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def record_handler(recorder: EventRecorder) -> Callable[[DynamoDBRecord], int]:
    """What the batch processor runs for each stream record: the events it recorded."""

    @tracer.capture_method
    def handle(record: DynamoDBRecord) -> int:
        recorded = recorder.record(stream_changes([record.raw_event]))
        for event in recorded:
            logger.info(
                "webhook event recorded",
                extra={"partner_id": event.partner_id, "event_id": event.event_id, "type": event.type},
            )
        if recorded:
            metrics.add_metric(name="WebhookEventsRecorded", unit=MetricUnit.Count, value=len(recorded))
        return len(recorded)

    return handle


def build(
    settings: AgencyWebhookSettings | None = None,
    *,
    clock: Clock | None = None,
    dynamodb: "DynamoDBClient | None" = None,
    sqs: Any = None,
) -> Function[EventRecorder]:
    """The composition root: every client and service of this function, made once per execution environment."""
    settings = settings or AgencyWebhookSettings.from_env()
    clock = clock or SystemClock()
    repository = DynamoWebhookRepository(settings.table_name, dynamodb or clients.dynamodb())
    queue = WebhookDeliveryQueue(sqs or clients.sqs(), settings.webhook_delivery_queue_url)
    recorder = EventRecorder(repository, Dispatcher(repository, queue, clock), event_data, clock)
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    handle = record_handler(recorder)

    @logger.inject_lambda_context
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)

    return Function(recorder, lambda_handler)


lambda_handler = entry_point(build)
