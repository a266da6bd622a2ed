"""Run an :class:`Emulator` on a local port in a background thread."""

from __future__ import annotations

import threading

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import Emulator


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class RunningServer:
    """A started server: :attr:`url` is its real address; :meth:`stop` shuts it down."""

    def __init__(self, emulator: Emulator, server: BaseWSGIServer) -> None:
        self.emulator = emulator
        self._server = server
        self.host = str(server.host)
        self.port = server.server_port
        self.url = f"http://{self.host}:{self.port}"
        # A short poll interval keeps stop() quick, which matters when every test starts its own server.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="stripe-emulator", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and stop the emulator's webhook thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.emulator.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(emulator: Emulator, host: str = "127.0.0.1", port: int = 12111, *, quiet: bool = True) -> RunningServer:
    """Serve ``emulator`` on ``host:port`` (port 0 picks a free one) and point its URLs at that address.

    ``quiet`` drops the per-request access log.
    """
    server = make_server(host, port, emulator, threaded=True, request_handler=_QuietHandler if quiet else None)
    running = RunningServer(emulator, server)
    emulator.base_url = running.url
    emulator.start_collector()
    return running
