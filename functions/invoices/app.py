"""Invoices: list and detail from the table (kept current by the month-end worker and the webhooks), the PDF,
paying an open invoice now with the primary card, and the operators' void and mark-uncollectible."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal, cast

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from partnerhub import clients
from partnerhub.api import OPERATORS, CursorQuery, caller_of, create_app
from partnerhub.clock import Clock, SystemClock
from partnerhub.composition import Function, entry_point, http_handler
from partnerhub.domain.audit import AuditEntry
from partnerhub.domain.invoice_detail import CardSeen
from partnerhub.domain.invoicing import InvoiceOperations, InvoiceRecord, InvoiceService
from partnerhub.observability import MetricUnit, metrics, tracer
from partnerhub.payments.client import StripeConnection, stripe_connection
from partnerhub.payments.invoicing import StripeInvoices
from partnerhub.repository.audit import DynamoAuditRepository
from partnerhub.repository.idempotency import api_requests
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
    cards: Callable[[str], dict[str, CardSeen]]
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
    dynamodb = dynamodb or clients.dynamodb()
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
        cards=lambda partner_id: {
            card.id: CardSeen(card.brand, card.last4) for card in partners.card_book(partner_id).cards
        },
        clock=clock or SystemClock(),
    )
    idempotency = api_requests(settings.table_name, dynamodb, settings.idempotency_ttl_seconds)
    return Function(wiring, http_handler(app, wiring, idempotency))


def wired() -> Wiring:
    """The services of the request being resolved."""
    return cast(Wiring, app.context["wiring"])


Status = Literal["draft", "open", "paid", "void", "uncollectible"]
InvoiceId = Annotated[str, Path(pattern=r"^in_[A-Za-z0-9_]{1,250}$")]


@app.get("/v1/invoices", description="`cursor` must be a `next_cursor` this list returned (anything else is 422).")
@app.key_scope("read")
@tracer.capture_method
def list_invoices(
    status: Annotated[Status | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: CursorQuery = None,
) -> InvoiceList:
    page = wired().repository.list_for_partner(caller_of(app).partner(), status=status, limit=limit, cursor=cursor)
    return InvoiceList(items=[InvoiceOut.of(record) for record in page.items], next_cursor=page.next_cursor)


@app.get("/v1/invoices/<invoice_id>")
@app.key_scope("read")
@tracer.capture_method
def get_invoice(invoice_id: InvoiceId) -> InvoiceDetail:
    """The invoice with its lines (whether each line's monthly cap applied), its payments and their cards, and
    where its PDF is."""
    return detail(wired().service.get(caller_of(app).partner(), invoice_id))


def detail(record: InvoiceRecord) -> InvoiceDetail:
    return InvoiceDetail.of(record, wired().cards(record.partner_id))


@app.get(
    "/v1/invoices/<invoice_id>/pdf",
    responses={
        302: {
            "description": "A redirect to the PDF",
            "headers": {"Location": {"description": "Where the PDF is", "schema": {"type": "string"}}},
        }
    },
)
@app.key_scope("read")
@tracer.capture_method
def invoice_pdf(invoice_id: InvoiceId) -> Response[str]:
    """A redirect to the PDF Stripe renders (the emulator serves a real one locally)."""
    url = wired().service.pdf_url(caller_of(app).partner(), invoice_id)
    return Response(302, headers={"Location": url}, body="")


@app.post("/v1/invoices/<invoice_id>/pay", response_description="Paid")
@app.key_scope("billing")
@app.idempotent()
@tracer.capture_method
def pay_invoice(invoice_id: InvoiceId, request: Annotated[PayInvoiceRequest | None, Body()] = None) -> InvoiceDetail:
    card = request.payment_method_id if request is not None else None
    record = wired().service.pay(caller_of(app).partner(), invoice_id, app.receipt_id(), card)
    metrics.add_metric(name="InvoicePaidNow", unit=MetricUnit.Count, value=1)
    return detail(record)


Transition = Callable[[str, AuditEntry], InvoiceRecord]


def _operate(invoice_id: str, action: str, transition: Transition, metric: str) -> InvoiceDetail:
    """An operator's transition of an invoice, with its audit entry (written when Stripe changed it)."""
    caller = caller_of(app)
    wired().service.require_operator(caller.partner_id, caller.is_operator, invoice_id)
    caller.require_operator()
    summary = {"invoice_id": invoice_id}
    audit = caller.audit_entry(app.receipt_id(), wired().clock.now(), action, f"invoice:{invoice_id}", summary)
    record = transition(invoice_id, audit)
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    return detail(record)


@app.post("/v1/invoices/<invoice_id>/void", response_description="Voided", tags=[OPERATORS])
@app.idempotent(operator=True)
@tracer.capture_method
def void_invoice(invoice_id: InvoiceId) -> InvoiceDetail:
    """Operators: void an open or uncollectible invoice of any partner; its past-due standing clears."""
    return _operate(invoice_id, "invoice.void", wired().operations.void, "InvoiceVoided")


@app.post("/v1/invoices/<invoice_id>/mark-uncollectible", response_description="Marked uncollectible", tags=[OPERATORS])
@app.idempotent(operator=True)
@tracer.capture_method
def mark_invoice_uncollectible(invoice_id: InvoiceId) -> InvoiceDetail:
    """Operators: Stripe stops collecting; the partner stays past due until it is paid or voided."""
    return _operate(
        invoice_id, "invoice.mark_uncollectible", wired().operations.mark_uncollectible, "InvoiceMarkedUncollectible"
    )


lambda_handler = entry_point(build)

__all__ = ["app", "build", "lambda_handler"]
