"""The whole local stack in one process, on 127.0.0.1 only.

moto (DynamoDB, SQS, SSM, Secrets Manager, Scheduler, ...), the resources from ``template.yaml``,
the seeded catalog, the Stripe emulator and the gateway serving the API and the portal -- all
sharing ONE :class:`partnerhub.clock.ManualClock`, which every function's composition root (``build``)
is given.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from local import fast_dynamodb
from local.ports import DEFAULT_STRIPE_PORT, HOST

ROOT = Path(__file__).resolve().parent.parent


def _log(line: str) -> None:
    print(line, flush=True)


class _QuietHandler(WSGIRequestHandler):
    """The gateway logs each request itself (with its duration); werkzeug's own line would repeat it."""

    # Keep-alive, as API Gateway offers: load tests and the portal reuse connections.
    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def _ensure_layer_on_path(root: Path) -> None:
    layer = root / "layers" / "common"
    if layer.is_dir() and str(layer) not in sys.path:
        sys.path.insert(0, str(layer))


@dataclass
class Stack:
    """A running local stack (see :func:`start_stack`)."""

    api_url: str
    stripe_url: str | None
    moto_url: str
    clock: Any
    api_port: int
    stripe_port: int | None
    moto_port: int
    gateway: Any = None
    auth: Any = None
    drainer: Any = None
    emulator: Any = None
    streams: Any = None
    schedules: Any = None
    resolver: Any = None
    _stoppers: list[Any] = field(default_factory=list, repr=False)

    def token(self, partner_id: str, groups: tuple[str, ...] | list[str] = ()) -> str:
        """An ID token for ``partner_id`` at the stack clock's now (as ``POST /_local/token`` returns)."""
        return str(self.auth.issue_token(partner_id, list(groups), self.clock.now()))

    def info(self) -> dict[str, Any]:
        """The ports and URLs, as written to ``LOCAL_STACK_INFO``."""
        return {
            "api_url": self.api_url,
            "api_port": self.api_port,
            "stripe_url": self.stripe_url,
            "stripe_port": self.stripe_port,
            "moto_url": self.moto_url,
            "moto_port": self.moto_port,
            "pid": os.getpid(),
        }

    def stop(self) -> None:
        """Stop every server the stack started, newest first."""
        while self._stoppers:
            stopper = self._stoppers.pop()
            try:
                stopper()
            except Exception as exc:
                print(f"local: error while stopping: {exc}", file=sys.stderr)


def _make_clock() -> Any:
    from partnerhub.clock import ManualClock, parse_instant

    start = os.environ.get("LOCAL_CLOCK_START")
    if start:
        return ManualClock(parse_instant(start))
    # Unfrozen: runs with real time until /_local/clock sets or advances it.
    return ManualClock()


def _set_process_env(moto_url: str, stripe_url: str | None) -> None:
    defaults = {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "PartnerHub",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "PARTNERHUB_ENV": "local",
        # The emulator shares this machine with everything else: slower than Stripe under load, never down.
        "STRIPE_CONNECT_TIMEOUT_SECONDS": "5",
        "STRIPE_READ_TIMEOUT_SECONDS": "30",
        # Webhooks to agencies may go to http:// URLs and to 127.0.0.1 here, and only here (template.yaml never
        # sets it: deployed, https and public addresses only). WEBHOOK_ALLOW_LOCAL_URLS=false turns it off.
        "WEBHOOK_ALLOW_LOCAL_URLS": "true",
    }
    # Forced, not defaulted: a developer's real AWS credentials or endpoint must never leak into the stack.
    for key in (
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "PARTNERHUB_ENV",
    ):
        os.environ[key] = defaults.pop(key)
    os.environ.pop("AWS_PROFILE", None)
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    if stripe_url:
        os.environ["STRIPE_API_BASE"] = stripe_url


def _start_moto(port: int) -> tuple[Any, int]:
    from moto.server import ThreadedMotoServer

    # moto logs every AWS call through werkzeug's logger; the gateway's own request log is the useful one.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    # Real DynamoDB applies each request atomically and reads only the partitions a request names; moto
    # needs help with both (local/fast_dynamodb.py).
    fast_dynamodb.install()

    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    return server, int(server.get_host_and_port()[1])


# The Stripe Dashboard settings docs/invoicing.md ("Before launch") asks of a real account, so the local account
# collects as production does: one-off invoices retried by Smart Retries, 8 tries within 2 weeks, and left open
# (past due) when every try failed.
LAUNCH_COLLECTION_SETTINGS: dict[str, Any] = {
    "retries": {"tries": 8, "window_days": 14},
    "after_final_attempt": "leave_open",
}


def _start_emulator(clock: Any, port: int, api_port: int, webhook_secret: str) -> tuple[Any, str]:
    from local.stripe_emulator import Emulator, serve

    # serve() binds first (port 0 = any free one) and then points the emulator's URLs at the real address.
    # Webhooks go out concurrently and in no particular order, as Stripe sends them.
    emulator = Emulator(
        clock,
        webhook_url=f"http://{HOST}:{api_port}/v1/webhooks/stripe",
        webhook_secret=webhook_secret,
        base_url=f"http://{HOST}:{port or DEFAULT_STRIPE_PORT}",
    )
    emulator.configure_collection(**LAUNCH_COLLECTION_SETTINGS)
    server = serve(emulator, HOST, port)
    return server, server.url


def start_stack(
    api_port: int = 0,
    stripe_port: int = 0,
    moto_port: int = 0,
    *,
    template_path: Path | None = None,
    portal_dir: Path | None = None,
    seed: bool = True,
    stripe: bool = True,
    poll_queues: bool = True,
    log: Any = _log,
) -> Stack:
    """Start everything in this process and return once it serves; port 0 picks a free port.

    The process environment is changed for the handlers (AWS endpoint, fake credentials, resolved
    ``Globals`` variables), so run one stack per process.
    """
    from local.auth import LocalAuth
    from local.controls import Controls, SqsDrainer
    from local.gateway import FunctionHost, Gateway
    from local.resources import LocalResources, stripe_webhook_secret
    from local.schedules import LocalResolver, RateScheduler
    from local.streams import StreamPoller
    from local.template import Template, parse_overrides
    from local.user_pool import COGNITO_ENDPOINT_VARIABLE, LocalUserPool

    root = ROOT
    template_path = template_path or root / "template.yaml"
    if not template_path.is_file():
        raise FileNotFoundError(f"{template_path} does not exist; the local stack is built from it")
    _ensure_layer_on_path(root)
    # Stage=local names the local resources for what they are (only parameters the template declares are
    # overridden); LOCAL_PARAMETER_OVERRIDES ("Name=value Other=value") adds or replaces any.
    overrides = {
        "Stage": "local",
        "StripePublishableKey": "pk_test_local",
        **parse_overrides(os.environ.get("LOCAL_PARAMETER_OVERRIDES", "")),
    }
    template = Template(template_path, parameter_overrides=overrides)
    for fn in template.functions.values():
        for layer in fn.layers:
            if layer.is_dir() and str(layer) not in sys.path:
                sys.path.insert(0, str(layer))

    # Powertools warns on every invocation that publishes no metrics; locally that is just noise.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    clock = _make_clock()
    stoppers: list[Any] = []
    try:
        moto_server, moto_port = _start_moto(moto_port)
        stoppers.append(moto_server.stop)
        moto_url = f"http://{HOST}:{moto_port}"
        _set_process_env(moto_url, None)

        # Bind the API port now: the issuer, the webhook URL and the OpenAPI servers all name it.
        server_box: dict[str, Any] = {}

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            return server_box["app"](environ, start_response)

        server: BaseWSGIServer = make_server(HOST, api_port, app, threaded=True, request_handler=_QuietHandler)
        stoppers.append(server.server_close)
        api_port = int(server.server_port)
        api_url = f"http://{HOST}:{api_port}"
        os.environ["LOCAL_API_URL"] = api_url

        resources = LocalResources(template, moto_url)
        resolver = resources.create_all()
        names = LocalResolver()
        from partnerhub.cognito import UserPool  # the layer is on sys.path from start_stack on

        # The stack's own user pool: its tokens (POST /_local/token) are what the authorizer accepts, its keys are
        # served at <issuer>/.well-known/jwks.json as Cognito serves a pool's.
        auth = LocalAuth(issuer=f"{api_url}/_local/cognito")
        user_pool = UserPool(issuer=auth.issuer, audience=auth.audience)
        # The pool's users and their MFA, at Cognito's JSON API: the authorizer's boto3 client asks it AdminGetUser
        # here as it would ask Cognito (local.user_pool), the portal enrols authenticator apps here.
        local_pool = LocalUserPool(auth, clock.now)
        os.environ[COGNITO_ENDPOINT_VARIABLE] = f"{api_url}/_local/cognito-idp"
        host = FunctionHost(
            template, resolver, dependencies={"clock": clock, "user_pool": user_pool, "resolver": names}
        )
        for key, value in host.resolved_environment_globals().items():
            os.environ[key] = value

        stripe_url: str | None = None
        emulator: Any = None
        if stripe:
            emulator_server, stripe_url = _start_emulator(clock, stripe_port, api_port, stripe_webhook_secret())
            stoppers.append(emulator_server.stop)
            emulator = emulator_server.emulator
            stripe_port = int(stripe_url.rsplit(":", 1)[-1].split("/")[0])
            os.environ["STRIPE_API_BASE"] = stripe_url
        if seed:
            from local.seed import seed as seed_catalog  # the layer is on sys.path from start_stack on

            seed_catalog(clock)

        host.load_all()
        drainer = SqsDrainer(
            host,
            template.sqs_sources,
            resources.queue_urls,
            resources.queue_arns,
            lambda: resources.client("sqs"),
            log=log,
        )
        streams = StreamPoller(
            host,
            template.stream_sources,
            resources.table_names,
            {table: str(resolver.get_att(table, "StreamArn")) for table in resources.table_names},
            log=log,
        )
        schedules = RateScheduler(host, template.rate_schedules, clock, log=log)
        controls = Controls(
            template,
            host,
            auth,
            clock,
            drainer,
            log=log,
            streams=streams,
            schedules=schedules,
            resolver=names,
            pool=local_pool,
        )
        gateway = Gateway(
            template,
            host,
            auth,
            clock.now,
            controls=controls,
            portal_dir=portal_dir or root / "portal",
            api_url=api_url,
            log=log,
        )
        server_box["app"] = gateway
        thread = threading.Thread(target=server.serve_forever, name="gateway", daemon=True)
        thread.start()

        def stop_gateway() -> None:
            server.shutdown()
            thread.join(timeout=5)
            server.server_close()

        stoppers[stoppers.index(server.server_close)] = stop_gateway
        if poll_queues:
            drainer.start_polling()
            stoppers.append(drainer.stop)
            streams.start()
            stoppers.append(streams.stop)
            schedules.start()
            stoppers.append(schedules.stop)
    except BaseException:
        for stopper in reversed(stoppers):
            with contextlib.suppress(Exception):
                stopper()
        raise

    return Stack(
        api_url=api_url,
        stripe_url=stripe_url,
        moto_url=moto_url,
        clock=clock,
        api_port=api_port,
        stripe_port=stripe_port if stripe_url else None,
        moto_port=moto_port,
        gateway=gateway,
        auth=auth,
        drainer=drainer,
        emulator=emulator,
        streams=streams,
        schedules=schedules,
        resolver=names,
        _stoppers=stoppers,
    )


def banner(stack: Stack) -> str:
    """What ``python -m local`` prints once everything is up."""
    from partnerhub.domain.invoicing import previous_period

    now = stack.clock.now()
    partner_body = json.dumps({"partner_id": "agency-1"})
    # Only a month that has ended can be invoiced: the one before the clock's.
    ended = str(previous_period(now))
    lines = [
        "",
        "PartnerHub local stack (127.0.0.1 only)",
        f"  API + portal   {stack.api_url}/",
        f"  OpenAPI        {stack.api_url}/v1/openapi.json",
        f"  Stripe (emu)   {stack.stripe_url or 'not running'}",
        f"  AWS (moto)     {stack.moto_url}",
        f"  clock          {now_iso(now)}  (GET/POST {stack.api_url}/_local/clock)",
        f"  partner token  curl -s -X POST {stack.api_url}/_local/token -d '{partner_body}'",
        f"  operator token make operator-token API_PORT={stack.api_port}   (enrols its authenticator app first)",
        f"  invoice run    make invoice API_PORT={stack.api_port} PERIOD={ended}",
        "  Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


def write_info(stack: Stack, path: str) -> None:
    """Write the stack's ports and URLs as JSON to ``path`` (atomically: readers never see half a file)."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(stack.info(), indent=2), encoding="utf-8")
    tmp.replace(target)


def now_iso(instant: datetime) -> str:
    """The clock's spelling of ``instant``."""
    from partnerhub.clock import isoformat

    return isoformat(instant)


class StackProcess:
    """``python -m local`` in a subprocess, for tests that must not share a process with the stack.

    The stack changes the process environment; a separate process keeps a test session's own moto mocks
    out of its way. Ports are chosen free (0) unless ``env`` says.
    """

    def __init__(self, env: dict[str, str] | None = None, *, python: str | None = None, cwd: Path = ROOT) -> None:
        self.env = env or {}
        self.python = python or sys.executable
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}
        self._dir = tempfile.TemporaryDirectory(prefix="local-stack-")
        self._log_file: Any = None
        self.log_path = Path(self._dir.name) / "stack.log"

    @property
    def api_url(self) -> str:
        return str(self.info["api_url"])

    @property
    def stripe_url(self) -> str | None:
        return self.info.get("stripe_url")

    @property
    def moto_url(self) -> str:
        return str(self.info["moto_url"])

    def start(self, timeout: float = 60.0) -> StackProcess:
        """Start the process and wait until ``/_local/health`` answers."""
        import time
        import urllib.request

        info_path = Path(self._dir.name) / "info.json"
        # A developer's kept data (LOCAL_STATE_DIR in their shell) is only used when the caller asks for it. The
        # functions' Powertools settings come from template.yaml, not from the caller: a test session's own (the
        # integration tests log at WARNING for the whole session) would silence the stack's handler logs.
        inherited = {
            k: v
            for k, v in os.environ.items()
            if k not in ("LOCAL_STATE_DIR", "LOCAL_STATE_RESET") and not k.startswith("POWERTOOLS_")
        }
        env = {
            **inherited,
            "API_PORT": "0",
            "STRIPE_PORT": "0",
            "MOTO_PORT": "0",
            "PYTHONUNBUFFERED": "1",
            **self.env,
            "LOCAL_STACK_INFO": str(info_path),
        }
        self._log_file = self.log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter running our own module
            [self.python, "-m", "local"], cwd=self.cwd, env=env, stdout=self._log_file, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the local stack exited with {self.process.returncode}:\n{self.log()}")
            if info_path.is_file():
                self.info = json.loads(info_path.read_text(encoding="utf-8"))
                try:
                    with urllib.request.urlopen(f"{self.api_url}/_local/health", timeout=2) as reply:  # noqa: S310
                        if reply.status == 200:
                            return self
                except OSError:
                    pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"the local stack did not become healthy in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        """Everything the stack printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """SIGTERM (a clean stop), then SIGKILL if it does not exit within ten seconds."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def cleanup(self) -> None:
        """Stop, and remove the log and info files."""
        self.stop()
        self._dir.cleanup()
