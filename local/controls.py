"""Local-only controls under ``/_local/`` and the SQS event-source emulation. Never deployed.

* ``GET  /_local/health`` -- the stack is up (which functions initialised, the Stripe emulator's URL).
* ``POST /_local/token {"partner_id", "groups"?, "totp"?}`` -- ID, access and refresh tokens as Cognito would issue
  them; once the user has TOTP MFA on, only with the authenticator's code (401 ``mfa_code_required`` without it);
  ``{"refresh_token"}`` renews them without the code, as Cognito's refresh grant does.
* ``POST /_local/cognito-idp`` -- the local user pool's Cognito JSON API (``local.user_pool``).
* ``GET|POST /_local/clock {"now": iso} | {"advance": "P3D"}`` -- read or move the stack clock; after a move the
  ``rate(...)`` schedules run at once (``local/schedules.py``: webhook retries that came due).
* ``POST /_local/invoice-run {"period": "YYYY-MM", "via"?}`` -- month-end invoicing, as the scheduler runs it; the run
  names what started it (``local:invoice-run``, or ``local:<via>``: ``make invoice`` sends ``make-invoice``).
* ``POST /_local/drain`` -- process whatever is waiting in the table's stream and the SQS queues, now.
* ``GET|POST /_local/dns {"host", "addresses": [ip, ...] | null}`` -- point a host name at addresses (null: back
  to the system's resolver), as a DNS answer that changes between saving a webhook endpoint and delivering to it.
* ``GET  /_local/cognito/.well-known/jwks.json`` -- the token signing keys.

SQS-triggered functions are fed by :class:`SqsDrainer`, which does what a Lambda event source
mapping does (receive, invoke with a batch event, delete the successes, honour
``batchItemFailures``), with one deliberate difference: a failed message is made visible again at
once instead of after the queue's visibility timeout, so a local run finishes in seconds. Receive
counts still climb, so moto still moves a message to the dead-letter queue after
``maxReceiveCount`` attempts, as SQS would. A delayed message is not waiting yet: a drain ends
without it, and the pollers take it once SQS shows it.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from local.auth import TOKEN_LIFETIME, LocalAuth, subject_for, username_for
from local.events import sqs_event
from local.gateway import FunctionError, FunctionHost, json_response
from local.schedules import LocalResolver, RateScheduler
from local.streams import StreamPoller
from local.template import SqsSource, Template
from local.user_pool import CognitoError, LocalUserPool

_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_VIA = re.compile(r"^[a-z][a-z-]{0,31}$")
# How long one drain (or an invoice run's drain) may take before it reports itself incomplete.
DEFAULT_DRAIN_SECONDS = float(os.environ.get("LOCAL_DRAIN_TIMEOUT", "300"))


def _isoformat(instant: datetime) -> str:
    from partnerhub.clock import isoformat

    return isoformat(instant)


class ControlError(Exception):
    """A control request is invalid; answered with ``status`` and a message saying what to send."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# -- SQS -------------------------------------------------------------------------------------------


@dataclass
class DrainStats:
    """What one drain did (counts are message deliveries, so a retried message counts per attempt)."""

    processed: int = 0
    succeeded: int = 0
    failed: int = 0
    batches: int = 0
    dead_lettered: int = 0
    complete: bool = True
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, succeeded: int, failed: int, error: str | None = None) -> None:
        with self._lock:
            self.batches += 1
            self.processed += succeeded + failed
            self.succeeded += succeeded
            self.failed += failed
            if error and len(self.errors) < 20:
                self.errors.append(error)

    def merge(self, other: DrainStats) -> None:
        self.processed += other.processed
        self.succeeded += other.succeeded
        self.failed += other.failed
        self.batches += other.batches
        self.dead_lettered += other.dead_lettered
        self.complete = self.complete and other.complete
        self.errors.extend(other.errors[: max(0, 20 - len(self.errors))])

    def as_dict(self) -> dict[str, Any]:
        return {
            "processed": self.processed,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "batches": self.batches,
            "dead_lettered": self.dead_lettered,
            "complete": self.complete,
            "errors": self.errors,
        }


class SqsDrainer:
    """Feeds SQS-triggered functions from their queues in moto, like Lambda's event source mappings."""

    def __init__(
        self,
        host: FunctionHost,
        sources: list[SqsSource],
        queue_urls: dict[str, str],
        queue_arns: dict[str, str],
        client_factory: Callable[[], Any],
        log: Callable[[str], None] = print,
    ) -> None:
        self.host = host
        self.sources = [source for source in sources if source.enabled and source.queue_id in queue_urls]
        self.queue_urls = queue_urls
        self.queue_arns = queue_arns
        self.client_factory = client_factory
        self.log = log
        # One lock per source: the background poller and an explicit drain never feed one queue twice.
        self.locks = {id(source): threading.Lock() for source in self.sources}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- queue state --

    def _counts(self, client: Any, url: str) -> tuple[int, int, int]:
        attrs = client.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return (
            int(attrs.get("ApproximateNumberOfMessages", 0)),
            int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
            int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
        )

    def waiting(self, source: SqsSource) -> int:
        """Messages in the source's queue that are visible or in flight (a delayed one is not there yet)."""
        return sum(self._counts(self.client_factory(), self.queue_urls[source.queue_id])[:2])

    def _dead_letter_url(self, client: Any, url: str) -> str | None:
        # A queue without a redrive policy answers without "Attributes" at all.
        attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"]).get("Attributes", {})
        if "RedrivePolicy" not in attrs:
            return None
        arn = json.loads(attrs["RedrivePolicy"]).get("deadLetterTargetArn", "")
        return str(client.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"])

    # -- draining --

    def drain(
        self, source: SqsSource, time_limit: float = DEFAULT_DRAIN_SECONDS, *, locked: bool = False
    ) -> DrainStats:
        """Process ``source``'s queue until it is empty and nothing is in flight, or ``time_limit`` passes.

        Up to the source's MaximumConcurrency batches run at once, each on its own thread.
        """
        lock = self.locks[id(source)]
        if not locked:
            lock.acquire()
        try:
            return self._drain(source, time_limit)
        finally:
            if not locked:
                lock.release()

    def _drain(self, source: SqsSource, time_limit: float) -> DrainStats:
        client = self.client_factory()
        url = self.queue_urls[source.queue_id]
        dlq_url = self._dead_letter_url(client, url)
        dlq_before = sum(self._counts(client, dlq_url)[:1]) if dlq_url else 0
        stats = DrainStats()
        deadline = time.monotonic() + time_limit

        def worker() -> None:
            worker_client = self.client_factory()
            while time.monotonic() < deadline and not self._stop.is_set():
                messages = self._receive(worker_client, url, source.batch_size)
                if messages:
                    self._process(worker_client, source, url, messages, stats)
                    continue
                if sum(self._counts(worker_client, url)[:2]) == 0:
                    return
                # Others' batches are in flight: look again shortly.
                time.sleep(0.05)

        workers = max(1, source.maximum_concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"sqs-{source.function_id}") as pool:
            for future in [pool.submit(worker) for _ in range(workers)]:
                future.result()
        stats.complete = sum(self._counts(client, url)[:2]) == 0
        if dlq_url:
            stats.dead_lettered = self._counts(client, dlq_url)[0] - dlq_before
        return stats

    def _receive(self, client: Any, url: str, batch_size: int) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        while len(batch) < batch_size:
            received = client.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, batch_size - len(batch)),
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                break
            batch.extend(received)
        return batch

    def _process(
        self, client: Any, source: SqsSource, url: str, messages: list[dict[str, Any]], stats: DrainStats
    ) -> None:
        queue_name = url.rsplit("/", 1)[-1]
        event = sqs_event(messages, self.queue_arns[source.queue_id])
        failed_ids: set[str]
        error: str | None = None
        try:
            result = self.host.invoke(source.function_id, event)
            failed_ids = set()
            if source.report_batch_item_failures and isinstance(result, dict):
                failures = result.get("batchItemFailures") or []
                all_ids = {message["MessageId"] for message in messages}
                failed_ids = {str(item.get("itemIdentifier") or "") for item in failures if isinstance(item, dict)}
                if not failed_ids <= all_ids:
                    # An unknown or empty itemIdentifier makes Lambda treat the whole batch as failed.
                    failed_ids = all_ids
        except FunctionError as exc:
            failed_ids = {message["MessageId"] for message in messages}
            error = f"{source.function_id}: {exc}"
        succeeded = [message for message in messages if message["MessageId"] not in failed_ids]
        failed = [message for message in messages if message["MessageId"] in failed_ids]
        for chunk in range(0, len(succeeded), 10):
            client.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": message["ReceiptHandle"]}
                    for i, message in enumerate(succeeded[chunk : chunk + 10])
                ],
            )
        for chunk in range(0, len(failed), 10):
            # Visible again right away (not after the visibility timeout), so retries happen in seconds.
            client.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, message in enumerate(failed[chunk : chunk + 10])
                ],
            )
        stats.add(len(succeeded), len(failed), error)
        for message in messages:
            attempt = (message.get("Attributes") or {}).get("ApproximateReceiveCount", "?")
            outcome = "failed" if message["MessageId"] in failed_ids else "ok"
            self.log(f"sqs {queue_name} -> {source.function_id}: {message['MessageId']} {outcome} (attempt {attempt})")

    def drain_all(self, time_limit: float = DEFAULT_DRAIN_SECONDS, *, locked: bool = False) -> dict[str, DrainStats]:
        """Drain every source (in parallel) until all are settled; handlers may enqueue to each other."""
        deadline = time.monotonic() + time_limit
        totals: dict[str, DrainStats] = {f"{s.function_id}:{s.queue_id}": DrainStats() for s in self.sources}
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                for stats in totals.values():
                    stats.complete = False
                break
            with ThreadPoolExecutor(max_workers=max(1, len(self.sources))) as pool:
                futures = {
                    f"{s.function_id}:{s.queue_id}": pool.submit(self.drain, s, remaining, locked=locked)
                    for s in self.sources
                }
                for key, future in futures.items():
                    round_stats = future.result()
                    complete = round_stats.complete
                    totals[key].merge(round_stats)
                    totals[key].complete = complete
            if all(self.waiting(source) == 0 for source in self.sources):
                break
        return totals

    # -- background polling, as a deployed event source mapping polls continuously --

    def start_polling(self, interval: float = 0.5) -> None:
        """Poll every source in the background (skipping a source while an explicit drain holds it)."""
        for source in self.sources:
            thread = threading.Thread(
                target=self._poll, args=(source, interval), name=f"poll-{source.function_id}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _poll(self, source: SqsSource, interval: float) -> None:
        lock = self.locks[id(source)]
        while not self._stop.wait(interval):
            try:
                if self.waiting(source) == 0 or not lock.acquire(blocking=False):
                    continue
                try:
                    self._drain(source, DEFAULT_DRAIN_SECONDS)
                finally:
                    lock.release()
            except Exception as exc:  # moto going away at shutdown, mostly
                if not self._stop.is_set():
                    self.log(f"sqs poller for {source.function_id}: {exc}")

    def stop(self) -> None:
        """Stop the background pollers."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)


# -- the control endpoints ---------------------------------------------------------------------------


def _json_body(request: Request) -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ControlError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ControlError("body must be a JSON object")
    return body


def _cognito_error(error: CognitoError) -> Response:
    """An error as Cognito answers it (boto3 reads the exception's name from ``__type``)."""
    body = {"__type": error.kind, "message": error.message}
    return Response(json.dumps(body), status=400, content_type="application/x-amz-json-1.1")


class Controls:
    """The ``/_local/*`` endpoints; call with a request, get a response (``None`` if not ours)."""

    def __init__(
        self,
        template: Template,
        host: FunctionHost,
        auth: LocalAuth,
        clock: Any,
        drainer: SqsDrainer | None,
        log: Callable[[str], None] = print,
        *,
        streams: StreamPoller | None = None,
        schedules: RateScheduler | None = None,
        resolver: LocalResolver | None = None,
        pool: LocalUserPool | None = None,
    ) -> None:
        self.template = template
        self.host = host
        self.auth = auth
        self.pool = pool or LocalUserPool(auth, clock.now)
        self.clock = clock
        self.drainer = drainer
        self.log = log
        self.streams = streams
        self.schedules = schedules
        self.resolver = resolver
        self._invoice_lock = threading.Lock()
        self.routes: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("GET", "/_local/health"): self.health,
            ("POST", "/_local/token"): self.token,
            ("POST", "/_local/cognito-idp"): self.cognito,
            ("GET", "/_local/clock"): self.get_clock,
            ("POST", "/_local/clock"): self.set_clock,
            ("POST", "/_local/invoice-run"): self.invoice_run,
            ("POST", "/_local/drain"): self.drain,
            ("GET", "/_local/dns"): self.get_dns,
            ("POST", "/_local/dns"): self.set_dns,
            ("GET", "/_local/cognito/.well-known/jwks.json"): self.jwks,
            ("GET", "/_local/jwks.json"): self.jwks,
        }

    def __call__(self, request: Request) -> Response | None:
        handler = self.routes.get((request.method, request.path.rstrip("/") or "/"))
        if handler is None:
            if any(path == request.path for _, path in self.routes):
                return json_response(405, {"message": f"{request.method} is not allowed on {request.path}"})
            return None
        try:
            return handler(request)
        except ControlError as exc:
            return json_response(exc.status, {"message": exc.message, "code": "validation_error"})

    def health(self, request: Request) -> Response:
        """``{"status": "ok", ...}``; ``degraded`` when a function failed to initialise."""
        functions = {
            logical_id: ("ok" if loaded.handler is not None else "init_error")
            for logical_id, loaded in self.host.functions.items()
        }
        status = "ok" if all(value == "ok" for value in functions.values()) else "degraded"
        return json_response(
            200,
            {
                "status": status,
                "now": _isoformat(self.clock.now()),
                "functions": functions,
                "routes": len(self.template.routes),
                # The portal confirms SetupIntents against the emulator here, as Stripe.js would against Stripe.
                "stripe_url": os.environ.get("STRIPE_API_BASE"),
                # Who partners contact (the portal's Help page): a deployment writes it into config.js.
                "support": {
                    "email": os.environ.get("SUPPORT_EMAIL", "support@partnerhub.local"),
                    "url": os.environ.get("SUPPORT_URL", ""),
                },
            },
        )

    def token(self, request: Request) -> Response:
        """Sign in as ``partner_id`` (optionally in ``groups``) at the stack clock's now: ID, access and refresh
        tokens. A user with TOTP MFA on must send the authenticator's ``totp`` code; a ``refresh_token`` renews."""
        body = _json_body(request)
        if "refresh_token" in body:
            return self._refresh(str(body["refresh_token"]))
        partner_id = body.get("partner_id")
        if not isinstance(partner_id, str) or not partner_id.strip():
            raise ControlError('send {"partner_id": "<id>", "groups"?: ["operators"], "totp"?: "123456"}')
        groups = body.get("groups", [])
        if not isinstance(groups, list) or not all(isinstance(group, str) and group for group in groups):
            raise ControlError('"groups" must be a list of group names')
        code = body.get("totp")
        if code is not None and not isinstance(code, str):
            raise ControlError('"totp" must be the 6 digits of the authenticator app, as text')
        user = self.pool.user(username_for(partner_id), partner_id)
        refusal = self.pool.check_sign_in_code(user, code)
        if refusal is not None:
            message = (
                "this user has an authenticator app (TOTP MFA): send its current code as \"totp\""
                if refusal == "mfa_code_required"
                else "the authenticator code is wrong or has expired: send the current one"
            )
            return json_response(401, {"message": message, "code": refusal})
        return self._tokens(partner_id, groups, self.pool.refresh_token(partner_id, tuple(groups)))

    def _refresh(self, refresh_token: str) -> Response:
        found = self.pool.refreshed(refresh_token)
        if found is None:
            refused = {"message": "the refresh token is not one this stack gave", "code": "invalid_grant"}
            return json_response(401, refused)
        return self._tokens(found[0], list(found[1]), refresh_token)

    def _tokens(self, partner_id: str, groups: list[str], refresh_token: str) -> Response:
        now = self.clock.now()
        return json_response(
            200,
            {
                "token": self.auth.issue_token(partner_id, groups, now),
                "access_token": self.auth.issue_access_token(partner_id, groups, now),
                "refresh_token": refresh_token,
                "token_type": "Bearer",
                "partner_id": partner_id,
                "groups": groups,
                "sub": subject_for(partner_id),
                "expires_at": _isoformat(now + TOKEN_LIFETIME),
            },
        )

    def cognito(self, request: Request) -> Response:
        """Cognito's JSON API, as the local user pool answers it (``local.user_pool``)."""
        try:
            body = json.loads(request.get_data(as_text=True) or "{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _cognito_error(CognitoError("SerializationException", "the body must be a JSON object"))
        try:
            answer = self.pool.call(request.headers.get("x-amz-target"), body)
        except CognitoError as error:
            return _cognito_error(error)
        return Response(json.dumps(answer), status=200, content_type="application/x-amz-json-1.1")

    def get_clock(self, request: Request) -> Response:
        """The stack clock's now."""
        return json_response(200, {"now": _isoformat(self.clock.now())})

    def set_clock(self, request: Request) -> Response:
        """Set (``{"now": iso}``) or advance (``{"advance": "P3D"}``) the clock for the whole stack."""
        from partnerhub.clock import parse_duration, parse_instant

        body = _json_body(request)
        if ("now" in body) == ("advance" in body):
            raise ControlError('send exactly one of {"now": "2025-01-31T23:00:00Z"} or {"advance": "P3D"}')
        previous = self.clock.now()
        if "now" in body:
            try:
                instant = parse_instant(str(body["now"]))
            except ValueError as exc:
                raise ControlError(f'"now" is not an ISO 8601 instant: {body["now"]!r}') from exc
            self.clock.set(instant)
        else:
            try:
                delta = parse_duration(str(body["advance"]))
            except ValueError as exc:
                raise ControlError(
                    f'"advance" is not an ISO 8601 duration like "P3D" or "PT36H": {body["advance"]!r}'
                ) from exc
            self.clock.advance(delta)
        now = self.clock.now()
        self.log(f"clock: {_isoformat(previous)} -> {_isoformat(now)}")
        if self.schedules is not None:
            # What came due while the clock jumped happens now (webhook retries): the rate schedules run once.
            self.schedules.run_all()
        return json_response(200, {"now": _isoformat(now), "previous": _isoformat(previous)})

    def jwks(self, request: Request) -> Response:
        """The public keys tokens are signed with."""
        return json_response(200, self.auth.jwks())

    def drain(self, request: Request) -> Response:
        """Process everything waiting in the table's stream and the SQS queues now, to completion."""
        streamed = self.streams.drain() if self.streams is not None else 0
        if self.drainer is None:
            return json_response(200, {"queues": {}, "stream_records": streamed})
        totals = self.drainer.drain_all()
        return json_response(
            200, {"queues": {key: stats.as_dict() for key, stats in totals.items()}, "stream_records": streamed}
        )

    def get_dns(self, request: Request) -> Response:
        """The host names pointed elsewhere than the system's resolver says."""
        return json_response(200, {"overrides": self.resolver.overrides() if self.resolver else {}})

    def set_dns(self, request: Request) -> Response:
        """``{"host", "addresses": [ip, ...]}`` points ``host`` at those addresses; ``"addresses": null`` forgets it."""
        body = _json_body(request)
        host, addresses = body.get("host"), body.get("addresses", ...)
        if self.resolver is None:
            raise ControlError("this stack has no local resolver", status=409)
        if not isinstance(host, str) or not host.strip() or addresses is ...:
            raise ControlError('send {"host": "hooks.example", "addresses": ["127.0.0.1"]} (null addresses: forget)')
        if addresses is None:
            self.resolver.forget(host)
        elif isinstance(addresses, list) and addresses and all(isinstance(a, str) for a in addresses):
            try:
                self.resolver.point(host, addresses)
            except ValueError as exc:
                raise ControlError(f"not an IP address: {exc}") from exc
        else:
            raise ControlError('"addresses" must be a non-empty list of IP addresses, or null')
        self.log(f"dns: {host} -> {addresses if addresses is not None else 'the system resolver'}")
        return json_response(200, {"overrides": self.resolver.overrides()})

    def invoice_run(self, request: Request) -> Response:
        """Run month-end invoicing for ``period`` as the scheduler would, and wait until it is done.

        Invokes the schedule's target (the planner) with ``{"period": "YYYY-MM"}``, then drains every
        SQS-triggered function's queue until nothing is left or in flight.
        """
        from partnerhub.domain.invoicing import PeriodNotEnded, require_ended
        from partnerhub.domain.periods import Period

        body = _json_body(request)
        period = body.get("period")
        if not isinstance(period, str) or not _PERIOD.match(period):
            raise ControlError('send {"period": "YYYY-MM"}, e.g. {"period": "2025-01"}')
        # The run names what started it: this control, or `make invoice` (which says so with "via").
        via = body.get("via", "invoice-run")
        if not isinstance(via, str) or not _VIA.match(via):
            raise ControlError('"via" names the caller in lowercase letters and dashes, e.g. "make-invoice"')
        try:
            # The planner refuses it too; asking the domain first answers 409, not the planner's failure.
            require_ended(Period.parse(period), self.clock.now())
        except PeriodNotEnded as refused:
            return json_response(409, {"message": refused.message, "code": refused.code})
        targets = self.template.schedule_targets()
        if not targets:
            raise ControlError("template.yaml has no schedule targeting a function", status=409)
        planner = next((t for t in targets if "plan" in t.lower()), targets[0])
        if not self._invoice_lock.acquire(blocking=False):
            raise ControlError("an invoice run is already in progress", status=409)
        locks = [self.drainer.locks[id(s)] for s in self.drainer.sources] if self.drainer else []
        started = time.monotonic()
        try:
            # Hold every queue, so the background pollers leave the run's messages to this drain.
            for lock in locks:
                lock.acquire()
            self.log(f"invoice-run {period}: invoking {planner}")
            summary: dict[str, Any] = {"period": period, "planner": planner}
            try:
                from partnerhub.domain import actors  # the layer is on the path once the stack runs

                event = {"period": period, "started_by": actors.local(via)}
                summary["planner_result"] = self.host.invoke(planner, event)
            except FunctionError as exc:
                summary.update(error=f"{planner} failed: {exc}", complete=False)
                return json_response(500, summary)
            enqueued = sum(self.drainer.waiting(source) for source in self.drainer.sources) if self.drainer else 0
            summary["enqueued"] = enqueued
            self.log(f"invoice-run {period}: {enqueued} message(s) enqueued")
            totals = self.drainer.drain_all(locked=True) if self.drainer else {}
            overall = DrainStats()
            for stats in totals.values():
                overall.merge(stats)
            summary.update(
                {
                    "partners_enqueued": _partners_enqueued(summary["planner_result"], enqueued),
                    "processed": overall.processed,
                    "succeeded": overall.succeeded,
                    "failed": overall.failed,
                    "dead_lettered": overall.dead_lettered,
                    "complete": overall.complete,
                    "errors": overall.errors,
                    "queues": {key: stats.as_dict() for key, stats in totals.items()},
                    "duration_ms": int((time.monotonic() - started) * 1000),
                }
            )
            self.log(
                f"invoice-run {period}: processed {overall.processed}, failed {overall.failed},"
                f" dead-lettered {overall.dead_lettered}, {summary['duration_ms']}ms"
            )
            return json_response(200, summary)
        finally:
            for lock in locks:
                lock.release()
            self._invoice_lock.release()


def _partners_enqueued(planner_result: Any, fallback: int) -> int:
    """The planner's own count when it reports one, else the number of messages it left in the queues."""
    if isinstance(planner_result, dict):
        body = planner_result
        if "statusCode" in body and isinstance(body.get("body"), str):
            try:
                body = json.loads(body["body"])
            except ValueError:
                body = {}
        for key in ("partners_enqueued", "enqueued", "partners", "count"):
            value = body.get(key) if isinstance(body, dict) else None
            if isinstance(value, int):
                return value
            if isinstance(value, list):
                return len(value)
    return fallback
