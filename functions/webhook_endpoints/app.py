"""Webhooks to agencies: endpoints (create, list, change, rotate the secret, delete), each endpoint's deliveries,
the partner's events and redelivery. Only people signed in manage endpoints and ask for redeliveries: those routes
declare no key scope, so an API key calling them is 403; an API key with ``read`` may list the events. The deliveries
themselves are made by ``webhook_deliverer`` from its queue, never here."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, cast

from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from partnerhub import clients
from partnerhub.api import CursorQuery, caller_of, create_app
from partnerhub.clock import Clock, SystemClock
from partnerhub.composition import Function, entry_point, http_handler
from partnerhub.domain.webhook_deliveries import Dispatcher
from partnerhub.domain.webhook_endpoints import UNCHANGED, WebhookEndpointService
from partnerhub.domain.webhook_events import WebhookEventService
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.outbound.addresses import HostGuard, Resolver, system_resolver
from partnerhub.queues import WebhookDeliveryQueue
from partnerhub.repository.idempotency import api_requests
from partnerhub.repository.webhooks import DynamoWebhookRepository
from partnerhub.schemas.webhooks import (
    ENDPOINT_ID,
    EVENT_ID,
    DeliveryList,
    DeliveryOut,
    EndpointChange,
    EndpointList,
    EndpointOut,
    EndpointRequest,
    EndpointWithSecret,
    EventList,
    EventOut,
    EventType,
    RedeliverRequest,
)
from partnerhub.settings import AgencyWebhookSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

app = create_app()
WEBHOOKS = "webhooks"


@dataclass(frozen=True)
class Wiring:
    endpoints: WebhookEndpointService
    events: WebhookEventService
    clock: Clock


def build(
    settings: AgencyWebhookSettings | None = None,
    *,
    clock: Clock | None = None,
    dynamodb: "DynamoDBClient | None" = None,
    sqs: Any = None,
    resolver: Resolver | None = None,
) -> Function[Wiring]:
    """The composition root: every client and service of this function, made once per execution environment."""
    settings = settings or AgencyWebhookSettings.from_env()
    clock = clock or SystemClock()
    dynamodb = dynamodb or clients.dynamodb()
    repository = DynamoWebhookRepository(settings.table_name, dynamodb)
    guard = HostGuard(resolver or system_resolver, allow_local=settings.webhook_allow_local_urls)
    endpoints = WebhookEndpointService(repository, guard.refusal, clock, allow_local=settings.webhook_allow_local_urls)
    dispatcher = Dispatcher(
        repository, WebhookDeliveryQueue(sqs or clients.sqs(), settings.webhook_delivery_queue_url), clock
    )
    wiring = Wiring(
        endpoints=endpoints, events=WebhookEventService(repository, endpoints, dispatcher, clock), clock=clock
    )
    idempotency = api_requests(settings.table_name, dynamodb, settings.idempotency_ttl_seconds)
    return Function(wiring, http_handler(app, wiring, idempotency))


def wired() -> Wiring:
    """The services of the request being resolved."""
    return cast(Wiring, app.context["wiring"])


EndpointId = Annotated[str, Path(pattern=ENDPOINT_ID, max_length=64)]
EventId = Annotated[str, Path(pattern=EVENT_ID, max_length=64)]


@app.post(
    "/v1/webhook-endpoints",
    status_code=201,
    response_description="Created, with its signing secret (shown this once)",
    tags=[WEBHOOKS],
    description="Signed-in people only (an API key is 403). At most 10 endpoints per partner (409 "
    "`webhook_endpoint_limit`). `url` must be https and its host must resolve to public addresses only (422 naming "
    "`url` otherwise); it is checked again at every delivery.",
)
@app.idempotent()
@tracer.capture_method
def create_endpoint(request: Annotated[EndpointRequest, Body()]) -> EndpointWithSecret:
    partner = caller_of(app).partner()
    wiring = wired()
    endpoint, secret = wiring.endpoints.create(
        partner, request.url, request.events, request.description, app.receipt_id()
    )
    metrics.add_metric(name="WebhookEndpointCreated", unit=MetricUnit.Count, value=1)
    logger.info("webhook endpoint created", extra={"partner_id": partner, "endpoint_id": endpoint.endpoint_id})
    return EndpointWithSecret.with_secret(endpoint, secret, wiring.clock.now())


@app.get(
    "/v1/webhook-endpoints",
    tags=[WEBHOOKS],
    description="Signed-in people only (an API key is 403). The partner's endpoints (at most 10), oldest first; "
    "never their secrets.",
)
def list_endpoints() -> EndpointList:
    wiring = wired()
    now = wiring.clock.now()
    return EndpointList(items=[EndpointOut.of(e, now) for e in wiring.endpoints.list(caller_of(app).partner())])


@app.get(
    "/v1/webhook-endpoints/<endpoint_id>",
    tags=[WEBHOOKS],
    description="Signed-in people only (an API key is 403). One endpoint; never its secret.",
)
def get_endpoint(endpoint_id: EndpointId) -> EndpointOut:
    wiring = wired()
    return EndpointOut.of(wiring.endpoints.get(caller_of(app).partner(), endpoint_id), wiring.clock.now())


@app.patch(
    "/v1/webhook-endpoints/<endpoint_id>",
    response_description="Changed",
    tags=[WEBHOOKS],
    description="Signed-in people only (an API key is 403). Changes `url`, `events`, `enabled` or `description`; "
    "a field left out stays as it is. Enabling an endpoint clears why it was disabled. A new `url` is checked as on "
    "creation.",
)
@app.idempotent()
@tracer.capture_method
def change_endpoint(endpoint_id: EndpointId, request: Annotated[EndpointChange, Body()]) -> EndpointOut:
    given = request.model_fields_set
    wiring = wired()
    endpoint = wiring.endpoints.update(
        caller_of(app).partner(),
        endpoint_id,
        url=request.url if "url" in given else UNCHANGED,
        events=request.events if "events" in given else UNCHANGED,
        enabled=request.enabled if "enabled" in given else UNCHANGED,
        description=request.description if "description" in given else UNCHANGED,
    )
    return EndpointOut.of(endpoint, wiring.clock.now())


@app.delete(
    "/v1/webhook-endpoints/<endpoint_id>",
    status_code=204,
    response_description="Deleted",
    tags=[WEBHOOKS],
    description="Signed-in people only (an API key is 403). Deletes the endpoint; deliveries still waiting for it "
    "end as failed.",
)
@app.idempotent()
def delete_endpoint(endpoint_id: EndpointId) -> None:
    wired().endpoints.delete(caller_of(app).partner(), endpoint_id)
    metrics.add_metric(name="WebhookEndpointDeleted", unit=MetricUnit.Count, value=1)


@app.post(
    "/v1/webhook-endpoints/<endpoint_id>/rotate-secret",
    response_description="A new signing secret (shown this once)",
    tags=[WEBHOOKS],
    description="Signed-in people only (an API key is 403). A new signing secret; for 24 hours the one it "
    "replaces keeps signing beside it (two `v1` signatures in `webhook-signature`), so receivers can switch without "
    "losing a delivery.",
)
@app.idempotent()
@tracer.capture_method
def rotate_secret(endpoint_id: EndpointId) -> EndpointWithSecret:
    wiring = wired()
    endpoint, secret = wiring.endpoints.rotate(caller_of(app).partner(), endpoint_id)
    metrics.add_metric(name="WebhookSecretRotated", unit=MetricUnit.Count, value=1)
    return EndpointWithSecret.with_secret(endpoint, secret, wiring.clock.now())


@app.get(
    "/v1/webhook-endpoints/<endpoint_id>/deliveries",
    tags=[WEBHOOKS],
    description="Signed-in people only (an API key is 403). The endpoint's deliveries, newest first: each one's "
    "status, attempts made, the last status code, duration and error, the start of the last answer, and when the "
    "next attempt is due. `cursor` must be a `next_cursor` this list returned (422 otherwise).",
)
def list_deliveries(
    endpoint_id: EndpointId, limit: Annotated[int, Query(ge=1, le=100)] = 50, cursor: CursorQuery = None
) -> DeliveryList:
    page = wired().events.deliveries(caller_of(app).partner(), endpoint_id, limit, cursor)
    return DeliveryList(items=[DeliveryOut.of(d) for d in page.items], next_cursor=page.next_cursor)


@app.get(
    "/v1/events",
    tags=[WEBHOOKS],
    description="An API key needs `read`. The partner's events of the last 30 days, newest first, as their "
    "deliveries send them (events are kept once the partner has a webhook endpoint). `type` keeps one type; a page "
    "may then hold fewer than `limit` and still have a `next_cursor`. `cursor` must be a `next_cursor` this list "
    "returned (422 otherwise).",
)
@app.key_scope("read")
def list_events(
    type: Annotated[EventType | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: CursorQuery = None,
) -> EventList:
    page = wired().events.events(caller_of(app).partner(), type, limit, cursor)
    return EventList(items=[EventOut.of(e) for e in page.items], next_cursor=page.next_cursor)


@app.post(
    "/v1/events/<event_id>/redeliver",
    status_code=202,
    response_description="Accepted: one more delivery, from the delivery queue",
    tags=[WEBHOOKS],
    description="Signed-in people only (an API key is 403). Sends the event to the endpoint once more (one "
    "attempt, not retried; it shows in the endpoint's deliveries). An unknown event or endpoint is 404; a disabled "
    "endpoint is 409 `webhook_endpoint_disabled`.",
)
@app.idempotent()
@tracer.capture_method
def redeliver(event_id: EventId, request: Annotated[RedeliverRequest, Body()]) -> DeliveryOut:
    delivery = wired().events.redeliver(caller_of(app).partner(), event_id, request.endpoint_id, app.receipt_id())
    metrics.add_metric(name="WebhookRedeliveryRequested", unit=MetricUnit.Count, value=1)
    return DeliveryOut.of(delivery)


lambda_handler = entry_point(build)

__all__ = ["app", "build", "lambda_handler"]
