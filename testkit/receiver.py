"""An agency's webhook endpoint for tests: an HTTP server on 127.0.0.1 (the one address the local stack delivers to)
that keeps every request it gets and answers each path as the test says: a status, a redirect, a closed connection,
a huge body, or nothing until the test opens a gate."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Behaviour = Callable[[http.server.BaseHTTPRequestHandler], None]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


def answer(status: int, body: bytes = b"ok", headers: dict[str, str] | None = None) -> Behaviour:
    """Answer ``status`` with ``body``."""

    def behave(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return behave


def hang_up() -> Behaviour:
    """Close the connection without an answer."""

    def behave(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.connection.shutdown(socket.SHUT_RDWR)
        handler.close_connection = True

    return behave


def wait_for(gate: threading.Event, then: Behaviour, longest: float = 30.0) -> Behaviour:
    """Answer nothing until ``gate`` opens (at most ``longest`` seconds), then as ``then``."""

    def behave(handler: http.server.BaseHTTPRequestHandler) -> None:
        gate.wait(longest)
        with contextlib.suppress(OSError):  # the sender gave up waiting and closed its end
            then(handler)

    return behave


@dataclass
class Receiver:
    """Start with :func:`start`; ``url(path)`` is where an endpoint should point."""

    server: http.server.ThreadingHTTPServer
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def path(self, behaviour: Behaviour | None = None) -> str:
        """A new path of its own, answered as ``behaviour`` (default: 200)."""
        path = f"/hooks/{uuid.uuid4().hex[:12]}"
        self.behaviours[path] = behaviour or answer(200)
        return path

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def wait(self, path: str, count: int, within: float = 30.0) -> list[Received]:
        """The requests ``path`` got, once there are at least ``count`` (fails after ``within`` seconds)."""
        deadline = time.monotonic() + within
        while True:
            found = self.at(path)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{path} got {len(found)} request(s), not {count}, within {within}s")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start() -> Receiver:
    """A receiver serving on a free port of 127.0.0.1, each request on its own thread."""
    box: dict[str, Receiver] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            receiver = box["receiver"]
            length = int(self.headers.get("Content-Length", 0))
            got = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
            with receiver.lock:
                receiver.received.append(got)
            receiver.behaviours.get(self.path, answer(404, b"no such hook"))(self)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    box["receiver"] = Receiver(server)
    threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True).start()
    return box["receiver"]
