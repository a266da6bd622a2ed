"""The two figures the operators' dashboard reads that the functions compute themselves: Stripe calls that still
failed after every try (StripeCallsFailed), and how long after Stripe created an event it was processed
(StripeEventLag). The CloudWatch side of them is in tests/deploy/test_operations.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import stripe

from partnerhub.errors import UpstreamError
from partnerhub.observability import MetricUnit, metrics
from partnerhub.payments.client import StripeConnection
from partnerhub.payments.webhooks import event_lag_seconds, record_event_lag

NOW = datetime(2026, 11, 3, 9, 0, 0, tzinfo=UTC)
NOW_SECONDS = 1793696400  # 2026-11-03T09:00:00Z, worked out by hand: 20,760 days after 1970-01-01, plus 9 h


class Sink:
    """Records what would be published, as Powertools' Metrics.add_metric receives it."""

    def __init__(self) -> None:
        self.added: list[dict[str, Any]] = []

    def add_metric(self, **metric: Any) -> None:
        self.added.append(metric)


def failed_calls() -> float:
    entry = metrics.metric_set.get("StripeCallsFailed")
    return float(sum(entry["Value"])) if entry else 0.0


def test_the_clock_value_used_below_is_right() -> None:
    assert int(NOW.timestamp()) == NOW_SECONDS


def test_an_event_processed_42_seconds_after_stripe_created_it_lags_42_seconds() -> None:
    # Given an event Stripe created at 08:59:18, When it is processed at 09:00:00
    event = {"id": "evt_1", "created": NOW_SECONDS - 42}
    sink = Sink()
    record_event_lag(event, NOW, sink)
    # Then one StripeEventLag of 42 seconds is published
    assert sink.added == [{"name": "StripeEventLag", "unit": MetricUnit.Seconds, "value": 42}]


def test_a_retried_delivery_shows_its_whole_delay() -> None:
    # Stripe keeps an event's `created` on every retry: a delivery three hours late is three hours of lag.
    assert event_lag_seconds({"created": NOW_SECONDS - 3 * 3600}, NOW) == 10_800


@pytest.mark.parametrize(
    ("created", "expected"),
    [(NOW_SECONDS + 5, 0), (None, None), ("1793696400", None), (True, None)],
    ids=["from-the-future", "missing", "text", "boolean"],
)
def test_a_clock_ahead_of_ours_or_no_usable_creation_time(created: Any, expected: int | None) -> None:
    event = {"id": "evt_1"} if created is None else {"id": "evt_1", "created": created}
    assert event_lag_seconds(event, NOW) == expected
    sink = Sink()
    record_event_lag(event, NOW, sink)
    assert sink.added == (
        [] if expected is None else [{"name": "StripeEventLag", "unit": MetricUnit.Seconds, "value": 0}]
    )


def connection(attempts: int) -> StripeConnection:
    return StripeConnection(lambda fresh: "sk_test_a", "http://127.0.0.1:9", attempts=attempts, sleep=lambda _: None)


def test_a_stripe_call_that_fails_every_try_is_counted_once() -> None:
    # Given Stripe answering 500 to every try
    before = failed_calls()
    error = stripe.APIError("internal", http_status=500)

    def call() -> None:
        raise error

    # When the call runs out of its three tries
    with pytest.raises(UpstreamError):
        connection(attempts=3).call(call, describe="creating an invoice")
    # Then one failed Stripe call is counted (one per call, not per try)
    assert failed_calls() - before == 1


def test_a_call_that_succeeds_on_a_retry_or_a_declined_card_is_not_counted() -> None:
    before = failed_calls()
    tries = {"n": 0}

    def flaky() -> str:
        tries["n"] += 1
        if tries["n"] == 1:
            raise stripe.APIError("internal", http_status=500)
        return "done"

    assert connection(attempts=3).call(flaky) == "done"
    with pytest.raises(stripe.CardError):
        connection(attempts=3).call(
            lambda: (_ for _ in ()).throw(
                stripe.CardError("declined", "payment_method", "card_declined", http_status=402)
            )
        )
    assert failed_calls() == before
