"""``python -m local.stripe_emulator [--port N]``: the emulator on 127.0.0.1 with a manual clock."""

from __future__ import annotations

import argparse
import os
import signal
import threading

from partnerhub.clock import ManualClock

from . import Emulator, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Stripe emulator")
    parser.add_argument("--port", type=int, default=int(os.environ.get("STRIPE_PORT", "12111")))
    args = parser.parse_args(argv)
    emulator = Emulator(
        ManualClock(),
        webhook_url=os.environ.get("STRIPE_WEBHOOK_URL") or None,
        webhook_secret=os.environ.get("STRIPE_WEBHOOK_SECRET", "whsec_local"),
    )
    # Local only: the emulator accepts any test key, so it never listens beyond loopback.
    server = serve(emulator, "127.0.0.1", args.port, quiet=False)
    print(f"Stripe emulator listening on {server.url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
