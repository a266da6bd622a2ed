"""Month-end invoicing rules: the partner-month state machine, Stripe status ranks, past due, line descriptions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from partnerhub.domain.billing import InvoiceLine, LicenseCharge
from partnerhub.domain.invoicing import (
    Action,
    InvoiceRecord,
    PeriodNotEnded,
    StandingChange,
    Step,
    StripeState,
    billable_period,
    is_past_due,
    line_description,
    money,
    next_action,
    previous_period,
    require_ended,
    standing_change,
    supersedes,
)
from partnerhub.domain.periods import Period

# Real Stripe histories of one invoice, oldest first (attempt_count only grows).
HISTORIES = [
    [("draft", 0), ("open", 0), ("paid", 1)],
    [("draft", 0), ("open", 0), ("open", 1), ("open", 2), ("paid", 3)],
    [("draft", 0), ("open", 0), ("open", 1), ("uncollectible", 1), ("paid", 2)],
    [("draft", 0), ("open", 0), ("open", 1), ("uncollectible", 1), ("void", 1)],
    [("draft", 0), ("open", 0), ("open", 1), ("void", 1)],
    [("draft", 0), ("open", 0), ("paid", 0)],
]


def apply_all(states: list[tuple[str, int]]) -> StripeState | None:
    current: StripeState | None = None
    for status, attempts in states:
        incoming = StripeState(status, attempts)
        if supersedes(current, incoming):
            current = incoming
    return current


@given(st.sampled_from(HISTORIES).flatmap(lambda h: st.tuples(st.just(h), st.permutations(h))))
def test_any_delivery_order_ends_where_the_history_ends(
    case: tuple[list[tuple[str, int]], list[tuple[str, int]]],
) -> None:
    history, shuffled = case
    assert apply_all(shuffled) == StripeState(*history[-1])


@given(
    st.sampled_from(HISTORIES).flatmap(
        lambda h: st.tuples(st.just(h), st.lists(st.sampled_from(h), min_size=1, max_size=12))
    )
)
def test_with_duplicates_and_gaps_the_newest_delivered_state_wins(
    case: tuple[list[tuple[str, int]], list[tuple[str, int]]],
) -> None:
    history, deliveries = case
    newest = max(history.index(d) for d in deliveries)
    assert apply_all(deliveries) == StripeState(*history[newest])


@pytest.mark.parametrize(
    ("current", "incoming", "expected"),
    [
        (None, ("draft", 0), True),
        (("draft", 0), ("open", 0), True),
        (("open", 0), ("draft", 0), False),
        (("open", 2), ("open", 1), False),
        (("open", 1), ("open", 1), True),
        (("paid", 1), ("open", 1), False),
        (("paid", 1), ("void", 1), False),
        (("void", 1), ("paid", 1), False),
        (("uncollectible", 1), ("paid", 2), True),
        (("uncollectible", 1), ("void", 1), True),
        (("paid", 1), ("uncollectible", 1), False),
        (("open", 1), ("mystery", 9), False),
    ],
)
def test_rank_rules(current: tuple[str, int] | None, incoming: tuple[str, int], expected: bool) -> None:
    assert supersedes(None if current is None else StripeState(*current), StripeState(*incoming)) is expected


@pytest.mark.parametrize(
    ("status", "attempts", "past_due", "change"),
    [
        ("draft", 0, False, StandingChange.KEEP),
        ("open", 0, False, StandingChange.KEEP),
        ("open", 1, True, StandingChange.MARK),
        ("uncollectible", 1, True, StandingChange.MARK),
        ("paid", 2, False, StandingChange.CLEAR),
        ("void", 1, False, StandingChange.CLEAR),
    ],
)
def test_past_due_and_standing(status: str, attempts: int, past_due: bool, change: StandingChange) -> None:
    assert is_past_due(status, attempts) is past_due
    assert standing_change(status, attempts) is change


def record(**fields: object) -> InvoiceRecord:
    return InvoiceRecord(partner_id="agency-1", period="2026-10", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (None, Action.CREATE_DRAFT),
        (record(), Action.CREATE_DRAFT),
        (record(draft_requested=True), Action.CREATE_DRAFT),
        (record(step=Step.DRAFTED, invoice_id="in_1", status="draft"), Action.ADD_LINES),
        (record(step=Step.ITEMIZED, invoice_id="in_1", status="draft"), Action.FINALIZE),
        (record(step=Step.FINALIZED, invoice_id="in_1", status="open"), Action.DONE),
        # a webhook told us it was finalized before the worker recorded its own step
        (record(step=Step.ITEMIZED, invoice_id="in_1", status="paid"), Action.DONE),
        (record(step=Step.NOTHING_TO_BILL, status="nothing_to_bill"), Action.DONE),
    ],
)
def test_the_next_step_follows_from_what_the_record_proves(state: InvoiceRecord | None, action: Action) -> None:
    assert next_action(state) is action


def line(days: list[int], daily: int = 14, monthly: int = 395) -> InvoiceLine:
    charges = tuple(LicenseCharge(f"k{i}", d, min(d * daily, monthly)) for i, d in enumerate(days))
    return InvoiceLine(
        product="jetpack-scan",
        licenses=len(days),
        license_days=sum(days),
        daily_price=daily,
        monthly_price=monthly,
        amount=sum(c.amount for c in charges),
        charges=charges,
    )


def test_a_description_names_product_licenses_days_and_the_cap_when_it_applied() -> None:
    assert line_description("Jetpack Scan", line([31, 20, 6])) == (
        "Jetpack Scan \u2014 3 licenses, 57 license-days \u00d7 $0.14 (capped at $3.95 per license)"
    )
    assert line_description("Jetpack Scan", line([1])) == "Jetpack Scan \u2014 1 license, 1 license-day \u00d7 $0.14"


def test_money_is_spelled_from_cents() -> None:
    assert [money(c) for c in (0, 7, 1995, 123456789)] == ["$0.00", "$0.07", "$19.95", "$1,234,567.89"]


def test_only_an_ended_month_is_billable_and_the_schedule_bills_the_one_before() -> None:
    october = Period(2026, 10)
    assert not billable_period(october, datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC))
    assert billable_period(october, datetime(2026, 11, 1, tzinfo=UTC))
    assert previous_period(datetime(2026, 11, 1, 0, 15, tzinfo=UTC)) == october
    assert previous_period(datetime(2027, 1, 1, 0, 15, tzinfo=UTC)) == Period(2026, 12)


# ---------------------------------------------------------------------------------------------- Stripe's invoice read


def _stripe_invoice(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "in_1",
        "status": "open",
        "attempt_count": 0,
        "total": 476,
        "amount_due": 476,
        "amount_paid": 0,
        "amount_remaining": 476,
        "starting_balance": 0,
        "ending_balance": 0,
        "due_date": None,
        "created": 1_796_083_200,  # 2026-12-01T00:00:00Z
        "next_payment_attempt": 1_796_086_800,
        "status_transitions": {"finalized_at": 1_796_083_200, "paid_at": None},
    }
    return base | fields


def test_a_charge_automatically_invoice_is_due_when_finalized_and_its_failure_comes_from_its_payment_intent() -> None:
    from partnerhub.repository.invoices import stripe_fields

    # Given an open invoice whose first attempt was declined on a visa ending 0341
    intent = {
        "id": "pi_1",
        "last_payment_error": {
            "code": "card_declined",
            "message": "Your card was declined.",
            "payment_method": {"card": {"brand": "visa", "last4": "0341"}},
        },
    }
    invoice = _stripe_invoice(
        attempt_count=1,
        payments={"data": [{"payment": {"type": "payment_intent", "payment_intent": intent}}]},
    )

    fields = stripe_fields(invoice)

    assert fields["due_date"] == "2026-12-01T00:00:00Z" and fields["next_payment_attempt"] == "2026-12-01T01:00:00Z"
    assert fields["past_due"] is True and fields["amount_remaining"] == 476
    assert fields["last_payment_error"] == {
        "code": "card_declined",
        "message": "Your card was declined.",
        "payment_method": {"brand": "visa", "last4": "0341"},
    }


def test_an_invoice_under_the_minimum_carries_its_ending_balance_and_a_paid_one_drops_the_error() -> None:
    from partnerhub.repository.invoices import stripe_fields

    small = stripe_fields(_stripe_invoice(status="paid", total=7, amount_due=0, ending_balance=7))
    assert small["carried_to_next"] == 7 and small["last_payment_error"] is None and small["past_due"] is False
    following = stripe_fields(_stripe_invoice(total=495, starting_balance=7, amount_due=502))
    assert following["starting_balance"] == 7 and following["carried_to_next"] == 0
    # An object that does not show its payments leaves the recorded error alone
    assert "last_payment_error" not in stripe_fields(_stripe_invoice(attempt_count=1))
    # Stripe's own due date wins (send_invoice)
    assert stripe_fields(_stripe_invoice(due_date=1_797_292_800))["due_date"] == "2026-12-15T00:00:00Z"


class TestOnlyAnEndedMonthIsInvoiced:
    def test_a_month_is_refused_until_its_last_second_has_passed(self) -> None:
        # Given November 2026, asked for at its very last second
        november = Period(2026, 11)
        with pytest.raises(PeriodNotEnded) as refused:
            require_ended(november, datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC))
        # Then it is a 409 that says when the month ends
        assert (refused.value.status, refused.value.code) == (409, "period_not_ended")
        assert refused.value.message == (
            "2026-11 has not ended yet (it ends 2026-12-01T00:00:00Z); only a month that has ended can be invoiced"
        )
        # And from midnight on 1 December it is a month that can be invoiced
        assert require_ended(november, datetime(2026, 12, 1, tzinfo=UTC)) == november
