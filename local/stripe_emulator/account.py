"""The emulated account's Dashboard settings that change how Stripe collects one-off invoices.

In Stripe they are set in the Dashboard, not through the API: retries of one-off invoices under **Settings >
Billing > Invoices > Advanced invoicing features** (https://docs.stripe.com/billing/revenue-recovery/smart-retries:
"For one-time invoice retries, go to Advanced invoicing features under Settings > Billing > Invoices"), shaped as
Smart Retries are: a number of tries within a window of 1, 2 or 3 weeks, 1 or 2 months ("The recommended default
is 8 tries within 2 weeks"), or no retries; and what happens to an invoice once every try failed. The docs do not
say what a new account's one-off invoices do, so the emulator starts with the less convenient setting: no retries.
``POST /_emulator/settings`` changes them, as an operator changes the Dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Smart Retries' windows: 1 week, 2 weeks, 3 weeks, 1 month, 2 months (in days).
WINDOWS_DAYS = (7, 14, 21, 30, 60)
MAX_TRIES = 8
AFTER_FINAL_ATTEMPT = ("leave_open", "mark_uncollectible", "void")


class SettingsError(ValueError):
    """A setting the Dashboard would not offer."""


@dataclass(frozen=True)
class Retries:
    """Smart Retries: ``tries`` payment attempts in all (the first one included) within ``window_days`` of the
    first failure. Stripe chooses the instants; the emulator draws each one at random (seeded) within its share
    of the window, so a test can rely on the count and the window, never on an exact day."""

    tries: int = 8
    window_days: int = 14

    def __post_init__(self) -> None:
        if not 1 <= self.tries <= MAX_TRIES:
            raise SettingsError(f"tries must be between 1 and {MAX_TRIES}")
        if self.window_days not in WINDOWS_DAYS:
            raise SettingsError(f"window_days must be one of {', '.join(map(str, WINDOWS_DAYS))}")


@dataclass
class AccountSettings:
    """One account's collection settings for one-off invoices (``retries`` None: no automatic retries)."""

    retries: Retries | None = None
    after_final_attempt: str = "leave_open"

    def configure(self, body: dict[str, Any]) -> None:
        """Apply ``{"retries": {"tries", "window_days"} | null, "after_final_attempt"}`` (keys left out stay)."""
        unknown = set(body) - {"retries", "after_final_attempt"}
        if unknown:
            raise SettingsError(f"unknown settings: {', '.join(sorted(unknown))}")
        retries = self.retries
        if "retries" in body:
            value = body["retries"]
            if value is None or value is False:
                retries = None
            elif isinstance(value, dict):
                try:
                    retries = Retries(**value)
                except TypeError as error:
                    raise SettingsError(f"retries takes tries and window_days: {error}") from error
            else:
                raise SettingsError("retries is an object {tries, window_days} or null")
        outcome = body.get("after_final_attempt", self.after_final_attempt)
        if outcome not in AFTER_FINAL_ATTEMPT:
            raise SettingsError(f"after_final_attempt must be one of {', '.join(AFTER_FINAL_ATTEMPT)}")
        self.retries, self.after_final_attempt = retries, str(outcome)

    def describe(self) -> dict[str, Any]:
        retries = self.retries
        shown = None if retries is None else {"tries": retries.tries, "window_days": retries.window_days}
        return {"retries": shown, "after_final_attempt": self.after_final_attempt}
