"""Webhook endpoints: what may be subscribed, at most ten per partner, URLs checked when saved, secrets shown once
and rotated with a 24-hour overlap, and enabling that clears why an endpoint was disabled."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from partnerhub.clock import ManualClock
from partnerhub.domain.webhook_endpoints import (
    EVENT_TYPES,
    MAX_ENDPOINTS,
    SigningSecret,
    WebhookEndpointService,
    filter_refusal,
    matches,
    new_secret,
    rotated,
)
from partnerhub.errors import Conflict, NotFound, ValidationFailed
from partnerhub.schemas.webhooks import EventFilter, EventType
from tests.unit.webhook_fakes import FakeStore

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
PARTNER = "agency-42"
URL = "https://hooks.agency.example/partnerhub"


def public(host: str, port: int) -> str | None:
    return None


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def service(store: FakeStore, clock: ManualClock) -> WebhookEndpointService:
    return WebhookEndpointService(store, public, clock)


def test_the_api_publishes_exactly_the_domains_event_types_and_filters() -> None:
    from typing import get_args

    assert set(get_args(EventType)) == set(EVENT_TYPES)
    assert set(get_args(EventFilter)) == {*EVENT_TYPES, "license.*", "invoice.*", "payment_method.*", "account.*", "*"}
    assert all(filter_refusal(f) is None for f in get_args(EventFilter))
    assert filter_refusal("license.stolen") is not None and filter_refusal("stripe.*") is not None


@pytest.mark.parametrize(
    ("filters", "event_type", "wanted"),
    [
        (["*"], "invoice.paid", True),
        (["license.*"], "license.revoked", True),
        (["license.*"], "invoice.paid", False),
        (["invoice.paid"], "invoice.paid", True),
        (["invoice.paid"], "invoice.payment_failed", False),
        (["payment_method.added", "account.*"], "account.standing_changed", True),
    ],
)
def test_an_endpoint_receives_what_its_filters_name(filters: list[str], event_type: str, wanted: bool) -> None:
    assert matches(filters, event_type) is wanted


def test_a_secret_is_whsec_and_the_base64_of_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert new_secret() != secret


def test_creating_shows_the_secret_once_and_a_retry_makes_the_same_endpoint(service: WebhookEndpointService) -> None:
    # Given a create request with its receipt
    endpoint, secret = service.create(PARTNER, URL, ["license.*", "license.*", "invoice.paid"], "CRM", "receipt-1")
    # Then it holds the URL, the filters once each, and signs with the secret it answered
    assert (endpoint.url, endpoint.events, endpoint.enabled) == (URL, ("license.*", "invoice.paid"), True)
    assert endpoint.signing_secrets(T0) == [secret]
    # When the same request is retried (same receipt)
    again, again_secret = service.create(PARTNER, URL, ["license.*"], "CRM", "receipt-1")
    # Then it is the same endpoint, with the secret it was made with
    assert (again.endpoint_id, again_secret) == (endpoint.endpoint_id, secret)
    assert len(service.list(PARTNER)) == 1


def test_at_most_ten_endpoints_per_partner(service: WebhookEndpointService) -> None:
    for n in range(MAX_ENDPOINTS):
        service.create(PARTNER, URL, ["*"], None, f"receipt-{n}")
    with pytest.raises(Conflict) as refused:
        service.create(PARTNER, URL, ["*"], None, "receipt-eleven")
    assert refused.value.code == "webhook_endpoint_limit"
    assert refused.value.details[0]["limit"] == MAX_ENDPOINTS
    # another partner has its own ten
    service.create("agency-43", URL, ["*"], None, "receipt-other")


def test_a_url_whose_host_is_refused_is_a_422_naming_url(store: FakeStore, clock: ManualClock) -> None:
    service = WebhookEndpointService(store, lambda host, port: f"{host} resolves to 10.0.0.5, a private address", clock)
    with pytest.raises(ValidationFailed) as refused:
        service.create(PARTNER, URL, ["*"], None, "r")
    assert refused.value.details == [
        {"field": "url", "reason": "hooks.agency.example resolves to 10.0.0.5, a private address"}
    ]
    with pytest.raises(ValidationFailed) as plain:
        WebhookEndpointService(store, public, clock).create(PARTNER, "http://hooks.example/x", ["*"], None, "r")
    assert plain.value.details[0]["field"] == "url"
    assert store.endpoints(PARTNER) == []


def test_rotation_keeps_the_old_secret_signing_for_24_hours(
    service: WebhookEndpointService, clock: ManualClock
) -> None:
    # Given an endpoint made at 09:00
    endpoint, first = service.create(PARTNER, URL, ["*"], None, "r")
    # When its secret is rotated at 10:00
    clock.set(T0 + timedelta(hours=1))
    rotated_endpoint, second = service.rotate(PARTNER, endpoint.endpoint_id)
    # Then both sign until 10:00 the next day, the new one first; from then on only the new one
    assert second != first
    assert rotated_endpoint.signing_secrets(T0 + timedelta(hours=1)) == [second, first]
    assert rotated_endpoint.signing_secrets(T0 + timedelta(hours=25) - timedelta(microseconds=1)) == [second, first]
    assert rotated_endpoint.signing_secrets(T0 + timedelta(hours=25)) == [second]


def test_rotating_twice_never_extends_an_old_secrets_life() -> None:
    at = T0
    first = (SigningSecret(value="a", created_at=at),)
    once = rotated(first, "b", at)
    twice = rotated(once, "c", at + timedelta(hours=20))
    by_value = {s.value: s.expires_at for s in twice}
    assert by_value == {"c": None, "b": at + timedelta(hours=44), "a": at + timedelta(hours=24)}
    # and a secret that has expired is dropped at the next rotation
    assert [s.value for s in rotated(twice, "d", at + timedelta(hours=30))] == ["d", "c", "b"]


def test_patch_changes_what_was_given_and_enabling_clears_the_reason(
    service: WebhookEndpointService, store: FakeStore, clock: ManualClock
) -> None:
    endpoint, _ = service.create(PARTNER, URL, ["*"], "CRM", "r")
    # Given an endpoint the deliverer disabled
    store.endpoints_by_id[(PARTNER, endpoint.endpoint_id)] = endpoint.model_copy(
        update={"enabled": False, "disabled_reason": "Every delivery failed for 5 days", "failing_since": T0}
    )
    # When only the events change, nothing else does
    changed = service.update(PARTNER, endpoint.endpoint_id, events=["invoice.*"])
    assert (changed.events, changed.url, changed.description, changed.enabled) == (("invoice.*",), URL, "CRM", False)
    assert changed.version == endpoint.version + 1
    # When it is enabled again
    clock.advance(timedelta(minutes=1))
    enabled = service.update(PARTNER, endpoint.endpoint_id, enabled=True, description=None)
    # Then why it was disabled and its run of failures are gone
    assert (enabled.enabled, enabled.disabled_reason, enabled.failing_since, enabled.description) == (
        True,
        None,
        None,
        None,
    )
    # and a change that changes nothing writes nothing
    assert service.update(PARTNER, endpoint.endpoint_id, enabled=True) == enabled


def test_another_partners_endpoint_is_not_found(service: WebhookEndpointService) -> None:
    endpoint, _ = service.create(PARTNER, URL, ["*"], None, "r")
    for call in (
        lambda: service.get("agency-43", endpoint.endpoint_id),
        lambda: service.rotate("agency-43", endpoint.endpoint_id),
        lambda: service.update("agency-43", endpoint.endpoint_id, enabled=False),
        lambda: service.delete("agency-43", endpoint.endpoint_id),
    ):
        with pytest.raises(NotFound) as missing:
            call()
        assert missing.value.code == "webhook_endpoint_not_found"
    assert service.get(PARTNER, endpoint.endpoint_id) == endpoint
