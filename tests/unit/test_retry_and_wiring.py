"""The retry policies, the Stripe connection's key handling, and the planner's sends to SQS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import stripe

from partnerhub import retry
from partnerhub.domain.planning import PartnerMonth
from partnerhub.errors import UpstreamError
from partnerhub.payments.client import StripeConnection
from partnerhub.queues import InvoiceQueue

ROOT = Path(__file__).resolve().parents[2]


class Conflict(Exception):
    pass


def failing(times: int, error: BaseException, result: Any = "done") -> Any:
    """A call that raises ``error`` the first ``times`` calls, then returns ``result``; it counts its calls."""
    calls = {"n": 0}

    def call() -> Any:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error
        return result

    call.calls = calls  # type: ignore[attr-defined]
    return call


class TestConflictPolicy:
    def test_a_conflict_is_tried_again_until_it_settles(self) -> None:
        # Given a write that loses two races, When it runs under the conflict policy
        call, waits = failing(2, Conflict()), []
        result = retry.on_conflict((Conflict,), attempts=5, sleep=waits.append)(call)
        # Then the third try's result comes back, after two short jittered waits
        assert result == "done" and call.calls["n"] == 3
        assert len(waits) == 2 and all(0 <= w <= 0.2 for w in waits)

    def test_the_last_conflict_is_raised_when_the_tries_run_out(self) -> None:
        call = failing(10, Conflict())
        with pytest.raises(Conflict):
            retry.on_conflict((Conflict,), attempts=3, sleep=lambda _: None)(call)
        assert call.calls["n"] == 3

    def test_another_error_is_not_retried(self) -> None:
        call = failing(1, KeyError("x"))
        with pytest.raises(KeyError):
            retry.on_conflict((Conflict,), attempts=3, sleep=lambda _: None)(call)
        assert call.calls["n"] == 1


def rate_limited(retry_after: str | None) -> stripe.RateLimitError:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return stripe.RateLimitError("slow down", http_status=429, headers=headers)


class TestStripeConnection:
    def connection(self, keys: list[str], built: list[str], waits: list[float], attempts: int = 4) -> StripeConnection:
        def read_key(fresh: bool) -> str:
            if fresh and len(keys) > 1:
                keys.pop(0)  # a fresh read finds the next key
            return keys[0]

        connection = StripeConnection(read_key, "http://127.0.0.1:9", attempts=attempts, sleep=waits.append)
        real_build = connection._build

        def build(key: str) -> Any:
            built.append(key)
            return real_build(key)

        connection._build = build  # type: ignore[method-assign]
        return connection

    def test_retry_after_is_honoured_and_a_rate_limit_is_retried(self) -> None:
        waits: list[float] = []
        connection = self.connection(["sk_test_a"], [], waits)
        call = failing(2, rate_limited("3"))
        assert connection.call(call) == "done"
        assert waits == [3.0, 3.0]

    def test_without_retry_after_the_waits_are_jittered_and_capped(self) -> None:
        waits: list[float] = []
        connection = self.connection(["sk_test_a"], [], waits, attempts=3)
        with pytest.raises(UpstreamError, match="failed after 3 tries"):
            connection.call(failing(5, rate_limited(None)), describe="listing")
        assert len(waits) == 2 and all(0 <= w <= 8 for w in waits)

    def test_a_card_error_is_the_callers_at_once(self) -> None:
        waits: list[float] = []
        connection = self.connection(["sk_test_a"], [], waits)
        call = failing(1, stripe.CardError("declined", "payment_method", "card_declined", http_status=402))
        with pytest.raises(stripe.CardError):
            connection.call(call)
        assert call.calls["n"] == 1 and waits == []

    def test_a_500_stripe_asks_not_to_retry_is_answered_at_once_and_says_stripe_answered(self) -> None:
        """https://docs.stripe.com/api/idempotent_requests: the same key replays a saved 500 for 24 hours, and the
        pinned SDK expects ``Stripe-Should-Retry: false`` on it; trying again would only read the replay."""
        waits: list[float] = []
        connection = self.connection(["sk_test_a"], [], waits)
        saved = stripe.APIError("boom", http_status=500, headers={"Stripe-Should-Retry": "false"})
        call = failing(3, saved)
        with pytest.raises(UpstreamError) as failed:
            connection.call(call, describe="creating")
        assert failed.value.answered is True and call.calls["n"] == 1 and waits == []

    def test_stripe_should_retry_true_is_retried_whatever_the_status(self) -> None:
        waits: list[float] = []
        connection = self.connection(["sk_test_a"], [], waits)
        locked = stripe.InvalidRequestError(
            "lock timeout", None, http_status=400, headers={"Stripe-Should-Retry": "true"}
        )
        assert connection.call(failing(1, locked)) == "done" and len(waits) == 1

    def test_a_500_without_advice_is_retried_and_then_said_answered(self) -> None:
        waits: list[float] = []
        connection = self.connection(["sk_test_a"], [], waits, attempts=2)
        with pytest.raises(UpstreamError) as failed:
            connection.call(failing(5, stripe.APIError("boom", http_status=500)))
        assert failed.value.answered is True and len(waits) == 1

    def test_a_connection_error_is_not_an_answer(self) -> None:
        connection = self.connection(["sk_test_a"], [], [], attempts=2)
        with pytest.raises(UpstreamError) as failed:
            connection.call(failing(5, stripe.APIConnectionError("reset")))
        assert failed.value.answered is False

    def test_the_client_is_rebuilt_when_the_key_changes(self) -> None:
        keys, built = ["sk_test_old"], []
        connection = self.connection(keys, built, [])
        first = connection.client()
        assert connection.client() is first and built == ["sk_test_old"]
        keys[0] = "sk_test_new"  # the parameter's cache expired and SSM holds the rotated key
        assert connection.client() is not first and built == ["sk_test_old", "sk_test_new"]

    def test_an_authentication_error_reads_the_key_afresh_and_tries_once_more(self) -> None:
        keys, built = ["sk_test_revoked", "sk_test_rotated"], []
        connection = self.connection(keys, built, [])
        connection.client()
        call = failing(1, stripe.AuthenticationError("revoked key", http_status=401))
        assert connection.call(call) == "done"
        assert call.calls["n"] == 2 and built == ["sk_test_revoked", "sk_test_rotated"]

    def test_a_second_authentication_error_is_raised(self) -> None:
        connection = self.connection(["sk_test_a"], [], [])
        call = failing(5, stripe.AuthenticationError("bad key", http_status=401))
        with pytest.raises(stripe.AuthenticationError):
            connection.call(call)
        assert call.calls["n"] == 2

    def test_every_request_has_the_configured_timeout(self) -> None:
        connection = StripeConnection(lambda _: "sk_test_a", timeout=(1.0, 2.0))
        assert connection.client()._requestor._client._timeout == (1.0, 2.0)


class FakeSqs:
    """SendMessageBatch that refuses the entries named in ``refusals``, one list per call."""

    def __init__(self, refusals: list[list[str]]) -> None:
        self.refusals = refusals
        self.sent: list[list[str]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.sent.append([json.loads(e["MessageBody"])["partner_id"] for e in Entries])
        refused = self.refusals.pop(0) if self.refusals else []
        return {"Failed": [{"Id": e["Id"]} for e in Entries if json.loads(e["MessageBody"])["partner_id"] in refused]}


def months(*partners: str) -> list[PartnerMonth]:
    return [PartnerMonth(partner, "2026-10") for partner in partners]


class TestInvoiceQueueSends:
    def test_refused_entries_and_only_they_are_sent_again(self) -> None:
        # Given SQS refusing two entries of the first batch, then one of the second
        sqs = FakeSqs([["p2", "p3"], ["p3"]])
        # When three partner-months are sent
        sent = InvoiceQueue(sqs, "https://sqs.invalid/q", sleep=lambda _: None).send(months("p1", "p2", "p3"))
        # Then each try carries only what was refused before, and all three are counted sent
        assert sqs.sent == [["p1", "p2", "p3"], ["p2", "p3"], ["p3"]]
        assert sent == 3

    def test_ten_entries_a_batch(self) -> None:
        sqs = FakeSqs([])
        InvoiceQueue(sqs, "https://sqs.invalid/q").send(months(*(f"p{n}" for n in range(23))))
        assert [len(batch) for batch in sqs.sent] == [10, 10, 3]

    def test_the_run_fails_when_sqs_keeps_refusing(self) -> None:
        sqs = FakeSqs([["p1"]] * 5)
        with pytest.raises(RuntimeError, match="could not enqueue 1 partner-month"):
            InvoiceQueue(sqs, "https://sqs.invalid/q", sleep=lambda _: None).send(months("p1", "p2"))
        assert len(sqs.sent) == 5
