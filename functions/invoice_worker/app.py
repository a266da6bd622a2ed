"""Month-end worker: each SQS message names a partner-month; exactly one finalized Stripe invoice comes out.

Partial batch responses (Powertools batch): a failed partner-month goes back to the queue alone, is retried
with the queue's visibility timeout, and after five receives lands in the dead-letter queue. Every failure
logs one line naming the partner, the month and the step it stopped at; the record keeps the same note.
"""

import partnerhub.lean  # noqa: F401  (first: Powertools then loads only the modules used)

# isort: split
import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing.lambda_context import LambdaContext

from partnerhub import clock
from partnerhub.domain.accounts import AccountService
from partnerhub.domain.invoicing import InvoiceRunFailed, MonthEndInvoicer, Outcome
from partnerhub.domain.periods import Period
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.payments.cards import StripeCards
from partnerhub.payments.client import StripeConfig, configure
from partnerhub.payments.invoicing import StripeInvoices
from partnerhub.repository.billing import DynamoBillingRepository
from partnerhub.repository.catalog import DynamoCatalogRepository
from partnerhub.repository.invoices import DynamoInvoiceRepository
from partnerhub.repository.partners import DynamoPartnerRepository
from partnerhub.settings import InvoicingSettings

settings = InvoicingSettings.from_env()
configure(StripeConfig(settings.stripe_secret_param, settings.stripe_api_base, settings.stripe_max_retries))
invoicer = MonthEndInvoicer(
    store=DynamoInvoiceRepository(settings.table_name),
    gateway=StripeInvoices(),
    # The payment-methods function's own "get or create the partner's customer": one customer per partner.
    customers=AccountService(
        DynamoPartnerRepository(settings.table_name), StripeCards(), clock.current(), settings.stripe_publishable_key
    ),
    licenses=DynamoBillingRepository(settings.table_name).licenses_active_in,
    catalog=DynamoCatalogRepository(settings.table_name).load,
    clock=clock.current(),
)
processor = BatchProcessor(event_type=EventType.SQS)


class BadMessage(ValueError):
    """A message that names no partner-month; it can only end in the dead-letter queue."""


def partner_month(record: SQSRecord) -> tuple[str, str]:
    try:
        body = json.loads(record.body)
        partner_id, period = str(body["partner_id"]), str(body["period"])
        Period.parse(period)
    except (ValueError, KeyError, TypeError) as error:
        raise BadMessage(f"message {record.message_id} is not a partner-month: {record.body[:200]!r}") from error
    return partner_id, period


@tracer.capture_method
def handle(record: SQSRecord) -> str:
    try:
        partner_id, period = partner_month(record)
    except BadMessage as error:
        logger.error("invoice run refused a malformed message", extra={"message_id": record.message_id})
        raise error
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


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
