"""Configuration: one frozen dataclass per kind of function, read from its environment by its composition root.

``Settings.from_env()`` validates the environment as pydantic validates a dataclass (lax mode: a whole number
given as text becomes an ``int``; a missing or malformed value is a ``pydantic.ValidationError`` naming it).
The composition roots read it once per execution environment and hand plain values to the services; the domain
never sees the environment. Tests build settings directly (``Settings(table_name=...)``) or from a mapping
(``Settings.from_env({...})``).

(``pydantic-settings`` would do the same; it costs about 50 ms more at every cold start.)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, Self

from pydantic import TypeAdapter


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    table_name: str
    environment: str = "prod"
    idempotency_ttl_seconds: int = 24 * 3600

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The settings named in ``environ`` (default: the process's environment), names in any case."""
        env = os.environ if environ is None else environ
        names = {f.name for f in dataclasses.fields(cls)}
        given: dict[str, Any] = {key.lower(): value for key, value in env.items() if key.lower() in names}
        return TypeAdapter(cls).validate_python(given)


@dataclasses.dataclass(frozen=True, kw_only=True)
class BillingSettings(Settings):
    """The billing function: how big one part of the CSV export may grow (a Lambda answer is at most 6 MB,
    headers included: ``docs/billing.md``), the page size of its reads (``None``: DynamoDB's 1 MB pages), and
    the time a part keeps in hand to answer before the function's timeout."""

    export_max_bytes: int = 5_000_000
    export_page_size: int | None = None
    export_reserve_ms: int = 3000  # a part ends early when less than this is left of the invocation


@dataclasses.dataclass(frozen=True, kw_only=True)
class StripeSettings(Settings):
    """Settings of functions that talk to Stripe. The key itself is fetched from SSM, never from env."""

    stripe_secret_param: str
    stripe_publishable_key: str = "pk_test_local"
    stripe_api_base: str | None = None
    stripe_max_retries: int = 3
    stripe_key_max_age_seconds: int = 300  # a rotated key is live within this long (docs/runbook.md)
    # Per request: three tries of (1 s + 2 s) and their backoff (under 1 s) fit an API function's 10 s timeout.
    stripe_connect_timeout_seconds: int = 1
    stripe_read_timeout_seconds: int = 2


@dataclasses.dataclass(frozen=True, kw_only=True)
class WebhookSettings(StripeSettings):
    stripe_webhook_secret_param: str
    stripe_webhook_tolerance_seconds: int = 300
    webhook_max_body_bytes: int = 256 * 1024
    webhook_retention_days: int = 30  # how long an event id is remembered (Stripe retries for 3 days)


@dataclasses.dataclass(frozen=True, kw_only=True)
class InvoicingSettings(StripeSettings):
    invoice_queue_url: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class InvoicePlannerSettings(Settings):
    """The month-end planner: where partner-months are enqueued. It never talks to Stripe."""

    invoice_queue_url: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class OperatorSettings(Settings):
    """The operators' console: the month-end queues it starts runs on and re-drives failures from, and the
    partners a dry-run page computes when the request does not say (``limit``)."""

    invoice_run_queue_url: str
    invoice_queue_url: str
    invoice_dead_letter_queue_url: str
    operator_preview_page_size: int = 100


@dataclasses.dataclass(frozen=True, kw_only=True)
class AgencyWebhookSettings(Settings):
    """The functions of webhooks to agencies: the delivery queue (FIFO, a message group per endpoint), the wake-up
    queue of the due index's sweep, and how long an attempt may take.

    ``webhook_allow_local_urls`` is the local stack's setting and no deployment's: it allows ``http://`` URLs and
    the address ``127.0.0.1``. The template never sets it, so deployed it is off (``docs/security.md``)."""

    webhook_delivery_queue_url: str = ""
    webhook_wake_queue_url: str = ""
    webhook_allow_local_urls: bool = False
    webhook_attempt_timeout_seconds: int = 10


@dataclasses.dataclass(frozen=True, kw_only=True)
class AuthorizerSettings(Settings):
    """The HTTP API's authorizer: the user pool whose ID tokens it accepts (issuer and the portal's app client), and
    its id, for asking whether an operator has MFA enrolled."""

    cognito_issuer: str
    cognito_audience: str
    cognito_user_pool_id: str
