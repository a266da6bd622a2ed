"""``rate(...)`` schedules of ``template.yaml`` on the stack's clock, and the stack's name resolution. Never deployed.

EventBridge Scheduler runs a ``rate(1 minute)`` schedule once a minute. :class:`RateScheduler` runs it each time
the stack's clock enters a new period (looked at four times a second), and once more, at once, whenever
``/_local/clock`` moves the clock: time travel then makes everything that came due in between happen (the webhook
retries of ``WebhookSchedulerFunction``), as it does for Stripe's collection in the emulator. Calendar schedules
(``cron(...)``: month-end) are not run here; ``/_local/invoice-run`` runs month-end.

:class:`LocalResolver` is the name resolution the stack's functions are built with: the system's, except for
names ``/_local/dns`` points elsewhere. With it a test (or a person) can see a webhook refused when its host name
moves to a private or metadata address between saving the endpoint and delivering to it.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from typing import Any

from local.gateway import FunctionError, FunctionHost
from local.template import RateSchedule


class RateScheduler:
    """Invokes each rate schedule's function on the stack clock's periods, and at every clock move."""

    def __init__(
        self, host: FunctionHost, schedules: list[RateSchedule], clock: Any, log: Callable[[str], None] = print
    ) -> None:
        self.host = host
        self.schedules = schedules
        self.clock = clock
        self.log = log
        self._periods = {id(s): self._period(s) for s in schedules}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _period(self, schedule: RateSchedule) -> int:
        return int(self.clock.now().timestamp() // schedule.every.total_seconds())

    def run_due(self) -> int:
        """Run each schedule whose next period the clock has entered; how many ran."""
        ran = 0
        with self._lock:
            for schedule in self.schedules:
                period = self._period(schedule)
                if period != self._periods[id(schedule)]:
                    self._periods[id(schedule)] = period
                    self._run(schedule)
                    ran += 1
        return ran

    def run_all(self) -> int:
        """Run every schedule now (the clock just moved); how many ran."""
        with self._lock:
            for schedule in self.schedules:
                self._periods[id(schedule)] = self._period(schedule)
                self._run(schedule)
        return len(self.schedules)

    def _run(self, schedule: RateSchedule) -> None:
        try:
            self.host.invoke(schedule.function_id, _input(schedule.input))
        except FunctionError as exc:
            self.log(f"schedule {schedule.event_name} -> {schedule.function_id}: {exc}")

    def start(self, interval: float = 0.25) -> None:
        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    self.run_due()
                except Exception as exc:  # moto going away at shutdown, mostly
                    if not self._stop.is_set():
                        self.log(f"rate schedules: {exc}")

        self._thread = threading.Thread(target=run, name="rate-schedules", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _input(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


class LocalResolver:
    """``(host, port)`` → addresses: the ``/_local/dns`` overrides first, else the system's resolver."""

    def __init__(self, fallback: Callable[[str, int], list[str]] | None = None) -> None:
        from partnerhub.outbound.addresses import system_resolver

        self._fallback = fallback or system_resolver
        self._overrides: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def __call__(self, host: str, port: int) -> list[str]:
        with self._lock:
            found = self._overrides.get(host.lower())
        return list(found) if found is not None else self._fallback(host, port)

    def point(self, host: str, addresses: list[str]) -> None:
        """From now on ``host`` resolves to ``addresses`` (each an IP address)."""
        for address in addresses:
            ipaddress.ip_address(address)  # ValueError for anything else
        with self._lock:
            self._overrides[host.lower()] = list(addresses)

    def forget(self, host: str) -> None:
        with self._lock:
            self._overrides.pop(host.lower(), None)

    def overrides(self) -> dict[str, list[str]]:
        with self._lock:
            return {host: list(addresses) for host, addresses in self._overrides.items()}
