"""The outcome of a 3-D Secure challenge, as the cardholder gives it on Stripe's hosted test page.

In test mode Stripe.js shows the challenge with "Complete authentication" and "Fail authentication"
(https://docs.stripe.com/payments/3d-secure/authentication-flow); closing it is a failure too (Stripe.js then
answers ``*_authentication_failure``). The emulator's stand-in for that page is
``/_emulator/three_d_secure/<source>``: ``GET`` shows it, ``POST outcome=complete|fail`` (with the challenge's
``client_secret``) gives the answer, which settles the intent the challenge belongs to. Stripe.js then reads the
intent again to learn how it ended; so does the portal's stand-in for it.
"""

from __future__ import annotations

import html
from typing import Any

from ..errors import invalid
from ..store import Store
from . import challenges, payment_intents, setup_intents

OUTCOMES = ("complete", "fail")


def describe(store: Store, source: str, client_secret: str) -> dict[str, Any]:
    """What a pending challenge is for: ``{source, kind, <kind>: intent id, amount, currency}``."""
    kind, intent = challenges.pending(store, source, client_secret)
    return {
        "source": source,
        "kind": kind,
        kind: intent["id"],
        "amount": intent.get("amount"),
        "currency": intent.get("currency"),
    }


def answer(store: Store, source: str, client_secret: str, outcome: str) -> dict[str, Any]:
    """Settle the challenge ``source`` with ``outcome`` (``complete`` or ``fail``); the intent's id and status."""
    if outcome not in OUTCOMES:
        raise invalid(f"Invalid outcome: must be one of {', '.join(OUTCOMES)}.", param="outcome")
    kind, intent = challenges.pending(store, source, client_secret)
    completed = outcome == "complete"
    if kind == "setup_intent":
        setup_intents.after_challenge(store, intent, completed=completed)
    else:
        payment_intents.after_challenge(store, intent, completed=completed)
    return {"source": source, "outcome": outcome, kind: intent["id"], "status": intent["status"]}


def test_page(described: dict[str, Any], client_secret: str) -> str:
    """A plain HTML stand-in for Stripe's 3-D Secure test page: what is being authenticated, and two forms that
    post the outcome back to the page's own address."""
    kind = str(described["kind"])
    if kind == "payment_intent":
        amount = int(described["amount"] or 0)
        what = f"a payment of {amount // 100:,}.{amount % 100:02d} {str(described['currency']).upper()}"
    else:
        what = "saving this card for future payments"
    secret = html.escape(client_secret, quote=True)
    forms = "".join(
        f"<form method='post'><input type='hidden' name='client_secret' value='{secret}'>"
        f"<button name='outcome' value='{outcome}'>{label}</button></form>"
        for outcome, label in (("complete", "Complete authentication"), ("fail", "Fail authentication"))
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>3D Secure test page</title></head><body>"
        f"<h1>3D Secure test page</h1><p>The card's bank asks the cardholder to authenticate {html.escape(what)} "
        f"({html.escape(str(described[kind]))}).</p>{forms}</body></html>"
    )
