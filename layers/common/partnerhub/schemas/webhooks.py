"""Request and response bodies of webhook endpoints, deliveries and events, and the ``data`` of an event: the object
as the API answers it (a license as ``POST /v1/licenses`` does, an invoice as ``GET /v1/invoices/{id}``, a card as
``GET /v1/payment-methods``, the standing as ``GET /v1/account``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from partnerhub.domain.accounts import Account, Card
from partnerhub.domain.invoicing import InvoiceRecord
from partnerhub.domain.models import License
from partnerhub.domain.webhook_deliveries import Delivery
from partnerhub.domain.webhook_endpoints import MAX_DESCRIPTION, MAX_FILTERS, MAX_URL, Endpoint
from partnerhub.domain.webhook_events import Event, Happened
from partnerhub.schemas.accounts import PaymentMethodOut
from partnerhub.schemas.invoices import InvoiceDetail
from partnerhub.schemas.licenses import Instant, LicenseOut
from partnerhub.schemas.types import URL_PATTERN, published

EventFilter = Literal[
    "*",
    "license.*",
    "invoice.*",
    "payment_method.*",
    "account.*",
    "license.issued",
    "license.assigned",
    "license.transferred",
    "license.unassigned",
    "license.revoked",
    "license.updated",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "invoice.voided",
    "invoice.marked_uncollectible",
    "payment_method.added",
    "payment_method.removed",
    "account.standing_changed",
]
"""An exact event type, every type of one kind (``license.*``), or every type (``*``)."""

EventType = Literal[
    "license.issued",
    "license.assigned",
    "license.transferred",
    "license.unassigned",
    "license.revoked",
    "license.updated",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "invoice.voided",
    "invoice.marked_uncollectible",
    "payment_method.added",
    "payment_method.removed",
    "account.standing_changed",
]

ENDPOINT_ID = r"^we_[A-Za-z0-9]{1,40}$"
EVENT_ID = r"^evt_[A-Za-z0-9]{1,40}$"
UrlText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_URL)]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION, pattern=r"^[^\x00-\x1f\x7f]*$")]
Filters = Annotated[list[EventFilter], Field(min_length=1, max_length=MAX_FILTERS)]


_URL = {"format": "uri", "pattern": URL_PATTERN}
"""What the document says of ``url`` (the server reads it with ``domain.webhook_endpoints.parse_url``, which says why
a URL cannot be an endpoint, and then resolves its host)."""


def _not_null(*names: str) -> Any:
    """A ``json_schema_extra`` stating that ``names`` may be left out but never sent as null."""

    def extra(schema: dict[str, Any]) -> None:
        for name in names:
            prop = schema.get("properties", {}).get(name, {})
            branches = [b for b in prop.pop("anyOf", []) if b.get("type") != "null"]
            if branches:
                prop.update(branches[0])
                prop.pop("default", None)

    return extra


def _url_and_not_null(schema: dict[str, Any]) -> None:
    published(url=_URL)(schema)
    _not_null("url", "events", "enabled")(schema)


class EndpointRequest(BaseModel):
    """``{"url", "events", "description"?}``: an https URL whose host resolves to public addresses only; the events
    it receives (exact types, ``<kind>.*`` or ``*``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=published(url=_URL))

    url: UrlText
    events: Filters
    description: Description | None = None


class EndpointChange(BaseModel):
    """``{"url"?, "events"?, "enabled"?, "description"?}``: a field left out stays as it is (``description: null``
    clears it; ``url``, ``events`` and ``enabled`` cannot be null)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_url_and_not_null)

    url: UrlText | None = None
    events: Filters | None = None
    enabled: StrictBool | None = None
    description: Description | None = None

    @model_validator(mode="after")
    def _not_null(self) -> EndpointChange:
        for name in ("url", "events", "enabled"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null (leave it out to keep it)")
        return self


class EndpointOut(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    disabled_at: Instant | None
    failing_since: Instant | None
    previous_secret_expires_at: Instant | None = Field(
        description="After a rotation: when the secret it replaced stops signing (null when only one secret signs)"
    )
    created_at: Instant
    updated_at: Instant

    @classmethod
    def of(cls, endpoint: Endpoint, at: datetime) -> EndpointOut:
        older = [s.expires_at for s in endpoint.secrets[1:] if s.expires_at is not None and s.live(at)]
        return cls(
            id=endpoint.endpoint_id,
            url=endpoint.url,
            events=list(endpoint.events),
            description=endpoint.description,
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            disabled_at=endpoint.disabled_at,
            failing_since=endpoint.failing_since,
            previous_secret_expires_at=max(older) if older else None,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


class EndpointWithSecret(EndpointOut):
    secret: str = Field(description="The signing secret (`whsec_...`): shown this once, keep it safe")

    @classmethod
    def with_secret(cls, endpoint: Endpoint, secret: str, at: datetime) -> EndpointWithSecret:
        return cls(**EndpointOut.of(endpoint, at).model_dump(), secret=secret)


class EndpointList(BaseModel):
    items: list[EndpointOut]


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    type: str
    status: Literal["pending", "delivered", "failed"]
    attempt: int = Field(description="Attempts made so far")
    status_code: int | None
    duration_ms: int | None
    error: str | None
    response: str | None = Field(description="The start of the endpoint's last answer (at most 300 characters)")
    next_attempt_at: Instant | None
    delivered_at: Instant | None
    created_at: Instant
    manual: bool = Field(description="A delivery someone asked for again: one attempt, not retried")

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        return cls(
            id=delivery.delivery_id,
            event_id=delivery.event_id,
            type=delivery.type,
            status=delivery.state.value,
            attempt=delivery.attempt,
            status_code=delivery.status_code,
            duration_ms=delivery.duration_ms,
            error=delivery.error,
            response=delivery.response,
            next_attempt_at=delivery.next_attempt_at,
            delivered_at=delivery.delivered_at,
            created_at=delivery.created_at,
            manual=delivery.manual,
        )


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = None


class EventOut(BaseModel):
    """An event as its deliveries send it."""

    id: str
    type: str
    created_at: str
    data: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls.model_validate(event.payload())


class EventList(BaseModel):
    items: list[EventOut]
    next_cursor: str | None = None


class RedeliverRequest(BaseModel):
    """``{"endpoint_id"}``: one of the partner's endpoints."""

    model_config = ConfigDict(extra="forbid")

    endpoint_id: Annotated[str, StringConstraints(pattern=ENDPOINT_ID)]


def event_data(happened: Happened) -> dict[str, Any]:
    """An event's ``data``: its object exactly as the API answers it."""
    subject = happened.subject
    if isinstance(subject, License):
        return LicenseOut.of(subject).model_dump(mode="json")
    if isinstance(subject, InvoiceRecord):
        return InvoiceDetail.of(subject).model_dump(mode="json")
    if isinstance(subject, Card):
        return PaymentMethodOut.of(subject, happened.primary).model_dump(mode="json")
    if isinstance(subject, Account):
        return subject.model_dump(mode="json")
    raise TypeError(f"no data for {type(subject).__name__}")
