"""Stripe answering 429, 500 or slowly on a share of calls (the emulator's seeded fault injection) while
partners change cards: every answer is a success or a clear 502/503 (never a 500), a retry with the same
Idempotency-Key finishes the job, and Stripe ends with one customer and exactly the cards asked for.

Month-end under faults is covered once the invoicing functions serve: see docs/security.md."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.reliability.conftest import LocalStack, new_partner

CARDS = ["pm_card_visa", "pm_card_mastercard", "pm_card_amex"]


def stripe_customers(stack: LocalStack, partner: str) -> list[dict[str, Any]]:
    reply = requests.get(
        f"{stack.stripe_url}/v1/customers", params={"limit": 100}, auth=("sk_test_local", ""), timeout=30
    )
    reply.raise_for_status()
    return [c for c in reply.json()["data"] if (c.get("metadata") or {}).get("partner_id") == partner]


@pytest.mark.parametrize("seed", [1, 2])
def test_card_changes_under_stripe_faults_end_with_exactly_the_cards_asked_for(
    stack: LocalStack, clean_faults: None, seed: int
) -> None:
    partner = new_partner()
    api = stack.client(partner)

    # Given Stripe failing or slowing a share of calls
    plan = {"rate_limit": 0.3, "server_error": 0.2, "delay_ms": 50, "delay_share": 0.2, "seed": seed}
    assert requests.post(f"{stack.stripe_url}/_emulator/faults", json=plan, timeout=10).status_code == 200

    # When the partner adds three cards, each with its own Idempotency-Key
    first = [
        api.post("/v1/payment-methods", json={"payment_method_id": pm}, headers={"Idempotency-Key": f"add-{pm}"})
        for pm in CARDS
    ]

    # Then each answer is a success or a clear upstream failure, never a 500
    assert all(r.status_code in (201, 502, 503) for r in first), [r.text for r in first]
    assert all(set(r.json()) == {"error"} for r in first if r.status_code != 201)

    injected = requests.get(f"{stack.stripe_url}/_emulator/faults", timeout=10).json()["injected"]
    assert injected, "the fault plan injected nothing: the test would prove nothing"

    # And once Stripe recovers, retrying the same requests finishes the job without duplicates
    requests.delete(f"{stack.stripe_url}/_emulator/faults", timeout=10)
    for pm in CARDS:
        again = api.post(
            "/v1/payment-methods", json={"payment_method_id": pm}, headers={"Idempotency-Key": f"add-{pm}"}
        )
        assert again.status_code == 201, again.text
    cards = api.get("/v1/payment-methods").json()["items"]
    assert len(cards) == len(CARDS)
    assert sum(1 for c in cards if c["primary"]) == 1
    assert len(stripe_customers(stack, partner)) == 1
