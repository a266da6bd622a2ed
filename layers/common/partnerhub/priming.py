"""Priming: the work a function leaves to its first request, done at init when init is off the request path.

This is the one place a function's start is shaped. Two things are left to first use: the heavy libraries only
some requests need, each imported by the one function that uses it (Stripe's SDK in ``payments.client``,
tenacity in ``retry``, idna in ``domain.models`` for a site URL with a non-ASCII host name), and each route's
request validation models, which Powertools builds on the route's first request. That keeps a plain cold start
lean: the first request pays only for what it uses. Under SnapStart the balance turns: Lambda runs the init
once, when a version is published, and starts every new execution environment from a snapshot of it, so work
done at init is free to requests and work left to a first request is paid by every restored environment.
Provisioned concurrency likewise runs the init before any request arrives.

Lambda says which init it is running in ``AWS_LAMBDA_INITIALIZATION_TYPE`` (``on-demand``, ``snap-start`` or
``provisioned-concurrency``). In the last two, the composition roots call :func:`prime_http`, which does that
work at init. (The runtime's ``snapshot_restore_py`` hooks are not needed for this: a before-snapshot hook
runs after the init, before the snapshot, which is where the init's own work lands too; they would keep every
registered function in a process-wide list, which tests that build a function many times would fill.)
Nothing secret or unique is made: no key is read, no client holds a credential it would not
have had, no request is sent (``docs/security.md``). ``bench/results.md`` measures what a first request
saves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.api_gateway import APIGatewayHttpResolver

AHEAD_OF_REQUESTS = frozenset({"snap-start", "provisioned-concurrency"})


@runtime_checkable
class Primable(Protocol):
    """A part of a function's wiring that loads something on first use and can load it ahead of time."""

    def prime(self) -> None: ...


def ahead_of_requests(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this init runs before any request can wait on it (SnapStart's snapshot, provisioned concurrency)."""
    env = os.environ if environ is None else environ
    return env.get("AWS_LAMBDA_INITIALIZATION_TYPE") in AHEAD_OF_REQUESTS


def prime_routes(app: APIGatewayHttpResolver) -> None:
    """Build every route's request and response validation models now.

    Powertools keeps them on the route (``Route.dependant``, ``Route.body_field``) and builds them on the
    route's first request otherwise.
    """
    routes: list[Any] = [*getattr(app, "_static_routes", ()), *getattr(app, "_dynamic_routes", ())]
    for route in routes:
        _ = route.dependant
        _ = route.body_field


def prime_http(app: APIGatewayHttpResolver, wiring: object) -> None:
    """Prime an HTTP function: its routes, the retry policies' library, and every part of its wiring that
    can be primed (:class:`Primable`)."""
    from partnerhub import retry
    from partnerhub.domain import models

    prime_routes(app)
    retry.prime()
    models.prime()
    for part in vars(wiring).values():
        if isinstance(part, Primable):
            part.prime()
