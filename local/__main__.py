"""``python -m local``: start the whole local stack on 127.0.0.1 and serve until Ctrl-C or SIGTERM.

Ports: ``API_PORT`` (default 3000; API and portal), ``STRIPE_PORT`` (default 12111; the Stripe
emulator), ``MOTO_PORT`` (default: any free port). ``0`` picks a free port. ``LOCAL_STACK_INFO``
names a file to write the chosen ports to, as JSON, once everything serves. ``LOCAL_TEMPLATE``
points at another template (default: ``template.yaml`` at the repository root). ``LOCAL_SEED=0``,
``LOCAL_STRIPE_EMULATOR=0`` and ``LOCAL_SQS_POLL=0`` switch off seeding, the Stripe emulator and the
background SQS pollers (then ``POST /_local/drain`` processes the queues on demand).

``LOCAL_STATE_DIR`` (``make run`` sets ``.local/state``) keeps the stack's data across restarts: it is
loaded at start when a snapshot is there and saved while the stack runs and when it stops (see
``local/persistence.py``); ``LOCAL_STATE_RESET=1`` (``make reset``) discards it first. Without
``LOCAL_STATE_DIR`` (the tests) nothing is kept.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any


def _flag(name: str) -> bool:
    """On unless the variable says 0/false/no/off."""
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no", "off")


def main() -> int:
    """Start the stack, print the banner, wait for a signal, stop cleanly."""
    from local.ports import DEFAULT_API_PORT, DEFAULT_STRIPE_PORT, port
    from local.stack import banner, start_stack, write_info

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
            api_port=port("API_PORT", DEFAULT_API_PORT),
            stripe_port=port("STRIPE_PORT", DEFAULT_STRIPE_PORT),
            moto_port=port("MOTO_PORT", 0),
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
    try:
        keeper, state_line = _keep_state(stack)
    except Exception as exc:
        stack.stop()
        print(f"local: {exc}", file=sys.stderr)
        return 1
    text = banner(stack).rstrip("\n")
    print(f"{text}\n  state          {state_line}\n", flush=True)
    info_path = os.environ.get("LOCAL_STACK_INFO")
    if info_path:
        write_info(stack, info_path)
    try:
        while not stopping.wait(1):
            pass
    finally:
        print("local: stopping", flush=True)
        stack.stop()
        if keeper is not None:
            keeper.stop()
            print(f"local: state saved to {keeper.path}", flush=True)
    return 0


def _keep_state(stack: Any) -> tuple[Any, str]:
    """Load the saved state (unless reset) and start keeping it; the banner's line about it."""
    from local import persistence

    directory = os.environ.get("LOCAL_STATE_DIR", "").strip()
    if not directory:
        return None, "not kept (set LOCAL_STATE_DIR, as `make run` does, to keep data across restarts)"
    path = Path(directory) / persistence.FILE_NAME
    clock, emulator = stack.clock, getattr(stack, "emulator", None)
    migrated = False
    if os.environ.get("LOCAL_STATE_RESET") and _flag("LOCAL_STATE_RESET"):
        path.unlink(missing_ok=True)
        line = f"started clean (reset); kept in {path}"
    else:
        try:
            data = persistence.read(path)
        except persistence.SnapshotError as exc:
            raise RuntimeError(f"{exc}; `make reset` starts clean (and discards it)") from exc
        if data is None:
            line = f"started clean (no saved state); kept in {path}"
        else:
            loaded = persistence.restore(data, clock, emulator)
            line = (
                f"loaded from {path} (saved {loaded.saved_at}: {loaded.items:,} items, "
                f"{loaded.messages} queued messages, {loaded.stripe_objects:,} Stripe objects)"
            )
            # Data kept by older code gets the migrations a deployment would have run on it (saved at once).
            from local.migrations import run_pending

            migrated = bool(run_pending(loaded.migrations))
    keeper = persistence.Keeper(path, clock, emulator)
    if not migrated:
        keeper.mark_saved()
    keeper.start()
    return keeper, line + "; `make reset` starts clean"


if __name__ == "__main__":
    sys.exit(main())
