"""Invoices: list and detail from the table (kept current by the month-end worker and the webhooks), the PDF,
paying an open invoice now with the primary card, and the operators' void and mark-uncollectible."""

import partnerhub.lean  # noqa: F401  (first: Powertools then loads only the modules used)

# isort: split
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging.correlation_paths import API_GATEWAY_HTTP
from aws_lambda_powertools.utilities.typing.lambda_context import LambdaContext

from partnerhub.api import Idempotency, caller_of, create_app
from partnerhub.domain.invoicing import InvoiceOperations, InvoiceService
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.payments.client import StripeConfig, configure
from partnerhub.payments.invoicing import StripeInvoices
from partnerhub.repository.invoices import DynamoInvoiceRepository
from partnerhub.repository.partners import DynamoPartnerRepository
from partnerhub.schemas.invoices import InvoiceDetail, InvoiceList, InvoiceOut, PayInvoiceRequest
from partnerhub.settings import StripeSettings

settings = StripeSettings.from_env()
configure(StripeConfig(settings.stripe_secret_param, settings.stripe_api_base, settings.stripe_max_retries))
repository = DynamoInvoiceRepository(settings.table_name)
partners = DynamoPartnerRepository(settings.table_name)
gateway = StripeInvoices(settings.stripe_publishable_key)
service = InvoiceService(
    repository, gateway, partners.primary_card, lambda partner_id: [c.id for c in partners.card_book(partner_id).cards]
)
operations = InvoiceOperations(repository, repository, gateway)
idempotency = Idempotency(settings.table_name, settings.idempotency_ttl_seconds)
app = create_app()

Status = Literal["draft", "open", "paid", "void", "uncollectible"]
InvoiceId = Annotated[str, Path(min_length=1, max_length=255)]


@app.get("/v1/invoices")
@tracer.capture_method
def list_invoices(
    status: Annotated[Status | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> InvoiceList:
    page = repository.list_for_partner(caller_of(app).partner(), status=status, limit=limit, cursor=cursor)
    return InvoiceList(items=[InvoiceOut.of(record) for record in page.items], next_cursor=page.next_cursor)


@app.get("/v1/invoices/<invoice_id>")
@tracer.capture_method
def get_invoice(invoice_id: InvoiceId) -> InvoiceDetail:
    return InvoiceDetail.of(service.get(caller_of(app).partner(), invoice_id))


@app.get("/v1/invoices/<invoice_id>/pdf")
@tracer.capture_method
def invoice_pdf(invoice_id: InvoiceId) -> Response[str]:
    """A redirect to the PDF Stripe renders (the emulator serves a real one locally)."""
    url = service.pdf_url(caller_of(app).partner(), invoice_id)
    return Response(302, headers={"Location": url}, body="")


@app.post("/v1/invoices/<invoice_id>/pay")
@tracer.capture_method
def pay_invoice(invoice_id: InvoiceId, request: Annotated[PayInvoiceRequest | None, Body()] = None) -> Response[str]:
    partner_id = caller_of(app).partner()
    card = request.payment_method_id if request is not None else None

    def command(receipt_id: str) -> tuple[int, Any]:
        record = service.pay(partner_id, invoice_id, receipt_id, card)
        metrics.add_metric(name="InvoicePaidNow", unit=MetricUnit.Count, value=1)
        return 200, InvoiceDetail.of(record)

    return idempotency.run(
        app, partner_id, "pay_invoice", {"invoice_id": invoice_id, "payment_method_id": card}, command
    )


def _operators_only(invoice_id: str) -> None:
    """A partner is refused with 403 on its own invoice, and with 404 on anyone else's (never revealed)."""
    caller = caller_of(app)
    if not caller.is_operator and caller.partner_id is not None:
        service.get(caller.partner_id, invoice_id)
    caller.require_operator()


@app.post("/v1/invoices/<invoice_id>/void")
@tracer.capture_method
def void_invoice(invoice_id: InvoiceId) -> InvoiceDetail:
    """Operators: void an open or uncollectible invoice of any partner; its past-due standing clears."""
    _operators_only(invoice_id)
    record = operations.void(invoice_id)
    metrics.add_metric(name="InvoiceVoided", unit=MetricUnit.Count, value=1)
    return InvoiceDetail.of(record)


@app.post("/v1/invoices/<invoice_id>/mark-uncollectible")
@tracer.capture_method
def mark_invoice_uncollectible(invoice_id: InvoiceId) -> InvoiceDetail:
    """Operators: Stripe stops collecting; the partner stays past due until it is paid or voided."""
    _operators_only(invoice_id)
    record = operations.mark_uncollectible(invoice_id)
    metrics.add_metric(name="InvoiceMarkedUncollectible", unit=MetricUnit.Count, value=1)
    return InvoiceDetail.of(record)


@logger.inject_lambda_context(correlation_id_path=API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


__all__ = ["app", "lambda_handler"]
