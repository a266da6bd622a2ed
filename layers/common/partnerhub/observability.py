"""One Logger, Tracer and Metrics for every function; the service name comes from POWERTOOLS_SERVICE_NAME.

Logs and metrics are Powertools' (structured JSON with the correlation id; CloudWatch EMF). Traces are
Lambda's active tracing (the invocation's X-Ray segment, recorded by the Lambda service with no code
here) plus OpenTelemetry spans made through the OpenTelemetry *API*: without an SDK in the execution
environment the API's tracer is a no-op costing a context-variable switch per span; when the deployment
adds the AWS Distro for OpenTelemetry layer (template parameter ``OtelLayerArn``), the same spans go to
X-Ray through its collector. The X-Ray SDK (Powertools' ``Tracer``) is not used: it is in maintenance
mode, and importing it was about a quarter of a function's cold start. See the README.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools.logging.logger import Logger
from aws_lambda_powertools.metrics.metrics import Metrics
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.metric_properties import MetricUnit
from opentelemetry import trace

F = TypeVar("F", bound=Callable[..., Any])


class Tracer:
    """Spans through the OpenTelemetry API, with the two decorators the functions use."""

    def __init__(self, name: str = "partnerhub", provider: trace.TracerProvider | None = None) -> None:
        # Without a provider, a proxy: it follows whatever provider the environment installs, even after import.
        self._tracer = trace.get_tracer(name, tracer_provider=provider)

    def capture_method(self, fn: F) -> F:
        """A span around each call of ``fn``, named after it; an exception is recorded on the span."""
        name = fn.__qualname__

        @functools.wraps(fn)
        def traced(*args: Any, **kwargs: Any) -> Any:
            with self._tracer.start_as_current_span(name):
                return fn(*args, **kwargs)

        return cast(F, traced)

    def capture_lambda_handler(self, fn: F) -> F:
        """The invocation's server span, with the request id and whether this was a cold start."""
        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or os.environ.get("POWERTOOLS_SERVICE_NAME") or "handler"
        cold = [True]

        @functools.wraps(fn)
        def traced(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
            attributes: dict[str, bool | str] = {
                "faas.coldstart": cold[0],
                "faas.invocation_id": str(getattr(context, "aws_request_id", "")),
            }
            cold[0] = False
            with self._tracer.start_as_current_span(name, kind=trace.SpanKind.SERVER, attributes=attributes):
                return fn(event, context, *args, **kwargs)

        return cast(F, traced)


logger = Logger()
tracer = Tracer()
metrics = Metrics()

__all__ = ["MetricUnit", "Tracer", "logger", "metrics", "tracer"]
