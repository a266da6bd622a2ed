"""An invoice's page: whether each line's cap applied, its payments and their cards, and how a line is priced on
Stripe (quantity in license-days) so that Stripe's amount is the month's amount to the cent."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from partnerhub.domain.invoice_detail import CardSeen, cap_applied, payments
from partnerhub.payments.invoicing import line_price


def line(days: int, daily: int, monthly: int, amount: int) -> dict[str, int]:
    return {"license_days": days, "daily_price": daily, "monthly_price": monthly, "amount": amount}


def test_the_cap_applied_when_a_license_reached_the_monthly_price() -> None:
    # Backup at 17c a day, capped at 495c: two licenses all of October (31 days: 527c each, capped to 495c)
    assert cap_applied(line(62, 17, 495, 990)) is True
    # One license for 10 days: 170c, under the cap
    assert cap_applied(line(10, 17, 495, 170)) is False
    # Three licenses, one of them capped: 31 + 10 + 5 days = 46 days x 17c = 782c; billed 495 + 170 + 85 = 750c
    assert cap_applied(line(46, 17, 495, 750)) is True
    # Exactly at the cap (29 days x 17c = 493c, cap 493c): the cap lowered nothing
    assert cap_applied(line(29, 17, 493, 493)) is False


def test_payments_name_their_card_as_saved_and_say_what_each_paid_or_asks() -> None:
    stored = [
        {
            "id": "inpay_1",
            "status": "open",
            "amount_paid": 0,
            "amount_requested": 1244,
            "created": "2026-11-01T01:15:00Z",
            "paid_at": None,
            "payment_method_id": "pm_gone",
        },
        {
            "id": "inpay_2",
            "status": "paid",
            "amount_paid": 1244,
            "amount_requested": 1244,
            "created": "2026-11-03T09:00:00Z",
            "paid_at": "2026-11-03T09:00:00Z",
            "payment_method_id": "pm_visa",
        },
        {"id": "inpay_3", "status": "canceled", "amount_requested": 500, "payment_method_id": None},
    ]

    seen = payments(stored, {"pm_visa": CardSeen("visa", "4242")})

    assert [(p.id, p.status, p.amount) for p in seen] == [
        ("inpay_1", "open", 1244),
        ("inpay_2", "paid", 1244),
        ("inpay_3", "canceled", 500),
    ]
    # A card removed since, and no card tried yet, both name no card
    assert [p.card for p in seen] == [None, CardSeen("visa", "4242"), None]
    assert seen[1].paid_at == "2026-11-03T09:00:00Z"


def test_an_uncapped_line_is_its_license_days_at_the_daily_price() -> None:
    assert line_price(line(72, 17, 495, 72 * 17)) == {"quantity": 72, "unit_amount_decimal": "17"}


def test_a_capped_line_keeps_its_days_as_quantity_at_the_average_price() -> None:
    # 72 days, 1160c (two licenses capped at 495c): 1160 / 72 = 16.111... c a day
    assert line_price(line(72, 17, 495, 1160)) == {"quantity": 72, "unit_amount_decimal": "16.111111111111"}


def test_a_line_without_days_is_charged_by_amount() -> None:
    assert line_price(line(0, 17, 495, 0)) == {"amount": 0}


@given(
    days=st.integers(min_value=1, max_value=31 * 100_000),
    amount=st.integers(min_value=0, max_value=10**10),
    rounding=st.sampled_from([ROUND_HALF_UP, ROUND_HALF_EVEN]),
)
def test_stripe_rounds_quantity_times_unit_price_back_to_the_amount(days: int, amount: int, rounding: str) -> None:
    """Stripe multiplies quantity by the unit price and rounds to whole cents: whatever its rounding, the product of
    the price sent is within far less than half a cent of the month's amount (worked with exact fractions)."""
    price = line_price(line(days, 1, 10**11, amount))

    product = Fraction(price["quantity"]) * Fraction(price["unit_amount_decimal"])

    assert abs(product - amount) < Fraction(1, 2)
    rounded = (Decimal(price["quantity"]) * Decimal(price["unit_amount_decimal"])).quantize(Decimal(1), rounding)
    assert rounded == amount
    assert len(price["unit_amount_decimal"].partition(".")[2]) <= 12  # Stripe takes at most 12 decimal places
