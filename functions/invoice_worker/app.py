"""Month-end worker: each SQS message names a partner-month; exactly one finalized Stripe invoice comes out.

Partial batch responses (Powertools batch): a failed partner-month goes back to the queue alone, is retried
with the queue's visibility timeout, and after five receives lands in the dead-letter queue. Every failure
logs one line naming the partner, the month and the step it stopped at; the record keeps the same note.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing.lambda_context import LambdaContext

from partnerhub import clients
from partnerhub.clock import Clock, SystemClock
from partnerhub.composition import Function, entry_point
from partnerhub.domain.accounts import AccountService
from partnerhub.domain.invoicing import InvoiceRunFailed, MonthEndInvoicer, Outcome
from partnerhub.domain.planning import BadMessage, PartnerMonth
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.payments.cards import StripeCards
from partnerhub.payments.client import StripeConnection, stripe_connection
from partnerhub.payments.invoicing import StripeInvoices
from partnerhub.repository.billing import DynamoBillingRepository
from partnerhub.repository.catalog import DynamoCatalogRepository
from partnerhub.repository.invoices import DynamoInvoiceRepository
from partnerhub.repository.partners import DynamoPartnerRepository
from partnerhub.settings import InvoicingSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def record_handler(invoicer: MonthEndInvoicer) -> Callable[[SQSRecord], str]:
    """What the batch processor runs for each record."""

    @tracer.capture_method
    def handle(record: SQSRecord) -> str:
        return handle_record(invoicer, record)

    return handle


def handle_record(invoicer: MonthEndInvoicer, record: SQSRecord) -> str:
    try:
        month = PartnerMonth.parse(record.body)
    except BadMessage:  # it can only end in the dead-letter queue
        logger.error("invoice run refused a malformed message", extra={"message_id": record.message_id})
        raise
    partner_id, period = month.partner_id, month.period
    logger.append_keys(partner_id=partner_id, period=period)
    try:
        outcome = invoicer.run(partner_id, period)
    except InvoiceRunFailed as failure:
        logger.error(
            f"invoice run failed: partner {partner_id}, period {period}, step {failure.step}: {failure.cause}",
            extra={"step": failure.step, "receive_count": record.attributes.approximate_receive_count},
        )
        metrics.add_metric(name="InvoiceRunFailed", unit=MetricUnit.Count, value=1)
        raise
    finally:
        logger.remove_keys(["partner_id", "period"])
    if outcome is Outcome.INVOICED:
        metrics.add_metric(name="InvoiceIssued", unit=MetricUnit.Count, value=1)
    elif outcome is Outcome.NOTHING_TO_BILL:
        metrics.add_metric(name="InvoiceNothingToBill", unit=MetricUnit.Count, value=1)
    logger.info(f"partner {partner_id} {period}: {outcome.value}", extra={"outcome": outcome.value})
    return outcome.value


def build(
    settings: InvoicingSettings | None = None,
    *,
    clock: Clock | None = None,
    dynamodb: "DynamoDBClient | None" = None,
    stripe: StripeConnection | None = None,
) -> Function[MonthEndInvoicer]:
    """The composition root: every client and service of this function, made once per execution environment."""
    settings = settings or InvoicingSettings.from_env()
    clock = clock or SystemClock()
    dynamodb = dynamodb or clients.dynamodb()
    stripe = stripe or stripe_connection(settings)
    invoicer = MonthEndInvoicer(
        store=DynamoInvoiceRepository(settings.table_name, dynamodb),
        gateway=StripeInvoices(stripe, settings.stripe_publishable_key),
        # The payment-methods function's own "get or create the partner's customer": one customer per partner.
        customers=AccountService(
            DynamoPartnerRepository(settings.table_name, dynamodb),
            StripeCards(stripe),
            clock,
            settings.stripe_publishable_key,
        ),
        licenses=DynamoBillingRepository(settings.table_name, dynamodb).licenses_active_in,
        catalog=DynamoCatalogRepository(settings.table_name, dynamodb).load,
        clock=clock,
    )
    processor = BatchProcessor(event_type=EventType.SQS)
    handle = record_handler(invoicer)

    @logger.inject_lambda_context
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)

    return Function(invoicer, lambda_handler)


lambda_handler = entry_point(build)
