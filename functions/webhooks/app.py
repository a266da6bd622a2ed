"""Stripe webhooks: verify the signature, process each event at most once, answer fast.

``POST /v1/webhooks/stripe`` carries no JWT: the ``Stripe-Signature`` (HMAC over the raw body with the
signing secret, within five minutes of our clock) is the authentication. See docs/webhooks.md.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from partnerhub import clients
from partnerhub.api import create_app, json_response
from partnerhub.clock import Clock, SystemClock
from partnerhub.composition import Function, entry_point, http_handler
from partnerhub.domain.webhooks import CardMirror, WebhookService
from partnerhub.errors import Conflict, MalformedRequest
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.payments.client import StripeConnection, stripe_connection
from partnerhub.payments.webhooks import (
    SigningSecret,
    StripeObjects,
    parse_event,
    record_event_lag,
    verify_signature,
)
from partnerhub.repository.idempotency import Once, stripe_events
from partnerhub.repository.invoices import DynamoInvoiceRepository
from partnerhub.repository.partners import DynamoPartnerRepository
from partnerhub.settings import WebhookSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

app = create_app()


@dataclass(frozen=True)
class Wiring:
    settings: WebhookSettings
    clock: Clock
    signing_secret: SigningSecret
    events: Once
    service: WebhookService


def build(
    settings: WebhookSettings | None = None,
    *,
    clock: Clock | None = None,
    dynamodb: "DynamoDBClient | None" = None,
    stripe: StripeConnection | None = None,
    signing_secret: SigningSecret | None = None,
) -> Function[Wiring]:
    """The composition root: every client and service of this function, made once per execution environment."""
    settings = settings or WebhookSettings.from_env()
    clock = clock or SystemClock()
    dynamodb = dynamodb or clients.dynamodb()
    partners = DynamoPartnerRepository(settings.table_name, dynamodb)
    stripe_objects = StripeObjects(stripe or stripe_connection(settings))
    wiring = Wiring(
        settings=settings,
        clock=clock,
        signing_secret=signing_secret or SigningSecret(settings.stripe_webhook_secret_param),
        events=stripe_events(settings.table_name, dynamodb, settings.webhook_retention_days),
        service=WebhookService(
            invoices=DynamoInvoiceRepository(settings.table_name, dynamodb),
            stripe=stripe_objects,
            customers=partners,
            cards=CardMirror(partners, stripe_objects, clock),
        ),
    )
    return Function(wiring, http_handler(app, wiring, clear_state=True))


def wired() -> Wiring:
    """The services of the request being resolved."""
    return cast(Wiring, app.context["wiring"])


@app.post("/v1/webhooks/stripe")
@tracer.capture_method
def receive_stripe_event() -> Response[str]:
    w = wired()
    settings, clock, events, service = w.settings, w.clock, w.events, w.service
    request = app.current_event
    body = request.decoded_body or ""
    if len(body.encode()) > settings.webhook_max_body_bytes:
        raise MalformedRequest("the body is larger than a Stripe event can be", code="payload_too_large")
    text = verify_signature(
        body,
        request.headers.get("stripe-signature"),
        w.signing_secret.value(),
        int(clock.now().timestamp()),
        settings.stripe_webhook_tolerance_seconds,
    )
    event = parse_event(text)
    event_id, event_type = event["id"], event["type"]
    logger.append_keys(stripe_event_id=event_id, stripe_event_type=event_type)

    def process() -> dict[str, Any]:
        try:
            outcome = service.handle(event)
        except Exception:
            logger.exception("stripe event failed; released for Stripe's retry")
            raise
        return {
            "action": outcome.action.value,
            "applied": outcome.applied,
            "reason": outcome.reason,
            "partner_id": outcome.partner_id,
            "object_id": outcome.object_id,
        }

    try:
        result, duplicate = events.run({"event_id": event_id, "event_type": event_type}, process, app.lambda_context)
    except IdempotencyAlreadyInProgressError as error:
        raise Conflict("this event is being processed by another delivery", code="event_in_progress") from error
    if duplicate:
        metrics.add_metric(name="StripeEventsDuplicate", unit=MetricUnit.Count, value=1)
        logger.info("stripe event already processed")
        return json_response(200, {"received": True, "duplicate": True})
    metrics.add_metric(name="StripeEventsProcessed", unit=MetricUnit.Count, value=1)
    record_event_lag(event, clock.now())
    logger.info("stripe event processed", extra=result)
    return json_response(200, {"received": True})


lambda_handler = entry_point(build)

__all__ = ["app", "build", "lambda_handler"]
