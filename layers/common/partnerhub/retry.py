"""Every retry in the project, named once: what is retried, how often, and how long to wait in between.

The policies are tenacity ``Retrying`` objects; all of them wait with full jitter (a random wait up to an
exponentially growing cap), so concurrent losers of a race do not collide again in step.

- :func:`on_conflict`: optimistic-concurrency conflicts (a versioned write or a transaction lost a race);
  re-read and try again almost at once.
- :func:`on_stripe_transient`: Stripe's rate limits, conflicts, 5xx and connection errors, honouring
  ``Retry-After`` and ``Stripe-Should-Retry`` when Stripe sends them.
- :func:`on_partial_send`: an SQS batch some of whose entries were refused; the refused ones are sent again.

The SDKs' own retries cover the rest: boto3 retries throttling in ``standard`` mode
(``partnerhub.clients``), and the Stripe SDK's are off so that these policies are the only ones.

tenacity is imported when a policy is first made (a command that may retry), not when a function starts: it
imports asyncio, about a quarter of a function's start (``docs/performance.md``), and a read never needs it.
When :func:`exhausted` policies run out, they raise :class:`Exhausted`, which is this module's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from tenacity import RetryCallState, Retrying, wait_random_exponential

__all__ = ["Exhausted", "on_conflict", "on_partial_send", "on_stripe_transient"]

Sleep = Callable[[float], None]


class Exhausted(Exception):
    """Every try failed. ``last`` is what the last try raised (None when it returned a result the policy retries)."""

    def __init__(self, tries: int, last: BaseException | None) -> None:
        super().__init__(f"gave up after {tries} tries: {last}")
        self.tries = tries
        self.last = last


def _give_up(state: RetryCallState) -> NoReturn:
    last = state.outcome.exception() if state.outcome is not None and state.outcome.failed else None
    raise Exhausted(state.attempt_number, last)


_STRIPE_RETRY_AFTER_CAP = 8
_STRIPE_RETRYABLE_STATUS = frozenset({409, 429, 500, 502, 503, 504})


@cache
def _waits() -> dict[str, wait_random_exponential]:
    from tenacity import wait_random_exponential

    return {
        # Conflicts settle within a few rounds: 5 ms doubling, at most 200 ms.
        "conflict": wait_random_exponential(multiplier=0.005, max=0.2),
        # Stripe: 250 ms doubling, at most 8 s; a Retry-After above this cap is cut to it.
        "stripe": wait_random_exponential(multiplier=0.25, max=8.0),
        # SQS: 100 ms doubling, at most 2 s.
        "send": wait_random_exponential(multiplier=0.1, max=2.0),
    }


def prime() -> None:
    """Load tenacity and make the waits now, ahead of the first policy (``partnerhub.priming``)."""
    _waits()


def on_conflict(conflicts: tuple[type[BaseException], ...], *, attempts: int, sleep: Sleep = time.sleep) -> Retrying:
    """Retry ``conflicts`` up to ``attempts`` tries in all; the last conflict is raised when they run out."""
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

    return Retrying(
        retry=retry_if_exception_type(conflicts),
        stop=stop_after_attempt(attempts),
        wait=_waits()["conflict"],
        sleep=sleep,
        reraise=True,
    )


def is_stripe_transient(error: BaseException) -> bool:
    """A Stripe error worth another try: rate limits, conflicts, 5xx and network errors, unless Stripe answered
    ``Stripe-Should-Retry: false`` (a 500 its idempotency layer saved: the same key would replay it), and
    anything Stripe answered ``Stripe-Should-Retry: true`` (a lock timeout), as Stripe's own clients decide."""
    import stripe

    advice = _header(error, "Stripe-Should-Retry")
    if advice in ("true", "false"):
        return advice == "true"
    if isinstance(error, (stripe.RateLimitError, stripe.APIConnectionError)):
        return True
    return isinstance(error, stripe.StripeError) and error.http_status in _STRIPE_RETRYABLE_STATUS


def _header(error: BaseException | None, name: str) -> str | None:
    headers: Any = getattr(error, "headers", None) or {}
    try:
        value = headers.get(name) or headers.get(name.lower())
    except (AttributeError, TypeError):
        return None
    return None if value is None else str(value)


def _retry_after(error: BaseException | None) -> int | None:
    """Stripe's ``Retry-After`` (whole seconds, as HTTP's delay-seconds), capped; None when absent or not a number."""
    value = _header(error, "Retry-After")
    try:
        return None if value is None else min(_STRIPE_RETRY_AFTER_CAP, max(0, int(value)))
    except ValueError:
        return None


def _stripe_wait(state: RetryCallState) -> float:
    """Seconds to wait (tenacity's unit): Stripe's ``Retry-After`` when it sent one, else jittered backoff."""
    error = state.outcome.exception() if state.outcome is not None else None
    after = _retry_after(error)
    return after if after is not None else _waits()["stripe"](state)


def on_stripe_transient(*, attempts: int, sleep: Sleep = time.sleep) -> Retrying:
    """Retry transient Stripe errors up to ``attempts`` tries in all; other errors pass through at once.

    When the tries run out, :class:`Exhausted` is raised with the last error.
    """
    from tenacity import Retrying, retry_if_exception, stop_after_attempt

    return Retrying(
        retry=retry_if_exception(is_stripe_transient),
        stop=stop_after_attempt(attempts),
        wait=_stripe_wait,
        sleep=sleep,
        retry_error_callback=_give_up,
    )


def on_partial_send(*, attempts: int, sleep: Sleep = time.sleep) -> Retrying:
    """Call a send again while it returns refused entries (a non-empty result), up to ``attempts`` tries.

    When the tries run out, :class:`Exhausted` is raised.
    """
    from tenacity import Retrying, retry_if_result, stop_after_attempt

    return Retrying(
        retry=retry_if_result(bool),
        stop=stop_after_attempt(attempts),
        wait=_waits()["send"],
        sleep=sleep,
        retry_error_callback=_give_up,
    )
