"""What the shared observability promises: spans through the OpenTelemetry API, named after the traced function
and the handler, with errors recorded; and, for every HTTP function, logs carrying the request's correlation id
and its metrics flushed as one CloudWatch EMF document per request."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from opentelemetry import trace

from partnerhub.composition import http_handler
from partnerhub.observability import MetricUnit, Tracer, logger, metrics
from testkit.events import load_event

CONTEXT = {
    "function_name": "partnerhub-licenses",
    "function_version": "1",
    "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:partnerhub-licenses",
    "memory_limit_in_mb": 512,
    "aws_request_id": "req-42",
}


class _Recording(trace.NoOpTracer):
    def __init__(self) -> None:
        self.spans: list[tuple[str, Any, dict[str, Any]]] = []
        self.errors: list[str] = []

    @contextmanager  # type: ignore[override]
    def start_as_current_span(self, name: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
        self.spans.append((name, kwargs.get("kind"), dict(kwargs.get("attributes") or {})))
        try:
            yield trace.INVALID_SPAN
        except Exception as error:
            self.errors.append(type(error).__name__)
            raise


class _Provider(trace.NoOpTracerProvider):
    def __init__(self) -> None:
        self.tracer = _Recording()

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return self.tracer


def test_methods_and_the_handler_each_get_a_span(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a tracer over a provider that records spans
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "partnerhub-licenses")
    provider = _Provider()
    tracer = Tracer(provider=provider)

    @tracer.capture_method
    def add(a: int, b: int) -> int:
        return a + b

    @tracer.capture_lambda_handler
    def handler(event: dict[str, int], context: Any) -> int:
        return add(event["a"], event["b"])

    # When the handler runs twice
    context = SimpleNamespace(aws_request_id="req-1")
    assert handler({"a": 2, "b": 3}, context) == 5
    assert handler({"a": 1, "b": 1}, context) == 2
    # Then each invocation has a server span (cold only the first time) around the method's span
    recorded = provider.tracer.spans
    assert [name for name, _, _ in recorded] == [
        "partnerhub-licenses",
        "test_methods_and_the_handler_each_get_a_span.<locals>.add",
    ] * 2
    assert recorded[0][1] is trace.SpanKind.SERVER
    assert recorded[0][2] == {"faas.coldstart": True, "faas.invocation_id": "req-1"}
    assert recorded[2][2]["faas.coldstart"] is False


def test_an_exception_reaches_the_span_and_the_caller() -> None:
    provider = _Provider()
    tracer = Tracer(provider=provider)

    @tracer.capture_method
    def fail() -> None:
        raise LookupError("gone")

    with pytest.raises(LookupError):
        fail()
    assert provider.tracer.errors == ["LookupError"]


def test_a_request_logs_with_its_correlation_id_and_flushes_its_metrics_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an HTTP function wired as every one is (partnerhub.composition.http_handler), whose route logs a line
    # and adds a metric, with metrics on (Powertools prints EMF documents on stdout)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.clear_metrics()  # what earlier tests added with metrics off (a disabled flush keeps them)
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.get("/v1/licenses/counts")
    def counts() -> dict[str, int]:
        logger.info("counted", extra={"partner_id": "agency-7"})
        metrics.add_metric(name="CountsRead", unit=MetricUnit.Count, value=2)
        return {"total": 0}

    handler = http_handler(app, wiring=object())
    event = load_event("licenses/counts", partner_id="agency-7")
    # The logger writes to the stdout it was made with; here, to a buffer, at INFO
    logs, stream, level = io.StringIO(), logger.registered_handler, logger.log_level
    assert isinstance(stream, logging.StreamHandler)
    previous = stream.setStream(logs)
    logger.setLevel("INFO")
    try:
        # When it serves one request
        reply = handler(event, SimpleNamespace(**CONTEXT))
    finally:
        stream.setStream(previous)
        logger.setLevel(level)
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]

    # Then the route's log line carries the request's correlation id (API Gateway's request id) and the partner
    assert reply["statusCode"] == 200
    (line,) = [p for p in lines if p.get("message") == "counted"]
    assert line["correlation_id"] == event["requestContext"]["requestId"]
    assert line["partner_id"] == "agency-7"
    assert line["function_request_id"] == CONTEXT["aws_request_id"]
    # And the request's metrics leave in one CloudWatch EMF document, in the configured namespace
    (document,) = [p for p in printed if "_aws" in p]
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == os.environ["POWERTOOLS_METRICS_NAMESPACE"]
    assert [m["Name"] for m in directive["Metrics"]] == ["CountsRead"]
    assert document["CountsRead"] == [2.0]
