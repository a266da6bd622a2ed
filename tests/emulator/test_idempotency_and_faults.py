"""Idempotency keys and injected faults, seen through the official SDK."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
import stripe
from stripe._http_client import HTTPClient

from local.stripe_emulator import Emulator, RunningServer
from partnerhub.clock import ManualClock


def test_same_key_same_params_replays_the_first_response(client: stripe.StripeClient) -> None:
    # Given a customer created under an idempotency key
    first = client.v1.customers.create({"name": "Ada"}, {"idempotency_key": "key-1"})
    # When the same request is sent again with the same key
    second = client.v1.customers.create({"name": "Ada"}, {"idempotency_key": "key-1"})
    # Then the first response is replayed and nothing new is created
    assert second.id == first.id
    assert second.last_response is not None and second.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(client.v1.customers.list().data) == 1


def test_same_key_other_params_is_an_idempotency_error(client: stripe.StripeClient) -> None:
    client.v1.customers.create({"name": "Ada"}, {"idempotency_key": "key-2"})
    with pytest.raises(stripe.IdempotencyError) as error:
        client.v1.customers.create({"name": "Bob"}, {"idempotency_key": "key-2"})
    assert error.value.http_status == 400


def test_errors_from_the_endpoint_are_replayed_too(client: stripe.StripeClient) -> None:
    # A declined attach ran the endpoint, so its 402 is what the key replays
    customer = client.v1.customers.create({"name": "Ada"})
    for _ in range(2):
        with pytest.raises(stripe.CardError):
            client.v1.payment_methods.attach(
                "pm_card_chargeDeclined", {"customer": customer.id}, {"idempotency_key": "decline"}
            )


def test_keys_are_scoped_per_api_key(client_for: Any) -> None:
    one, two = client_for("sk_test_one"), client_for("sk_test_two")
    a = one.v1.customers.create({"name": "A"}, {"idempotency_key": "shared"})
    b = two.v1.customers.create({"name": "B"}, {"idempotency_key": "shared"})
    assert a.id != b.id


def test_injected_429_503_and_500_change_nothing(client: stripe.StripeClient, emulator: Emulator) -> None:
    # Given every request answered 429
    emulator.set_faults(rate_limit=1.0)
    with pytest.raises(stripe.RateLimitError) as limited:
        client.v1.customers.create({"name": "Ada"})
    assert limited.value.http_status == 429 and limited.value.json_body["error"]["code"] == "rate_limit"
    # And then every request answered 503, then 500
    emulator.set_faults(unavailable=1.0)
    with pytest.raises(stripe.APIError) as unavailable:
        client.v1.customers.create({"name": "Ada"})
    assert unavailable.value.http_status == 503
    emulator.set_faults(server_error=1.0)
    with pytest.raises(stripe.APIError) as failed:
        client.v1.customers.create({"name": "Ada"})
    assert failed.value.http_status == 500
    # Then no customer was created by any of them
    emulator.clear_faults()
    assert client.v1.customers.list().data == []


def test_a_500_under_an_idempotency_key_is_replayed_for_24_hours(
    client: stripe.StripeClient, emulator: Emulator, clock: ManualClock
) -> None:
    """https://docs.stripe.com/api/idempotent_requests: Stripe saves "the resulting status code and body of the
    first request made for any given idempotency key, regardless of whether it succeeds or fails. Subsequent
    requests with the same key return the same result, including 500 errors", and a key is pruned once "at least
    24 hours old". The pinned SDK expects ``Stripe-Should-Retry: false`` on such a 500 ("our idempotency framework
    would typically replay it anyway")."""
    # Given the next write fails with a 500 inside the endpoint
    emulator.set_faults(server_error=1.0, limit=1, methods=["POST"])
    with pytest.raises(stripe.APIError) as first:
        client.v1.customers.create({"name": "Ada"}, {"idempotency_key": "k-500"})
    assert first.value.http_status == 500 and first.value.headers["Stripe-Should-Retry"] == "false"
    # When the same request is sent again with the same key, even once Stripe is well
    for hours in (0, 23):
        clock.advance(timedelta(hours=hours))
        with pytest.raises(stripe.APIError) as replayed:
            client.v1.customers.create({"name": "Ada"}, {"idempotency_key": "k-500"})
        # Then the same 500 comes back, marked as replayed, and nothing was created
        assert replayed.value.http_status == 500 and replayed.value.headers["Idempotent-Replayed"] == "true"
        assert replayed.value.headers["Stripe-Should-Retry"] == "false"
        assert replayed.value.json_body == first.value.json_body
    assert client.v1.customers.list().data == []
    # When the key is 24 hours old it is pruned: the request runs anew
    clock.advance(timedelta(hours=1))
    created = client.v1.customers.create({"name": "Ada"}, {"idempotency_key": "k-500"})
    assert [c.id for c in client.v1.customers.list().data] == [created.id]


def test_a_request_carried_out_then_answered_500_replays_the_500_and_the_work_stays_done(
    client_for: Any, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """https://docs.stripe.com/error-low-level: the result of a 500 is indeterminate; the saved 500 is what the
    key replays, so the SDK, honouring ``Stripe-Should-Retry: false``, does not retry it, and the object that was
    made is found by reading (listing) rather than by asking again."""
    monkeypatch.setattr(HTTPClient, "INITIAL_DELAY", 0.01)
    # Given the next write is carried out but answered 500
    emulator.set_faults(fail_after_commit=1.0, limit=1, methods=["POST"])
    retrying = client_for(retries=2)
    # When the SDK sends it with its retries on
    with pytest.raises(stripe.APIError) as failed:
        retrying.v1.customers.create({"name": "Ada"}, {"idempotency_key": "made-then-500"})
    # Then it stopped at the first answer, and the customer exists
    assert failed.value.http_status == 500
    assert [f["after_commit"] for f in emulator.describe_faults()["injected"]] == [True]
    (made,) = retrying.v1.customers.list().data
    assert made.name == "Ada"
    with pytest.raises(stripe.APIError):
        retrying.v1.customers.create({"name": "Ada"}, {"idempotency_key": "made-then-500"})


def test_sdk_retries_get_through_a_transient_503(
    client_for: Any, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """https://docs.stripe.com/api/idempotent_requests: "We save results only after the execution of an endpoint
    begins"; a 503 before it began is not saved, so a retry with the same key gets through."""
    monkeypatch.setattr(HTTPClient, "INITIAL_DELAY", 0.01)
    # Given the next two requests fail with 503 and the SDK retries up to three times
    emulator.set_faults(unavailable=1.0, limit=2)
    retrying = client_for(retries=3)
    # When a customer is created
    customer = retrying.v1.customers.create({"name": "Ada"})
    # Then it got through on the third try, exactly once
    assert [c.id for c in retrying.v1.customers.list().data] == [customer.id]
    assert [f["status"] for f in emulator.describe_faults()["injected"]] == [503, 503]


def test_faults_are_seeded_and_scoped(client: stripe.StripeClient, emulator: Emulator) -> None:
    def outcomes() -> list[str]:
        results = []
        for _ in range(12):
            try:
                client.v1.customers.list()
                results.append("ok")
            except stripe.RateLimitError:
                results.append("429")
        return results

    emulator.set_faults(rate_limit=0.5, seed=3, path_prefix="/v1/customers")
    first = outcomes()
    emulator.set_faults(rate_limit=0.5, seed=3, path_prefix="/v1/customers")
    assert outcomes() == first and "429" in first and "ok" in first
    # Other paths are untouched
    assert client.v1.events.list().data is not None


def test_delay_and_control_routes(server: RunningServer, client: stripe.StripeClient) -> None:
    # Faults can be set over HTTP too
    set_response = requests.post(f"{server.url}/_emulator/faults", json={"delay_ms": 50}, timeout=5)
    assert set_response.status_code == 200 and set_response.json()["plan"]["delay_ms"] == 50
    client.v1.customers.create({"name": "slow"})
    assert requests.get(f"{server.url}/_emulator/faults", timeout=5).json()["injected"][0]["delay_ms"] == 50
    requests.delete(f"{server.url}/_emulator/faults", timeout=5)
    # Reset forgets everything
    assert requests.post(f"{server.url}/_emulator/reset", timeout=5).status_code == 200
    assert client.v1.customers.list().data == []
    # The clock can be moved when it is manual
    before = requests.get(f"{server.url}/_emulator/clock", timeout=5).json()["unix"]
    moved = requests.post(f"{server.url}/_emulator/clock", json={"advance": "P3D"}, timeout=5).json()
    assert moved["unix"] - before == 3 * 86_400
    set_to = requests.post(f"{server.url}/_emulator/clock", json={"now": "2030-01-01T00:00:00Z"}, timeout=5).json()
    assert set_to["now"] == "2030-01-01T00:00:00Z"
    assert client.v1.customers.create({"name": "future"}).created == set_to["unix"]


def test_cors_preflight(server: RunningServer) -> None:
    response = requests.options(f"{server.url}/v1/setup_intents/seti_x/confirm", timeout=5)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
