"""``python -m local``: start the whole local stack on 127.0.0.1 and serve until Ctrl-C or SIGTERM.

Ports: ``API_PORT`` (default 3000; API and portal), ``STRIPE_PORT`` (default 12111; the Stripe
emulator), ``MOTO_PORT`` (default: any free port). ``0`` picks a free port. ``LOCAL_STACK_INFO``
names a file to write the chosen ports to, as JSON, once everything serves. ``LOCAL_TEMPLATE``
points at another template (default: ``template.yaml`` at the repository root). ``LOCAL_SEED=0``,
``LOCAL_STRIPE_EMULATOR=0`` and ``LOCAL_SQS_POLL=0`` switch off seeding, the Stripe emulator and the
background SQS pollers (then ``POST /_local/drain`` processes the queues on demand).
"""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a port number, not {raw!r}") from None
    if not 0 <= port <= 65535:
        raise SystemExit(f"{name} must be between 0 and 65535, not {port}")
    return port


def _flag(name: str) -> bool:
    """On unless the variable says 0/false/no/off."""
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no", "off")


def main() -> int:
    """Start the stack, print the banner, wait for a signal, stop cleanly."""
    from local.stack import DEFAULT_API_PORT, DEFAULT_STRIPE_PORT, banner, start_stack, write_info

    # Line-buffered output: the request log should appear as requests happen, even when piped.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        stack = start_stack(
            api_port=_port("API_PORT", DEFAULT_API_PORT),
            stripe_port=_port("STRIPE_PORT", DEFAULT_STRIPE_PORT),
            moto_port=_port("MOTO_PORT", 0),
            template_path=Path(os.environ["LOCAL_TEMPLATE"]) if os.environ.get("LOCAL_TEMPLATE") else None,
            seed=_flag("LOCAL_SEED"),
            stripe=_flag("LOCAL_STRIPE_EMULATOR"),
            poll_queues=_flag("LOCAL_SQS_POLL"),
        )
    except FileNotFoundError as exc:
        print(f"local: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"local: could not start: {exc} (is another stack running? set API_PORT/STRIPE_PORT)", file=sys.stderr)
        return 1
    print(banner(stack), flush=True)
    info_path = os.environ.get("LOCAL_STACK_INFO")
    if info_path:
        write_info(stack, info_path)
    try:
        while not stopping.wait(1):
            pass
    finally:
        print("local: stopping", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
