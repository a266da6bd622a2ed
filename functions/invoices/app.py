"""Invoices: list and detail from the table (kept current by the month-end worker and the webhooks), the PDF,
paying an open invoice now with the primary card, and the operators' void and mark-uncollectible."""

import partnerhub.lean  # noqa: F401  (first: Powertools then loads only the modules used)

# isort: split
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from partnerhub.api import OPERATORS, CursorQuery, Idempotency, caller_of, create_app, success
from partnerhub.clock import Clock, SystemClock
from partnerhub.composition import Function, http_handler
from partnerhub.domain.invoicing import InvoiceOperations, InvoiceService
from partnerhub.observability import MetricUnit, metrics, tracer
from partnerhub.payments.client import StripeConnection, stripe_connection
from partnerhub.payments.invoicing import StripeInvoices
from partnerhub.repository.audit import DynamoAuditRepository
from partnerhub.repository.invoices import DynamoInvoiceRepository
from partnerhub.repository.partners import DynamoPartnerRepository
from partnerhub.schemas.invoices import InvoiceDetail, InvoiceList, InvoiceOut, PayInvoiceRequest
from partnerhub.settings import StripeSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

app = create_app()


@dataclass(frozen=True)
class Wiring:
    repository: DynamoInvoiceRepository
    service: InvoiceService
    operations: InvoiceOperations
    idempotency: Idempotency
    clock: Clock


def build(
    settings: StripeSettings | None = None,
    *,
    dynamodb: "DynamoDBClient | None" = None,
    stripe: StripeConnection | None = None,
    clock: Clock | None = None,
) -> Function[Wiring]:
    """The composition root: every client and service of this function, made once per execution environment."""
    settings = settings or StripeSettings.from_env()
    repository = DynamoInvoiceRepository(settings.table_name, dynamodb)
    partners = DynamoPartnerRepository(settings.table_name, dynamodb)
    gateway = StripeInvoices(stripe or stripe_connection(settings), settings.stripe_publishable_key)
    wiring = Wiring(
        repository=repository,
        service=InvoiceService(
            repository,
            gateway,
            partners.primary_card,
            lambda partner_id: [c.id for c in partners.card_book(partner_id).cards],
        ),
        operations=InvoiceOperations(
            repository, repository, gateway, DynamoAuditRepository(settings.table_name, dynamodb)
        ),
        idempotency=Idempotency(settings.table_name, settings.idempotency_ttl_seconds, dynamodb),
        clock=clock or SystemClock(),
    )
    return Function(wiring, http_handler(app, wiring))


def wired() -> Wiring:
    """The services of the request being resolved."""
    return cast(Wiring, app.context["wiring"])


Status = Literal["draft", "open", "paid", "void", "uncollectible"]
InvoiceId = Annotated[str, Path(pattern=r"^in_[A-Za-z0-9_]{1,250}$")]


@app.get("/v1/invoices", description="`cursor` must be a `next_cursor` this list returned (anything else is 422).")
@tracer.capture_method
def list_invoices(
    status: Annotated[Status | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: CursorQuery = None,
) -> InvoiceList:
    page = wired().repository.list_for_partner(caller_of(app).partner(), status=status, limit=limit, cursor=cursor)
    return InvoiceList(items=[InvoiceOut.of(record) for record in page.items], next_cursor=page.next_cursor)


@app.get("/v1/invoices/<invoice_id>")
@tracer.capture_method
def get_invoice(invoice_id: InvoiceId) -> InvoiceDetail:
    return InvoiceDetail.of(wired().service.get(caller_of(app).partner(), invoice_id))


@app.get(
    "/v1/invoices/<invoice_id>/pdf",
    responses={
        302: {
            "description": "A redirect to the PDF",
            "headers": {"Location": {"description": "Where the PDF is", "schema": {"type": "string"}}},
        }
    },
)
@tracer.capture_method
def invoice_pdf(invoice_id: InvoiceId) -> Response[str]:
    """A redirect to the PDF Stripe renders (the emulator serves a real one locally)."""
    url = wired().service.pdf_url(caller_of(app).partner(), invoice_id)
    return Response(302, headers={"Location": url}, body="")


@app.post("/v1/invoices/<invoice_id>/pay", responses=success(200, InvoiceDetail, "Paid"))
@tracer.capture_method
def pay_invoice(invoice_id: InvoiceId, request: Annotated[PayInvoiceRequest | None, Body()] = None) -> Response[str]:
    partner_id = caller_of(app).partner()
    card = request.payment_method_id if request is not None else None

    def command(receipt_id: str) -> tuple[int, Any]:
        record = wired().service.pay(partner_id, invoice_id, receipt_id, card)
        metrics.add_metric(name="InvoicePaidNow", unit=MetricUnit.Count, value=1)
        return 200, InvoiceDetail.of(record)

    return wired().idempotency.run(
        app, partner_id, "pay_invoice", {"invoice_id": invoice_id, "payment_method_id": card}, command
    )


def _operators_only(invoice_id: str) -> None:
    """A partner is refused with 403 on its own invoice, and with 404 on anyone else's (never revealed)."""
    caller = caller_of(app)
    if not caller.is_operator and caller.partner_id is not None:
        wired().service.get(caller.partner_id, invoice_id)
    caller.require_operator()


def _operator_command(invoice_id: str, action: str, route: str, transition: str) -> Response[str]:
    """Run ``operations.<transition>`` once per Idempotency-Key, writing the audit entry when Stripe changed it."""
    _operators_only(invoice_id)
    caller = caller_of(app)

    def command(receipt_id: str) -> tuple[int, Any]:
        audit = caller.audit_entry(
            receipt_id, wired().clock.now(), action, f"invoice:{invoice_id}", {"invoice_id": invoice_id}
        )
        record = getattr(wired().operations, transition)(invoice_id, audit)
        return 200, InvoiceDetail.of(record)

    return wired().idempotency.run(app, f"operator:{caller.subject}", route, {"invoice_id": invoice_id}, command)


@app.post("/v1/invoices/<invoice_id>/void", responses=success(200, InvoiceDetail, "Voided"), tags=[OPERATORS])
@tracer.capture_method
def void_invoice(invoice_id: InvoiceId) -> Response[str]:
    """Operators: void an open or uncollectible invoice of any partner; its past-due standing clears."""
    reply = _operator_command(invoice_id, "invoice.void", "POST /v1/invoices/{invoice_id}/void", "void")
    metrics.add_metric(name="InvoiceVoided", unit=MetricUnit.Count, value=1)
    return reply


@app.post(
    "/v1/invoices/<invoice_id>/mark-uncollectible",
    responses=success(200, InvoiceDetail, "Marked uncollectible"),
    tags=[OPERATORS],
)
@tracer.capture_method
def mark_invoice_uncollectible(invoice_id: InvoiceId) -> Response[str]:
    """Operators: Stripe stops collecting; the partner stays past due until it is paid or voided."""
    reply = _operator_command(
        invoice_id,
        "invoice.mark_uncollectible",
        "POST /v1/invoices/{invoice_id}/mark-uncollectible",
        "mark_uncollectible",
    )
    metrics.add_metric(name="InvoiceMarkedUncollectible", unit=MetricUnit.Count, value=1)
    return reply


lambda_handler = build().handler

__all__ = ["app", "build", "lambda_handler"]
