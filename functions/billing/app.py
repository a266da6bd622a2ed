"""Prices and billing: list prices, schedule or cancel a price change (operators), the month-to-date estimate
(grouped by client, site or product on request), the month's statement as CSV, and the billing history of recent
months."""

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Annotated, Literal, cast
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from partnerhub import clients
from partnerhub.api import OPERATORS, CursorQuery, caller_of, create_app, json_response, success
from partnerhub.clock import Clock, SystemClock
from partnerhub.composition import Function, entry_point, http_handler
from partnerhub.domain.estimates import EstimateService, parse_period
from partnerhub.domain.models import PRODUCT_SLUG
from partnerhub.domain.periods import Period
from partnerhub.domain.pricing import PriceService
from partnerhub.domain.rebilling import MAX_HISTORY_MONTHS, RebillingService
from partnerhub.errors import ValidationFailed
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.repository.billing import DynamoBillingRepository
from partnerhub.repository.catalog import DynamoCatalogRepository
from partnerhub.repository.idempotency import api_requests
from partnerhub.schemas.billing import (
    BillingHistoryOut,
    BillingMonthOut,
    EstimateOut,
    GroupedEstimateOut,
    PriceList,
    PriceRequest,
    ProductPricesOut,
)
from partnerhub.schemas.exports import decode_cursor, encode_cursor, statement_csv
from partnerhub.schemas.types import PERIOD_PATTERN
from partnerhub.settings import BillingSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

app = create_app()


@dataclass(frozen=True)
class Wiring:
    prices: PriceService
    estimates: EstimateService
    rebilling: RebillingService
    export_max_bytes: int
    export_reserve_ms: int
    clock: Clock


def build(
    settings: BillingSettings | None = None, *, clock: Clock | None = None, dynamodb: "DynamoDBClient | None" = None
) -> Function[Wiring]:
    """The composition root: every client and service of this function, made once per execution environment."""
    settings = settings or BillingSettings.from_env()
    clock = clock or SystemClock()
    dynamodb = dynamodb or clients.dynamodb()
    catalog = DynamoCatalogRepository(settings.table_name, dynamodb)
    billing = DynamoBillingRepository(settings.table_name, dynamodb)
    wiring = Wiring(
        prices=PriceService(catalog, clock),
        estimates=EstimateService(billing, catalog, clock),
        rebilling=RebillingService(billing, catalog, clock, page_size=settings.export_page_size),
        export_max_bytes=settings.export_max_bytes,
        export_reserve_ms=settings.export_reserve_ms,
        clock=clock,
    )
    idempotency = api_requests(settings.table_name, dynamodb, settings.idempotency_ttl_seconds)
    return Function(wiring, http_handler(app, wiring, idempotency))


def wired() -> Wiring:
    """The services of the request being resolved."""
    return cast(Wiring, app.context["wiring"])


ProductSlugPath = Annotated[str, Path(pattern=PRODUCT_SLUG, max_length=64)]


@app.get("/v1/prices")
@app.key_scope("read")
def list_prices() -> PriceList:
    caller_of(app)
    return PriceList(items=[ProductPricesOut.of(p) for p in wired().prices.prices()], as_of=wired().clock.now())


@app.put(
    "/v1/prices/<product>",
    response_description="Scheduled",
    tags=[OPERATORS],
    description="Operators only. `monthly_price` must not be below `daily_price` (422); a `daily_price` of 0 needs "
    "`confirm_free: true` (422 otherwise); `effective_from` must be the 1st of a month that has not started "
    "(409 `month_already_started`); an unknown product is 404.",
)
@app.idempotent(operator=True)
@tracer.capture_method
def schedule_price(product: ProductSlugPath, request: Annotated[PriceRequest, Body()]) -> ProductPricesOut:
    caller = caller_of(app)
    caller.require_operator()
    # The audit entry holds the request as sent: confirm_free only when the operator sent it.
    summary = {"product": product, **request.model_dump(mode="json", exclude_unset=True)}
    audit = caller.audit_entry(app.receipt_id(), wired().clock.now(), "price.schedule", f"product:{product}", summary)
    changed = wired().prices.schedule(
        product, request.daily_price, request.monthly_price, request.effective_from, audit, request.confirm_free
    )
    metrics.add_metric(name="PriceScheduled", unit=MetricUnit.Count, value=1)
    logger.info("price scheduled", extra={**summary, "actor": audit.actor})
    return ProductPricesOut.of(changed)


PeriodQuery = Annotated[str | None, Query(pattern=PERIOD_PATTERN, description="YYYY-MM; default: this month")]


EffectiveFromPath = Annotated[
    str,
    Path(
        pattern=r"^([1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])-(0[1-9]|1[0-2])-01$",
        description="The 1st of the month the version takes effect (YYYY-MM-01, year 0001 or later)",
    ),
]


@app.delete(
    "/v1/prices/<product>/scheduled/<effective_from>",
    response_description="Cancelled",
    tags=[OPERATORS],
    description="Operators only. Cancels a scheduled price version that has not taken effect: one whose month "
    "has started is 409 `price_in_effect`; no such product, or no version from that day, is 404; an "
    "`effective_from` that is not a month's first day (`YYYY-MM-01`) is 422.",
)
@app.idempotent(operator=True)
@tracer.capture_method
def cancel_scheduled_price(product: ProductSlugPath, effective_from: EffectiveFromPath) -> ProductPricesOut:
    caller = caller_of(app)
    caller.require_operator()
    try:
        day = date.fromisoformat(effective_from)
    except ValueError as error:  # the pattern allows year 0000, which has no calendar
        raise ValidationFailed(
            "invalid effective_from",
            details=[{"field": "effective_from", "in": "path", "reason": "a month's first day, YYYY-MM-01"}],
        ) from error
    summary = {"product": product, "effective_from": effective_from}
    audit = caller.audit_entry(app.receipt_id(), wired().clock.now(), "price.cancel", f"product:{product}", summary)
    prices = wired().prices.cancel(product, day, audit)
    metrics.add_metric(name="PriceCancelled", unit=MetricUnit.Count, value=1)
    logger.info("scheduled price cancelled", extra={**summary, "actor": audit.actor})
    return ProductPricesOut.of(prices)


@app.get(
    "/v1/billing",
    responses=success(200, GroupedEstimateOut, "The estimate (with `group_by`: and its groups)"),
    description="Without `group_by`, the estimate from the month's billing tallies (a few reads, whatever the "
    "number of licenses). With `group_by`, the same estimate computed from the month's licenses and their "
    "history, plus `groups` that sum exactly to `totals`: by `client` (the label at the period's end, or now "
    "for the current month), by `site` (each license-day to the site the license was on at the end of that day; "
    "a license's capped amount split across its sites by days, largest remainder first) or by `product`.",
)
@app.key_scope("read")
@tracer.capture_method
def billing_estimate(
    period: PeriodQuery = None,
    group_by: Annotated[Literal["client", "site", "product"] | None, Query()] = None,
) -> Response[str]:
    partner = caller_of(app).partner()
    parsed = parse_period(period)
    if group_by is None:
        return json_response(200, EstimateOut.of(wired().estimates.estimate(partner, parsed)))
    grouped = wired().rebilling.grouped(partner, parsed, group_by)
    return json_response(200, GroupedEstimateOut.of_grouped(grouped))


_CSV = "text/csv; charset=utf-8"


@app.get(
    "/v1/billing/export",
    responses={
        200: {
            "description": "The month's statement as CSV (UTF-8, a header row), one row per license with days "
            "in the month (per license and site with `group_by=site`); amounts in cents. A statement larger "
            "than one answer may carry (about 5 MB), or longer to read than one invocation allows, comes in "
            "parts: then `X-Next-Cursor` (and a `Link` with `rel=next`) names the next part; ask again with "
            "`cursor=`. Each part is a whole CSV file with its header row.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
    description="For a past month the amounts sum to its invoice's `total`; for the current month to the "
    "estimate's `cost_to_date`. A `cursor` must be an `X-Next-Cursor` of the same export (period and "
    "grouping): anything else is 422.",
)
@app.key_scope("read")
@tracer.capture_method
def billing_export(
    period: PeriodQuery = None,
    group_by: Annotated[Literal["site"] | None, Query()] = None,
    cursor: CursorQuery = None,
) -> Response[str]:
    partner = caller_of(app).partner()
    parsed = parse_period(period) or Period.containing(wired().rebilling.now())
    after = decode_cursor(cursor, str(parsed), group_by)
    lines = wired().rebilling.statement(partner, parsed, by_site=group_by == "site", after=after)
    reserve = wired().export_reserve_ms
    part = statement_csv(
        lines, wired().export_max_bytes, lambda: app.lambda_context.get_remaining_time_in_millis() < reserve
    )
    name = f"partnerhub-billing-{parsed}{'-by-site' if group_by else ''}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if part.last_license is not None:
        next_cursor = encode_cursor(str(parsed), group_by, part.last_license)
        query = {"period": str(parsed), **({"group_by": group_by} if group_by else {}), "cursor": next_cursor}
        headers["X-Next-Cursor"] = next_cursor
        headers["Link"] = f'</v1/billing/export?{urlencode(query)}>; rel="next"'
    metrics.add_metric(name="StatementPartsExported", unit=MetricUnit.Count, value=1)
    logger.info("statement exported", extra={"partner_id": partner, "period": str(parsed), "rows": part.rows})
    return Response(200, _CSV, part.text, headers=headers)


@app.get(
    "/v1/billing/history",
    description="The last `months` months (1..24, default 12), newest first: an invoiced month as its invoice "
    "says, the current month as its projection (`projected`), a past month not invoiced yet as what it will "
    "be invoiced (`pending`), a month with nothing to bill as 0 (`none`).",
)
@app.key_scope("read")
@tracer.capture_method
def billing_history(
    months: Annotated[int, Query(ge=1, le=MAX_HISTORY_MONTHS)] = 12,
) -> BillingHistoryOut:
    partner = caller_of(app).partner()
    return BillingHistoryOut(items=[BillingMonthOut.of(m) for m in wired().rebilling.history(partner, months)])


lambda_handler = entry_point(build)

__all__ = ["app", "build", "lambda_handler"]
