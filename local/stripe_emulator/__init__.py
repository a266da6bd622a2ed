"""A stateful Stripe API emulator for the local stack and the tests; never deployed.

The official ``stripe`` SDK pointed at it works for customers, payment methods, setup intents, invoice
items, invoices and events. See :class:`Emulator` and :func:`serve`.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import partnerhub  # noqa: F401
except ImportError:  # pragma: no cover - only when run as a program without the layer on the path
    # ``python -m local.stripe_emulator`` from the repository root: the clock lives in the common layer.
    sys.path.append(str(Path(__file__).resolve().parents[2] / "layers" / "common"))

from .app import Emulator
from .faults import FaultPlan
from .server import RunningServer, serve
from .webhooks import sign

__all__ = ["Emulator", "FaultPlan", "RunningServer", "serve", "sign"]
