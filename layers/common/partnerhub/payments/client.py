"""The one way this project talks to Stripe: a :class:`StripeConnection` made once per execution environment.

``stripe`` is imported lazily, so functions that never call Stripe never pay for the import. The secret
key is read through Powertools parameters on first use, not at init (under SnapStart nothing secret or
unique may be captured in the snapshot), and read again once it is older than ``key_max_age`` seconds:
a rotated key is live within that time, and the client is rebuilt when the key it reads has changed.
An authentication error forces one fresh read of the key and one more try, so a rotation that revoked
the old key at once costs one failed call, not five minutes of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, cast

from partnerhub import retry
from partnerhub.errors import UpstreamError
from partnerhub.observability import MetricUnit, metrics
from partnerhub.priming import Primable, ahead_of_requests

if TYPE_CHECKING:
    import stripe
    from aws_lambda_powertools.utilities.parameters.ssm import SSMProvider

    from partnerhub.settings import StripeSettings

# Pinned: objects and parameters are those of this version, whatever the account's default is.
STRIPE_API_VERSION = "2026-10-28.endive"

# What a call through this module loads from the SDK on first use: the client, its HTTP client and errors,
# the services reached through ``client.v1`` and the classes of the objects they answer with.
_PRIMED_SDK_NAMES = (
    "StripeClient",
    "RequestsClient",
    "AuthenticationError",
    "CustomerService",
    "CustomerPaymentMethodService",
    "InvoiceService",
    "InvoiceLineItemService",
    "InvoiceItemService",
    "PaymentMethodService",
    "SetupIntentService",
    "Customer",
    "Invoice",
    "InvoiceItem",
    "InvoiceLineItem",
    "ListObject",
    "PaymentMethod",
    "SetupIntent",
    "Event",
)

KeyReader = Callable[[bool], str]
"""Returns the secret key; ``True`` asks for a fresh read, past any cache."""


@cache
def _ssm() -> SSMProvider:
    """Powertools parameters' SSM provider, one per execution environment as ``parameters.get_parameter``
    keeps it, made on first use or when primed."""
    from aws_lambda_powertools.utilities.parameters.ssm import SSMProvider

    return SSMProvider()


class SecureParameter:
    """A SecureString parameter read through Powertools parameters' SSM provider, cached for ``max_age``
    seconds. Calling it with ``True`` reads past the cache."""

    def __init__(self, parameter_name: str, max_age: int = 300) -> None:
        self.parameter_name = parameter_name
        self.max_age = max_age

    def prime(self) -> None:
        """Make the provider and its SSM client ahead of the first read (``partnerhub.priming``); reads nothing."""
        _ssm()

    def __call__(self, fresh: bool = False) -> str:
        return str(_ssm().get(self.parameter_name, decrypt=True, max_age=self.max_age, force_fetch=fresh))


class StripeConnection:
    """A Stripe client that follows its key, and the retrying call every adapter goes through.

    ``read_key`` supplies the key (a :class:`SecureParameter` when deployed, a constant in tests);
    ``api_base`` points the client elsewhere (the emulator locally); ``timeout`` is the connect and read
    timeout of every request, in seconds, small enough that ``attempts`` tries fit the function's timeout.
    """

    def __init__(
        self,
        read_key: KeyReader,
        api_base: str | None = None,
        *,
        timeout: tuple[float, float] = (2.0, 5.0),
        attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._read_key = read_key
        self._api_base = api_base
        self._timeout = timeout
        self.attempts = attempts
        self._sleep = sleep
        self._lock = threading.Lock()
        self._key: str | None = None
        self._client: stripe.StripeClient | None = None

    def prime(self) -> None:
        """Load the SDK, the services and the object classes this project uses, ahead of the first call
        (``partnerhub.priming``: SnapStart, provisioned concurrency). Reads no key and builds no client."""
        import stripe

        for name in _PRIMED_SDK_NAMES:
            getattr(stripe, name)
        if isinstance(self._read_key, Primable):
            self._read_key.prime()  # the SSM client the key is read with

    def client(self, *, fresh: bool = False) -> stripe.StripeClient:
        """The client for the current key; built again when the key read has changed."""
        key = self._read_key(fresh)
        with self._lock:
            if self._client is None or key != self._key:
                self._client = self._build(key)
                self._key = key
            return self._client

    def _build(self, key: str) -> stripe.StripeClient:
        import stripe

        base = {"api": self._api_base, "files": self._api_base, "connect": self._api_base} if self._api_base else None
        # The SDK's own retries are off: call() retries with backoff, 429s included, and keeps the
        # idempotency key the same across tries.
        return stripe.StripeClient(
            key,
            stripe_version=STRIPE_API_VERSION,
            base_addresses=base,  # type: ignore[arg-type]
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=self._timeout),
        )

    def call[T](self, operation: Callable[[], T], *, describe: str = "stripe call", attempts: int | None = None) -> T:
        """Run ``operation`` (which reaches Stripe through :meth:`client`) under the Stripe retry policy.

        Rate limits, conflicts, 5xx and network errors are retried with jittered backoff (``Retry-After``
        honoured), unless Stripe answers ``Stripe-Should-Retry: false``; an authentication error once, after a
        fresh read of the key. ``operation`` must be safe to repeat: every mutating call passes an idempotency
        key that stays the same across tries. A server error Stripe answered, or a rate limit that outlasted
        the tries, is an :class:`UpstreamError` with ``answered`` set: the request is over, and what it did is
        read from Stripe's objects (the same key may replay the answer for 24 hours). Card errors and invalid
        requests are not retried; they are the caller's to map.
        """
        import stripe

        tries = attempts or self.attempts
        try:
            policy = retry.on_stripe_transient(attempts=tries, sleep=self._sleep)
            return cast(T, policy(self._authenticated, operation))
        except retry.Exhausted as exhausted:
            # The operators' dashboard counts these: Stripe still failing after every try (5xx, 429, network).
            metrics.add_metric(name="StripeCallsFailed", unit=MetricUnit.Count, value=1)
            last = exhausted.last
            raise UpstreamError(f"{describe} failed after {tries} tries: {last}", answered=_answered(last)) from last
        except stripe.StripeError as error:
            if (error.http_status or 0) < 500:
                raise
            # A server error Stripe asked not to retry (its idempotency layer saved it).
            metrics.add_metric(name="StripeCallsFailed", unit=MetricUnit.Count, value=1)
            raise UpstreamError(f"{describe} failed: {error}", answered=True) from error

    def _authenticated[T](self, operation: Callable[[], T]) -> T:
        """``operation``, tried once more with a freshly read key if Stripe refused the one in use."""
        import stripe

        try:
            return operation()
        except stripe.AuthenticationError:
            self.client(fresh=True)
            return operation()


def _answered(error: BaseException | None) -> bool:
    """Whether Stripe answered (an HTTP status), as opposed to a network error with no answer."""
    import stripe

    return (
        isinstance(error, stripe.StripeError)
        and not isinstance(error, stripe.APIConnectionError)
        and bool(error.http_status)
    )


def stripe_connection(settings: StripeSettings) -> StripeConnection:
    """The deployed connection: the key from SSM, the timeouts and tries from the function's settings."""
    connection = StripeConnection(
        SecureParameter(settings.stripe_secret_param, settings.stripe_key_max_age_seconds),
        settings.stripe_api_base,
        timeout=(settings.stripe_connect_timeout_seconds, settings.stripe_read_timeout_seconds),
        attempts=settings.stripe_max_retries,
    )
    if ahead_of_requests():
        connection.prime()
    return connection
