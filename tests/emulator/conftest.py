"""Fixtures for the Stripe emulator's tests: a served emulator, an SDK client and a webhook receiver."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
for _path in (ROOT / "layers" / "common", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import stripe  # noqa: E402

from local.stripe_emulator import Emulator, RunningServer, serve  # noqa: E402
from partnerhub.clock import ManualClock  # noqa: E402

SECRET = "whsec_test_secret"


class Receiver:
    """A local webhook endpoint that records what it gets and can be told to fail the next N deliveries."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail_next = 0
        self.delay_s = 0.0
        """How long each delivery is held before it is answered (to see deliveries overlap)."""
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    receiver.in_flight += 1
                    receiver.most_in_flight = max(receiver.most_in_flight, receiver.in_flight)
                time.sleep(receiver.delay_s)
                with receiver._lock:
                    receiver.in_flight -= 1
                    failing = receiver.fail_next > 0
                    if failing:
                        receiver.fail_next -= 1
                    else:
                        receiver.received.append({"body": body, "signature": self.headers["Stripe-Signature"]})
                self.send_response(500 if failing else 200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/webhook"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def event_ids(self) -> list[str]:
        with self._lock:
            return [json.loads(item["body"])["id"] for item in self.received]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def clock() -> ManualClock:
    # Near real time, so webhook signatures pass construct_event's default tolerance.
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def emulator(clock: ManualClock, receiver: Receiver) -> Emulator:
    return Emulator(clock, webhook_url=receiver.url, webhook_secret=SECRET, seed=7, webhook_backoff_s=0.01)


@pytest.fixture
def server(emulator: Emulator) -> Iterator[RunningServer]:
    running = serve(emulator, "127.0.0.1", 0)
    yield running
    running.stop()


def make_client(server: RunningServer, key: str = "sk_test_emulator", retries: int = 0) -> stripe.StripeClient:
    """The official SDK pointed at the emulator."""
    return stripe.StripeClient(
        key,
        base_addresses={"api": server.url, "files": server.url, "connect": server.url},
        max_network_retries=retries,
    )


@pytest.fixture
def client(server: RunningServer) -> stripe.StripeClient:
    return make_client(server)


@pytest.fixture
def client_for(server: RunningServer) -> Any:
    """``client_for(key, retries=0)``: an SDK client with another key or with the SDK's own retries."""
    return lambda key="sk_test_emulator", retries=0: make_client(server, key, retries)


@pytest.fixture
def customer_with_card(client: stripe.StripeClient) -> tuple[str, str]:
    """A customer whose default payment method is a fresh visa: (customer id, payment method id)."""
    customer = client.v1.customers.create({"name": "Ada Lovelace", "email": "ada@example.com"})
    pm = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": pm.id}})
    return customer.id, pm.id
