"""The one way this project talks to Stripe: a client made once per execution environment.

``stripe`` is imported lazily, so functions that never call Stripe never pay for the import. The
secret key is read from SSM (Powertools parameters, cached) on first use, not at init: under
SnapStart nothing secret or unique may be captured in the snapshot.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from partnerhub.errors import UpstreamError

if TYPE_CHECKING:
    import stripe

# Pinned: objects and parameters are those of this version, whatever the account's default is.
STRIPE_API_VERSION = "2026-10-28.endive"
_RETRYABLE_STATUS = frozenset({409, 429, 500, 502, 503, 504})


class StripeConfig:
    """Where the key lives and where Stripe is (the emulator's address locally)."""

    def __init__(self, secret_param: str, api_base: str | None = None, max_retries: int = 4) -> None:
        self.secret_param = secret_param
        self.api_base = api_base
        self.max_retries = max_retries


_config: StripeConfig | None = None
_override: Any = None


def configure(config: StripeConfig) -> None:
    """Called once at a function's init with its settings; no network here."""
    global _config
    _config = config


def use_client(client: Any) -> None:
    """Inject a client (tests)."""
    global _override
    _override = client


def stripe_client() -> stripe.StripeClient:
    """The client, created on first use and kept for the execution environment's life."""
    if _override is not None:
        return _override  # type: ignore[no-any-return]
    if _config is None:
        raise RuntimeError("payments.client.configure() was not called")
    return _make_client(_config.secret_param, _config.api_base)


@cache
def _make_client(secret_param: str, api_base: str | None) -> stripe.StripeClient:
    import stripe
    from aws_lambda_powertools.utilities import parameters

    key = parameters.get_parameter(secret_param, decrypt=True, max_age=300)
    base = {"api": api_base, "files": api_base, "connect": api_base} if api_base else None
    # The SDK's own retries are off: call_stripe() retries with backoff, 429s included, and keeps
    # the idempotency key the same across tries.
    return stripe.StripeClient(
        str(key),
        stripe_version=STRIPE_API_VERSION,
        base_addresses=base,  # type: ignore[arg-type]
        max_network_retries=0,
    )


def call_stripe[T](
    operation: Callable[[], T],
    *,
    attempts: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    describe: str = "stripe call",
) -> T:
    """Run ``operation`` and retry rate limits, conflicts, 5xx and network errors with jittered backoff.

    ``operation`` must be safe to repeat: every mutating call passes an idempotency key that stays the
    same across tries. Card errors and invalid requests are not retried; they are the caller's to map.
    """
    import stripe

    tries = attempts or (_config.max_retries if _config else 4)
    for attempt in range(tries):
        try:
            return operation()
        except (stripe.RateLimitError, stripe.APIConnectionError) as error:
            last: Exception = error
        except stripe.StripeError as error:
            if error.http_status not in _RETRYABLE_STATUS:
                raise
            last = error
        if attempt < tries - 1:
            base = min(8.0, 0.25 * (2**attempt))
            sleep(base / 2 + base * secrets.randbelow(1000) / 2000)
    raise UpstreamError(f"{describe} failed after {tries} tries: {last}") from last
