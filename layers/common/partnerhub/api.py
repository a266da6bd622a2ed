"""What every HTTP function shares: the resolver, the one place errors become responses, the caller, the API key
scope each route declares (:meth:`ApiResolver.key_scope`), and idempotency declared on each mutating route
(:meth:`ApiResolver.idempotent`)."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

from aws_lambda_powertools.event_handler.api_gateway import APIGatewayHttpResolver, Response, Route
from aws_lambda_powertools.event_handler.content_types import APPLICATION_JSON
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from botocore.exceptions import ClientError
from pydantic import BaseModel

from partnerhub import openapi
from partnerhub.body import raw_bytes, read_body
from partnerhub.domain import actors
from partnerhub.domain.audit import AuditEntry
from partnerhub.domain.models import PARTNER_ID
from partnerhub.errors import DomainError, Forbidden, Unauthorized, ValidationFailed
from partnerhub.identity import API_KEY, OPERATORS, REFUSED, TOTP, Identity
from partnerhub.observability import logger
from partnerhub.repository.dynamo import THROTTLING, error_code
from partnerhub.schemas.types import CURSOR_MAX, CURSOR_PATTERN

if TYPE_CHECKING:
    from datetime import datetime

    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from partnerhub.domain.api_keys import Scope
    from partnerhub.repository.idempotency import Once

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_RECEIPT = "receipt_id"
_KEY_SCOPE = "__partnerhub_key_scope__"
RouteFunction = TypeVar("RouteFunction", bound=Callable[..., Any])


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return Response(status, APPLICATION_JSON, json.dumps(body), headers=headers)


def json_response(status: int, payload: Any) -> Response[str]:
    body = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
    return Response(status, APPLICATION_JSON, json.dumps(body))


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object"}},
            },
        }
    },
}
"""The body of every error answer, as the OpenAPI document describes it."""

ERROR_RESPONSES: dict[int, str] = {
    400: "Malformed request: the body is empty, not UTF-8, not JSON, or not a JSON object",
    401: "No credential, or an invalid, expired or revoked token or API key, or one that names no partner",
    402: "Payment method required, or a past-due invoice",
    403: "Not an operator, an operator without TOTP MFA (`mfa_required`), or `insufficient_scope`: an API key "
    "without the scope this operation needs",
    404: "Not found (also another partner's object)",
    409: "State conflict, or the same Idempotency-Key still running",
    415: "The body is not sent as application/json in UTF-8",
    422: "Validation failed: details name the field and why",
    503: "A dependency is busy: retry after Retry-After seconds",
}
"""The answers any route may give besides its success, all in the project's error shape."""


def success(status: int, model: type[BaseModel], description: str = "Successful Response") -> dict[int, Any]:
    """``responses=`` for a route that returns a ``Response`` built by hand, so the document shows its real body."""
    return {status: {"description": description, "content": {APPLICATION_JSON: {"model": model}}}}


class _ReadBodyFirst(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, preceded by the caller gate (:meth:`ApiResolver.admit`) and the one body
    gate of ``partnerhub.body``.

    It runs first on every route, before parameters are validated and before the route does any work: a refused
    credential is 401 and an API key outside its scopes 403 whatever the request holds; then a route that reads a
    body gets the parsed object, and a route that reads none still refuses a body it cannot read (instead of
    ignoring bytes that may mean something to the sender).
    """

    def handler(self, app: Any, next_middleware: NextMiddleware) -> Any:
        app.admit()
        event = app.current_event
        body_params = app.context["_route"].dependant.body_params
        required = any(param.required for param in body_params)
        data = raw_bytes(event.body, bool(event.is_base64_encoded))
        app.context["_json_body"] = read_body(event.headers.get("content-type"), data, required=required)
        return super().handler(app, next_middleware)

    def _get_body(self, app: Any) -> dict[str, Any]:
        return app.context.get("_json_body") or {}


class ApiResolver(APIGatewayHttpResolver):
    """Powertools' HTTP API resolver that reads bodies strictly, declares idempotency on mutating routes
    (:meth:`idempotent`), and whose OpenAPI document tells the whole truth: every route's error answers, the
    security scheme, links between operations (``partnerhub.openapi``).

    It keeps the request it is resolving on itself. Powertools keeps it on its ``BaseRouter`` class, shared by
    every resolver of the process: right on Lambda (one request at a time), wrong where one process serves
    several functions' requests on threads (the local stack, the in-process tests), where a request could
    otherwise read another's event, and with it another partner's identity."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._event: APIGatewayProxyEventV2 | None = None
        self._context: LambdaContext | None = None
        if self._enable_validation:
            self._request_validation_middleware = _ReadBodyFirst()  # type: ignore[no-untyped-call]

    @property  # type: ignore[override]
    def current_event(self) -> APIGatewayProxyEventV2:
        assert self._event is not None, "no request is being resolved"
        return self._event

    @current_event.setter
    def current_event(self, event: APIGatewayProxyEventV2) -> None:
        self._event = event

    @property
    def lambda_context(self) -> LambdaContext:
        assert self._context is not None, "no request is being resolved"
        return self._context

    @lambda_context.setter
    def lambda_context(self, context: LambdaContext) -> None:
        self._context = context

    def resolve(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # type: ignore[override]
        self._event = cast("APIGatewayProxyEventV2", self._to_proxy_event(event))
        self._context = context
        try:
            return super().resolve(event, context)
        finally:
            self._event = self._context = None

    def key_scope(self, scope: Scope) -> Callable[[RouteFunction], RouteFunction]:
        """Declare that an API key holding ``scope`` may call this route (put it right under the route's decorator).

        A route that declares none is for signed-in people only: an API key calling it is 403 ``insufficient_scope``,
        so a new route is closed to keys until it says otherwise. Operators' routes, key management and webhook
        endpoint management declare none."""

        def declare(route: RouteFunction) -> RouteFunction:
            setattr(route, _KEY_SCOPE, scope)
            return route

        return declare

    def route_scopes(self) -> dict[tuple[str, str], Scope | None]:
        """Every route of this resolver, ``(METHOD, /path/{param})``, with the scope it declares (None: people only)."""
        return {
            (route.method.upper(), route.openapi_path): declared_scope(route.func)
            for route in self._static_routes + self._dynamic_routes
        }

    def admit(self) -> None:
        """The caller gate, before anything a route does: a credential the authorizer refused (or one expired by
        the request's own time) is 401, and an API key on a route that does not declare one of its scopes is 403
        ``insufficient_scope``. A route without the authorizer (Stripe's webhook) has no caller to check."""
        authorizer = self.current_event.request_context.authorizer
        if not authorizer or not authorizer.get_lambda:
            return
        caller = caller_of(self)
        if caller.key_scopes is None:
            return
        route: Route = self.context["_route"]
        if route not in self._static_routes + self._dynamic_routes:
            return  # no route matched: the not-found answer, whoever asks
        needed = declared_scope(route.func)
        if needed is None:
            raise Forbidden(
                "API keys cannot call this operation; sign in as a person",
                code="insufficient_scope",
                details=[{"required_scope": None, "key_scopes": sorted(caller.key_scopes)}],
            )
        if needed not in caller.key_scopes:
            raise Forbidden(
                f"this API key lacks the scope {needed!r}",
                code="insufficient_scope",
                details=[{"required_scope": needed, "key_scopes": sorted(caller.key_scopes)}],
            )

    def idempotent(
        self, *, operator: bool = False, shown_once: tuple[str, ...] = ()
    ) -> Callable[[RouteFunction], RouteFunction]:
        """Declare a mutating route: under an ``Idempotency-Key`` it runs at most once per caller, route and key,
        and a retry answers the first answer again; the same key with another request is 422
        ``idempotency_key_reused``. The route reads its receipt id with :meth:`receipt_id` (random without a key).

        The caller is the token's partner, or with ``operator=True`` the operator. The request compared on reuse
        is every argument of the route (path, query, body as sent), and the route key its method and path
        template, so a route's declaration cannot disagree with itself. Refusals are never stored.

        ``shown_once`` names fields of the answer that exist only in the first answer (an API key's secret): they are
        never stored, and a replay answers them as null."""

        def declare(route: RouteFunction) -> RouteFunction:
            @functools.wraps(route)
            def once(**arguments: Any) -> Any:
                key = self.current_event.headers.get("idempotency-key")
                if key is None:
                    self.context[_RECEIPT] = secrets.token_hex(16)
                    return route(**arguments)
                if not _IDEMPOTENCY_KEY.match(key):
                    raise ValidationFailed(
                        "invalid Idempotency-Key",
                        details=[
                            {"field": "Idempotency-Key", "in": "header", "reason": "1..255 printable ASCII characters"}
                        ],
                    )
                caller = caller_of(self)
                if operator and caller.is_operator:
                    caller.require_operator()  # an operator without MFA replays nothing either (403 mfa_required)
                scope = actors.operator(caller.subject) if operator else caller.partner()
                declared: Route = self.context["_route"]
                route_key = f"{declared.method} {declared.openapi_path}"
                self.context[_RECEIPT] = hashlib.sha256(f"{scope}\n{route_key}\n{key}".encode()).hexdigest()[:32]
                request = {"scope": scope, "route": route_key, "key": key, "body": _jsonable(arguments)}
                requests: Once = self.context["idempotency"]
                first: list[Any] = []

                def run_once() -> dict[str, Any]:
                    answer = _answer(route(**arguments))
                    first.append(answer)
                    return {"body": _without(answer, shown_once)}

                stored, _ = requests.run(request, run_once, self.lambda_context)
                if declared.status_code == 204:
                    return Response(204, body="")  # no body, replayed or not
                return Response(declared.status_code, APPLICATION_JSON, first[0] if first else stored["body"])

            return cast(RouteFunction, once)

        return declare

    def receipt_id(self) -> str:
        """The receipt of the request an :meth:`idempotent` route is running: a hash of its Idempotency-Key, so a
        retry gets the same one (issue orders, Stripe's idempotency keys, audit entries are made from it)."""
        return str(self.context[_RECEIPT])

    def get_openapi_schema(self, **kwargs: Any) -> Any:
        for route in self._static_routes + self._dynamic_routes:
            responses = dict(route.responses or {})
            if not any(200 <= int(code) < 300 for code in responses):
                responses[route.status_code] = {"description": route.response_description or "Successful Response"}
            for code, description in ERROR_RESPONSES.items():
                responses.setdefault(
                    code,
                    {"description": description, "content": {APPLICATION_JSON: {"schema": ERROR_SCHEMA}}},
                )
            route.responses = responses
        return super().get_openapi_schema(**kwargs)

    def get_openapi_json_schema(self, **kwargs: Any) -> str:
        document = json.loads(super().get_openapi_json_schema(**kwargs))
        return json.dumps(openapi.finish(document, self.route_scopes()), indent=2)


def create_app() -> ApiResolver:
    """A resolver with request validation and the project's error shape on every failure."""
    app = ApiResolver(enable_validation=True)

    @app.exception_handler(DomainError)
    def domain_error(error: DomainError) -> Response[str]:
        headers = {"Retry-After": str(error.retry_after)} if hasattr(error, "retry_after") else None
        if error.status >= 500:
            logger.warning("dependency unavailable", extra={"code": error.code})
        return error_response(error.status, error.code, error.message, error.details, headers)

    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response[str]:
        problems = list(error.errors())
        if any(p.get("type") == "json_invalid" for p in problems):
            return error_response(400, "malformed_request", "the request body is not valid JSON")
        value_params = [p for p in problems if p.get("loc", ("",))[0] == "path" and p["loc"][-1] in _PATH_VALUES]
        if problems and not value_params and all(p.get("loc", ("",))[0] == "path" for p in problems):
            # An id that cannot name anything (the document publishes each id's pattern) is simply not found,
            # with the code an unknown id of that kind gets: license_key -> license_not_found.
            name = str(problems[0]["loc"][-1]) if len(problems[0].get("loc", ())) > 1 else "resource"
            kind = re.sub(r"_(id|key)$", "", name)
            return error_response(404, f"{kind}_not_found", f"no such {kind.replace('_', ' ')}")
        details = [
            {
                "field": ".".join(str(part) for part in p.get("loc", ())[1:]) or "body",
                "in": str(p.get("loc", ("body",))[0]),
                "reason": _reason(p),
            }
            for p in problems
        ]
        return error_response(422, "validation_error", "the request is invalid", details)

    @app.not_found
    def no_route(_: NotFoundError) -> Response[str]:
        # A path no route matches (e.g. an id with control characters): 404, not the catch-all 500 below.
        return error_response(404, "not_found", "no such resource")

    @app.exception_handler(UnicodeDecodeError)
    def undecodable(_: UnicodeDecodeError) -> Response[str]:
        return error_response(400, "malformed_request", "the request body is not UTF-8 text")

    @app.exception_handler(IdempotencyValidationError)
    def key_reused(_: IdempotencyValidationError) -> Response[str]:
        return error_response(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body",
            [{"field": "Idempotency-Key", "in": "header", "reason": "reused with another body"}],
        )

    @app.exception_handler(IdempotencyAlreadyInProgressError)
    def in_progress(_: IdempotencyAlreadyInProgressError) -> Response[str]:
        return error_response(
            409,
            "idempotency_in_progress",
            "a request with this Idempotency-Key is still running; retry shortly",
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(IdempotencyPersistenceLayerError)
    def store_unavailable(_: IdempotencyPersistenceLayerError) -> Response[str]:
        return error_response(503, "service_unavailable", "retry shortly", headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response[str]:
        if isinstance(error, ClientError) and error_code(error) in THROTTLING:
            return error_response(503, "throttled", "the database is busy; retry shortly", headers={"Retry-After": "1"})
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "something went wrong on our side")

    return app


_PATH_VALUES = frozenset({"effective_from"})
"""Path parameters that are values, not ids: a malformed one is 422 naming it, not 404."""

_PATTERN_REASONS = {
    "license_key": "must look like <product slug>_<24 to 64 letters and digits>, e.g. jetpack-scan_AbC123...",
    "site_id": "1 to 64 letters, digits or . _ : - (no spaces)",
    "product": "a product slug: lower-case letters and digits joined by -",
    "effective_from": "a month's first day, YYYY-MM-01",
    "period": "a month, YYYY-MM",
    "tags": "use letters, digits, spaces and _ . - only (up to 40), not starting or ending with a space",
    "client": "no control characters (tabs, line breaks)",
}


def _reason(problem: Mapping[str, Any]) -> str:
    """A validation problem said for a person: a pattern by what it means, a bound by its number."""
    kind = problem.get("type")
    ctx = problem.get("ctx") or {}
    # The field is the last name in the location: ``("body", "tags", 1)`` is the second of ``tags``.
    field = next((str(part) for part in reversed(problem.get("loc", ())) if not isinstance(part, int)), "")
    if kind == "string_pattern_mismatch":
        return _PATTERN_REASONS.get(field, "has characters or a shape this field does not allow")
    if kind == "less_than_equal" and "le" in ctx:
        return f"must be at most {ctx['le']}"
    if kind == "greater_than_equal" and "ge" in ctx:
        return f"must be at least {ctx['ge']}"
    if kind == "missing":
        return "is required"
    return str(problem.get("msg", "invalid"))


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the authorizer verified it (``partnerhub.identity``); the partner id comes from nowhere
    else."""

    subject: str
    """The token's ``sub``, or the API key's id."""
    partner_id: str | None
    groups: frozenset[str]
    name: str | None = None
    """Who the token says the person is, for people to read (``email``, else ``cognito:username``/``username``)."""
    key_scopes: frozenset[str] | None = None
    """The scopes of the API key calling; None for a person (a person's token is not limited by scope)."""
    email: str | None = None
    amr: frozenset[str] = frozenset()
    """How the person signed in (the token's ``amr``), when the token says."""
    auth_time: int | None = None
    mfa: str | None = None
    """``totp`` when the authorizer found the operator's TOTP MFA enrolled (``partnerhub.identity``)."""

    @property
    def is_api_key(self) -> bool:
        return self.key_scopes is not None

    @property
    def is_operator(self) -> bool:
        return OPERATORS in self.groups

    def partner(self) -> str:
        if self.partner_id is None:
            raise Unauthorized("the token names no partner", code="no_partner")
        return self.partner_id

    def require_operator(self) -> None:
        """Operators' routes: the operators group, with TOTP MFA enrolled (the portal's Security page enrols it)."""
        if not self.is_operator:
            raise Forbidden("only operators may do this", code="not_an_operator")
        if self.mfa != TOTP:
            raise Forbidden(
                "operators must enrol an authenticator app (TOTP MFA) before using the console: open Security in "
                "the portal, enrol, then sign in again",
                code="mfa_required",
            )

    def audit_entry(
        self, receipt_id: str, at: datetime, action: str, target: str, summary: Mapping[str, Any]
    ) -> AuditEntry:
        """The audit log's entry for this operator's action; ``receipt_id`` is the action's receipt."""
        return AuditEntry(
            entry_id=receipt_id,
            at=at,
            actor=actors.operator(self.subject),
            actor_name=self.name,
            action=action,
            target=target,
            summary=summary,
        )

    @property
    def actor(self) -> str:
        """How a partner route records the caller: the person, or the API key; an operator route records the
        operator itself (:meth:`audit_entry`), whatever partner the operator's token names."""
        if self.is_api_key:
            return actors.api_key(self.subject)
        return (
            actors.operator(self.subject) if self.is_operator and self.partner_id is None else actors.user(self.subject)
        )


def caller_of(app: APIGatewayHttpResolver) -> Caller:
    """The caller of the request being resolved, from the authorizer's context: 401 for a credential the authorizer
    refused, or one whose expiry the request's time has reached (the authorizer's answer is cached; expiry is not)."""
    event = app.current_event
    authorizer = event.request_context.authorizer
    identity = Identity.from_context((authorizer.get_lambda if authorizer else None) or {})
    if identity.kind == REFUSED:
        raise Unauthorized(identity.reason or "no verified identity on the request")
    if not identity.subject:
        raise Unauthorized("no verified identity on the request")
    is_key = identity.kind == API_KEY
    if identity.expires_ms is not None and event.request_context.time_epoch >= identity.expires_ms:
        raise Unauthorized("the API key has expired" if is_key else "the token has expired")
    partner = identity.partner_id
    if partner is not None and not PARTNER_ID.match(partner):
        raise Unauthorized("the token's partner id is malformed", code="bad_partner_claim")
    name = identity.email or identity.username
    return Caller(
        subject=identity.subject,
        partner_id=partner,
        groups=frozenset(identity.groups) if not is_key else frozenset(),
        name=name[:200] if name else None,
        key_scopes=frozenset(identity.scopes) if is_key else None,
        email=identity.email,
        amr=frozenset(identity.amr),
        auth_time=identity.auth_time,
        mfa=identity.mfa,
    )


def declared_scope(route: Callable[..., Any]) -> Scope | None:
    """The API key scope a route function declares (:meth:`ApiResolver.key_scope`); None: people only."""
    return cast("Scope | None", getattr(route, _KEY_SCOPE, None))


def _jsonable(value: Any) -> Any:
    """A route's arguments as JSON has them: models as sent (``exclude_unset``: a field left out and a field sent
    as null are different requests), mappings and sequences item by item."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _answer(value: Any) -> Any:
    """A route's answer as it is stored for replays: a model with every field."""
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def _without(answer: Any, fields: tuple[str, ...]) -> Any:
    """``answer`` with ``fields`` set to null (what is stored of an answer whose fields are shown once)."""
    if not fields or not isinstance(answer, dict):
        return answer
    return {name: (None if name in fields else value) for name, value in answer.items()}


CursorQuery = Annotated[
    str | None,
    Query(
        pattern=CURSOR_PATTERN,
        max_length=CURSOR_MAX,
        description="The `next_cursor` of the previous page, with the same filters (any other value is 422)",
    ),
]
"""The ``cursor`` query parameter of every paginated list."""
