"""3-D Secure challenges: what a Setup- or PaymentIntent's ``next_action`` points the cardholder at.

A card whose issuer asks for authentication leaves the intent ``requires_action``; Stripe.js then shows the
issuer's challenge (https://docs.stripe.com/payments/3d-secure/authentication-flow), in test mode Stripe's test
page with "Complete authentication" and "Fail authentication". Here each such ``next_action`` names a challenge:
``use_stripe_sdk.stripe_js`` is the emulator's stand-in for Stripe's hosted challenge page,
``/_emulator/three_d_secure/<source>?client_secret=<secret>`` (the next_action shape is Stripe's:
``{"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js", "source"}}``).
Only an intent's newest challenge counts, and only while the intent is ``requires_action``: confirming again
replaces it, as Stripe.js's ``confirmCardPayment`` does with a new challenge.
"""

from __future__ import annotations

import hmac
from typing import Any

from ..errors import invalid, missing
from ..store import Store

PATH = "/_emulator/three_d_secure"
KINDS = ("setup_intent", "payment_intent")


def require_action(store: Store, base_url: str, kind: str, intent: dict[str, Any], pm: dict[str, Any]) -> None:
    """Leave ``intent`` (a ``kind`` in :data:`KINDS`) ``requires_action`` with a new challenge for ``pm``."""
    source = store.new_id("src")
    secret = f"src_client_secret_{store.token(24)}"
    store.private[source] = {"kind": kind, "intent": intent["id"], "client_secret": secret}
    store.private.setdefault(intent["id"], {})["challenge"] = source
    intent.update(
        status="requires_action",
        payment_method=pm["id"],
        next_action={
            "type": "use_stripe_sdk",
            "use_stripe_sdk": {
                "type": "three_d_secure_redirect",
                "stripe_js": f"{base_url}{PATH}/{source}?client_secret={secret}",
                "source": source,
            },
        },
    )


def forget(store: Store, intent: dict[str, Any]) -> None:
    """The intent's challenge no longer stands (it needs action again, with nobody there to be challenged)."""
    store.private.get(intent["id"], {}).pop("challenge", None)


def pending(store: Store, source: str, client_secret: str) -> tuple[str, dict[str, Any]]:
    """The kind and the intent of the challenge ``source`` while it waits for its outcome.

    An unknown source and a wrong secret get the same 404, so the answer never says which; a challenge whose
    intent moved on (completed, failed, confirmed again, canceled) is a 400: its outcome was already given.
    """
    record = store.private.get(source) or {}
    secret = str(record.get("client_secret", ""))
    if record.get("kind") not in KINDS or not hmac.compare_digest(secret.encode(), client_secret.encode()):
        raise missing("3D Secure challenge", source, "source")
    kind = str(record["kind"])
    intent = store.objects[kind][str(record["intent"])]
    if intent["status"] != "requires_action" or store.private.get(intent["id"], {}).get("challenge") != source:
        raise invalid(
            f"This 3D Secure challenge is no longer pending: its {kind} has a status of {intent['status']}.",
            code=f"{kind}_unexpected_state",
        )
    return kind, intent
