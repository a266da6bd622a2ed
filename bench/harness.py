"""The bench's running system: the local stack in this process, call counters, and handler invocation.

The stack is the one ``make run`` starts (``local.stack.start_stack``): moto on 127.0.0.1, every
resource of ``template.yaml``, the seeded catalog, the Stripe emulator, and every function imported
as Lambda would. Handlers are called directly with HTTP API payload 2.0 events, so what is measured
is the handler plus its DynamoDB and Stripe round trips, not the gateway.

Counting is by hooks, never by reading our own code:

* DynamoDB (and every other AWS call): a ``before-call`` handler on botocore's event system, on the
  boto3 default session, so every client created later (``partnerhub.clients``) carries it.
  Calls whose key is the idempotency partition are counted apart, as bookkeeping.
* Stripe: every request the emulator serves (its API surface, not its ``/_emulator`` controls), which
  is exactly what Stripe's rate limiter would see, retries included.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.stack import Stack

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "common"

READ_OPERATIONS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})
_STRIPE_ID = re.compile(r"/[a-z]+_[A-Za-z0-9_]+")
_stripe_counter: CallCounter | None = None  # the counter the Stripe emulator reports to, once installed


def _ensure_paths() -> None:
    for path in (str(ROOT), str(LAYER)):
        if path not in __import__("sys").path:
            __import__("sys").path.insert(0, path)


@dataclass
class Calls:
    """What one window of work cost: AWS calls by service and operation, Stripe requests by endpoint."""

    dynamodb: Counter[str] = field(default_factory=Counter)
    idempotency: Counter[str] = field(default_factory=Counter)
    other_aws: Counter[str] = field(default_factory=Counter)
    stripe: Counter[str] = field(default_factory=Counter)

    @property
    def dynamodb_total(self) -> int:
        return sum(self.dynamodb.values()) + sum(self.idempotency.values())

    @property
    def reads(self) -> int:
        return sum(n for op, n in self.dynamodb.items() if op in READ_OPERATIONS)

    @property
    def writes(self) -> int:
        return sum(n for op, n in self.dynamodb.items() if op in WRITE_OPERATIONS)

    @property
    def transactions(self) -> int:
        return self.dynamodb.get("TransactWriteItems", 0)

    @property
    def bookkeeping(self) -> int:
        return sum(self.idempotency.values())

    @property
    def stripe_total(self) -> int:
        return sum(self.stripe.values())

    def describe_dynamodb(self) -> str:
        parts = [f"{op} {n}" for op, n in sorted(self.dynamodb.items())]
        parts += [f"idem:{op} {n}" for op, n in sorted(self.idempotency.items())]
        return ", ".join(parts) or "none"

    def describe_stripe(self) -> str:
        return ", ".join(f"{ep} {n}" for ep, n in sorted(self.stripe.items())) or "none"


class CallCounter:
    """Counts AWS calls (botocore hooks) and Stripe requests (the emulator's door) inside ``window()``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: Calls | None = None
        self._thread: int | None = None
        self._registered_clients: set[int] = set()

    # -- hooks --

    def install_session_hook(self) -> None:
        """Before any client exists: every boto3 client made from the default session carries the hook."""
        import boto3

        boto3.setup_default_session()
        session = boto3.DEFAULT_SESSION
        assert session is not None
        session.events.register("before-call", self._on_aws_call, unique_id="bench-call-counter")

    def watch_client(self, client: Any) -> None:
        """Also hook a client made before the session hook (a no-op if it already carries it)."""
        if id(client) in self._registered_clients:
            return
        client.meta.events.register("before-call", self._on_aws_call, unique_id="bench-call-counter")
        self._registered_clients.add(id(client))

    def install_stripe_hook(self) -> None:
        """Count what every Stripe emulator of this process serves from now on (once per process)."""
        global _stripe_counter
        if _stripe_counter is not None:
            return
        _stripe_counter = self
        from werkzeug.wrappers import Request, Response

        from local.stripe_emulator.app import Emulator

        original = Emulator.handle
        counter = self

        def handle(emulator: Emulator, request: Request) -> Response:
            if request.method != "OPTIONS" and not request.path.startswith("/_emulator"):
                counter._record_stripe(f"{request.method} {_STRIPE_ID.sub('/{id}', request.path)}")
            return original(emulator, request)

        # The emulator (this repository's) has no request hook; the bench's process wraps its one entry point.
        # mypy refuses any assignment to a method, and reads this function as taking a second ``self``.
        Emulator.handle = handle  # type: ignore[method-assign, assignment]

    def _on_aws_call(self, model: Any = None, params: Any = None, **_: Any) -> None:
        with self._lock:
            calls = self._current
            if calls is None or model is None:
                return
            if self._thread is not None and threading.get_ident() != self._thread:
                return
            service = model.service_model.service_name
            operation = model.name
            if service != "dynamodb":
                calls.other_aws[f"{service}:{operation}"] += 1
            elif _is_idempotency(params):
                calls.idempotency[operation] += 1
            else:
                calls.dynamodb[operation] += 1

    def _record_stripe(self, endpoint: str) -> None:
        with self._lock:
            if self._current is not None:
                self._current.stripe[endpoint] += 1

    # -- windows --

    @contextlib.contextmanager
    def window(self, *, all_threads: bool = False) -> Iterator[Calls]:
        """Count what happens inside; AWS calls of this thread only unless ``all_threads`` (SQS workers)."""
        calls = Calls()
        with self._lock:
            previous = (self._current, self._thread)
            self._current = calls
            self._thread = None if all_threads else threading.get_ident()
        try:
            yield calls
        finally:
            with self._lock:
                self._current, self._thread = previous


def _is_idempotency(params: Any) -> bool:
    """True when the call's key (or its put item) is in Powertools' idempotency partition."""
    from partnerhub.repository import keys

    if not isinstance(params, dict):
        return False
    body = params.get("body", params)
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError:
            return False
    if not isinstance(body, dict):
        return False
    key = body.get("Key") or body.get("Item") or {}
    pk = key.get("PK") if isinstance(key, dict) else None
    return isinstance(pk, dict) and pk.get("S") == keys.IDEMPOTENCY


@dataclass
class Reply:
    status: int
    body: Any
    calls: Calls
    seconds: float = 0.0


class Bench:
    """The running stack plus the counter; build with :func:`open_bench`."""

    def __init__(self, stack: Stack, counter: CallCounter) -> None:
        from local.template import Template

        self.stack = stack
        self.counter = counter
        self.host = stack.gateway.host
        self.template: Template = self.host.template
        self.table = os.environ["TABLE_NAME"]
        self.route_filter: tuple[str, ...] = ()
        self.function_filter: tuple[str, ...] = ()

    # -- functions and routes --

    def only(self, routes: tuple[str, ...], functions: tuple[str, ...]) -> None:
        """Narrow the sections to these routes and functions (the smoke test's minimal run)."""
        self.route_filter = routes
        self.function_filter = functions

    @property
    def routes(self) -> list[Any]:
        found = self.template.routes
        return [r for r in found if not self.route_filter or r.route_key in self.route_filter]

    @property
    def function_ids(self) -> list[str]:
        return [f for f in self.template.functions if not self.function_filter or f in self.function_filter]

    def function_error(self, logical_id: str) -> str | None:
        loaded = self.host.functions.get(logical_id)
        if loaded is None:
            return "not in the template"
        if loaded.handler is None:
            return (loaded.error or "failed to initialise").strip().splitlines()[-1]
        return None

    def route(self, route_key: str) -> Any:
        for route in self.template.routes:
            if route.route_key == route_key:
                return route
        return None

    def invoke(self, route_key: str, **request: Any) -> Reply:
        """Call the route's handler with the event :meth:`event` makes of ``request``; count what it did."""
        from local.events import LambdaContext, function_name

        route = self.route(route_key)
        if route is None:
            raise LookupError(f"no route {route_key}")
        loaded = self.host.functions[route.function_id]
        if loaded.handler is None:
            raise RuntimeError(self.function_error(route.function_id))
        event = self.event(route_key, **request)
        context = LambdaContext(function_name(route.function_id), loaded.definition.memory_size, 60)
        handler = loaded.handler
        with self.counter.window() as calls:
            started = time.perf_counter()
            result = handler(event, context)
            elapsed = time.perf_counter() - started
        _clear_metrics()
        text = result.get("body") or ""
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return Reply(int(result.get("statusCode", 0)), parsed, calls, elapsed)

    def event(
        self,
        route_key: str,
        *,
        partner_id: str | None,
        groups: tuple[str, ...] = (),
        path: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        body: Any = None,
        raw_body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The payload 2.0 event API Gateway would send the route's function for this request."""
        from urllib.parse import urlencode

        from local.auth import TOKEN_LIFETIME, subject_for
        from local.events import HttpRequest, http_event
        from partnerhub.identity import OPERATORS, Identity

        route = self.route(route_key)
        if route is None:
            raise LookupError(f"no route {route_key}")
        raw_path = route.path
        for name, value in (path or {}).items():
            raw_path = raw_path.replace("{" + name + "}", value)
        request_headers = [("content-type", "application/json"), *((headers or {}).items())]
        payload = raw_body if raw_body is not None else (b"" if body is None else json.dumps(body).encode())
        request = HttpRequest(
            method=route.method,
            path=raw_path,
            raw_query=urlencode(query or {}),
            headers=request_headers,
            body=payload,
        )
        now = self.stack.clock.now()
        authorizer = None
        if route.authorized:
            # What the authorizer answers for a person's fresh ID token (partnerhub.identity)
            claims: dict[str, Any] = {
                "sub": subject_for(partner_id or "operator"),
                "cognito:groups": list(groups),
                "exp": int((now + TOKEN_LIFETIME).timestamp()),
            }
            if partner_id is not None:
                claims["custom:partner_id"] = partner_id
            identity = Identity.person(claims)
            if OPERATORS in identity.groups:
                # The authorizer asked the pool: the bench's operators have an authenticator app, as the API requires
                identity = identity.with_mfa(True)
            authorizer = {"lambda": identity.context()}
        return dict(
            http_event(request, route_key=route.route_key, path_parameters=path or {}, authorizer=authorizer, now=now)
        )

    def invoke_function(self, logical_id: str, event: Any) -> Any:
        from local.events import LambdaContext, function_name

        loaded = self.host.functions[logical_id]
        if loaded.handler is None:
            raise RuntimeError(self.function_error(logical_id))
        return loaded.handler(event, LambdaContext(function_name(logical_id), loaded.definition.memory_size, 900))

    # -- AWS state --

    def dynamodb(self) -> Any:
        from partnerhub import clients

        client = clients.dynamodb()
        self.counter.watch_client(client)
        return client

    def reset_aws(self) -> None:
        """Empty moto and re-create the template's resources and the catalog: the next section starts clean.

        moto answers some operations in time proportional to the whole table (index queries scan every
        item, a transaction copies the table), so each section gets a table holding only its own data.
        """
        from local.resources import LocalResources
        from partnerhub.domain.catalog import PRICES, PRODUCTS
        from partnerhub.repository.catalog import DynamoCatalogRepository

        request = urllib.request.Request(f"{self.stack.moto_url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - our own moto on 127.0.0.1
            pass
        LocalResources(self.template, self.stack.moto_url).create_all()
        DynamoCatalogRepository(self.table, self.dynamodb()).seed(PRODUCTS, PRICES)

    def paying_partner(self, prefix: str = "bench") -> str:
        """A fresh partner allowed to issue licenses (its record says it has a payment method)."""
        from testkit.partners import SeededPartners

        partner_id = f"{prefix}-{secrets.token_hex(4)}"
        SeededPartners(self.table, self.dynamodb()).set_has_payment_method(partner_id, True)
        return partner_id

    def stripe_url(self) -> str | None:
        return self.stack.stripe_url


def _clear_metrics() -> None:
    """Metrics are off (POWERTOOLS_METRICS_DISABLED); drop what piles up instead of printing it at 100."""
    from partnerhub.observability import metrics

    metrics.clear_metrics()


def open_bench(log: Callable[[str], None] = print) -> Bench:
    """Start the local stack in this process (free ports, no queue pollers) with the counters installed."""
    _ensure_paths()
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    counter = CallCounter()
    # Fake credentials before boto3 makes its default session; start_stack forces them again.
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ[key] = "testing"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    counter.install_session_hook()
    counter.install_stripe_hook()
    from local import fast_dynamodb

    fast_dynamodb.install()  # as the local stack does (start_stack installs it too)
    from local.stack import start_stack

    stack = start_stack(0, 0, 0, poll_queues=False, log=lambda _line: None)
    bench = Bench(stack, counter)
    bench.dynamodb()  # hook the shared client (it may predate the session hook)
    # Stripe's webhooks would reach the handlers on the gateway's threads at any moment and mix their
    # calls into other routes' counts; they are held, and the webhook route is measured on its own.
    if stack.emulator is not None:
        stack.emulator.hold_webhooks(True)
    # One frozen instant: every run sees the same dates (the month-end section moves it on purpose).
    from datetime import UTC, datetime

    stack.clock.set(datetime.now(UTC).replace(microsecond=0))
    # The handlers log at INFO (the template's Globals); a bench measures the work, not a terminal.
    from partnerhub.observability import logger

    logger.setLevel(logging.WARNING)
    log(f"  stack up: moto {stack.moto_url}, Stripe emulator {stack.stripe_url}, {len(bench.template.routes)} routes")
    return bench


@contextlib.contextmanager
def running_bench(log: Callable[[str], None] = print) -> Iterator[Bench]:
    bench = open_bench(log)
    try:
        yield bench
    finally:
        bench.stack.stop()
