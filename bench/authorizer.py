"""The authorizer: its cold start against bare boto3, and what it adds to a request, its answer cached and not.

- Cold start: ``functions/authorizer/app.py`` imported and built in fresh interpreters, interleaved with the cold
  start section's own baseline (``import boto3; boto3.client("dynamodb")``), by that section's machinery.
- Per request, in this process, interleaved rounds, each figure a median against a bare ``GetItem`` round trip with
  the same client against the same moto server measured in the same rounds:
  - the authorizer's handler with its answer not cached: a person's ID token (its signature checked against the
    pool's keys, already fetched), an API key (one ``GetItem`` of its credential), and an API key whose last use is
    due to be written (the once-a-minute conditional ``UpdateItem`` as well);
  - what every request pays in the function, cached or not: the resolver's gate (the caller read from the
    authorizer's answer, its expiry against the request's time, the route's scope);
  - over HTTP through the local gateway, ``GET /v1/licenses/counts`` with the answer cached, and not cached (the
    gateway invoking the authorizer first), for a token and for a key. On AWS a cached answer costs API Gateway's
    own lookup, which no bench here can see; the local gateway's is a dictionary lookup.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bench.harness import Bench

FUNCTION = "AuthorizerFunction"
WARMUP = 5


@dataclass
class Measure:
    name: str
    samples: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")


@dataclass
class AuthorizerBench:
    cold: list[Any]  # bench.coldstart.ColdStart: the baseline, then the authorizer
    baseline: Measure
    rows: list[Measure]
    error: str | None = None


def _authorizer_event(bench: Bench, credential: str) -> dict[str, Any]:
    from local.events import HttpRequest, authorizer_event

    request = HttpRequest(method="GET", path="/v1/licenses/counts", headers=[("authorization", f"Bearer {credential}")])
    return authorizer_event(
        request,
        route_key="GET /v1/licenses/counts",
        path_parameters={},
        identity=[f"Bearer {credential}"],
        now=bench.stack.clock.now(),
    )


def _gate(bench: Bench, context: dict[str, Any]) -> Callable[[], None]:
    """The resolver's caller gate alone, on a route that allows keys with ``read`` (``ApiResolver.admit``)."""
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

    from local.events import HttpRequest, http_event
    from partnerhub.api import create_app

    app = create_app()

    @app.get("/v1/gate")
    @app.key_scope("read")
    def gate() -> dict[str, str]:
        return {}

    event = http_event(
        HttpRequest(method="GET", path="/v1/gate"),
        route_key="GET /v1/gate",
        path_parameters={},
        authorizer={"lambda": context},
        now=bench.stack.clock.now(),
    )
    app.current_event = APIGatewayProxyEventV2(event)
    app.append_context(_route=app._static_routes[0])  # type: ignore[no-untyped-call]  # as Powertools does on a match
    return app.admit


def measure(bench: Bench, rounds: int, log: Callable[[str], None] = print, *, cold_runs: int = 10) -> AuthorizerBench:
    import requests

    from bench import coldstart

    filters = (bench.route_filter, bench.function_filter)
    bench.only(routes=(), functions=(FUNCTION,))
    try:
        cold = [c for c in coldstart.measure(bench, cold_runs, log, source_runs=0) if c.name in ("baseline", FUNCTION)]
    finally:
        bench.route_filter, bench.function_filter = filters

    from partnerhub.repository.partners import profile_key

    partner = bench.paying_partner("authz")
    made = bench.invoke("POST /v1/api-keys", partner_id=partner, body={"name": "bench", "scopes": ["read"]})
    if made.status != 201:
        return AuthorizerBench(cold, Measure("GetItem (baseline)"), [], f"no key: {made.status} {made.body}")
    key = str(made.body["secret"])
    token = bench.stack.token(partner)
    client = bench.dynamodb()
    get_key = profile_key(partner)
    clock = bench.stack.clock
    gateway = bench.stack.gateway
    url = f"{bench.stack.api_url}/v1/licenses/counts"
    http = requests.Session()
    for_token = {"Authorization": f"Bearer {token}"}
    for_key = {"Authorization": f"Bearer {key}"}

    baseline = Measure("GetItem (baseline)")
    token_uncached = Measure("authorizer, ID token, answer not cached", note="signature against the pool's keys")
    key_uncached = Measure("authorizer, API key, answer not cached", note="1 GetItem of the credential")
    key_recorded = Measure(
        "authorizer, API key, last use due", note="1 GetItem + 1 conditional UpdateItem (at most once a minute)"
    )
    gate = Measure("function gate, every request", note="caller, expiry, scope from the cached answer")
    http_cached_token = Measure("HTTP `GET /v1/licenses/counts`, ID token, answer cached")
    http_token = Measure("HTTP `GET /v1/licenses/counts`, ID token, answer not cached")
    http_cached_key = Measure("HTTP `GET /v1/licenses/counts`, API key, answer cached")
    http_key = Measure("HTTP `GET /v1/licenses/counts`, API key, answer not cached")

    def timed(call: Callable[[], Any]) -> float:
        started = time.perf_counter()
        call()
        return time.perf_counter() - started

    def invoke(credential: str) -> Callable[[], Any]:
        event = _authorizer_event(bench, credential)
        return lambda: bench.invoke_function(FUNCTION, event)

    def get(headers: dict[str, str]) -> None:
        reply = http.get(url, headers=headers, timeout=30)
        if reply.status_code != 200:
            raise RuntimeError(f"{reply.status_code}: {reply.text[:200]}")

    def over_http(headers: dict[str, str], *, cached: bool) -> float:
        """One request timed: after an untimed one that leaves the answer cached, or with the cache emptied."""
        if cached:
            get(headers)
        else:
            gateway.authorizer_cache.clear()
        return timed(lambda: get(headers))

    # Each check must answer what it should before it is timed
    checks = {"token": invoke(token)(), "key": invoke(key)()}
    for name, answer in checks.items():
        if answer.get("context", {}).get("kind") not in ("person", "api_key"):
            return AuthorizerBench(cold, baseline, [], f"the authorizer refused the bench's {name}: {answer}")
    admit = _gate(bench, checks["key"]["context"])

    for n in range(WARMUP + rounds):
        samples = [
            (baseline, timed(lambda: client.get_item(TableName=bench.table, Key=get_key))),
            (token_uncached, timed(invoke(token))),
            (key_uncached, timed(invoke(key))),
            (gate, timed(admit)),
            (http_cached_token, over_http(for_token, cached=True)),
            (http_token, over_http(for_token, cached=False)),
            (http_cached_key, over_http(for_key, cached=True)),
            (http_key, over_http(for_key, cached=False)),
        ]
        # A minute on (untimed), the key's last use is due to be written again; and a token of the clock's new now
        # (the clock moves an hour in 60 rounds)
        clock.advance(timedelta(seconds=61))
        samples.append((key_recorded, timed(invoke(key))))
        token = bench.stack.token(partner)
        for_token["Authorization"] = f"Bearer {token}"
        if n >= WARMUP:
            for measured, seconds in samples:
                measured.samples.append(seconds)
        if n and n % 50 == 0:
            log(f"  authorizer: round {n}/{WARMUP + rounds}")
    rows = [token_uncached, key_uncached, key_recorded, gate, http_cached_token, http_token, http_cached_key, http_key]
    log(f"  authorizer: GetItem p50 {baseline.median * 1000:.2f} ms, token {token_uncached.median * 1000:.2f} ms")
    return AuthorizerBench(cold, baseline, rows)


def render(result: AuthorizerBench | None) -> list[str]:
    if result is None:
        return []
    out = ["## The authorizer", ""]
    if result.error:
        return [*out, f"Not measured: {result.error}", ""]
    out.append(
        "The HTTP API's one authorizer (`functions/authorizer`): its cold start against the cold start section's "
        "baseline (fresh interpreters, interleaved, medians), and what it adds per request (median of "
        f"{len(result.baseline.samples)} interleaved rounds in one process, against a bare `GetItem` round trip "
        "in the same rounds). API Gateway caches the authorizer's answer for an `Authorization` header 60 s: a "
        "busy credential pays an uncached check once a minute, every other request only the function's gate. "
        "On AWS a cached answer also costs API Gateway's own lookup, which is not measured here; over HTTP, the "
        "local gateway's cache is a dictionary lookup."
    )
    out.append("")
    base_cold = next((c for c in result.cold if c.name == "baseline"), None)
    rows: list[list[Any]] = []
    for cold in result.cold:
        if cold.error or base_cold is None or not cold.samples:
            rows.append([cold.name, "n/a", "n/a", "n/a", "n/a", cold.error or "not measured"])
            continue
        rows.append(
            [
                cold.name,
                f"{cold.median * 1000:.0f} ms",
                f"{cold.median / base_cold.median:.2f}x",
                f"{cold.cpu_median * 1000:.0f} ms",
                f"{cold.cpu_median / base_cold.cpu_median:.2f}x",
                "",
            ]
        )
    out += _table(["Cold start (import and build)", "Median", "Ratio to baseline", "CPU", "CPU ratio", "Note"], rows)
    out.append("")
    base = result.baseline.median
    per = [[result.baseline.name, f"{base * 1000:.2f} ms", "1.00x", ""]]
    per += [[m.name, f"{m.median * 1000:.2f} ms", f"{m.median / base:.2f}x", m.note] for m in result.rows]
    out += _table(["Per request", "Median", "Ratio to GetItem", "What it does"], per)
    out.append("")
    return out


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines
