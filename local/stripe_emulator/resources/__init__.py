"""One module per Stripe resource: object builders, state transitions and routes."""

from __future__ import annotations

from ..routing import Route
from . import customers, events, invoices, payment_intents, payment_methods, setup_intents

ROUTES: list[Route] = [
    *customers.ROUTES,
    *payment_methods.ROUTES,
    *setup_intents.ROUTES,
    *invoices.ROUTES,
    *payment_intents.ROUTES,
    *events.ROUTES,
]
