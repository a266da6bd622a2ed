"""A client for a local stack running in its own process (``python -m local``): URLs, tokens, the clock.

The tests start one with :func:`running_stack`; tokens are checked against the STACK clock, so after
``stack.advance("P3D")`` an earlier token has expired -- ask for a new one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
import requests

from local.stack import StackProcess
from testkit import mfa


class ApiSession(requests.Session):
    """A ``requests.Session`` whose relative URLs (``"/v1/licenses"``) go to the local API."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        text = url.decode() if isinstance(url, bytes) else url
        if text.startswith("/"):
            text = self.base_url + text
        kwargs.setdefault("timeout", 30)
        return super().request(method, text, *args, **kwargs)


class LocalStack:
    """A running local stack: URLs and helpers (what the tests' ``stack`` fixture yields)."""

    def __init__(self, process: StackProcess) -> None:
        self.process = process
        self.api_url = process.api_url
        self.stripe_url = process.stripe_url
        self.moto_url = process.moto_url
        self.anonymous = ApiSession(self.api_url)
        self.totp_secrets: dict[str, str] = {}
        """The authenticator secret of each user enrolled here, by partner id (the tests' phones)."""

    def token(self, partner_id: str, groups: Iterable[str] = ()) -> str:
        """A fresh ID token for ``partner_id`` in ``groups`` (valid one hour of stack-clock time). An operator has an
        authenticator app enrolled on first sign-in, as the API requires (``testkit.mfa``)."""
        return str(self.sign_in(partner_id, groups)["token"])

    def sign_in(self, partner_id: str, groups: Iterable[str] = ()) -> dict[str, Any]:
        """``POST /_local/token``'s answer (ID, access and refresh tokens), enrolling an operator first."""
        return mfa.sign_in(self.api_url, partner_id, groups, secrets=self.totp_secrets, session=self.anonymous)

    def client(self, partner_id: str, groups: Iterable[str] = ()) -> ApiSession:
        """A session that sends ``Authorization: Bearer <token>`` and takes paths relative to the API."""
        session = ApiSession(self.api_url)
        session.headers["Authorization"] = f"Bearer {self.token(partner_id, groups)}"
        return session

    def now(self) -> str:
        """The stack clock, ISO 8601."""
        reply = self.anonymous.get("/_local/clock")
        reply.raise_for_status()
        return str(reply.json()["now"])

    def set_clock(self, instant: str) -> str:
        """Set the whole stack's clock (handlers and the Stripe emulator) to ``instant``."""
        reply = self.anonymous.post("/_local/clock", json={"now": instant})
        reply.raise_for_status()
        return str(reply.json()["now"])

    def advance(self, duration: str) -> str:
        """Move the whole stack's clock forward by an ISO 8601 duration (``"P3D"``, ``"PT2H"``)."""
        reply = self.anonymous.post("/_local/clock", json={"advance": duration})
        reply.raise_for_status()
        return str(reply.json()["now"])

    def invoice_run(self, period: str) -> dict[str, Any]:
        """Run month-end invoicing for ``period`` (``"YYYY-MM"``) to completion; the run's summary."""
        reply = self.anonymous.post("/_local/invoice-run", json={"period": period}, timeout=600)
        reply.raise_for_status()
        return dict(reply.json())

    def log(self) -> str:
        """Everything the stack has printed (the request log, handler logs, tracebacks)."""
        return self.process.log()


@contextlib.contextmanager
def running_stack(request: pytest.FixtureRequest, env: dict[str, str] | None = None) -> Iterator[LocalStack]:
    """A local stack in its own process for as long as the block runs (``env`` added to its environment); its
    log is printed if a test failed."""
    process = StackProcess(env)
    process.start(timeout=120)
    failures_before = request.session.testsfailed
    try:
        yield LocalStack(process)
    finally:
        process.stop()
        if request.session.testsfailed > failures_before:
            # The stack's own log usually says why an end-to-end test failed.
            print(f"\n----- local stack log -----\n{process.log()}\n----- end of local stack log -----")
        process.cleanup()
