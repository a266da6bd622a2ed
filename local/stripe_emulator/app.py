"""The emulator: Stripe's REST surface as a WSGI app over the in-memory store."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import time
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from partnerhub.clock import Clock

from . import control
from .errors import StripeError, invalid
from .faults import Faults
from .forms import decode
from .idempotency import IdempotencyCache, Saved
from .resources import ROUTES
from .resources.intents import invoice_payments
from .resources.invoices import collect_due, render_invoice
from .resources.three_d_secure import answer
from .routing import Context, Route
from .store import API_VERSION, RequestInfo, Store
from .webhooks import WebhookSender

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Idempotency-Key, Stripe-Version, Stripe-Account, "
    "X-Stripe-Client-User-Agent",
    "Access-Control-Expose-Headers": "Request-Id, Idempotency-Key, Idempotent-Replayed, Stripe-Version",
    "Access-Control-Max-Age": "300",
}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, indent=2), status=status, mimetype="application/json", headers=headers)


def _mask(key: str) -> str:
    return key[:8] + "*" * max(len(key) - 12, 0) + key[-4:] if len(key) > 12 else key


def _expand(store: Store, node: Any, parts: list[str], full: str) -> None:
    if not parts or not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    if head == "data" and node.get("object") == "list":
        for item in node["data"]:
            _expand(store, item, rest, full)
        return
    if head not in node and head in _INCLUDABLE.get(str(node.get("object")), {}):
        node[head] = _INCLUDABLE[str(node["object"])][head](store, node)
    if head not in node:
        raise invalid(f"This property cannot be expanded ({full}).", param="expand")
    value = node[head]
    if rest:
        _expand(store, value, rest, full)
    elif isinstance(value, str):
        expanded = store.lookup(value)
        if expanded is None:
            raise invalid(f"This property cannot be expanded ({full}).", param="expand")
        node[head] = expanded
    elif value is not None and not isinstance(value, dict):
        raise invalid(f"This property cannot be expanded ({full}).", param="expand")


def _invoice_payments(store: Store, invoice: dict[str, Any]) -> dict[str, Any]:
    payments = sorted(invoice_payments(store, invoice["id"]), key=lambda p: store.sequence[p["id"]])
    return {
        "data": [store.render("invoice_payment", p) for p in payments],
        "has_more": False,
        "object": "list",
        "url": f"/v1/invoice_payments?invoice={invoice['id']}",
    }


# Fields Stripe only shows when asked with ``expand[]`` (includable), by object type.
_INCLUDABLE: dict[str, dict[str, Any]] = {"invoice": {"payments": _invoice_payments}}

# https://docs.stripe.com/api/versioning: a version is its release date, named since 2024-09-30 by its major release
# (``2024-09-30.acacia``). Any released version is accepted; one dated after the pinned SDK's (not released as far
# as the emulator knows), a date that does not exist or a malformed header is refused as Stripe refuses it.
_VERSION = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:\.([a-z]+))?$")
_FIRST_VERSION = date(2011, 1, 1)
_NAMED_FROM = date(2024, 9, 30)


def _version_date(version: str) -> date | None:
    match = _VERSION.match(version)
    if match is None:
        return None
    try:
        released = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None
    if (match.group(4) is not None) != (released >= _NAMED_FROM):
        return None
    return released


_PINNED = _version_date(API_VERSION)


def _check_version(version: str | None) -> None:
    if version is None:
        return
    released = _version_date(version)
    if released is not None and _PINNED is not None and _FIRST_VERSION <= released <= _PINNED:
        return
    raise invalid(
        f"Invalid Stripe API version: {version}. The emulator knows the versions released up to {API_VERSION} "
        "(the pinned SDK's version).",
        param="Stripe-Version",
    )


_SERVER_ERROR = "An unknown error occurred while processing your request."


class Emulator:
    """A stateful Stripe API double. Call it as a WSGI app, or use :func:`serve` to run it on a port.

    Every timestamp comes from ``clock``. Events are POSTed, signed with ``webhook_secret``, to
    ``webhook_url`` when one is set. ``base_url`` is where the emulator is reachable; it prefixes
    ``invoice_pdf`` and ``hosted_invoice_url`` (``serve`` sets it to the real address).
    """

    def __init__(
        self,
        clock: Clock,
        webhook_url: str | None = None,
        webhook_secret: str = "whsec_local",  # noqa: S107 - the local stack's well-known test secret
        base_url: str = "http://127.0.0.1:12111",
        *,
        seed: int | None = None,
        webhook_max_attempts: int = 5,
        webhook_backoff_s: float = 0.5,
        webhook_ordered: bool = False,
        webhook_concurrency: int = 4,
    ) -> None:
        self.clock = clock
        self.base_url = base_url.rstrip("/")
        self.store = Store(clock, seed)
        self.store.renderers["invoice"] = render_invoice
        self.faults = Faults()
        self.idempotency = IdempotencyCache()
        self.webhooks = WebhookSender(
            clock,
            webhook_url,
            webhook_secret,
            max_attempts=webhook_max_attempts,
            backoff_s=webhook_backoff_s,
            ordered=webhook_ordered,
            concurrency=webhook_concurrency,
            seed=seed,
        )
        self._routes: list[Route] = list(ROUTES)
        self._map = Map(
            [Rule(route.rule, methods=[route.method], endpoint=index) for index, route in enumerate(self._routes)]
        )
        self._collector: threading.Thread | None = None
        self._errors: dict[str, dict[str, Any]] = {}
        self._log_lock = threading.Lock()
        self._collector_stop = threading.Event()

    # ------------------------------------------------------------ Python controls

    def reset(self) -> None:
        """Forget all objects, events, idempotency keys, faults and pending webhooks (the clock stays)."""
        with self.store.lock:
            self.store.reset()
            self.idempotency.clear()
        self.faults.clear()
        self.webhooks.clear()

    def set_faults(self, **options: Any) -> None:
        """Inject faults; see :class:`~local.stripe_emulator.faults.FaultPlan` for the options."""
        self.faults.configure(**options)

    def clear_faults(self) -> None:
        self.faults.clear()

    def describe_faults(self) -> dict[str, Any]:
        """The plan in force and what it injected so far."""
        return self.faults.describe()

    def configure_collection(self, **settings: Any) -> None:
        """The account's Dashboard settings for one-off invoices (``retries``, ``after_final_attempt``)."""
        with self.store.lock:
            self.store.settings.configure(settings)

    def hold_webhooks(self, on: bool = True) -> None:
        """Keep events back from the endpoint until :meth:`release_webhooks`."""
        self.webhooks.hold(on)

    def release_webhooks(self, order: str = "in_order", seed: int | None = None, duplicate: bool = False) -> int:
        """Deliver held events ``in_order``, ``reversed`` or ``shuffled`` (with ``seed``), optionally twice each."""
        return self.webhooks.release(order, seed, duplicate)

    def redeliver(self, event_id: str) -> None:
        """POST a recorded event to the endpoint again."""
        with self.store.lock:
            event = self.store.render("event", self.store.get("event", event_id))
        self.webhooks.redeliver(event)

    def delivery_attempts(self) -> list[dict[str, Any]]:
        """Every webhook POST so far: event id and type, attempt number, HTTP status or error."""
        return self.webhooks.attempts()

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        """Block until every queued (not held) event has been delivered or given up on."""
        return self.webhooks.wait_idle(timeout)

    def configure_webhook(self, url: str | None = None, secret: str | None = None, ordered: bool | None = None) -> None:
        """Another endpoint or signing secret; ``ordered`` delivers one event at a time, oldest first (Stripe
        delivers concurrently and in no particular order: ask for it only when a test is about something else)."""
        self.webhooks.configure(url, secret, ordered)

    def webhook_status(self) -> dict[str, Any]:
        return self.webhooks.status()

    def events(self) -> list[dict[str, Any]]:
        """All recorded events, oldest first."""
        with self.store.lock:
            return [self.store.render("event", event) for event in self.store.events]

    def collect_due(self) -> int:
        """Run the automatic payment attempts due on the emulator's clock now (and deliver their events)."""
        with self.store.lock:
            ran = collect_due(self.store)
            events = self.store.take_new_events()
        self.webhooks.enqueue(events)
        return ran

    def answer_challenge(self, source: str, client_secret: str, outcome: str) -> dict[str, Any]:
        """The cardholder's answer (``complete`` or ``fail``) to a 3-D Secure challenge, as Stripe's hosted test
        page gives it (``resources/three_d_secure.py``); its events are delivered like any request's."""
        with self.store.lock:
            try:
                result = answer(self.store, source, client_secret, outcome)
            finally:
                # A refused answer changed nothing: there is nothing to deliver then.
                events = self.store.take_new_events()
        self.webhooks.enqueue(events)
        return result

    def start_collector(self, interval_s: float = 0.2) -> None:
        """Watch the clock on a daemon thread and run automatic attempts as they fall due, as Stripe does."""
        if self._collector is not None:
            return

        def watch() -> None:
            while not self._collector_stop.wait(interval_s):
                try:
                    self.collect_due()
                except Exception:
                    logging.getLogger(__name__).exception("stripe emulator: automatic collection failed")

        self._collector = threading.Thread(target=watch, name="stripe-emulator-collection", daemon=True)
        self._collector.start()

    def close(self) -> None:
        """Stop the webhook and collection threads."""
        self._collector_stop.set()
        if self._collector is not None:
            self._collector.join(timeout=5)
        self.webhooks.stop()

    # ------------------------------------------------------------ WSGI

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.wsgi_app(environ, start_response)

    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        response = self.handle(request)
        response.headers.update(_CORS)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        """One HTTP request to its response."""
        if request.method == "OPTIONS":
            return Response(status=204)
        if request.path.startswith("/_emulator"):
            return control.dispatch(self, request)
        request_id = "req_" + self.store.token(14)
        try:
            response = self._api(request, request_id)
        except StripeError as error:
            response = _json(self._error_body(error, request_id), error.status)
        except Exception:
            # A bug in the emulator must still look like Stripe to the SDK: a JSON api_error, and a logged trace.
            logging.getLogger(__name__).exception("stripe emulator failed on %s %s", request.method, request.path)
            failure = StripeError(500, "api_error", "The emulator failed on this request.")
            response = _json(self._error_body(failure, request_id), 500)
        response.headers["Request-Id"] = request_id
        response.headers["Stripe-Version"] = request.headers.get("Stripe-Version", API_VERSION)
        return response

    def _error_body(self, error: StripeError, request_id: str) -> dict[str, Any]:
        """Stripe's error body, with the ``request_log_url`` every Stripe error carries (remembered for it)."""
        body = error.body()
        body["error"]["request_log_url"] = f"{self.base_url}/_emulator/logs/{request_id}"
        with self._log_lock:
            self._errors[request_id] = {"request_id": request_id, "status": error.status, **body}
            while len(self._errors) > 500:
                self._errors.pop(next(iter(self._errors)))
        return body

    def request_log(self, request_id: str) -> dict[str, Any] | None:
        """A failed request's log entry (the last 500 are kept)."""
        with self._log_lock:
            return self._errors.get(request_id)

    def _api_key(self, request: Request, route: Route | None) -> tuple[str, bool]:
        header = request.headers.get("Authorization", "")
        key = None
        if header.startswith("Bearer "):
            key = header[len("Bearer ") :].strip()
        elif header.startswith("Basic "):
            try:
                key = base64.b64decode(header[len("Basic ") :]).decode().split(":", 1)[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
        elif route is not None and route.publishable:
            # Stripe.js sends its publishable key as a ``key`` parameter rather than a header.
            key = request.values.get("key")
        if not key:
            raise StripeError(
                401,
                "invalid_request_error",
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        if key.startswith(("sk_test_", "rk_test_")):
            return key, False
        if key.startswith("pk_test_"):
            return key, True
        raise StripeError(401, "invalid_request_error", f"Invalid API Key provided: {_mask(key)}")

    def _api(self, request: Request, request_id: str) -> Response:
        adapter = self._map.bind_to_environ(request.environ)
        route: Route | None = None
        path_args: dict[str, Any] = {}
        try:
            index, matched = adapter.match()
            route, path_args = self._routes[index], dict(matched)
        except (NotFound, MethodNotAllowed):
            route = None
        key, publishable = self._api_key(request, route)
        if route is None:
            raise invalid(
                f"Unrecognized request URL ({request.method}: {request.path}). Please see "
                "https://stripe.com/docs or we can help at https://support.stripe.com/.",
                status=404,
            )
        if publishable and not route.publishable:
            raise StripeError(
                403,
                "invalid_request_error",
                "This API call cannot be made with a publishable API key. Please use a secret API key.",
            )
        _check_version(request.headers.get("Stripe-Version"))
        fault = self.faults.decide(request.method, request.path)
        if fault.delay_s:
            time.sleep(fault.delay_s)
        if fault.status == 429:
            raise StripeError(
                429,
                "invalid_request_error",
                "Request rate limit exceeded. (Injected by the emulator's fault plan.)",
                code="rate_limit",
            )
        if fault.status == 503:
            raise StripeError(503, "api_error", "Stripe is temporarily unavailable. (Injected by the fault plan.)")
        pairs = list(request.args.items(multi=True))
        if request.method == "POST":
            pairs += list(request.form.items(multi=True))
        raw = decode(pairs)
        idempotency_key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        fingerprint = json.dumps([request.method, request.path, sorted(pairs)])
        extra_headers: dict[str, str] = {}
        with self.store.lock:
            # Automatic payment attempts that fell due since the last request happen before this one is answered.
            collect_due(self.store)
            now = self.store.now()
            if idempotency_key:
                extra_headers["Idempotency-Key"] = idempotency_key
                saved = self.idempotency.get(key, idempotency_key, now)
                if saved is not None:
                    if saved.fingerprint != fingerprint:
                        raise StripeError(
                            400,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same parameters they were first "
                            f"used with. Try using a key other than '{idempotency_key}' if you meant to execute a "
                            "different request.",
                        )
                    return Response(
                        saved.body,
                        status=saved.status,
                        mimetype="application/json",
                        headers={**extra_headers, **saved.headers, "Idempotent-Replayed": "true"},
                    )
            # Parameter validation happens before the endpoint runs, so its errors are never saved.
            params = route.params.coerce(raw, [])
            self.store.request = RequestInfo(request_id, idempotency_key)
            context = Context(self.store, self.base_url, publishable)
            try:
                if fault.status == 500:
                    raise StripeError(500, "api_error", _SERVER_ERROR)
                body = route.handler(context, params, **path_args)
                for path in params.get("expand") or []:
                    _expand(self.store, body, path.split("."), path)
                status = 200
            except StripeError as error:
                body, status = self._error_body(error, request_id), error.status
            finally:
                self.store.request = RequestInfo()
                events = self.store.take_new_events()
            if fault.after_commit:
                failure = StripeError(500, "api_error", _SERVER_ERROR)
                body, status = self._error_body(failure, request_id), failure.status
            saved_headers: dict[str, str] = {}
            if status >= 500:
                # The pinned SDK: "we expect the stripe-should-retry header to be false in most cases when a 500
                # is returned, since our idempotency framework would typically replay it anyway".
                saved_headers["Stripe-Should-Retry"] = "false"
            payload = json.dumps(body, indent=2).encode()
            if idempotency_key:
                self.idempotency.put(key, idempotency_key, Saved(fingerprint, status, payload, now, saved_headers))
        self.webhooks.enqueue(events)
        return Response(payload, status=status, mimetype="application/json", headers={**extra_headers, **saved_headers})
