"""Prices and the month-to-date estimate: list prices, schedule a price change (operators), the billing estimate."""

import partnerhub.lean  # noqa: F401  (first: Powertools then loads only the modules used)

# isort: split
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging.correlation_paths import API_GATEWAY_HTTP
from aws_lambda_powertools.utilities.typing.lambda_context import LambdaContext

from partnerhub import clock
from partnerhub.api import Idempotency, caller_of, create_app
from partnerhub.domain.estimates import BillingService, parse_period
from partnerhub.domain.pricing import PriceService
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.repository.billing import DynamoBillingRepository
from partnerhub.repository.catalog import DynamoCatalogRepository
from partnerhub.schemas.billing import EstimateOut, PriceList, PriceRequest, ProductPricesOut
from partnerhub.settings import Settings

settings = Settings.from_env()
catalog = DynamoCatalogRepository(settings.table_name)
prices = PriceService(catalog, clock.current())
billing = BillingService(DynamoBillingRepository(settings.table_name), catalog, clock.current())
idempotency = Idempotency(settings.table_name, settings.idempotency_ttl_seconds)
app = create_app()

ProductSlugPath = Annotated[str, Path(max_length=64)]


@app.get("/v1/prices")
def list_prices() -> PriceList:
    caller_of(app)
    return PriceList(items=[ProductPricesOut.of(p) for p in prices.prices()])


@app.put("/v1/prices/<product>")
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
def billing_estimate(period: Annotated[str | None, Query(max_length=16)] = None) -> EstimateOut:
    partner = caller_of(app).partner()
    return EstimateOut.of(billing.estimate(partner, parse_period(period)))


@logger.inject_lambda_context(correlation_id_path=API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


__all__ = ["app", "lambda_handler"]
