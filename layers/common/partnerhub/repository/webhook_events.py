"""Webhook dedupe: each Stripe event processed to completion at most once, by Powertools idempotency.

The idempotency key is the event id; the records live in the single table under ``STRIPE_EVENT`` with the
sort key :func:`keys.stripe_event_sk` and hold Powertools' ``status`` (``INPROGRESS`` / ``COMPLETED``), the
outcome (``data``), the in-progress expiry and ``ttl``. What Powertools does for us:

- a second delivery while the first is processing finds ``INPROGRESS`` and is refused (409, Stripe retries);
- the in-progress record expires with the Lambda's remaining time, so a delivery whose Lambda died is taken
  over by the next one once that Lambda's timeout has passed;
- a failure deletes the record, so Stripe's retry processes the event afresh;
- a completed event is answered from the record for ``retention_days`` (Stripe retries for three days).

Powertools times the records with the wall clock, not the injected clock: they are about storage lifetime,
never about a business rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency.config import IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.idempotency.idempotency import idempotent_function
from aws_lambda_powertools.utilities.idempotency.persistence.dynamodb import DynamoDBPersistenceLayer

from partnerhub.errors import Conflict
from partnerhub.repository import keys
from partnerhub.repository.dynamo import default_client

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Outcome = dict[str, Any]


class StripeEventDedupe:
    """Runs an event's processing once per event id; duplicates get the first outcome back."""

    def __init__(self, table_name: str, *, retention_days: int = 30, client: DynamoDBClient | None = None) -> None:
        self.persistence = DynamoDBPersistenceLayer(
            table_name=table_name,
            key_attr="PK",
            sort_key_attr="SK",
            static_pk_value=keys.STRIPE_EVENTS,
            expiry_attr="ttl",
            boto3_client=client or default_client(),
        )
        self.config = IdempotencyConfig(
            event_key_jmespath="event_id",
            expires_after_seconds=retention_days * 86400,
            raise_on_no_idempotency_key=True,
        )
        self._once = idempotent_function(
            data_keyword_argument="event",
            config=self.config,
            persistence_store=self.persistence,
            key_prefix=keys.STRIPE_EVENT_KEY_PREFIX,
        )(_process)

    def process(
        self, event_id: str, event_type: str, handle: Callable[[], Outcome], context: Any
    ) -> tuple[Outcome, bool]:
        """``handle()``'s outcome and ``False``, or the stored outcome and ``True`` for a duplicate.

        Raises :class:`Conflict` (409 ``event_in_progress``) while another delivery processes the event.
        """
        ran: list[bool] = []

        def run() -> Outcome:
            ran.append(True)
            return handle()

        self.config.register_lambda_context(context)
        try:
            outcome = self._once(event={"event_id": event_id, "event_type": event_type}, command=run)
        except IdempotencyAlreadyInProgressError as error:
            raise Conflict("this event is being processed by another delivery", code="event_in_progress") from error
        return outcome, not ran


def _process(event: dict[str, str], command: Callable[[], Outcome]) -> Outcome:
    return command()
