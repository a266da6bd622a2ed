"""Payment methods (SetupIntent, add, list, primary, delete), company details and account standing."""

import partnerhub.lean  # noqa: F401  (first: Powertools then loads only the modules used)

# isort: split
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, cast

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from partnerhub.api import Idempotency, caller_of, create_app, success
from partnerhub.clock import Clock, SystemClock
from partnerhub.composition import Function, http_handler
from partnerhub.domain.accounts import AccountService, Company
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.payments.cards import StripeCards
from partnerhub.payments.client import StripeConnection, stripe_connection
from partnerhub.repository.partners import DynamoPartnerRepository
from partnerhub.schemas.accounts import (
    PAYMENT_METHOD_ID,
    AccountOut,
    AddPaymentMethodRequest,
    CompanyOut,
    CompanyRequest,
    PaymentMethodList,
    PaymentMethodOut,
    SetupIntentOut,
)
from partnerhub.settings import StripeSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

app = create_app()


@dataclass(frozen=True)
class Wiring:
    service: AccountService
    idempotency: Idempotency


def build(
    settings: StripeSettings | None = None,
    *,
    clock: Clock | None = None,
    dynamodb: "DynamoDBClient | None" = None,
    stripe: StripeConnection | None = None,
) -> Function[Wiring]:
    """The composition root: every client and service of this function, made once per execution environment."""
    settings = settings or StripeSettings.from_env()
    wiring = Wiring(
        service=AccountService(
            DynamoPartnerRepository(settings.table_name, dynamodb),
            StripeCards(stripe or stripe_connection(settings)),
            clock or SystemClock(),
            settings.stripe_publishable_key,
        ),
        idempotency=Idempotency(settings.table_name, settings.idempotency_ttl_seconds, dynamodb),
    )
    return Function(wiring, http_handler(app, wiring))


def wired() -> Wiring:
    """The services of the request being resolved."""
    return cast(Wiring, app.context["wiring"])


PaymentMethodId = Annotated[str, Path(pattern=PAYMENT_METHOD_ID)]


@app.get("/v1/payment-methods")
def list_payment_methods() -> PaymentMethodList:
    return PaymentMethodList.of(wired().service.cards(caller_of(app).partner()))


@app.post("/v1/payment-methods/setup-intent", responses=success(201, SetupIntentOut, "Created"))
@tracer.capture_method
def create_setup_intent() -> Response[str]:
    partner = caller_of(app).partner()

    def create(receipt_id: str) -> tuple[int, Any]:
        intent = wired().service.setup_intent(partner, receipt_id)
        metrics.add_metric(name="SetupIntentsCreated", unit=MetricUnit.Count, value=1)
        return 201, SetupIntentOut(
            setup_intent_id=intent.id,
            client_secret=intent.client_secret,
            publishable_key=wired().service.publishable_key,
        )

    return wired().idempotency.run(app, partner, "POST /v1/payment-methods/setup-intent", {}, create)


@app.post("/v1/payment-methods", responses=success(201, PaymentMethodOut, "Attached"))
@tracer.capture_method
def add_payment_method(request: Annotated[AddPaymentMethodRequest, Body()]) -> Response[str]:
    partner = caller_of(app).partner()

    def add(receipt_id: str) -> tuple[int, Any]:
        card, primary = wired().service.add_card(partner, request.payment_method_id, request.primary, receipt_id)
        metrics.add_metric(name="PaymentMethodsAdded", unit=MetricUnit.Count, value=1)
        logger.info("payment method added", extra={"partner_id": partner, "payment_method": card.id})
        return 201, PaymentMethodOut.of(card, primary)

    return wired().idempotency.run(app, partner, "POST /v1/payment-methods", request.model_dump(mode="json"), add)


@app.post("/v1/payment-methods/<payment_method_id>/primary", responses=success(200, PaymentMethodOut, "Primary"))
@tracer.capture_method
def make_primary(payment_method_id: PaymentMethodId) -> Response[str]:
    partner = caller_of(app).partner()

    def switch(receipt_id: str) -> tuple[int, Any]:
        card = wired().service.make_primary(partner, payment_method_id, receipt_id)
        metrics.add_metric(name="PrimaryPaymentMethodChanged", unit=MetricUnit.Count, value=1)
        return 200, PaymentMethodOut.of(card, True)

    body = {"payment_method_id": payment_method_id}
    return wired().idempotency.run(app, partner, "POST /v1/payment-methods/{id}/primary", body, switch)


@app.delete("/v1/payment-methods/<payment_method_id>", responses={204: {"description": "Deleted"}})
@tracer.capture_method
def delete_payment_method(payment_method_id: PaymentMethodId) -> Response[str]:
    partner = caller_of(app).partner()

    def remove(receipt_id: str) -> tuple[int, Any]:
        book = wired().service.remove_card(partner, payment_method_id, receipt_id)
        metrics.add_metric(name="PaymentMethodsRemoved", unit=MetricUnit.Count, value=1)
        logger.info(
            "payment method removed",
            extra={"partner_id": partner, "payment_method": payment_method_id, "primary": book.primary},
        )
        return 204, None

    body = {"payment_method_id": payment_method_id}
    reply = wired().idempotency.run(app, partner, "DELETE /v1/payment-methods/{id}", body, remove)
    # 204 carries no body, replayed or not.
    return Response(204, body="") if reply.status_code == 204 else reply


@app.get("/v1/company")
def get_company() -> CompanyOut:
    return wired().service.company(caller_of(app).partner())


@app.put("/v1/company", responses=success(200, CompanyOut, "Saved"))
@tracer.capture_method
def put_company(request: Annotated[CompanyRequest, Body()]) -> Response[str]:
    partner = caller_of(app).partner()

    def save(receipt_id: str) -> tuple[int, Any]:
        saved = wired().service.save_company(partner, Company.model_validate(request.model_dump()), receipt_id)
        metrics.add_metric(name="CompanyDetailsSaved", unit=MetricUnit.Count, value=1)
        return 200, saved

    return wired().idempotency.run(app, partner, "PUT /v1/company", request.model_dump(mode="json"), save)


@app.get("/v1/account")
def get_account() -> AccountOut:
    return wired().service.account(caller_of(app).partner())


lambda_handler = build().handler

__all__ = ["app", "build", "lambda_handler"]
