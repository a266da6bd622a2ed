"""At most once, by Powertools idempotency, with its records in the single table: the one wrapper the project has.

Two kinds of work use it: a mutating API route under an ``Idempotency-Key`` (``partnerhub.api``: the key is
(caller, route, key), the request body the payload checked on reuse) and a Stripe event delivered by a webhook
(``functions/webhooks``: the key is the event id). What Powertools does for both:

- a second run while the first is running finds ``INPROGRESS`` and is refused
  (:class:`~aws_lambda_powertools.utilities.idempotency.exceptions.IdempotencyAlreadyInProgressError`);
- the in-progress record expires with the Lambda's remaining time, so work whose Lambda died is taken over by the
  next try once that Lambda's timeout has passed;
- a failure deletes the record, so a retry runs afresh (nothing refused is remembered);
- a completed run is answered from its record until ``ttl_seconds`` have passed.

Powertools times the records with the wall clock, not the injected clock: they are about storage lifetime, never
about a business rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency.config import IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.idempotency import idempotent_function
from aws_lambda_powertools.utilities.idempotency.persistence.dynamodb import DynamoDBPersistenceLayer

from partnerhub.repository import keys

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Outcome = dict[str, Any]


class Once:
    """Runs a command at most once per key; later runs get the first outcome back.

    ``partition`` is the records' ``PK``; ``key_path`` (JMESPath over the data) names the key, ``payload_path``
    the part that must match on reuse (a mismatch is Powertools' ``IdempotencyValidationError``); ``key_prefix``
    starts each record's ``SK`` (``repository.keys`` spells the ones looked up by key)."""

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient,
        *,
        partition: str,
        key_path: str,
        ttl_seconds: int,
        payload_path: str = "",
        key_prefix: str | None = None,
    ) -> None:
        self.config = IdempotencyConfig(
            event_key_jmespath=key_path,
            payload_validation_jmespath=payload_path or "",
            expires_after_seconds=ttl_seconds,
            raise_on_no_idempotency_key=True,
        )
        persistence = DynamoDBPersistenceLayer(
            table_name=table_name,
            key_attr="PK",
            sort_key_attr="SK",
            static_pk_value=partition,
            expiry_attr="ttl",
            boto3_client=client,
        )
        self._once = idempotent_function(
            data_keyword_argument="data", config=self.config, persistence_store=persistence, key_prefix=key_prefix
        )(_run)

    def run(self, data: Mapping[str, Any], command: Callable[[], Outcome], context: Any = None) -> tuple[Outcome, bool]:
        """``command()``'s outcome and ``False``, or the stored outcome of the first run and ``True``.

        ``context`` is the Lambda context: an in-progress record expires with its remaining time."""
        ran: list[bool] = []

        def first() -> Outcome:
            ran.append(True)
            return command()

        if context is not None:
            self.config.register_lambda_context(context)
        outcome: Outcome = self._once(data=dict(data), command=first)
        return outcome, not ran


def _run(data: dict[str, Any], command: Callable[[], Outcome]) -> Outcome:
    return command()


def api_requests(table_name: str, client: DynamoDBClient, ttl_seconds: int) -> Once:
    """Mutating API routes: once per (caller, route, ``Idempotency-Key``); the body must match on reuse."""
    return Once(
        table_name,
        client,
        partition=keys.IDEMPOTENCY,
        key_path="[scope, route, key]",
        payload_path="body",
        ttl_seconds=ttl_seconds,
        key_prefix=keys.API_REQUEST_KEY_PREFIX,
    )


def stripe_events(table_name: str, client: DynamoDBClient, retention_days: int) -> Once:
    """Stripe events: once per event id, remembered ``retention_days`` (Stripe retries for three days)."""
    return Once(
        table_name,
        client,
        partition=keys.STRIPE_EVENTS,
        key_path="event_id",
        ttl_seconds=retention_days * 86400,
        key_prefix=keys.STRIPE_EVENT_KEY_PREFIX,
    )
