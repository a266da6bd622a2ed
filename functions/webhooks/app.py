"""Stripe webhooks: verify the signature, process each event at most once, answer fast.

``POST /v1/webhooks/stripe`` carries no JWT: the ``Stripe-Signature`` (HMAC over the raw body with the
signing secret, within five minutes of our clock) is the authentication. See docs/webhooks.md.
"""

import partnerhub.lean  # noqa: F401  (first: Powertools then loads only the modules used)

# isort: split
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.logging.correlation_paths import API_GATEWAY_HTTP
from aws_lambda_powertools.utilities.typing.lambda_context import LambdaContext

from partnerhub import clock
from partnerhub.api import create_app, json_response
from partnerhub.domain.webhooks import CardMirror, WebhookService
from partnerhub.errors import Conflict, MalformedRequest
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.payments import client as payments
from partnerhub.payments.webhooks import SigningSecret, StripeState, parse_event, verify_signature
from partnerhub.repository.invoices import DynamoInvoiceRepository
from partnerhub.repository.partners import DynamoPartnerRepository
from partnerhub.repository.webhook_events import ClaimResult, DynamoWebhookEventRepository
from partnerhub.settings import WebhookSettings

settings = WebhookSettings.from_env()
payments.configure(
    payments.StripeConfig(settings.stripe_secret_param, settings.stripe_api_base, settings.stripe_max_retries)
)
now = clock.current()
signing_secret = SigningSecret(settings.stripe_webhook_secret_param)
events = DynamoWebhookEventRepository(
    settings.table_name, lease_seconds=settings.webhook_lease_seconds, retention_days=settings.webhook_retention_days
)
partners = DynamoPartnerRepository(settings.table_name)
stripe_state = StripeState()
service = WebhookService(
    invoices=DynamoInvoiceRepository(settings.table_name),
    stripe=stripe_state,
    customers=partners,
    cards=CardMirror(partners, stripe_state, now),
)
app = create_app()


@app.post("/v1/webhooks/stripe")
@tracer.capture_method
def receive_stripe_event() -> Response[str]:
    request = app.current_event
    body = request.decoded_body or ""
    if len(body.encode()) > settings.webhook_max_body_bytes:
        raise MalformedRequest("the body is larger than a Stripe event can be", code="payload_too_large")
    text = verify_signature(
        body,
        request.headers.get("stripe-signature"),
        signing_secret.value(),
        int(now.now().timestamp()),
        settings.stripe_webhook_tolerance_seconds,
    )
    event = parse_event(text)
    event_id, event_type = event["id"], event["type"]
    logger.append_keys(stripe_event_id=event_id, stripe_event_type=event_type)

    claim = events.claim(event_id, event_type, now.now())
    if claim.result is ClaimResult.DONE:
        metrics.add_metric(name="StripeEventsDuplicate", unit=MetricUnit.Count, value=1)
        logger.info("stripe event already processed")
        return json_response(200, {"received": True, "duplicate": True})
    if claim.result is ClaimResult.BUSY:
        # Another delivery of the same event is being processed right now; Stripe retries a non-2xx later.
        raise Conflict("this event is being processed by another delivery", code="event_in_progress")

    try:
        outcome = service.handle(event)
    except Exception:
        events.release(claim)
        logger.exception("stripe event failed; released for Stripe's retry")
        raise
    events.complete(
        claim,
        now.now(),
        {
            "action": outcome.action.value,
            "applied": outcome.applied,
            "reason": outcome.reason,
            "partner_id": outcome.partner_id,
            "object_id": outcome.object_id,
        },
    )
    metrics.add_metric(name="StripeEventsProcessed", unit=MetricUnit.Count, value=1)
    logger.info(
        "stripe event processed",
        extra={
            "action": outcome.action.value,
            "applied": outcome.applied,
            "reason": outcome.reason,
            "partner_id": outcome.partner_id,
            "object_id": outcome.object_id,
        },
    )
    return json_response(200, {"received": True})


@logger.inject_lambda_context(correlation_id_path=API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
