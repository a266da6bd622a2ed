"""Prices and the month-to-date estimate: list prices, schedule or cancel a price change (operators), the estimate."""

import partnerhub.lean  # noqa: F401  (first: Powertools then loads only the modules used)

# isort: split
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, cast

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from partnerhub.api import OPERATORS, Idempotency, caller_of, create_app, success
from partnerhub.clock import Clock, SystemClock
from partnerhub.composition import Function, http_handler
from partnerhub.domain.audit import AuditEntry, operator_actor
from partnerhub.domain.estimates import EstimateService, parse_period
from partnerhub.domain.models import PRODUCT_SLUG
from partnerhub.domain.pricing import PriceService
from partnerhub.errors import NotFound
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.repository.billing import DynamoBillingRepository
from partnerhub.repository.catalog import DynamoCatalogRepository
from partnerhub.schemas.billing import EstimateOut, PriceList, PriceRequest, ProductPricesOut
from partnerhub.schemas.types import PERIOD_PATTERN
from partnerhub.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

app = create_app()


@dataclass(frozen=True)
class Wiring:
    prices: PriceService
    estimates: EstimateService
    idempotency: Idempotency
    clock: Clock


def build(
    settings: Settings | None = None, *, clock: Clock | None = None, dynamodb: "DynamoDBClient | None" = None
) -> Function[Wiring]:
    """The composition root: every client and service of this function, made once per execution environment."""
    settings = settings or Settings.from_env()
    clock = clock or SystemClock()
    catalog = DynamoCatalogRepository(settings.table_name, dynamodb)
    wiring = Wiring(
        prices=PriceService(catalog, clock),
        estimates=EstimateService(DynamoBillingRepository(settings.table_name, dynamodb), catalog, clock),
        idempotency=Idempotency(settings.table_name, settings.idempotency_ttl_seconds, dynamodb),
        clock=clock,
    )
    return Function(wiring, http_handler(app, wiring))


def wired() -> Wiring:
    """The services of the request being resolved."""
    return cast(Wiring, app.context["wiring"])


ProductSlugPath = Annotated[str, Path(pattern=PRODUCT_SLUG, max_length=64)]


@app.get("/v1/prices")
def list_prices() -> PriceList:
    caller_of(app)
    return PriceList(items=[ProductPricesOut.of(p) for p in wired().prices.prices()])


@app.put(
    "/v1/prices/<product>",
    responses=success(200, ProductPricesOut, "Scheduled"),
    tags=[OPERATORS],
    description="Operators only. `monthly_price` must not be below `daily_price` (422); `effective_from` must be "
    "the 1st of a month that has not started (409 `month_already_started`); an unknown product is 404.",
)
@tracer.capture_method
def schedule_price(product: ProductSlugPath, request: Annotated[PriceRequest, Body()]) -> Response[str]:
    caller = caller_of(app)
    caller.require_operator()

    body = {"product": product, **request.model_dump(mode="json")}

    def schedule(receipt_id: str) -> tuple[int, Any]:
        audit = AuditEntry(
            entry_id=receipt_id,
            at=wired().clock.now(),
            actor=operator_actor(caller.subject),
            action="price.schedule",
            target=f"product:{product}",
            summary=body,
        )
        changed = wired().prices.schedule(
            product, request.daily_price, request.monthly_price, request.effective_from, audit
        )
        metrics.add_metric(name="PriceScheduled", unit=MetricUnit.Count, value=1)
        logger.info(
            "price scheduled",
            extra={"product": product, "effective_from": request.effective_from.isoformat(), "actor": caller.actor},
        )
        return 200, ProductPricesOut.of(changed)

    return wired().idempotency.run(app, f"operator:{caller.subject}", "PUT /v1/prices/{product}", body, schedule)


EffectiveFromPath = Annotated[
    str, Path(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])-01$", description="The 1st of the month the version takes effect")
]


@app.delete(
    "/v1/prices/<product>/scheduled/<effective_from>",
    responses=success(200, ProductPricesOut, "Cancelled"),
    tags=[OPERATORS],
    description="Operators only. Cancels a scheduled price version that has not taken effect: one whose month "
    "has started is 409 `price_in_effect`; no such product, or no version from that day, is 404.",
)
@tracer.capture_method
def cancel_scheduled_price(product: ProductSlugPath, effective_from: EffectiveFromPath) -> Response[str]:
    caller = caller_of(app)
    caller.require_operator()
    try:
        day = date.fromisoformat(effective_from)
    except ValueError as error:  # the pattern allows year 0000, which has no calendar
        raise NotFound("no such day", code="scheduled_price_not_found") from error
    body = {"product": product, "effective_from": effective_from}

    def cancel(receipt_id: str) -> tuple[int, Any]:
        audit = AuditEntry(
            entry_id=receipt_id,
            at=wired().clock.now(),
            actor=operator_actor(caller.subject),
            action="price.cancel",
            target=f"product:{product}",
            summary=body,
        )
        prices = wired().prices.cancel(product, day, audit)
        metrics.add_metric(name="PriceCancelled", unit=MetricUnit.Count, value=1)
        logger.info("scheduled price cancelled", extra={**body, "actor": caller.actor})
        return 200, ProductPricesOut.of(prices)

    return wired().idempotency.run(
        app, f"operator:{caller.subject}", "DELETE /v1/prices/{product}/scheduled/{effective_from}", body, cancel
    )


@app.get("/v1/billing")
@tracer.capture_method
def billing_estimate(
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN, description="YYYY-MM; default: this month")] = None,
) -> EstimateOut:
    partner = caller_of(app).partner()
    return EstimateOut.of(wired().estimates.estimate(partner, parse_period(period)))


lambda_handler = build().handler

__all__ = ["app", "build", "lambda_handler"]
