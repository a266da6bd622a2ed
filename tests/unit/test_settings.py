"""Settings read from the environment exactly as the pydantic models they replaced read them.

The oracle is the previous definition, written out again here as pydantic ``BaseModel`` classes (frozen,
extra ignored): for any environment, ``from_env`` gives the same values, or fails with pydantic's
``ValidationError`` naming the same fields.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError

from partnerhub import settings as module


class OracleSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    table_name: str
    environment: str = "prod"
    idempotency_ttl_seconds: int = 24 * 3600


class OracleBillingSettings(OracleSettings):
    export_max_bytes: int = 5_000_000
    export_page_size: int | None = None
    export_reserve_ms: int = 3000


class OracleOperatorSettings(OracleSettings):
    invoice_run_queue_url: str
    invoice_queue_url: str
    invoice_dead_letter_queue_url: str
    operator_preview_page_size: int = 100


class OracleStripeSettings(OracleSettings):
    stripe_secret_param: str
    stripe_publishable_key: str = "pk_test_local"
    stripe_api_base: str | None = None
    stripe_max_retries: int = 3
    stripe_key_max_age_seconds: int = 300
    stripe_connect_timeout_seconds: int = 1
    stripe_read_timeout_seconds: int = 2


class OracleWebhookSettings(OracleStripeSettings):
    stripe_webhook_secret_param: str
    stripe_webhook_tolerance_seconds: int = 300
    webhook_max_body_bytes: int = 256 * 1024
    webhook_retention_days: int = 30


class OracleInvoicingSettings(OracleStripeSettings):
    invoice_queue_url: str = ""


class OracleInvoicePlannerSettings(OracleSettings):
    invoice_queue_url: str


PAIRS: list[tuple[type[Any], type[BaseModel]]] = [
    (module.Settings, OracleSettings),
    (module.BillingSettings, OracleBillingSettings),
    (module.OperatorSettings, OracleOperatorSettings),
    (module.StripeSettings, OracleStripeSettings),
    (module.WebhookSettings, OracleWebhookSettings),
    (module.InvoicingSettings, OracleInvoicingSettings),
    (module.InvoicePlannerSettings, OracleInvoicePlannerSettings),
]
NAMES = sorted({name for _, oracle in PAIRS for name in oracle.model_fields})

numbers_as_text = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.sampled_from(["0", "007", " 42", "42 ", "+5", "-0", "1_000", "3.0", "3.5", "1e3", "", "x", "٣", "²"]),
    st.text(alphabet="0123456789 +-_.e", max_size=6),
)
environments = st.dictionaries(
    st.sampled_from([*(n.upper() for n in NAMES), *NAMES, "PATH", "OTHER"]),
    st.one_of(numbers_as_text, st.text(max_size=8)),
    max_size=len(NAMES) + 2,
)


def _outcome(read: Any) -> Any:
    try:
        value = read()
    except ValidationError as error:
        return ("invalid", sorted(str(e["loc"]) for e in error.errors()))
    fields = value.model_dump() if isinstance(value, BaseModel) else dataclasses.asdict(value)
    return ("valid", fields, {k: type(v) for k, v in fields.items()})


@settings(max_examples=400, deadline=None)
@given(environment=environments, required=st.booleans())
def test_any_environment_reads_as_the_pydantic_models_read_it(environment: dict[str, str], required: bool) -> None:
    if required:  # most environments a function gets hold the required names
        environment = {
            "TABLE_NAME": "partnerhub",
            "STRIPE_SECRET_PARAM": "/s",
            "STRIPE_WEBHOOK_SECRET_PARAM": "/w",
            "INVOICE_QUEUE_URL": "https://sqs/q",
            "INVOICE_RUN_QUEUE_URL": "https://sqs/run",
            "INVOICE_DEAD_LETTER_QUEUE_URL": "https://sqs/dlq",
            **environment,
        }
    for ours, oracle in PAIRS:
        assert _outcome(lambda: ours.from_env(environment)) == _outcome(  # noqa: B023
            lambda: oracle.model_validate({k.lower(): v for k, v in environment.items()})  # noqa: B023
        ), ours.__name__


EDGE_NUMBERS = ["0", "60", "007", " 42", "42 ", "+5", "-0", "-3", "1_000", "3.0", "1e3", "", "x", "\u0663", "\u00b2"]


@pytest.mark.parametrize("value", EDGE_NUMBERS)
def test_edge_numbers_read_as_the_pydantic_models_read_them(value: str) -> None:
    environment = {
        "TABLE_NAME": "partnerhub",
        "STRIPE_SECRET_PARAM": "/s",
        "STRIPE_WEBHOOK_SECRET_PARAM": "/w",
        "INVOICE_QUEUE_URL": "https://sqs/q",
        "INVOICE_RUN_QUEUE_URL": "https://sqs/run",
        "INVOICE_DEAD_LETTER_QUEUE_URL": "https://sqs/dlq",
        "IDEMPOTENCY_TTL_SECONDS": value,
        "STRIPE_MAX_RETRIES": value,
        "EXPORT_PAGE_SIZE": value,
    }
    for ours, oracle in PAIRS:
        assert _outcome(lambda: ours.from_env(environment)) == _outcome(  # noqa: B023
            lambda: oracle.model_validate({k.lower(): v for k, v in environment.items()})  # noqa: B023
        ), ours.__name__


def test_the_planners_environment_reads_as_worked_by_hand() -> None:
    # Given the environment the template gives the planner, with a name pydantic would not know
    env = {"TABLE_NAME": "partnerhub", "INVOICE_QUEUE_URL": "https://sqs/q", "IDEMPOTENCY_TTL_SECONDS": "60", "PATH": "/x"}
    # Then its values are read (the number as a number, defaults kept, the other name ignored)
    read = module.InvoicePlannerSettings.from_env(env)
    assert read.invoice_queue_url == "https://sqs/q"
    assert (read.table_name, read.environment, read.idempotency_ttl_seconds) == ("partnerhub", "prod", 60)


def test_settings_are_frozen() -> None:
    read = module.Settings.from_env({"TABLE_NAME": "t"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        read.table_name = "other"  # type: ignore[misc]
