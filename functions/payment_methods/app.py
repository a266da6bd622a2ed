"""Payment methods (SetupIntent, add, list, primary, delete), company details and account standing."""

import partnerhub.lean  # noqa: F401  (first: Powertools then loads only the modules used)

# isort: split
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging.correlation_paths import API_GATEWAY_HTTP
from aws_lambda_powertools.utilities.typing.lambda_context import LambdaContext

from partnerhub import clock
from partnerhub.api import Idempotency, caller_of, create_app, success
from partnerhub.domain.accounts import AccountService
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.payments import client as payments
from partnerhub.payments.cards import StripeCards
from partnerhub.repository.partners import DynamoPartnerRepository
from partnerhub.schemas.accounts import (
    AccountOut,
    AddPaymentMethodRequest,
    CompanyOut,
    CompanyRequest,
    PaymentMethodList,
    PaymentMethodOut,
    SetupIntentOut,
)
from partnerhub.settings import StripeSettings

settings = StripeSettings.from_env()
payments.configure(
    payments.StripeConfig(settings.stripe_secret_param, settings.stripe_api_base, settings.stripe_max_retries)
)
service = AccountService(
    DynamoPartnerRepository(settings.table_name), StripeCards(), clock.current(), settings.stripe_publishable_key
)
idempotency = Idempotency(settings.table_name, settings.idempotency_ttl_seconds)
app = create_app()

PaymentMethodId = Annotated[str, Path(min_length=1, max_length=255)]


@app.get("/v1/payment-methods")
def list_payment_methods() -> PaymentMethodList:
    return PaymentMethodList.of(service.cards(caller_of(app).partner()))


@app.post("/v1/payment-methods/setup-intent", responses=success(201, SetupIntentOut, "Created"))
@tracer.capture_method
def create_setup_intent() -> Response[str]:
    partner = caller_of(app).partner()

    def create(receipt_id: str) -> tuple[int, Any]:
        intent = service.setup_intent(partner, receipt_id)
        metrics.add_metric(name="SetupIntentsCreated", unit=MetricUnit.Count, value=1)
        return 201, SetupIntentOut(
            setup_intent_id=intent.id, client_secret=intent.client_secret, publishable_key=service.publishable_key
        )

    return idempotency.run(app, partner, "POST /v1/payment-methods/setup-intent", {}, create)


@app.post("/v1/payment-methods", responses=success(201, PaymentMethodOut, "Attached"))
@tracer.capture_method
def add_payment_method(request: Annotated[AddPaymentMethodRequest, Body()]) -> Response[str]:
    partner = caller_of(app).partner()

    def add(receipt_id: str) -> tuple[int, Any]:
        card, primary = service.add_card(partner, request.payment_method_id, request.primary, receipt_id)
        metrics.add_metric(name="PaymentMethodsAdded", unit=MetricUnit.Count, value=1)
        logger.info("payment method added", extra={"partner_id": partner, "payment_method": card.id})
        return 201, PaymentMethodOut.of(card, primary)

    return idempotency.run(app, partner, "POST /v1/payment-methods", request.model_dump(mode="json"), add)


@app.post("/v1/payment-methods/<payment_method_id>/primary", responses=success(200, PaymentMethodOut, "Primary"))
@tracer.capture_method
def make_primary(payment_method_id: PaymentMethodId) -> Response[str]:
    partner = caller_of(app).partner()

    def switch(receipt_id: str) -> tuple[int, Any]:
        card = service.make_primary(partner, payment_method_id, receipt_id)
        metrics.add_metric(name="PrimaryPaymentMethodChanged", unit=MetricUnit.Count, value=1)
        return 200, PaymentMethodOut.of(card, True)

    body = {"payment_method_id": payment_method_id}
    return idempotency.run(app, partner, "POST /v1/payment-methods/{id}/primary", body, switch)


@app.delete("/v1/payment-methods/<payment_method_id>", responses={204: {"description": "Deleted"}})
@tracer.capture_method
def delete_payment_method(payment_method_id: PaymentMethodId) -> Response[str]:
    partner = caller_of(app).partner()

    def remove(receipt_id: str) -> tuple[int, Any]:
        book = service.remove_card(partner, payment_method_id, receipt_id)
        metrics.add_metric(name="PaymentMethodsRemoved", unit=MetricUnit.Count, value=1)
        logger.info(
            "payment method removed",
            extra={"partner_id": partner, "payment_method": payment_method_id, "primary": book.primary},
        )
        return 204, None

    body = {"payment_method_id": payment_method_id}
    reply = idempotency.run(app, partner, "DELETE /v1/payment-methods/{id}", body, remove)
    # 204 carries no body, replayed or not.
    return Response(204, body="") if reply.status_code == 204 else reply


@app.get("/v1/company")
def get_company() -> CompanyOut:
    return service.company(caller_of(app).partner())


@app.put("/v1/company", responses=success(200, CompanyOut, "Saved"))
@tracer.capture_method
def put_company(request: Annotated[CompanyRequest, Body()]) -> Response[str]:
    partner = caller_of(app).partner()

    def save(receipt_id: str) -> tuple[int, Any]:
        saved = service.save_company(partner, CompanyOut.model_validate(request.model_dump()), receipt_id)
        metrics.add_metric(name="CompanyDetailsSaved", unit=MetricUnit.Count, value=1)
        return 200, saved

    return idempotency.run(app, partner, "PUT /v1/company", request.model_dump(mode="json"), save)


@app.get("/v1/account")
def get_account() -> AccountOut:
    return service.account(caller_of(app).partner())


@logger.inject_lambda_context(correlation_id_path=API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


__all__ = ["app", "lambda_handler"]
