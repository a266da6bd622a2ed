"""The operators' console: the audit log, partners (search, detail), month-end runs (dry run, start, progress,
retry). Every route is for the ``operators`` group only; a partner's token is refused with 403."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, cast

from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from partnerhub import clients
from partnerhub.api import OPERATORS, Caller, CursorQuery, caller_of, create_app
from partnerhub.clock import Clock, SystemClock
from partnerhub.composition import Function, entry_point, http_handler
from partnerhub.domain.api_keys import ApiKeyService
from partnerhub.domain.invoice_runs import PREVIEW_PAGE_MAX, InvoiceRunService
from partnerhub.domain.models import PARTNER_ID
from partnerhub.domain.partner_directory import PartnerDirectoryService, PartnerOverview
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.queues import InvoiceRunQueues
from partnerhub.repository.api_keys import DynamoApiKeyRepository
from partnerhub.repository.audit import DynamoAuditRepository
from partnerhub.repository.billing import DynamoBillingRepository
from partnerhub.repository.catalog import DynamoCatalogRepository
from partnerhub.repository.idempotency import api_requests
from partnerhub.repository.invoice_runs import DynamoInvoiceRunRepository
from partnerhub.repository.invoices import DynamoInvoiceRepository
from partnerhub.repository.partners import DynamoPartnerRepository
from partnerhub.repository.webhooks import DynamoWebhookRepository
from partnerhub.schemas.api_keys import KeyCountsOut
from partnerhub.schemas.invoices import InvoiceOut
from partnerhub.schemas.operator import (
    AuditEntryOut,
    AuditList,
    PartnerDetail,
    PartnerList,
    PartnerSummaryOut,
    RedriveOut,
    RunPreviewOut,
    RunProgressOut,
    RunRequest,
)
from partnerhub.schemas.types import PERIOD_PATTERN
from partnerhub.settings import OperatorSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

app = create_app()

_INVOICES_SHOWN = 24  # two years of months on a partner's page


@dataclass(frozen=True)
class Wiring:
    audit: DynamoAuditRepository
    partners: PartnerDirectoryService
    runs: InvoiceRunService
    clock: Clock
    preview_page_size: int


def build(
    settings: OperatorSettings | None = None,
    *,
    clock: Clock | None = None,
    dynamodb: "DynamoDBClient | None" = None,
    sqs: Any = None,
) -> Function[Wiring]:
    """The composition root: every client and service of this function, made once per execution environment."""
    settings = settings or OperatorSettings.from_env()
    clock = clock or SystemClock()
    dynamodb = dynamodb or clients.dynamodb()
    sqs = sqs or clients.sqs()
    invoices = DynamoInvoiceRepository(settings.table_name, dynamodb)
    audit = DynamoAuditRepository(settings.table_name, dynamodb)
    billing = DynamoBillingRepository(settings.table_name, dynamodb)
    api_keys = ApiKeyService(DynamoApiKeyRepository(settings.table_name, dynamodb), clock)
    wiring = Wiring(
        audit=audit,
        partners=PartnerDirectoryService(
            DynamoPartnerRepository(settings.table_name, dynamodb),
            lambda partner_id: invoices.list_for_partner(partner_id, limit=_INVOICES_SHOWN).items,
            api_keys.counts,
            DynamoWebhookRepository(settings.table_name, dynamodb).endpoint_count,
        ),
        runs=InvoiceRunService(
            partners=billing.billable_partners,
            partner_page=billing.billable_partner_page,
            records=invoices.records,
            licenses=billing.licenses_active_in,
            catalog=DynamoCatalogRepository(settings.table_name, dynamodb).load,
            runs=DynamoInvoiceRunRepository(settings.table_name, dynamodb),
            queues=InvoiceRunQueues(
                sqs,
                settings.invoice_run_queue_url,
                settings.invoice_queue_url,
                settings.invoice_dead_letter_queue_url,
            ),
            audit_log=audit,
            clock=clock,
        ),
        clock=clock,
        preview_page_size=settings.operator_preview_page_size,
    )
    idempotency = api_requests(settings.table_name, dynamodb, settings.idempotency_ttl_seconds)
    return Function(wiring, http_handler(app, wiring, idempotency))


def wired() -> Wiring:
    """The services of the request being resolved."""
    return cast(Wiring, app.context["wiring"])


def operator() -> Caller:
    caller = caller_of(app)
    caller.require_operator()
    return caller


PeriodPath = Annotated[str, Path(pattern=PERIOD_PATTERN, description="YYYY-MM")]
PartnerIdPath = Annotated[str, Path(pattern=PARTNER_ID.pattern)]


# -- the audit log ----------------------------------------------------------------------------------------------


@app.get(
    "/v1/operator/audit",
    tags=[OPERATORS],
    description="Operators only. Every operator action, newest first. `cursor` must be a `next_cursor` this list "
    "returned (anything else is 422).",
)
@tracer.capture_method
def audit_log(limit: Annotated[int, Query(ge=1, le=100)] = 50, cursor: CursorQuery = None) -> AuditList:
    operator()
    page = wired().audit.page(limit, cursor)
    return AuditList(items=[AuditEntryOut.of(e) for e in page.items], next_cursor=page.next_cursor)


# -- partners ---------------------------------------------------------------------------------------------------


def _summary(found: PartnerOverview) -> dict[str, Any]:
    return {
        "partner_id": found.partner_id,
        "company_name": found.company_name,
        "has_payment_method": found.standing.has_payment_method,
        "past_due": bool(found.standing.past_due_invoices),
        "past_due_invoices": list(found.standing.past_due_invoices),
        "licenses": found.licenses.model_dump(exclude={"products"}),
    }


@app.get(
    "/v1/operator/partners",
    tags=[OPERATORS],
    description="Operators only. Partners by id; `search` keeps those whose id or company name contains it (any "
    "case). A page may hold fewer than `limit` partners and still have a `next_cursor` (a search reads at most a "
    "few pages of the directory per call). `cursor` must be a `next_cursor` this list returned (422 otherwise).",
)
@tracer.capture_method
def list_partners(
    search: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: CursorQuery = None,
) -> PartnerList:
    operator()
    page = wired().partners.find(search, limit, cursor)
    return PartnerList(items=[PartnerSummaryOut(**_summary(p)) for p in page.items], next_cursor=page.next_cursor)


@app.get("/v1/operator/partners/<partner_id>", tags=[OPERATORS])
@tracer.capture_method
def partner_detail(partner_id: PartnerIdPath) -> PartnerDetail:
    """Operators only. One partner: company, standing, license counts (per product), recent invoices, its API keys
    by status and how many webhook endpoints it has (how many: never a key, a secret, a prefix or an endpoint)."""
    operator()
    detail = wired().partners.detail(partner_id)
    found = detail.overview
    return PartnerDetail(
        **_summary(found),
        company=found.company,
        stripe_customer_id=found.stripe_customer_id,
        license_counts=found.licenses,
        invoices=[InvoiceOut.of(record) for record in detail.invoices],
        api_keys=KeyCountsOut.of(detail.api_keys),
        webhook_endpoints=detail.webhook_endpoints,
    )


# -- month-end runs ---------------------------------------------------------------------------------------------


@app.get(
    "/v1/operator/invoice-runs/<period>/preview",
    tags=[OPERATORS],
    description="Operators only. A dry run, a page of partners at a time: what a month-end run would invoice each "
    "billable partner, computed as the worker computes it; nothing is written and Stripe is not called. Partners "
    "come by partner id, `limit` a page; `total` and `to_invoice` are the page's, and the month's are the sums "
    "over every page (follow `next_cursor` until it is null). `cursor` must be a `next_cursor` this dry run "
    "returned (422 otherwise). A month not yet ended is 409.",
)
@tracer.capture_method
def preview_run(
    period: PeriodPath,
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            le=PREVIEW_PAGE_MAX,
            description="Partners on the page, 1 to 500 (default 100: the function's OPERATOR_PREVIEW_PAGE_SIZE)",
        ),
    ] = None,
    cursor: CursorQuery = None,
) -> RunPreviewOut:
    operator()
    wiring = wired()
    return RunPreviewOut.of(wiring.runs.preview(period, limit or wiring.preview_page_size, cursor))


@app.post(
    "/v1/operator/invoice-runs",
    status_code=202,
    response_description="Started: the planner runs shortly",
    tags=[OPERATORS],
    description="Operators only. Starts month-end invoicing for an ended month (a month not yet ended is 409 "
    "`period_not_ended`), asynchronously, through the planner's request queue. Starting a month again is "
    "harmless: partner-months already invoiced are left as they are.",
)
@app.idempotent(operator=True)
@tracer.capture_method
def start_run(request: Annotated[RunRequest, Body()]) -> RunProgressOut:
    caller = operator()
    summary = request.model_dump(mode="json")
    audit = caller.audit_entry(
        app.receipt_id(), wired().clock.now(), "invoice_run.start", f"invoice-run:{request.period}", summary
    )
    progress = wired().runs.start(request.period, audit)
    metrics.add_metric(name="InvoiceRunStarted", unit=MetricUnit.Count, value=1)
    logger.info("invoice run started by an operator", extra={"period": request.period, "actor": audit.actor})
    return RunProgressOut.of(progress)


@app.get("/v1/operator/invoice-runs/<period>", tags=[OPERATORS])
@tracer.capture_method
def run_progress(period: PeriodPath) -> RunProgressOut:
    """Operators only. The month's partner-months: planned, invoiced, nothing to bill, failed, pending, and
    those in the dead-letter queue."""
    operator()
    return RunProgressOut.of(wired().runs.progress(period))


@app.post("/v1/operator/invoice-runs/<period>/retry", response_description="Re-driven", tags=[OPERATORS])
@app.idempotent(operator=True)
@tracer.capture_method
def retry_run(period: PeriodPath) -> RedriveOut:
    """Operators only. Sends the month's partner-months in the dead-letter queue back to the worker."""
    caller = operator()
    audit = caller.audit_entry(
        app.receipt_id(), wired().clock.now(), "invoice_run.retry", f"invoice-run:{period}", {"period": period}
    )
    redrive = wired().runs.retry(period, audit)
    metrics.add_metric(name="InvoiceRunRedriven", unit=MetricUnit.Count, value=len(redrive.redriven))
    return RedriveOut.of(redrive)


lambda_handler = entry_point(build)

__all__ = ["app", "build", "lambda_handler"]
