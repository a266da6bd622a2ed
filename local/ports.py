"""The local stack's ports, read the one way every command reads them: ``API_PORT`` (the API and the portal,
default 3000) and ``STRIPE_PORT`` (the Stripe emulator, default 12111). ``make run`` starts the stack on them;
``make seed`` and ``make invoice`` talk to the stack on ``API_PORT``. Light on purpose: the scripts import it
without loading the stack."""

from __future__ import annotations

import os
from collections.abc import Mapping

HOST = "127.0.0.1"
DEFAULT_API_PORT = 3000
DEFAULT_STRIPE_PORT = 12111


def port(name: str, default: int, environ: Mapping[str, str] | None = None) -> int:
    """The port in the variable ``name`` (``0`` picks a free one when starting), else ``default``."""
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a port number, not {raw!r}") from None
    if not 0 <= value <= 65535:
        raise SystemExit(f"{name} must be between 0 and 65535, not {value}")
    return value


def api_url(environ: Mapping[str, str] | None = None) -> str:
    """Where a running local stack answers: ``http://127.0.0.1:$API_PORT``."""
    return f"http://{HOST}:{port('API_PORT', DEFAULT_API_PORT, environ)}"
