"""The HTTP API's authorizer: every route but Stripe's webhook asks it who is calling (``partnerhub.authorizer``).

A Cognito ID token or an API key in the ``Authorization`` header; the answer (who, or why not) is cached by API
Gateway for the authorizer's TTL (template.yaml, ``docs/security.md``). The local gateway runs this same function.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from partnerhub import clients
from partnerhub.authorizer import Authorizer
from partnerhub.clock import Clock, SystemClock
from partnerhub.cognito import CognitoMfa, CognitoTokens, UserPool
from partnerhub.composition import Function, authorizer_handler, entry_point
from partnerhub.repository.api_keys import DynamoCredentials
from partnerhub.settings import AuthorizerSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class Wiring:
    authorizer: Authorizer


def build(
    settings: AuthorizerSettings | None = None,
    *,
    clock: Clock | None = None,
    dynamodb: "DynamoDBClient | None" = None,
    user_pool: UserPool | None = None,
    cognito: Any = None,
) -> Function[Wiring]:
    """The composition root. ``user_pool`` is the pool whose tokens are accepted (the local stack passes its own);
    by default the one the settings name, its keys fetched on first need. ``cognito`` answers ``AdminGetUser`` for
    the operators' MFA (by default a ``cognito-idp`` client, which the local stack points at its own pool)."""
    settings = settings or AuthorizerSettings.from_env()
    dynamodb = dynamodb or clients.dynamodb()
    pool = user_pool or UserPool(settings.cognito_issuer, settings.cognito_audience)
    mfa = CognitoMfa(settings.cognito_user_pool_id, cognito or clients.cognito_idp())
    authorizer = Authorizer(
        CognitoTokens(pool), DynamoCredentials(settings.table_name, dynamodb), clock or SystemClock(), mfa
    )
    return Function(Wiring(authorizer), authorizer_handler(authorizer))


lambda_handler = entry_point(build)

__all__ = ["build", "lambda_handler"]
