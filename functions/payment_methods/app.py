"""Payment methods (SetupIntent, add, list, primary, delete), company details and account standing."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, cast

from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from partnerhub import clients
from partnerhub.api import caller_of, create_app
from partnerhub.clock import Clock, SystemClock
from partnerhub.composition import Function, entry_point, http_handler
from partnerhub.domain.accounts import AccountService, Company
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.payments.cards import StripeCards
from partnerhub.payments.client import StripeConnection, stripe_connection
from partnerhub.repository.idempotency import api_requests
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


def build(
    settings: StripeSettings | None = None,
    *,
    clock: Clock | None = None,
    dynamodb: "DynamoDBClient | None" = None,
    stripe: StripeConnection | None = None,
) -> Function[Wiring]:
    """The composition root: every client and service of this function, made once per execution environment."""
    settings = settings or StripeSettings.from_env()
    dynamodb = dynamodb or clients.dynamodb()
    wiring = Wiring(
        service=AccountService(
            DynamoPartnerRepository(settings.table_name, dynamodb),
            StripeCards(stripe or stripe_connection(settings)),
            clock or SystemClock(),
            settings.stripe_publishable_key,
        )
    )
    idempotency = api_requests(settings.table_name, dynamodb, settings.idempotency_ttl_seconds)
    return Function(wiring, http_handler(app, wiring, idempotency))


def wired() -> Wiring:
    """The services of the request being resolved."""
    return cast(Wiring, app.context["wiring"])


PaymentMethodId = Annotated[str, Path(pattern=PAYMENT_METHOD_ID)]


@app.get("/v1/payment-methods")
@app.key_scope("read")
def list_payment_methods() -> PaymentMethodList:
    return PaymentMethodList.of(wired().service.cards(caller_of(app).partner()))


@app.post("/v1/payment-methods/setup-intent", status_code=201, response_description="Created")
@app.key_scope("billing")
@app.idempotent()
@tracer.capture_method
def create_setup_intent() -> SetupIntentOut:
    intent = wired().service.setup_intent(caller_of(app).partner(), app.receipt_id())
    metrics.add_metric(name="SetupIntentsCreated", unit=MetricUnit.Count, value=1)
    return SetupIntentOut(
        setup_intent_id=intent.id, client_secret=intent.client_secret, publishable_key=wired().service.publishable_key
    )


@app.post("/v1/payment-methods", status_code=201, response_description="Attached")
@app.key_scope("billing")
@app.idempotent()
@tracer.capture_method
def add_payment_method(request: Annotated[AddPaymentMethodRequest, Body()]) -> PaymentMethodOut:
    partner = caller_of(app).partner()
    card, primary = wired().service.add_card(partner, request.payment_method_id, request.primary, app.receipt_id())
    metrics.add_metric(name="PaymentMethodsAdded", unit=MetricUnit.Count, value=1)
    logger.info("payment method added", extra={"partner_id": partner, "payment_method": card.id})
    return PaymentMethodOut.of(card, primary)


@app.post("/v1/payment-methods/<payment_method_id>/primary", response_description="Primary")
@app.key_scope("billing")
@app.idempotent()
@tracer.capture_method
def make_primary(payment_method_id: PaymentMethodId) -> PaymentMethodOut:
    card = wired().service.make_primary(caller_of(app).partner(), payment_method_id, app.receipt_id())
    metrics.add_metric(name="PrimaryPaymentMethodChanged", unit=MetricUnit.Count, value=1)
    return PaymentMethodOut.of(card, True)


@app.delete("/v1/payment-methods/<payment_method_id>", status_code=204, response_description="Deleted")
@app.key_scope("billing")
@app.idempotent()
@tracer.capture_method
def delete_payment_method(payment_method_id: PaymentMethodId) -> None:
    partner = caller_of(app).partner()
    book = wired().service.remove_card(partner, payment_method_id, app.receipt_id())
    metrics.add_metric(name="PaymentMethodsRemoved", unit=MetricUnit.Count, value=1)
    logger.info(
        "payment method removed",
        extra={"partner_id": partner, "payment_method": payment_method_id, "primary": book.primary},
    )


@app.get("/v1/company")
@app.key_scope("read")
def get_company() -> CompanyOut:
    return wired().service.company(caller_of(app).partner())


@app.put("/v1/company", response_description="Saved")
@app.key_scope("billing")
@app.idempotent()
@tracer.capture_method
def put_company(request: Annotated[CompanyRequest, Body()]) -> CompanyOut:
    saved = wired().service.save_company(
        caller_of(app).partner(), Company.model_validate(request.model_dump()), app.receipt_id()
    )
    metrics.add_metric(name="CompanyDetailsSaved", unit=MetricUnit.Count, value=1)
    return saved


@app.get("/v1/account")
@app.key_scope("read")
def get_account() -> AccountOut:
    return wired().service.account(caller_of(app).partner())


lambda_handler = entry_point(build)

__all__ = ["app", "build", "lambda_handler"]
