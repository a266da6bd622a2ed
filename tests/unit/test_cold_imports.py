"""What each function loads when it starts (import and ``build``, as Lambda's init runs them), in a fresh
interpreter, on demand and when Lambda runs the init ahead of requests (SnapStart, provisioned concurrency:
``partnerhub.priming``).

Cold start is measured by ``python -m bench coldstart``; these tests keep out of a function's start what it
only needs on some requests or never: tenacity (only a command that may retry builds a policy; it imports
asyncio), the HTTP resolver in the queue and schedule functions, and the Stripe SDK (only a call to Stripe).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
API_FUNCTIONS = ("licenses", "payment_methods", "billing", "webhooks", "invoices", "operator", "webhook_endpoints")
QUEUE_FUNCTIONS = ("invoice_planner", "invoice_worker", "webhook_events", "webhook_deliverer", "webhook_scheduler")
ALL_FUNCTIONS = (*API_FUNCTIONS, *QUEUE_FUNCTIONS)

_CHILD = """
import importlib.util, json, sys
sys.path[:0] = [{layer!r}, {code!r}]
spec = importlib.util.spec_from_file_location("app", {module!r})
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
resolver = getattr(module, "app", None)
routes = [*getattr(resolver, "_static_routes", ()), *getattr(resolver, "_dynamic_routes", ())]
print(json.dumps({{
    "modules": sorted(sys.modules),
    "routes": len(routes),
    "unprimed": [r.path for r in routes if r._dependant is None or (r._body_field is None and r.dependant.body_params)],
}}))
"""


def started(function: str, init_type: str | None = None) -> dict[str, Any]:
    """What ``function`` holds after its init in a fresh interpreter (``AWS_LAMBDA_INITIALIZATION_TYPE``:
    ``init_type``). Its AWS endpoint is a closed port: any call to AWS or SSM at init would fail it."""
    code_dir = ROOT / "functions" / function
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(
        {
            "TABLE_NAME": "partnerhub",
            "POWERTOOLS_SERVICE_NAME": function,
            "POWERTOOLS_METRICS_DISABLED": "true",
            "STRIPE_SECRET_PARAM": "/partnerhub/stripe/secret",
            "STRIPE_WEBHOOK_SECRET_PARAM": "/partnerhub/stripe/webhook",
            "INVOICE_QUEUE_URL": "http://127.0.0.1:9/queue/invoices",
            "INVOICE_RUN_QUEUE_URL": "http://127.0.0.1:9/queue/invoice-runs",
            "INVOICE_DEAD_LETTER_QUEUE_URL": "http://127.0.0.1:9/queue/invoices-dlq",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9",  # on Lambda: the module's entry point builds at import
        }
    )
    if init_type is not None:
        env["AWS_LAMBDA_INITIALIZATION_TYPE"] = init_type
    code = _CHILD.format(layer=str(ROOT / "layers" / "common"), code=str(code_dir), module=str(code_dir / "app.py"))
    done = subprocess.run(  # noqa: S603 - our own interpreter importing our own module
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def loaded_at_start(function: str) -> set[str]:
    return set(started(function)["modules"])


@pytest.fixture(scope="module")
def modules() -> dict[str, set[str]]:
    return {function: loaded_at_start(function) for function in ALL_FUNCTIONS}


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_no_function_loads_tenacity_or_stripe_to_start(modules: dict[str, set[str]], function: str) -> None:
    assert "tenacity" not in modules[function]
    assert "stripe" not in modules[function]


@pytest.mark.parametrize("function", QUEUE_FUNCTIONS)
def test_queue_and_schedule_functions_do_not_load_the_http_resolver(
    modules: dict[str, set[str]], function: str
) -> None:
    assert "aws_lambda_powertools.event_handler.api_gateway" not in modules[function]


# Priming (partnerhub.priming): when Lambda runs the init ahead of requests (SnapStart's snapshot, provisioned
# concurrency), what the tests above keep out of a start is loaded at init instead, where it costs no request.
STRIPE_FUNCTIONS = ("payment_methods", "webhooks", "invoices")


@pytest.fixture(scope="module")
def primed() -> dict[str, dict[str, Any]]:
    return {function: started(function, "snap-start") for function in API_FUNCTIONS}


@pytest.mark.parametrize("function", API_FUNCTIONS)
def test_a_snapshot_init_builds_every_routes_validation(primed: dict[str, dict[str, Any]], function: str) -> None:
    assert primed[function]["routes"] > 0
    assert primed[function]["unprimed"] == []


@pytest.mark.parametrize("function", API_FUNCTIONS)
def test_a_snapshot_init_loads_what_first_requests_would(primed: dict[str, dict[str, Any]], function: str) -> None:
    loaded = set(primed[function]["modules"])
    assert "tenacity" in loaded
    assert "idna" in loaded  # for a site URL with an internationalised host name
    # Stripe's SDK only where Stripe is called; its services and object classes with it
    assert ("stripe" in loaded) == (function in STRIPE_FUNCTIONS)
    if function in STRIPE_FUNCTIONS:
        assert {"stripe._customer_service", "stripe._invoice", "stripe._setup_intent"} <= loaded
        # and the SSM client the key is read with, though no key is read: AWS is a closed port here
        assert "aws_lambda_powertools.utilities.parameters.ssm" in loaded


def test_an_on_demand_init_primes_nothing() -> None:
    # The type Lambda gives an ordinary cold start: the first request pays only for what it uses
    state = started("payment_methods", "on-demand")
    assert state["unprimed"] != []
    assert "stripe" not in state["modules"] and "tenacity" not in state["modules"]


def test_provisioned_concurrency_is_primed_too() -> None:
    state = started("licenses", "provisioned-concurrency")
    assert state["unprimed"] == []
    assert "tenacity" in state["modules"]


def test_importing_a_function_builds_nothing_off_lambda() -> None:
    # Outside Lambda (tests, tools) importing app.py reads no environment and makes no client: it builds on its
    # first call. A child without TABLE_NAME (or any other setting) imports every function; a build would fail.
    for function in ALL_FUNCTIONS:
        code_dir = ROOT / "functions" / function
        code = _CHILD.format(layer=str(ROOT / "layers" / "common"), code=str(code_dir), module=str(code_dir / "app.py"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "TABLE_NAME"))}
        done = subprocess.run(  # noqa: S603 - our own interpreter importing our own module
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, (function, done.stderr[-2000:])
