"""What every function's composition root hands back, and the entry point Lambda calls.

Each ``functions/<name>/app.py`` has a ``build(settings, *, clock=..., dynamodb=..., ...)`` that makes the
clients and services once per execution environment, every one of them a parameter (tests and the local stack
pass their own), and returns a :class:`Function`. Its ``lambda_handler = entry_point(build)`` builds it with
the deployed defaults: during Lambda's init, or on the first call anywhere else, so importing an ``app.py``
reads no environment and makes no client.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from partnerhub.observability import logger, metrics, tracer

if TYPE_CHECKING:  # the queue and schedule functions use ``Function`` only: they never load the HTTP resolver
    from partnerhub.api import ApiResolver
    from partnerhub.authorizer import Authorizer
    from partnerhub.repository.idempotency import Once

LambdaHandler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class Function[W]:
    """A function wired once: ``wiring`` holds its services, ``handler`` is what Lambda invokes."""

    wiring: W
    handler: LambdaHandler

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        return self.handler(event, context)


def entry_point(build: Callable[[], Function[Any]]) -> LambdaHandler:
    """A module's ``lambda_handler``: ``build()`` with the deployed defaults, once per execution environment.

    On Lambda (its runtime API is set) the function is built now, during the init: there SnapStart snapshots it
    and an ordinary start runs it at full CPU before the first request. Imported anywhere else (tests, tools,
    the bench's import profile), it is built on the first call."""
    built: list[Function[Any]] = []

    def lambda_handler(event: dict[str, Any], context: Any) -> Any:
        if not built:
            built.append(build())
        return built[0].handler(event, context)

    if "AWS_LAMBDA_RUNTIME_API" in os.environ:
        built.append(build())
    return lambda_handler


def http_handler(
    app: ApiResolver, wiring: object, idempotency: Once | None = None, *, clear_state: bool = False
) -> LambdaHandler:
    """The entry point of an HTTP function: while a request resolves, ``wiring`` and the store of its
    idempotent routes are in the resolver's context (routes read their services with ``app.context["wiring"]``),
    with the shared logging, tracing and metrics.

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
        app.append_context(wiring=wiring, idempotency=idempotency)  # type: ignore[no-untyped-call]
        return app.resolve(event, context)

    return lambda_handler


def authorizer_handler(authorizer: Authorizer) -> LambdaHandler:
    """The entry point of the HTTP API's authorizer (a REQUEST authorizer, payload 2.0, simple responses): the
    ``Authorization`` header (its identity source) in, ``{"isAuthorized": true, "context": ...}`` out, the context
    saying who calls or why the credential is refused (``partnerhub.identity``). Nothing of the request is logged."""
    from aws_lambda_powertools.logging.correlation_paths import API_GATEWAY_HTTP
    from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
        APIGatewayAuthorizerEventV2,
        APIGatewayAuthorizerResponseV2,
    )

    @logger.inject_lambda_context(correlation_id_path=API_GATEWAY_HTTP, clear_state=True)
    @tracer.capture_lambda_handler
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        request = APIGatewayAuthorizerEventV2(event)
        sources = request.identity_source or []
        identity = authorizer.identify(sources[0] if sources else request.headers.get("authorization"))
        return APIGatewayAuthorizerResponseV2(authorize=True, context=identity.context()).asdict()

    return lambda_handler
