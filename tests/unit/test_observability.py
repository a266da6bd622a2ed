"""Spans go through the OpenTelemetry API: named after the traced function, errors recorded, results intact."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry import trace

from partnerhub.observability import Tracer


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


def test_without_an_sdk_spans_cost_nothing_and_change_nothing() -> None:
    # The default: the API's proxy tracer, a no-op until a deployment installs an SDK
    @Tracer().capture_method
    def double(x: int) -> int:
        return 2 * x

    assert double(21) == 42
    assert double.__wrapped__.__name__ == "double"  # type: ignore[attr-defined]
