"""What Stripe.js does in the browser, over HTTP against the Stripe emulator.

``confirm`` confirms a SetupIntent or a PaymentIntent (``kind``: ``"setup_intents"`` or ``"payment_intents"``)
with the publishable key and the ``client_secret``, sending ``use_stripe_sdk=true`` as ``confirmCardSetup`` and
``confirmCardPayment`` do. A card that needs 3-D Secure leaves the intent ``requires_action``; ``authenticate``
then gives the cardholder's answer (``"complete"`` or ``"fail"``) where the intent's ``next_action`` points (the
emulator's stand-in for Stripe's hosted test page), and ``read`` fetches the intent again, as Stripe.js does to
learn how it ended. ``docs/stripe-emulator.md`` describes the emulator's side.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

TIMEOUT_S = 10


def confirm(
    stripe_url: str,
    kind: str,
    intent_id: str,
    client_secret: str,
    publishable_key: str,
    *,
    payment_method: str | None = None,
) -> requests.Response:
    data = {"client_secret": client_secret, "use_stripe_sdk": "true"}
    if payment_method is not None:
        data["payment_method"] = payment_method
    return requests.post(
        f"{stripe_url}/v1/{kind}/{intent_id}/confirm",
        data=data,
        headers={"Authorization": f"Bearer {publishable_key}"},
        timeout=TIMEOUT_S,
    )


def authenticate(intent: Mapping[str, Any], outcome: str) -> requests.Response:
    """Answer the challenge of an intent that is ``requires_action`` (as its confirmation returned it)."""
    page = intent["next_action"]["use_stripe_sdk"]["stripe_js"]
    return requests.post(str(page), data={"outcome": outcome}, timeout=TIMEOUT_S)


def read(stripe_url: str, kind: str, intent_id: str, client_secret: str, publishable_key: str) -> dict[str, Any]:
    reply = requests.get(
        f"{stripe_url}/v1/{kind}/{intent_id}",
        params={"client_secret": client_secret},
        headers={"Authorization": f"Bearer {publishable_key}"},
        timeout=TIMEOUT_S,
    )
    reply.raise_for_status()
    body: dict[str, Any] = reply.json()
    return body
