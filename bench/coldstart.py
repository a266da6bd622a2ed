"""Cold start: each function's import and initialisation in a fresh interpreter, against boto3 alone.

Every run is a new ``python`` process with the environment the local stack gives that function
(table name, Stripe parameter names, fake credentials, ``AWS_ENDPOINT_URL`` at the bench's moto).
The child times ``import app`` (everything the module does at init: settings, clients, the
resolver) with ``time.perf_counter`` (wall) and ``time.process_time`` (its own CPU time, which other work
on a shared machine moves far less) and says whether ``stripe`` ended up imported. Interpreter
start-up is not in the figure; it is the same for every function and for the baseline.
Runs are interleaved (baseline, f1, f2, ..., baseline, f1, ...) so background load hits all alike.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.harness import LAYER, ROOT, Bench

BASELINE = "baseline"
BASELINE_CODE = 'import boto3; boto3.client("dynamodb")'
FLOOR = "framework floor"
PYDANTIC = "pydantic, one model"
# The largest part of the floor, alone: the baseline plus pydantic and one model of it.
PYDANTIC_CODE = (
    BASELINE_CODE
    + """
from pydantic import BaseModel
class _Model(BaseModel):
    value: int
"""
)
REFERENCES = (BASELINE, PYDANTIC, FLOOR)  # what the functions are compared with, not functions
# What any HTTP function here loads before a line of its own: the baseline, pydantic with one model, Powertools'
# HTTP resolver with request validation, its Logger and Metrics, the OpenTelemetry API. A function cannot start
# faster than this without leaving one of them.
FLOOR_CODE = (
    BASELINE_CODE
    + """
from pydantic import BaseModel
class _Model(BaseModel):
    value: int
from aws_lambda_powertools.event_handler.api_gateway import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.logging.logger import Logger
from aws_lambda_powertools.metrics.metrics import Metrics
import opentelemetry.trace
APIGatewayHttpResolver(enable_validation=True); Logger(); Metrics()
"""
)

_CHILD = """
import importlib.util, json, sys, time
{prelude}
started, cpu_started = time.perf_counter(), time.process_time()
{body}
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
print(json.dumps({{"seconds": elapsed, "cpu": cpu, "stripe": "stripe" in sys.modules, "modules": len(sys.modules)}}))
"""

# "Without bytecode": what Lambda does with an artifact that ships no .pyc (its code directories are read-only,
# so nothing compiled is kept): every module outside the standard library (which the runtime ships compiled) is
# compiled from its source at import. A path hook gives those directories a loader that never reads a .pyc.
_FROM_SOURCE = """
import importlib.machinery as _m
class _FromSource(_m.SourceFileLoader):
    def get_code(self, fullname):
        return self.source_to_code(self.get_data(self.path), self.path)
_hook = _m.FileFinder.path_hook(
    (_m.ExtensionFileLoader, _m.EXTENSION_SUFFIXES), (_FromSource, _m.SOURCE_SUFFIXES)
)
def _outside_stdlib(path):
    if path.startswith(sys.base_prefix) and not path.startswith(sys.prefix):
        raise ImportError("the standard library keeps its bytecode")
    return _hook(path)
sys.path_hooks.insert(0, _outside_stdlib)
sys.path_importer_cache.clear()
"""

_IMPORT_APP = """
sys.path[:0] = [{layer!r}, {code_dir!r}]
spec = importlib.util.spec_from_file_location("app", {module_file!r})
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
"""


@dataclass
class ColdStart:
    name: str
    samples: list[float] = field(default_factory=list)
    cpu_samples: list[float] = field(default_factory=list)  # the child's own CPU time: less moved by other load
    source_cpu_samples: list[float] = field(default_factory=list)  # CPU time compiling every module from source
    stripe_imported: bool = False
    calls_stripe: bool | None = None
    error: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_samples) if self.cpu_samples else float("nan")

    @property
    def source_cpu_median(self) -> float:
        return statistics.median(self.source_cpu_samples) if self.source_cpu_samples else float("nan")


def child_environment(bench: Bench, logical_id: str | None) -> dict[str, str]:
    """What the local stack would give the function (or the globals, for the baseline)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_"))}
    if logical_id is None:
        env.update(bench.host.resolved_environment_globals())
    else:
        env.update(bench.host.resolved_environment(bench.template.functions[logical_id]))
    env.update(
        {
            "AWS_ENDPOINT_URL": bench.stack.moto_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "PYTHONDONTWRITEBYTECODE": "0",
            # As on Lambda: a function's module builds it at import (``partnerhub.composition.entry_point``).
            "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
        }
    )
    if bench.stack.stripe_url:
        env["STRIPE_API_BASE"] = bench.stack.stripe_url
    return env


def _code_for(bench: Bench, logical_id: str | None, *, from_source: bool = False) -> str:
    prelude = _FROM_SOURCE if from_source else ""
    if logical_id is None:
        return _CHILD.format(prelude=prelude, body=BASELINE_CODE)
    if logical_id == FLOOR:
        return _CHILD.format(prelude=prelude, body=FLOOR_CODE.format(layer=str(LAYER)))
    if logical_id == PYDANTIC:
        return _CHILD.format(prelude=prelude, body=PYDANTIC_CODE)
    fn = bench.template.functions[logical_id]
    body = _IMPORT_APP.format(layer=str(LAYER), code_dir=str(fn.code_dir), module_file=str(fn.module_file))
    return _CHILD.format(prelude=prelude, body=body)


def _run_child(code: str, env: dict[str, str], stdin: str | None = None) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - our own interpreter running our own snippet
        [sys.executable, "-c", code], env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["exit status " + str(done.returncode)])[-1]
        raise RuntimeError(last)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def measure(bench: Bench, runs: int, log: Callable[[str], None] = print, *, source_runs: int = 3) -> list[ColdStart]:
    """``runs`` fresh interpreters per function (and for the baseline), interleaved; medians compared. Then
    ``source_runs`` more each with every module compiled from source (an artifact without bytecode)."""
    functions = [lid for lid in bench.function_ids if bench.template.functions[lid].module_file.is_file()]
    missing = [lid for lid in bench.function_ids if lid not in functions]
    subjects: list[tuple[str, str | None]] = [
        (BASELINE, None),
        (PYDANTIC, PYDANTIC),
        (FLOOR, FLOOR),
        *((lid, lid) for lid in functions),
    ]
    results = {name: ColdStart(name) for name, _ in subjects}
    for lid in missing:
        results[lid] = ColdStart(lid, error="handler module missing")
    prepared = {
        name: (_code_for(bench, lid), child_environment(bench, None if lid in (FLOOR, PYDANTIC) else lid))
        for name, lid in subjects
    }
    # One warm-up round fills the OS page cache and __pycache__, as a deployed package has them.
    for name, (code, env) in prepared.items():
        try:
            _run_child(code, env)
        except RuntimeError as error:
            results[name].error = str(error)
    for run in range(runs):
        for name, (code, env) in prepared.items():
            if results[name].error:
                continue
            sample = _run_child(code, env)
            results[name].samples.append(float(sample["seconds"]))
            results[name].cpu_samples.append(float(sample["cpu"]))
            results[name].stripe_imported = results[name].stripe_imported or bool(sample["stripe"])
        log(f"  cold start: round {run + 1}/{runs}")
    for run in range(source_runs):
        for name, subject in subjects:
            if results[name].error:
                continue
            code = _code_for(bench, subject, from_source=True)
            results[name].source_cpu_samples.append(float(_run_child(code, prepared[name][1])["cpu"]))
        log(f"  cold start without bytecode: round {run + 1}/{source_runs}")
    return [results[name] for name, _ in subjects] + [results[lid] for lid in missing]


@dataclass
class ImportProfile:
    """``python -X importtime`` of one function's ``app.py``: the largest imports by cumulative time."""

    name: str
    modules: int
    baseline_modules: int
    total_us: int
    baseline_us: int
    top: list[tuple[int, int, str]] = field(default_factory=list)  # (cumulative us, own us, module), by own
    error: str | None = None


def _importtime(code: str, env: dict[str, str]) -> dict[str, tuple[int, int]]:
    done = subprocess.run(  # noqa: S603 - our own interpreter running our own snippet
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError((done.stderr.strip().splitlines() or ["failed"])[-1])
    found: dict[str, tuple[int, int]] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        own, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if own.isdigit():
            found[name] = (int(own), int(cumulative))
    return found


def import_profile(bench: Bench, logical_id: str, top: int = 20) -> ImportProfile:
    """Where a function's import time goes, beside the baseline's: modules only the function loads."""
    try:
        base = _importtime(_code_for(bench, None), child_environment(bench, None))
        mine = _importtime(_code_for(bench, logical_id), child_environment(bench, logical_id))
    except RuntimeError as error:
        return ImportProfile(logical_id, 0, 0, 0, 0, error=str(error))
    extra = {name: times for name, times in mine.items() if name not in base}
    # By own time: a module's cumulative time also counts the baseline's modules it happens to import first.
    ranked = sorted(((c, s, n) for n, (s, c) in extra.items()), key=lambda row: row[1], reverse=True)
    return ImportProfile(
        logical_id,
        modules=len(mine),
        baseline_modules=len(base),
        total_us=sum(s for s, _ in mine.values()),
        baseline_us=sum(s for s, _ in base.values()),
        top=ranked[:top],
    )


# -- SnapStart priming: the first requests after a start -------------------------------------------------

INIT_TYPES = ("on-demand", "snap-start")

_FIRST_REQUESTS = (
    """
import importlib.util, json, sys, time
events = json.loads(sys.stdin.read())
cpu_started = time.process_time()
"""
    + _IMPORT_APP
    + """
init = time.process_time() - cpu_started
sys.path.append({root!r})
from local.events import LambdaContext
context = LambdaContext({name!r}, 512, 60)
calls = []
for event in events:
    started = time.process_time()
    result = module.lambda_handler(event, context)
    calls.append([time.process_time() - started, result.get("statusCode")])
print(json.dumps({{"init": init, "calls": calls}}))
"""
)


@dataclass
class FirstRequests:
    """One function started ``runs`` times per init type: its init and its requests, first and then warm."""

    name: str
    requests: list[str]  # the route keys, in the order sent (once cold, then once more warm)
    init: dict[str, list[float]] = field(default_factory=dict)  # init type -> CPU seconds per run
    first: dict[str, list[float]] = field(default_factory=dict)  # init type -> CPU of the first round
    warm: dict[str, list[float]] = field(default_factory=dict)  # init type -> CPU of the same round again
    statuses: set[int] = field(default_factory=set)
    error: str | None = None

    def median(self, what: str, init_type: str) -> float:
        samples: dict[str, list[float]] = getattr(self, what)
        return statistics.median(samples[init_type]) if samples.get(init_type) else float("nan")


def _license_requests(bench: Bench, partner: str) -> list[dict[str, Any]]:
    from bench import routes

    return [
        bench.event("GET /v1/licenses", partner_id=partner, query={"limit": "50"}),
        bench.event(
            "POST /v1/licenses",
            partner_id=partner,
            body={"product": routes.PRODUCT, "quantity": 1},
            headers={"idempotency-key": secrets.token_hex(12)},
        ),
    ]


def _card_requests(bench: Bench, _partner: str) -> list[dict[str, Any]]:
    # A partner's first SetupIntent: its Stripe customer is made too (a fresh partner each time)
    return [
        bench.event(
            "POST /v1/payment-methods/setup-intent",
            partner_id=bench.paying_partner("prime"),
            headers={"idempotency-key": secrets.token_hex(12)},
        )
    ]


def _billing_requests(bench: Bench, partner: str) -> list[dict[str, Any]]:
    return [
        bench.event("GET /v1/billing", partner_id=partner),
        bench.event("GET /v1/prices", partner_id=partner),
    ]


def _invoice_requests(bench: Bench, partner: str) -> list[dict[str, Any]]:
    return [bench.event("GET /v1/invoices", partner_id=partner, query={"limit": "50"})]


def _operator_requests(bench: Bench, _partner: str) -> list[dict[str, Any]]:
    return [bench.event("GET /v1/operator/audit", partner_id=None, groups=("operators",), query={"limit": "50"})]


def _webhook_requests(bench: Bench, _partner: str) -> list[dict[str, Any]]:
    # The delivery Stripe sends most: a customer.updated that moved the invoice sequence (its cheap path: the
    # signature, the event's dedupe claim), for a customer this system does not know. A new event id each time.
    from bench.webhooks import signed_event

    previous = {"next_invoice_sequence": 2}
    return [bench.event("POST /v1/webhooks/stripe", **signed_event(bench, "customer.updated", _CUSTOMER, previous))]


_CUSTOMER = {"id": "cus_bench_unknown", "object": "customer"}

FIRST_REQUEST_SUBJECTS: dict[str, Callable[[Bench, str], list[dict[str, Any]]]] = {
    "LicensesFunction": _license_requests,
    "PaymentMethodsFunction": _card_requests,
    "BillingFunction": _billing_requests,
    "InvoicesFunction": _invoice_requests,
    "OperatorFunction": _operator_requests,
    "WebhooksFunction": _webhook_requests,
}
"""Every API function (each has SnapStart) with the first requests its callers send."""


def first_requests(bench: Bench, runs: int, log: Callable[[str], None] = print) -> list[FirstRequests]:
    """Each subject started ``runs`` times on demand and as SnapStart starts it (``AWS_LAMBDA_INITIALIZATION_TYPE``
    ``snap-start``: ``partnerhub.priming``), interleaved; each start serves its requests twice, first cold
    then warm, with fresh idempotency keys. CPU time of the child (the requests' DynamoDB and Stripe are the
    bench's own moto and emulator, in the parent)."""
    from bench import routes

    results: list[FirstRequests] = []
    partner = bench.paying_partner("prime")
    routes.issue(bench, partner, 60)
    for name, requests in FIRST_REQUEST_SUBJECTS.items():
        if name not in bench.function_ids:
            continue
        result = FirstRequests(name, [])
        results.append(result)
        fn = bench.template.functions[name]
        code = _FIRST_REQUESTS.format(
            layer=str(LAYER),
            code_dir=str(fn.code_dir),
            module_file=str(fn.module_file),
            root=str(ROOT),
            name=name,
        )
        for run in range(runs + 1):  # the first round warms the page cache and __pycache__, uncounted
            for init_type in INIT_TYPES:
                env = {**child_environment(bench, name), "AWS_LAMBDA_INITIALIZATION_TYPE": init_type}
                env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
                cold = requests(bench, partner)
                result.requests = [event["routeKey"] for event in cold]
                try:
                    done = _run_child(code, env, json.dumps(cold + requests(bench, partner)))
                except RuntimeError as error:
                    result.error = str(error)
                    break
                calls = done["calls"]
                half = len(calls) // 2
                result.statuses |= {int(status) for _, status in calls}
                if run:
                    result.init.setdefault(init_type, []).append(float(done["init"]))
                    result.first.setdefault(init_type, []).append(sum(c for c, _ in calls[:half]))
                    result.warm.setdefault(init_type, []).append(sum(c for c, _ in calls[half:]))
            if result.error:
                break
        log(f"  first requests: {name} measured")
    return results
