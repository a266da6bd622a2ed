"""What every function's composition root hands back: its services, wired once, and its Lambda entry point.

Each ``functions/<name>/app.py`` has a ``build(settings, *, clock=..., dynamodb=..., ...)`` that makes the
clients and services once per execution environment, every one of them a parameter; the deployed entry point
is ``lambda_handler = build().handler``. Tests and the local stack call ``build`` with their own clock and
clients. Nothing is set on a module from outside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from partnerhub.observability import logger, metrics, tracer

if TYPE_CHECKING:  # the queue and schedule functions use ``Function`` only: they never load the HTTP resolver
    from aws_lambda_powertools.event_handler.api_gateway import APIGatewayHttpResolver

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True)
class Function[W]:
    """A function wired once: ``wiring`` holds its services, ``handler`` is what Lambda invokes."""

    wiring: W
    handler: LambdaHandler

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self.handler(event, context)


def http_handler(app: APIGatewayHttpResolver, wiring: object, *, clear_state: bool = False) -> LambdaHandler:
    """The entry point of an HTTP function: ``wiring`` is in the resolver's context while a request resolves
    (routes read it with ``app.context["wiring"]``), with the shared logging, tracing and metrics.

    When the init runs ahead of requests (SnapStart's snapshot, provisioned concurrency), the routes and the
    wiring are primed first (``partnerhub.priming``)."""
    from aws_lambda_powertools.logging.correlation_paths import API_GATEWAY_HTTP

    from partnerhub import priming

    if priming.ahead_of_requests():
        priming.prime_http(app, wiring)

    @logger.inject_lambda_context(correlation_id_path=API_GATEWAY_HTTP, clear_state=clear_state)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        app.append_context(wiring=wiring)  # type: ignore[no-untyped-call]
        return app.resolve(event, context)

    return lambda_handler
