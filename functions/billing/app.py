"""Prices and the month-to-date estimate: list prices, schedule a price change (operators), the billing estimate."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from partnerhub import clock
from partnerhub.api import OPERATORS, Idempotency, caller_of, create_app, success
from partnerhub.domain.estimates import BillingService, parse_period
from partnerhub.domain.models import PRODUCT_SLUG
from partnerhub.domain.pricing import PriceService
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.repository.billing import DynamoBillingRepository
from partnerhub.repository.catalog import DynamoCatalogRepository
from partnerhub.schemas.billing import EstimateOut, PriceList, PriceRequest, ProductPricesOut
from partnerhub.schemas.types import PERIOD_PATTERN
from partnerhub.settings import Settings

settings = Settings.from_env()
catalog = DynamoCatalogRepository(settings.table_name)
prices = PriceService(catalog, clock.current())
billing = BillingService(DynamoBillingRepository(settings.table_name), catalog, clock.current())
idempotency = Idempotency(settings.table_name, settings.idempotency_ttl_seconds)
app = create_app()

ProductSlugPath = Annotated[str, Path(pattern=PRODUCT_SLUG, max_length=64)]


@app.get("/v1/prices")
def list_prices() -> PriceList:
    caller_of(app)
    return PriceList(items=[ProductPricesOut.of(p) for p in prices.prices()])


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

    def schedule(_: str) -> tuple[int, Any]:
        changed = prices.schedule(product, request.daily_price, request.monthly_price, request.effective_from)
        metrics.add_metric(name="PriceScheduled", unit=MetricUnit.Count, value=1)
        logger.info(
            "price scheduled",
            extra={"product": product, "effective_from": request.effective_from.isoformat(), "actor": caller.actor},
        )
        return 200, ProductPricesOut.of(changed)

    body = {"product": product, **request.model_dump(mode="json")}
    return idempotency.run(app, f"operator:{caller.subject}", "PUT /v1/prices/{product}", body, schedule)


@app.get("/v1/billing")
@tracer.capture_method
def billing_estimate(
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN, description="YYYY-MM; default: this month")] = None,
) -> EstimateOut:
    partner = caller_of(app).partner()
    return EstimateOut.of(billing.estimate(partner, parse_period(period)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


__all__ = ["app", "lambda_handler"]
