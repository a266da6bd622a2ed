"""What every HTTP function shares: the resolver, the one place errors become responses, the caller, and
idempotency declared on each mutating route (:meth:`ApiResolver.idempotent`)."""

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
from partnerhub.observability import logger
from partnerhub.repository.dynamo import THROTTLING, error_code
from partnerhub.schemas.types import CURSOR_MAX, CURSOR_PATTERN

if TYPE_CHECKING:
    from datetime import datetime

    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from partnerhub.repository.idempotency import Once

OPERATORS = "operators"
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_RECEIPT = "receipt_id"
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
    401: "No identity, or the token names no partner",
    402: "Payment method required, or a past-due invoice",
    403: "Not an operator",
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
    """Powertools' request validation, preceded by the one body gate of ``partnerhub.body``.

    It runs first on every route, before parameters are validated and before the route does any work:
    a route that reads a body gets the parsed object; a route that reads none still refuses a body it
    cannot read (instead of ignoring bytes that may mean something to the sender).
    """

    def handler(self, app: Any, next_middleware: NextMiddleware) -> Any:
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

    def idempotent(self, *, operator: bool = False) -> Callable[[RouteFunction], RouteFunction]:
        """Declare a mutating route: under an ``Idempotency-Key`` it runs at most once per caller, route and key,
        and a retry answers the first answer again; the same key with another request is 422
        ``idempotency_key_reused``. The route reads its receipt id with :meth:`receipt_id` (random without a key).

        The caller is the token's partner, or with ``operator=True`` the operator. The request compared on reuse
        is every argument of the route (path, query, body as sent), and the route key its method and path
        template, so a route's declaration cannot disagree with itself. Refusals are never stored."""

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
                scope = actors.operator(caller.subject) if operator else caller.partner()
                declared: Route = self.context["_route"]
                route_key = f"{declared.method} {declared.openapi_path}"
                self.context[_RECEIPT] = hashlib.sha256(f"{scope}\n{route_key}\n{key}".encode()).hexdigest()[:32]
                request = {"scope": scope, "route": route_key, "key": key, "body": _jsonable(arguments)}
                requests: Once = self.context["idempotency"]
                stored, _ = requests.run(request, lambda: {"body": _answer(route(**arguments))}, self.lambda_context)
                if declared.status_code == 204:
                    return Response(204, body="")  # no body, replayed or not
                return Response(declared.status_code, APPLICATION_JSON, stored["body"])

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
        return json.dumps(openapi.finish(document), indent=2)


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
    """Who is calling, from the JWT claims the authorizer verified. The partner id comes from nowhere else."""

    subject: str
    partner_id: str | None
    groups: frozenset[str]
    name: str | None = None
    """Who the token says the person is, for people to read (``email``, else ``cognito:username``/``username``)."""

    @property
    def is_operator(self) -> bool:
        return OPERATORS in self.groups

    def partner(self) -> str:
        if self.partner_id is None:
            raise Unauthorized("the token names no partner", code="no_partner")
        return self.partner_id

    def require_operator(self) -> None:
        if not self.is_operator:
            raise Forbidden("only operators may do this", code="not_an_operator")

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
        """How a partner route records the caller; an operator route records the operator itself
        (:meth:`audit_entry`), whatever partner the operator's token names."""
        return (
            actors.operator(self.subject) if self.is_operator and self.partner_id is None else actors.user(self.subject)
        )


def caller_of(app: APIGatewayHttpResolver) -> Caller:
    authorizer = app.current_event.request_context.authorizer
    claims: dict[str, Any] = (authorizer.jwt_claim if authorizer else None) or {}
    subject = str(claims.get("sub") or "")
    if not subject:
        raise Unauthorized("no verified identity on the request")
    partner = claims.get("custom:partner_id")
    if partner is not None and not PARTNER_ID.match(str(partner)):
        raise Unauthorized("the token's partner id is malformed", code="bad_partner_claim")
    name = next((str(claims[c]) for c in ("email", "cognito:username", "username") if claims.get(c)), None)
    return Caller(
        subject=subject,
        partner_id=str(partner) if partner else None,
        groups=_groups(claims.get("cognito:groups")),
        name=name[:200] if name else None,
    )


def _groups(raw: Any) -> frozenset[str]:
    """HTTP API hands array claims over as a string such as ``[operators admins]``; accept a list too."""
    if raw is None:
        return frozenset()
    if isinstance(raw, list):
        return frozenset(str(g) for g in raw)
    text = str(raw).strip()
    if text.startswith("["):
        text = text.strip("[]")
        try:
            parsed = json.loads(f"[{text}]")
            return frozenset(str(g) for g in parsed)
        except ValueError:
            pass
    return frozenset(part for part in re.split(r"[\s,]+", text) if part)


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


CursorQuery = Annotated[
    str | None,
    Query(
        pattern=CURSOR_PATTERN,
        max_length=CURSOR_MAX,
        description="The `next_cursor` of the previous page, with the same filters (any other value is 422)",
    ),
]
"""The ``cursor`` query parameter of every paginated list."""
