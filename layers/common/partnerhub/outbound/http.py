"""The one HTTP request a delivery attempt makes: a signed POST to the endpoint, bounded every way.

* the URL's host is resolved and every address judged now (``addresses.HostGuard``); the connection goes to a
  checked address, with the URL's host in ``Host`` and as the TLS server name (certificate checked against it),
  so a second DNS answer (rebinding) is never used;
* redirects are not followed: a 3xx is a failed attempt;
* the body sent is capped; the answer is read up to a small cap and only a short excerpt of it is kept;
* the whole attempt (resolving, connecting, TLS, sending, the answer) has one deadline, enforced by a watchdog that
  closes the socket, so an endpoint that trickles bytes cannot hold it longer;
* whatever the endpoint does (time out, refuse, close the connection, answer garbage or a huge body) is an
  :class:`~partnerhub.domain.webhook_deliveries.AttemptResult` with the reason, never an exception.

Nothing secret is kept: the result holds the status, the duration, a reason and an excerpt of the answer; the
signature headers are sent and forgotten.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from partnerhub.domain.webhook_deliveries import ATTEMPT_TIMEOUT_SECONDS, AttemptResult
from partnerhub.domain.webhook_endpoints import Target, parse_url
from partnerhub.outbound.addresses import HostGuard, Refused
from partnerhub.outbound.signing import signature_headers

USER_AGENT = "PartnerHub-Webhooks/1.0"
MAX_BODY_BYTES = 256 * 1024
MAX_RESPONSE_BYTES = 64 * 1024
EXCERPT_CHARS = 300


class _Late(Exception):
    """The attempt's deadline passed."""


def default_tls() -> ssl.SSLContext:
    """Certificates verified against the host name, with certifi's roots (what ``requests`` and boto3 trust)."""
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi ships in the layer
        return ssl.create_default_context()


class HttpSender:
    """Sends one signed delivery attempt (the deliverer's ``Sender``)."""

    def __init__(
        self,
        guard: HostGuard,
        *,
        allow_local: bool = False,
        timeout: float = ATTEMPT_TIMEOUT_SECONDS,
        max_body: int = MAX_BODY_BYTES,
        max_response: int = MAX_RESPONSE_BYTES,
        tls: ssl.SSLContext | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._guard = guard
        self._allow_local = allow_local
        self._timeout = timeout
        self._max_body = max_body
        self._max_response = max_response
        self._tls = tls
        self._monotonic = monotonic

    def send(self, url: str, body: bytes, message_id: str, at: datetime, secrets: Sequence[str]) -> AttemptResult:
        started = self._monotonic()
        deadline = started + self._timeout

        def ended(status: int | None = None, error: str | None = None, response: str | None = None) -> AttemptResult:
            elapsed = int((self._monotonic() - started) * 1000)
            return AttemptResult(status_code=status, duration_ms=elapsed, error=error, response=response)

        if len(body) > self._max_body:
            return ended(error=f"the event is over {self._max_body // 1024} KB: not sent")
        try:
            target = parse_url(url, allow_local=self._allow_local)
        except ValueError as error:
            return ended(error=f"the URL cannot be delivered to: {error}")
        try:
            addresses = self._guard.addresses(target.host, target.port, timeout=max(0.1, deadline - self._monotonic()))
        except Refused as refused:
            return ended(error=str(refused))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signature_headers(message_id, at, body, secrets),
        }
        try:
            status, answer, too_big = self._post(target, addresses, body, headers, deadline)
        except (_Late, TimeoutError):
            return ended(error=f"no answer within {self._timeout:g} s")
        except ConnectionRefusedError:
            return ended(error="the connection was refused")
        except ssl.SSLCertVerificationError as error:
            return ended(error=f"TLS: the certificate is not valid for {target.host} ({error.verify_message})")
        except ssl.SSLError as error:
            return ended(error=f"TLS failed ({error.reason or error})")
        except (http.client.RemoteDisconnected, http.client.IncompleteRead, ConnectionResetError, BrokenPipeError):
            return ended(error="the connection was closed before a complete answer")
        except http.client.HTTPException as error:
            return ended(error=f"the answer was not HTTP ({type(error).__name__})")
        except OSError as error:
            if self._monotonic() >= deadline:
                return ended(error=f"no answer within {self._timeout:g} s")
            return ended(error=f"could not connect ({error.strerror or type(error).__name__})")
        except Exception as error:  # whatever else: a failed attempt, never a crash of the deliverer
            return ended(error=f"the attempt failed ({type(error).__name__})")
        excerpt = _excerpt(answer)
        if too_big:
            return ended(status, f"the answer's body is over {self._max_response // 1024} KB", excerpt)
        if 300 <= status < 400:
            return ended(status, f"HTTP {status}: redirects are not followed", excerpt)
        if not 200 <= status < 300:
            return ended(status, f"HTTP {status}", excerpt)
        return ended(status, None, excerpt)

    def _post(
        self, target: Target, addresses: list[str], body: bytes, headers: dict[str, str], deadline: float
    ) -> tuple[int, bytes, bool]:
        """The status, up to ``max_response`` bytes of the answer, and whether it had more."""
        sock = self._connect(addresses, target.port, deadline)
        watchdog = threading.Timer(max(0.0, deadline - self._monotonic()), _shut, (sock,))
        watchdog.daemon = True
        watchdog.start()
        try:
            if target.scheme == "https":
                if self._tls is None:  # made on the first https attempt (it reads the CA bundle), then kept
                    self._tls = default_tls()
                sock = self._tls.wrap_socket(sock, server_hostname=target.host)
            connection = http.client.HTTPConnection(target.host, target.port, timeout=self._remaining(deadline))
            connection.sock = sock
            connection.putrequest("POST", target.target, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", target.host_header)
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.putheader("Connection", "close")
            connection.endheaders(body)
            response = connection.getresponse()
            answer = b""
            while len(answer) <= self._max_response:
                sock.settimeout(self._remaining(deadline))
                chunk = response.read(self._max_response + 1 - len(answer))
                if not chunk:
                    break
                answer += chunk
            if self._monotonic() >= deadline:
                raise _Late()
            return response.status, answer[: self._max_response], len(answer) > self._max_response
        except OSError:
            if self._monotonic() >= deadline:
                raise _Late() from None
            raise
        finally:
            watchdog.cancel()
            sock.close()

    def _connect(self, addresses: list[str], port: int, deadline: float) -> socket.socket:
        """A connection to the first checked address that takes one."""
        last: OSError | None = None
        for address in addresses:
            try:
                return socket.create_connection((address, port), timeout=self._remaining(deadline))
            except OSError as error:
                last = error
        assert last is not None
        raise last

    def _remaining(self, deadline: float) -> float:
        left = deadline - self._monotonic()
        if left <= 0:
            raise _Late()
        return left


def _shut(sock: socket.socket) -> None:
    """The watchdog: the deadline passed; end whatever read or write is waiting on the socket."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _excerpt(answer: bytes) -> str | None:
    """The start of the answer, as text without control characters, to show in the deliveries log."""
    text = answer[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")[:EXCERPT_CHARS]
    cleaned = "".join(c if c.isprintable() else " " for c in text).strip()
    return cleaned or None
