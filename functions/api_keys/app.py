"""API keys: a signed-in person creates, lists and revokes the partner's keys (``domain/api_keys.py``).

Only people manage keys: no route here declares a key scope, so an API key calling them is 403.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, cast

from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from partnerhub import clients
from partnerhub.api import caller_of, create_app
from partnerhub.clock import Clock, SystemClock
from partnerhub.composition import Function, entry_point, http_handler
from partnerhub.domain.api_keys import MAX_ACTIVE_KEYS, Actor, ApiKeyService
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.repository.api_keys import DynamoApiKeyRepository
from partnerhub.repository.idempotency import api_requests
from partnerhub.schemas.api_keys import KEY_ID_PATTERN, ApiKeyCreated, ApiKeyList, ApiKeyOut, KeyCreateRequest
from partnerhub.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

app = create_app()


@dataclass(frozen=True)
class Wiring:
    keys: ApiKeyService
    clock: Clock


def build(
    settings: Settings | None = None, *, clock: Clock | None = None, dynamodb: "DynamoDBClient | None" = None
) -> Function[Wiring]:
    """The composition root: every client and service of this function, made once per execution environment."""
    settings = settings or Settings.from_env()
    dynamodb = dynamodb or clients.dynamodb()
    clock = clock or SystemClock()
    wiring = Wiring(keys=ApiKeyService(DynamoApiKeyRepository(settings.table_name, dynamodb), clock), clock=clock)
    idempotency = api_requests(settings.table_name, dynamodb, settings.idempotency_ttl_seconds)
    return Function(wiring, http_handler(app, wiring, idempotency))


def wired() -> Wiring:
    """The services of the request being resolved."""
    return cast(Wiring, app.context["wiring"])


KeyId = Annotated[str, Path(pattern=KEY_ID_PATTERN)]


@app.post(
    "/v1/api-keys",
    status_code=201,
    response_description="Created: the key's secret is in this answer, and nowhere else",
    description=f"Signed-in people only (an API key is 403). At most {MAX_ACTIVE_KEYS} active keys per partner: one "
    "more is 409 `api_key_limit` (details give the limit). `expires_at` must be in the future (422). Creating is "
    "written to the audit log. A replay with the same Idempotency-Key answers the same key with `secret` null.",
)
@app.idempotent(shown_once=("secret",))
@tracer.capture_method
def create_api_key(request: Annotated[KeyCreateRequest, Body()]) -> ApiKeyCreated:
    caller = caller_of(app)
    partner = caller.partner()
    key, secret = wired().keys.create(partner, request.to_domain(), Actor(caller.actor, caller.name), app.receipt_id())
    metrics.add_metric(name="ApiKeyCreated", unit=MetricUnit.Count, value=1)
    logger.info("API key created", extra={"partner_id": partner, "key_id": key.key_id, "scopes": list(key.scopes)})
    return ApiKeyCreated.created(key, wired().clock.now(), secret)


@app.get("/v1/api-keys", description="Signed-in people only (an API key is 403). Every key, newest first.")
def list_api_keys() -> ApiKeyList:
    wiring = wired()
    now = wiring.clock.now()
    return ApiKeyList(items=[ApiKeyOut.of(key, now) for key in wiring.keys.list(caller_of(app).partner())])


@app.delete(
    "/v1/api-keys/<key_id>",
    response_description="Revoked",
    description="Signed-in people only (an API key is 403). Revokes the key for good: it is refused (401) once the "
    "authorizer's cached answer for it expires, within 60 seconds. Revoking a revoked key answers it unchanged; "
    "another partner's key is 404 `api_key_not_found`. Revoking is written to the audit log.",
)
@app.idempotent()
@tracer.capture_method
def revoke_api_key(key_id: KeyId) -> ApiKeyOut:
    caller = caller_of(app)
    partner = caller.partner()
    key, revoked = wired().keys.revoke(partner, key_id, Actor(caller.actor, caller.name), app.receipt_id())
    if revoked:
        metrics.add_metric(name="ApiKeyRevoked", unit=MetricUnit.Count, value=1)
        logger.info("API key revoked", extra={"partner_id": partner, "key_id": key.key_id})
    return ApiKeyOut.of(key, wired().clock.now())


lambda_handler = entry_point(build)

__all__ = ["app", "build", "lambda_handler"]
