"""Local-only test controls under ``/_emulator/``: clock, faults, reset, webhooks, settings, invoice PDFs.

``POST /_emulator/collect`` runs the automatic payment attempts due on the clock now (a background thread
does it every 0.2 s anyway); ``GET|POST /_emulator/settings {"retries": {"tries", "window_days"} | null,
"after_final_attempt": "leave_open" | "mark_uncollectible" | "void"}`` is the account's Dashboard setting for
one-off invoices (``account.py``); ``GET|POST /_emulator/webhooks {"url", "secret", "ordered"}`` points
deliveries elsewhere or makes them one at a time in order (``webhooks.py``); ``GET /_emulator/logs/<req_id>``
is where an error's ``request_log_url`` points; ``GET|POST /_emulator/three_d_secure/<source>`` stands for Stripe's
hosted 3-D Secure challenge, where a Setup- or PaymentIntent's ``next_action`` sends the cardholder
(``resources/three_d_secure.py``).

The controls reach the emulator through :class:`Controlled`, which :class:`~local.stripe_emulator.app.Emulator`
implements; this module does not import it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from partnerhub.clock import Clock, ManualClock, isoformat, parse_duration, parse_instant

from .account import SettingsError
from .errors import StripeError
from .pdf import hosted_page, invoice_pdf
from .resources import three_d_secure
from .store import Store


class Controlled(Protocol):
    """What the controls need of the emulator."""

    clock: Clock
    store: Store

    def reset(self) -> None: ...

    def describe_faults(self) -> dict[str, Any]: ...

    def set_faults(self, **options: Any) -> None: ...

    def clear_faults(self) -> None: ...

    def configure_webhook(
        self, url: str | None = None, secret: str | None = None, ordered: bool | None = None
    ) -> None: ...

    def webhook_status(self) -> dict[str, Any]: ...

    def hold_webhooks(self, on: bool = True) -> None: ...

    def release_webhooks(self, order: str = "in_order", seed: int | None = None, duplicate: bool = False) -> int: ...

    def redeliver(self, event_id: str) -> None: ...

    def delivery_attempts(self) -> list[dict[str, Any]]: ...

    def collect_due(self) -> int: ...

    def request_log(self, request_id: str) -> dict[str, Any] | None: ...

    def answer_challenge(self, source: str, client_secret: str, outcome: str) -> dict[str, Any]: ...


Control = Callable[..., Response]


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, indent=2), status=status, mimetype="application/json")


def _body(request: Request) -> dict[str, Any]:
    if request.mimetype == "application/json":
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else {}
    return dict(request.form.items())


def _flag(value: Any) -> bool:
    return value in (True, "true", "1", 1)


def _clock(emulator: Controlled, request: Request) -> Response:
    clock = emulator.clock
    if request.method == "POST":
        if not isinstance(clock, ManualClock):
            return _json({"error": "the emulator's clock is not a ManualClock"}, 409)
        body = _body(request)
        try:
            if body.get("now"):
                clock.set(parse_instant(str(body["now"])))
            if body.get("advance"):
                clock.advance(parse_duration(str(body["advance"])))
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
    now = clock.now()
    return _json({"now": isoformat(now), "unix": int(now.timestamp()), "manual": isinstance(clock, ManualClock)})


def _faults(emulator: Controlled, request: Request) -> Response:
    if request.method == "DELETE":
        emulator.clear_faults()
    elif request.method == "POST":
        try:
            emulator.set_faults(**_body(request))
        except (TypeError, ValueError) as exc:
            return _json({"error": str(exc)}, 400)
    return _json(emulator.describe_faults())


def _reset(emulator: Controlled, request: Request) -> Response:
    emulator.reset()
    return _json({"reset": True})


def _webhooks(emulator: Controlled, request: Request) -> Response:
    if request.method == "POST":
        body = _body(request)
        ordered = body.get("ordered")
        try:
            emulator.configure_webhook(body.get("url"), body.get("secret"), None if ordered is None else _flag(ordered))
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
    return _json(emulator.webhook_status())


def _hold(emulator: Controlled, request: Request) -> Response:
    body = _body(request)
    emulator.hold_webhooks(_flag(body.get("hold", True)))
    return _json(emulator.webhook_status())


def _release(emulator: Controlled, request: Request) -> Response:
    body = _body(request)
    seed = body.get("seed")
    try:
        count = emulator.release_webhooks(
            str(body.get("order", "in_order")), None if seed is None else int(seed), _flag(body.get("duplicate", False))
        )
    except ValueError as exc:
        return _json({"error": str(exc)}, 400)
    return _json({"released": count})


def _redeliver(emulator: Controlled, request: Request) -> Response:
    event_id = str(_body(request).get("event", ""))
    try:
        emulator.redeliver(event_id)
    except StripeError as error:
        return _json(error.body(), error.status)
    return _json({"redelivered": event_id})


def _attempts(emulator: Controlled, request: Request) -> Response:
    return _json({"attempts": emulator.delivery_attempts()})


def _rendered_invoice(emulator: Controlled, invoice_id: str) -> dict[str, Any]:
    store = emulator.store
    with store.lock:
        return store.render("invoice", store.get("invoice", invoice_id, "invoice"))


def _hosted(emulator: Controlled, request: Request, invoice_id: str) -> Response:
    try:
        invoice = _rendered_invoice(emulator, invoice_id)
    except StripeError as error:
        return _json(error.body(), error.status)
    return Response(hosted_page(invoice), mimetype="text/html")


def _pdf(emulator: Controlled, request: Request, invoice_id: str) -> Response:
    try:
        invoice = _rendered_invoice(emulator, invoice_id)
    except StripeError as error:
        return _json(error.body(), error.status)
    if invoice["status"] == "draft":
        return _json({"error": "draft invoices have no PDF"}, 404)
    return Response(
        invoice_pdf(invoice),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="Invoice-{invoice["number"]}.pdf"'},
    )


def _collect(emulator: Controlled, request: Request) -> Response:
    return _json({"attempts": emulator.collect_due()})


def _settings(emulator: Controlled, request: Request) -> Response:
    settings = emulator.store.settings
    if request.method == "POST":
        with emulator.store.lock:
            try:
                settings.configure(_body(request))
            except SettingsError as exc:
                return _json({"error": str(exc)}, 400)
    return _json(settings.describe())


def _log(emulator: Controlled, request: Request, request_id: str) -> Response:
    entry = emulator.request_log(request_id)
    if entry is None:
        return _json({"error": f"no failed request {request_id} is remembered"}, 404)
    return _json(entry)


def _challenge(emulator: Controlled, request: Request, source: str) -> Response:
    """Stripe's hosted 3-D Secure challenge: ``GET`` shows the test page, ``POST outcome=complete|fail`` answers
    it. The challenge's ``client_secret`` comes in the address (as ``next_action`` gives it) or in the body."""
    body = _body(request)
    secret = str(body.get("client_secret") or request.args.get("client_secret") or "")
    try:
        if request.method == "GET":
            with emulator.store.lock:
                described = three_d_secure.describe(emulator.store, source, secret)
            return Response(three_d_secure.test_page(described, secret), mimetype="text/html")
        return _json(emulator.answer_challenge(source, secret, str(body.get("outcome", ""))))
    except StripeError as error:
        return _json(error.body(), error.status)


def _index(emulator: Controlled, request: Request) -> Response:
    return _json({"routes": sorted(rule.rule for rule in _MAP.iter_rules())})


_CONTROLS: dict[str, Control] = {
    "index": _index,
    "clock": _clock,
    "faults": _faults,
    "reset": _reset,
    "webhooks": _webhooks,
    "hold": _hold,
    "release": _release,
    "redeliver": _redeliver,
    "attempts": _attempts,
    "hosted": _hosted,
    "pdf": _pdf,
    "collect": _collect,
    "settings": _settings,
    "log": _log,
    "challenge": _challenge,
}
_MAP = Map(
    [
        Rule("/_emulator", endpoint="index", methods=["GET"]),
        Rule("/_emulator/clock", endpoint="clock", methods=["GET", "POST"]),
        Rule("/_emulator/faults", endpoint="faults", methods=["GET", "POST", "DELETE"]),
        Rule("/_emulator/reset", endpoint="reset", methods=["POST"]),
        Rule("/_emulator/webhooks", endpoint="webhooks", methods=["GET", "POST"]),
        Rule("/_emulator/webhooks/hold", endpoint="hold", methods=["POST"]),
        Rule("/_emulator/webhooks/release", endpoint="release", methods=["POST"]),
        Rule("/_emulator/webhooks/redeliver", endpoint="redeliver", methods=["POST"]),
        Rule("/_emulator/webhooks/attempts", endpoint="attempts", methods=["GET"]),
        Rule("/_emulator/invoices/<invoice_id>", endpoint="hosted", methods=["GET"]),
        Rule("/_emulator/invoices/<invoice_id>/pdf", endpoint="pdf", methods=["GET"]),
        Rule("/_emulator/collect", endpoint="collect", methods=["POST"]),
        Rule("/_emulator/settings", endpoint="settings", methods=["GET", "POST"]),
        Rule("/_emulator/logs/<request_id>", endpoint="log", methods=["GET"]),
        Rule("/_emulator/three_d_secure/<source>", endpoint="challenge", methods=["GET", "POST"]),
    ]
)


def dispatch(emulator: Controlled, request: Request) -> Response:
    """Answer one ``/_emulator/…`` request."""
    try:
        endpoint, args = _MAP.bind_to_environ(request.environ).match()
    except HTTPException as exc:
        return _json({"error": exc.description}, exc.code or 404)
    return _CONTROLS[endpoint](emulator, request, **args)
