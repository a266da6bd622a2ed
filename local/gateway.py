"""The local API gateway: HTTP requests in, HTTP API (payload 2.0) events to the real handlers, responses out.

Order of dispatch for a request:

1. ``/_local/*`` -- the local-only controls (:mod:`local.controls`); never deployed.
2. ``/v1/openapi.json`` -- the OpenAPI documents of every HTTP function, merged.
3. the template's ``HttpApi`` routes, matched as API Gateway matches them, JWT-checked as its
   authorizer would, each invoking the function's ``lambda_handler`` in this process.
4. the portal's static files from ``portal/`` (``/`` serves ``index.html``).

Requests are served on threads and invocations are NOT serialised: concurrent requests hit the
handlers (and DynamoDB) concurrently, as on AWS.
"""

from __future__ import annotations

import base64
import importlib.util
import inspect
import json
import mimetypes
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from werkzeug.exceptions import HTTPException
from werkzeug.security import safe_join
from werkzeug.wrappers import Request, Response

from local.auth import AuthError, LocalAuth, render_claims
from local.events import HttpRequest, LambdaContext, authorizer_event, function_name, http_event
from local.template import Authorizer as TemplateAuthorizer
from local.template import FunctionDef, Resolver, Route, Template

OPENAPI_PATH = "/v1/openapi.json"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response; ``payload`` is serialised compactly like API Gateway's own error bodies."""
    return Response(
        json.dumps(payload, separators=(",", ":"), default=str),
        status=status,
        headers=dict(headers or {}),
        content_type="application/json",
    )


# -- functions -----------------------------------------------------------------------------------


# Set by every function on purpose and read at import only; differing values are expected.
_PER_FUNCTION = frozenset({"POWERTOOLS_SERVICE_NAME"})


class FunctionError(Exception):
    """The function failed to initialise or raised; the traceback has already been printed."""


@dataclass
class LoadedFunction:
    """A function whose module has been imported (or whose import failed: ``error``)."""

    definition: FunctionDef
    environment: dict[str, str]
    module: ModuleType | None = None
    handler: Callable[[Any, Any], Any] | None = None
    error: str | None = None
    # Warm execution environments not serving a request right now. Like Lambda, one environment
    # serves one request at a time: a Powertools resolver keeps the current event on its ``app``.
    idle: list[tuple[ModuleType, Callable[[Any, Any], Any]]] = field(default_factory=list)
    environments: int = 0


def built_handler(module: ModuleType, handler_name: str, dependencies: dict[str, Any]) -> Callable[[Any, Any], Any]:
    """The handler of a function built by its composition root (``build``) with those of ``dependencies`` it
    takes (the stack's clock, ...); a module without one is invoked through ``handler_name`` as it is."""
    build = getattr(module, "build", None)
    if handler_name != "lambda_handler" or not callable(build):
        return cast(Callable[[Any, Any], Any], getattr(module, handler_name))
    accepted = inspect.signature(build).parameters
    return cast(Callable[[Any, Any], Any], build(**{k: v for k, v in dependencies.items() if k in accepted}).handler)


class FunctionHost:
    """Imports each function's handler module once and invokes it, like a warm Lambda environment.

    Each ``app.py`` is imported by file path under a unique module name, with its code directory on
    ``sys.path`` only while it imports, and its sibling modules then dropped from ``sys.modules`` --
    two functions may both have a ``models.py`` without one shadowing the other. The function's own
    environment variables are set before its import (most code reads configuration at import time).
    """

    def __init__(self, template: Template, resolver: Resolver, dependencies: dict[str, Any] | None = None) -> None:
        self.template = template
        self.resolver = resolver
        self.dependencies = dependencies or {}
        self.functions: dict[str, LoadedFunction] = {}
        self._import_lock = threading.RLock()

    def resolved_environment(self, fn: FunctionDef) -> dict[str, str]:
        """The function's environment variables with intrinsics resolved to local values."""
        resolved = self.resolver.resolve(fn.environment)
        return {str(k): _env_text(v) for k, v in resolved.items()}

    def resolved_environment_globals(self) -> dict[str, str]:
        """``Globals.Function.Environment.Variables`` resolved (what every function, and the seed, sees)."""
        resolved = self.resolver.resolve(self.template.global_environment)
        return {str(k): _env_text(v) for k, v in resolved.items()}

    def load_all(self) -> None:
        """Import every function; a failing import is reported and its routes answer 500."""
        seen: dict[str, tuple[str, str]] = {}
        for logical_id, fn in self.template.functions.items():
            env = self.resolved_environment(fn)
            for key, value in env.items():
                expected = key in self.template.global_environment or key in _PER_FUNCTION
                if key in seen and seen[key][1] != value and not expected:
                    # One process, one os.environ: a name two functions set differently is a local limitation.
                    print(
                        f"local: warning: {logical_id} sets {key}={value!r} but {seen[key][0]} set {seen[key][1]!r};"
                        " code reading it at call time sees the last value",
                        file=sys.stderr,
                    )
                seen[key] = (logical_id, value)
            self.functions[logical_id] = self._load(fn, env)

    def _load(self, fn: FunctionDef, env: dict[str, str]) -> LoadedFunction:
        loaded = LoadedFunction(definition=fn, environment=env)
        for layer in fn.layers:
            for candidate in (layer, layer / "python"):
                if candidate.is_dir() and str(candidate) not in sys.path:
                    sys.path.insert(0, str(candidate))
        if not fn.module_file.is_file():
            loaded.error = f"handler module {fn.module_file} does not exist"
            print(f"local: {fn.logical_id}: {loaded.error}", file=sys.stderr)
            return loaded
        os.environ.update(env)
        try:
            loaded.module, loaded.handler = self._new_environment(loaded)
            loaded.idle.append((loaded.module, loaded.handler))
        except Exception:
            loaded.error = traceback.format_exc()
            print(f"local: {fn.logical_id} failed to initialise:\n{loaded.error}", file=sys.stderr)
        return loaded

    def _new_environment(self, loaded: LoadedFunction) -> tuple[ModuleType, Callable[[Any, Any], Any]]:
        """Import the function's module afresh: a new execution environment (a cold start)."""
        fn = loaded.definition
        with self._import_lock:
            loaded.environments += 1
            module_name = f"_local_fn_{re.sub(r'\W', '_', fn.logical_id)}_{loaded.environments}"
            code_dir = str(fn.code_dir)
            before = set(sys.modules)
            sys.path.insert(0, code_dir)
            try:
                spec = importlib.util.spec_from_file_location(module_name, fn.module_file)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load {fn.module_file}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[module_name] = module
                spec.loader.exec_module(module)
                return module, built_handler(module, fn.handler_name, self.dependencies)
            finally:
                sys.path.remove(code_dir)
                for name in set(sys.modules) - before:
                    file = getattr(sys.modules[name], "__file__", None) or ""
                    if name != module_name and file.startswith(code_dir + os.sep):
                        del sys.modules[name]

    def _acquire(self, loaded: LoadedFunction) -> tuple[ModuleType, Callable[[Any, Any], Any]]:
        with self._import_lock:
            if loaded.idle:
                return loaded.idle.pop()
        return self._new_environment(loaded)

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Invoke the function with ``event``; raises :class:`FunctionError` when it fails."""
        loaded = self.functions.get(logical_id)
        if loaded is None:
            raise FunctionError(f"no function {logical_id}")
        if loaded.handler is None:
            raise FunctionError(f"{logical_id} is not initialised: {loaded.error}")
        fn = loaded.definition
        context = LambdaContext(function_name(logical_id), fn.memory_size, fn.timeout)
        started = time.monotonic()
        environment = self._acquire(loaded)
        try:
            return environment[1](event, context)
        except Exception as exc:
            # What Lambda would write to the function's log group.
            print(
                f"[ERROR] {type(exc).__name__} in {logical_id} (request {context.aws_request_id}):\n"
                f"{traceback.format_exc()}",
                file=sys.stderr,
                flush=True,
            )
            raise FunctionError(str(exc)) from exc
        finally:
            with self._import_lock:
                loaded.idle.append(environment)
            elapsed = time.monotonic() - started
            if elapsed > fn.timeout:
                print(
                    f"local: warning: {logical_id} ran {elapsed:.1f}s; Lambda would have stopped it at {fn.timeout}s",
                    file=sys.stderr,
                )

    def openapi(self, api_url: str | None = None) -> dict[str, Any]:
        """Every HTTP function's OpenAPI document (Powertools resolver ``app``), merged into one."""
        merged: dict[str, Any] = {
            "openapi": "3.1.0",
            "info": {"title": "PartnerHub API", "version": "1.0.0"},
            "paths": {},
            "components": {"schemas": {}},
        }
        if api_url:
            merged["servers"] = [{"url": api_url}]
        for logical_id, loaded in self.functions.items():
            app = getattr(loaded.module, "app", None) if loaded.module else None
            if app is None or not loaded.definition.routes:
                continue
            try:
                if hasattr(app, "get_openapi_json_schema"):
                    document = json.loads(app.get_openapi_json_schema())
                elif hasattr(app, "get_openapi_schema"):
                    schema = app.get_openapi_schema()
                    document = json.loads(schema.model_dump_json(by_alias=True, exclude_none=True))
                else:
                    continue
            except Exception:  # one broken schema should not hide the others
                print(f"local: OpenAPI of {logical_id} failed:\n{traceback.format_exc()}", file=sys.stderr)
                continue
            merged["openapi"] = document.get("openapi", merged["openapi"])
            for path, operations in (document.get("paths") or {}).items():
                merged["paths"].setdefault(path, {}).update(operations)
            components = document.get("components") or {}
            for section, entries in components.items():
                merged["components"].setdefault(section, {}).update(entries or {})
        merged["paths"] = dict(sorted(merged["paths"].items()))
        return merged


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return "" if value is None else str(value)


# -- routing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CompiledRoute:
    route: Route
    segments: tuple[str, ...]

    def match(self, path: str) -> dict[str, str] | None:
        parts = path.split("/")[1:] if path.startswith("/") else path.split("/")
        params: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.startswith("{") and segment.endswith("+}"):
                rest = parts[index:]
                if not rest or not any(rest):
                    return None
                params[segment[1:-2]] = "/".join(rest)
                return params
            if index >= len(parts):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                if not parts[index]:
                    return None
                params[segment[1:-1]] = parts[index]
            elif segment != parts[index]:
                return None
        return params if len(parts) == len(self.segments) else None

    def specificity(self, method: str) -> tuple[Any, ...]:
        scores = tuple(0 if s.endswith("+}") else 1 if s.startswith("{") else 2 for s in self.segments)
        return (not any(s.endswith("+}") for s in self.segments), scores, self.route.method == method)


class Router:
    """Matches requests to routes the way HTTP API does: the most specific route wins.

    Literal segments beat ``{param}`` segments, which beat a greedy ``{proxy+}``; an exact method
    beats ``ANY``; ``$default`` catches what nothing else does. A path that matches only with another
    method is a 404, not a 405, as on HTTP API.
    """

    def __init__(self, routes: Iterable[Route]) -> None:
        self.default: Route | None = None
        self.routes: list[_CompiledRoute] = []
        for route in routes:
            if route.path == "$default":
                self.default = route
            else:
                self.routes.append(_CompiledRoute(route, tuple(route.path.strip("/").split("/"))))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route for ``method path`` and its path parameters, or ``None``."""
        method = method.upper()
        best: tuple[tuple[Any, ...], Route, dict[str, str]] | None = None
        for compiled in self.routes:
            if compiled.route.method not in (method, "ANY"):
                continue
            params = compiled.match(path)
            if params is None:
                continue
            rank = compiled.specificity(method)
            if best is None or rank > best[0]:
                best = (rank, compiled.route, params)
        if best is not None:
            return best[1], best[2]
        if self.default is not None:
            return self.default, {}
        return None


# -- responses -----------------------------------------------------------------------------------


def lambda_result_to_response(result: Any) -> Response:
    """Turn a handler's return value into the HTTP response HTTP API (payload 2.0) would send.

    A dict with ``statusCode`` is a full response (``headers``, ``multiValueHeaders``, ``cookies``,
    ``body``, ``isBase64Encoded``). Anything else that is JSON is, per the 2.0 format, a 200 with
    ``content-type: application/json`` and the value itself as the body.
    """
    if not isinstance(result, dict) or "statusCode" not in result:
        text = result if isinstance(result, str) else json.dumps(result)
        return Response(text, status=200, content_type="application/json")
    status = int(result["statusCode"])
    raw_body = result.get("body")
    body: bytes
    if raw_body is None:
        body = b""
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(raw_body)
    else:
        body = str(raw_body).encode("utf-8")
    response = Response(body, status=status)
    response.headers.remove("Content-Type")
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        response.headers.remove(name)
        for value in values or []:
            response.headers.add(name, str(value))
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", str(cookie))
    if "content-type" not in {k.lower() for k in response.headers.keys()} and body:  # noqa: SIM118
        response.headers["Content-Type"] = "application/json"
    return response


# -- the authorizer's cache -------------------------------------------------------------------------


class AuthorizerCache:
    """API Gateway's cache of a Lambda authorizer's answers: keyed by the authorizer and its identity source values,
    each kept ``ttl`` seconds of the STACK clock. Moving the clock on expires entries as time would; moving it back
    before an entry was stored drops that entry (an answer from a future the clock left is not reused)."""

    _PRUNE_AT = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, tuple[str, ...]], tuple[datetime, datetime, dict[str, Any]]] = {}

    def get(self, key: tuple[str, tuple[str, ...]], now: datetime) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored, expires, answer = entry
            if stored <= now < expires:
                return answer
            del self._entries[key]
            return None

    def clear(self) -> None:
        """Forget every answer (the bench measures the authorizer's uncached path with it)."""
        with self._lock:
            self._entries.clear()

    def put(self, key: tuple[str, tuple[str, ...]], answer: dict[str, Any], now: datetime, ttl: int) -> None:
        if ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self._PRUNE_AT:
                self._entries = {k: e for k, e in self._entries.items() if e[0] <= now < e[1]}
            self._entries[key] = (now, now + timedelta(seconds=ttl), answer)


# -- the WSGI application --------------------------------------------------------------------------


class Gateway:
    """The WSGI application serving the whole local API on one port."""

    def __init__(
        self,
        template: Template,
        host: FunctionHost,
        auth: LocalAuth,
        now: Callable[[], Any],
        *,
        controls: Callable[[Request], Response | None] | None = None,
        portal_dir: Path | None = None,
        api_url: str | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.template = template
        self.host = host
        self.auth = auth
        self.now = now
        self.controls = controls
        self.portal_dir = portal_dir
        self.api_url = api_url
        self.log = log
        self.router = Router(template.routes)
        _, self.authorizers = template.authorizers()
        self.authorizer_cache = AuthorizerCache()
        self._openapi: dict[str, Any] | None = None
        self.cors = self._cors_config()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        started = time.monotonic()
        try:
            response = self.dispatch(request)
        except HTTPException as exc:
            response = json_response(exc.code or 500, {"message": exc.description})
        except Exception:  # the gateway itself must keep serving
            traceback.print_exc()
            response = json_response(500, {"message": "Internal Server Error"})
        if environ.get("local.request_id"):
            response.headers.setdefault("apigw-requestid", environ["local.request_id"])
        if self.log is not None:
            elapsed = (time.monotonic() - started) * 1000
            self.log(f"{request.method} {request.full_path.rstrip('?')} {response.status_code} {elapsed:.0f}ms")
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        """Route one request (see the module docstring for the order)."""
        path = request.path
        if path == "/_local" or path.startswith("/_local/"):
            response = self.controls(request) if self.controls is not None else None
            return response or json_response(404, {"message": "Not Found"})
        if path == OPENAPI_PATH and request.method in ("GET", "HEAD"):
            if self._openapi is None:
                self._openapi = self.host.openapi(self.api_url)
            return json_response(200, self._openapi)
        if self.cors and request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            return self._preflight(request)
        matched = self.router.match(request.method, path)
        if matched is not None:
            response = self.invoke_route(request, *matched)
            self._add_cors(request, response)
            return response
        if request.method in ("GET", "HEAD") and self.portal_dir is not None:
            static = self.static(path)
            if static is not None:
                return static
        return json_response(404, {"message": "Not Found"})

    def invoke_route(self, request: Request, route: Route, path_parameters: dict[str, str]) -> Response:
        """Authorize, build the 2.0 event, invoke the function, and convert its result."""
        now = self.now()
        incoming = HttpRequest(
            method=request.method,
            path=request.path,
            raw_query=request.query_string.decode("latin-1"),
            headers=list(request.headers.items()),
            body=request.get_data(cache=False),
            source_ip=request.remote_addr or "127.0.0.1",
            host=request.host,
            protocol=request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
        )
        authorized: dict[str, Any] | None = None
        if route.authorized:
            outcome = self.authorize(request, incoming, route, path_parameters, now)
            if isinstance(outcome, Response):
                return outcome
            authorized = outcome
        event = http_event(
            incoming, route_key=route.route_key, path_parameters=path_parameters, authorizer=authorized, now=now
        )
        request.environ["local.request_id"] = event["requestContext"]["requestId"]
        try:
            result = self.host.invoke(route.function_id, event)
        except FunctionError:
            return json_response(500, {"message": "Internal Server Error"})
        try:
            return lambda_result_to_response(result)
        except Exception:  # a malformed integration response is a 500 on AWS too
            traceback.print_exc()
            return json_response(500, {"message": "Internal Server Error"})

    def authorize(
        self, request: Request, incoming: HttpRequest, route: Route, path_parameters: dict[str, str], now: datetime
    ) -> dict[str, Any] | Response:
        """The event's ``requestContext.authorizer`` for a request on an authorized route, or the gateway's own
        refusal: 401 without the identity sources, and for a Lambda authorizer 403 on ``isAuthorized: false``, 500
        when it fails or answers nonsense (HTTP API answers so; none of them is cached)."""
        authorizer = self.authorizers.get(route.authorizer or "") or TemplateAuthorizer(name="(default)")
        values = tuple(request.headers.get(header) or "" for header in authorizer.headers)
        if not values or not all(value.strip() for value in values):
            return json_response(401, {"message": "Unauthorized"})
        if authorizer.kind == "jwt":
            try:
                claims = render_claims(self.auth.verify(values[0], now))
            except AuthError as exc:
                challenge = f'Bearer scope="" error="invalid_token" error_description="{exc.description}"'
                return json_response(401, {"message": "Unauthorized"}, {"www-authenticate": challenge})
            return {"jwt": {"claims": claims, "scopes": None}}
        key = (authorizer.name, values)
        answer = self.authorizer_cache.get(key, now)
        if answer is None:
            event = authorizer_event(
                incoming, route_key=route.route_key, path_parameters=path_parameters, identity=values, now=now
            )
            try:
                answer = self.host.invoke(str(authorizer.function_id), event)
            except FunctionError:
                return json_response(500, {"message": "Internal Server Error"})
            if not isinstance(answer, dict) or not isinstance(answer.get("isAuthorized"), bool):
                print(f"local: {authorizer.function_id} answered no simple response: {answer!r}", file=sys.stderr)
                return json_response(500, {"message": "Internal Server Error"})
            self.authorizer_cache.put(key, answer, now, authorizer.ttl_seconds)
        if not answer["isAuthorized"]:
            return json_response(403, {"message": "Forbidden"})
        return {"lambda": dict(answer.get("context") or {})}

    def static(self, path: str) -> Response | None:
        """A file from the portal directory, or ``None`` when there is none at ``path``."""
        assert self.portal_dir is not None
        relative = "index.html" if path in ("", "/") else path.lstrip("/")
        target = safe_join(str(self.portal_dir), relative)
        if target is None:
            return None
        file = Path(target)
        if file.is_dir():
            file = file / "index.html"
        if not file.is_file():
            return None
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
            content_type += "; charset=utf-8"
        return Response(file.read_bytes(), status=200, content_type=content_type, headers={"Cache-Control": "no-cache"})

    # -- CORS, as HttpApi's CorsConfiguration makes API Gateway answer -------------------------------

    def _cors_config(self) -> dict[str, Any] | None:
        for resource in self.template.of_type("AWS::Serverless::HttpApi").values():
            config = (resource.get("Properties") or {}).get("CorsConfiguration")
            if config:
                if config is True:
                    return {"AllowOrigins": ["*"], "AllowMethods": ["*"], "AllowHeaders": ["*"]}
                return dict(self.host.resolver.resolve(config))
        return None

    def _origin_allowed(self, origin: str | None) -> str | None:
        if not origin or not self.cors:
            return None
        allowed = self.cors.get("AllowOrigins") or []
        if "*" in allowed:
            return "*"
        return origin if origin in allowed else None

    def _preflight(self, request: Request) -> Response:
        response = Response(status=204)
        origin = self._origin_allowed(request.headers.get("Origin"))
        if origin is not None and self.cors is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            methods = self.cors.get("AllowMethods") or ["*"]
            headers = self.cors.get("AllowHeaders") or []
            response.headers["Access-Control-Allow-Methods"] = ",".join(methods)
            if headers:
                response.headers["Access-Control-Allow-Headers"] = ",".join(headers)
            if self.cors.get("MaxAge") is not None:
                response.headers["Access-Control-Max-Age"] = str(self.cors["MaxAge"])
            if self.cors.get("AllowCredentials"):
                response.headers["Access-Control-Allow-Credentials"] = "true"
        return response

    def _add_cors(self, request: Request, response: Response) -> None:
        origin = self._origin_allowed(request.headers.get("Origin"))
        if origin is not None and self.cors is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            exposed = self.cors.get("ExposeHeaders") or []
            if exposed:
                response.headers["Access-Control-Expose-Headers"] = ",".join(exposed)
            if self.cors.get("AllowCredentials"):
                response.headers["Access-Control-Allow-Credentials"] = "true"
