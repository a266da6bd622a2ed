"""An endpoint's addresses: resolved, every one judged (``domain.webhook_endpoints.address_refusal``), and only
checked ones connected to.

The check runs when an endpoint is saved and again at every delivery, on what the host resolves to then: a name
that pointed at a public address when saved and at ``10.0.0.5`` or ``169.254.169.254`` now (DNS rebinding) is
refused at delivery, and the connection goes to the address that was checked, never to a second lookup's.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

from partnerhub.domain.webhook_endpoints import address_refusal

Resolver = Callable[[str, int], list[str]]
"""``(host, port)`` → the host's addresses, in the order to try them; :class:`OSError` when it has none."""

RESOLVE_TIMEOUT_SECONDS = 3.0


def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses as the system resolves them (``getaddrinfo``), each once, in the order given."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


class Refused(Exception):
    """The host cannot be delivered to; the message says why (for the partner to read)."""


class HostGuard:
    """Resolves a host within a time limit and refuses it unless every address it has is allowed."""

    def __init__(
        self, resolve: Resolver, *, allow_local: bool = False, timeout: float = RESOLVE_TIMEOUT_SECONDS
    ) -> None:
        self._resolve = resolve
        self._allow_local = allow_local
        self._timeout = timeout

    def addresses(self, host: str, port: int, timeout: float | None = None) -> list[str]:
        """Every address of ``host``, all of them allowed; :class:`Refused` otherwise."""
        try:
            found = _within(lambda: self._resolve(host, port), timeout or self._timeout)
        except TimeoutError:
            raise Refused(f"{host} did not resolve in time") from None
        except OSError:
            raise Refused(f"{host} does not resolve") from None
        if not found:
            raise Refused(f"{host} does not resolve")
        for address in found:
            reason = address_refusal(address, allow_local=self._allow_local)
            if reason is not None:
                raise Refused(f"{host} resolves to {address}, {reason}: deliveries go to public addresses only")
        return found

    def refusal(self, host: str, port: int) -> str | None:
        """Why ``host`` cannot be delivered to, or None (the endpoint service's check when a URL is saved)."""
        try:
            self.addresses(host, port)
        except Refused as refused:
            return str(refused)
        return None


def _within[T](call: Callable[[], T], timeout: float) -> T:
    """``call()``'s result, or :class:`TimeoutError` after ``timeout`` seconds (the resolver thread is left to end
    on its own: ``getaddrinfo`` cannot be interrupted)."""
    box: dict[str, T | BaseException] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as error:  # handed to the caller below
            box["error"] = error

    worker = threading.Thread(target=run, name="resolve", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
