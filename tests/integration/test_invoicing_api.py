"""The invoices API over the real handler and the events in events/invoices: list, detail, PDF, pay now."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from partnerhub import clients
from partnerhub.domain.accounts import Card
from partnerhub.repository.partners import DynamoPartnerRepository
from testkit.events import load_event
from tests.integration import test_invoicing_flow as shared
from tests.integration.test_invoicing_flow import MONTH_END, PERIOD, Month, at, busy_partner

# The month's fixtures: one emulator and one Stripe client for both modules' tests.
emulator, stripe_server, sdk, stripe_connection, stack, month, _calm = (
    shared.emulator,
    shared.stripe_server,
    shared.sdk,
    shared.stripe_connection,
    shared.stack,
    shared.month,
    shared._calm,
)


def call(month: Month, name: str, partner_id: str, **kwargs: Any) -> Any:
    return month.function("invoices")(load_event(f"invoices/{name}", partner_id=partner_id, **kwargs))


def pay(month: Month, partner_id: str, invoice_id: str, key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key or uuid.uuid4().hex}
    return call(month, "pay", partner_id, path={"invoice_id": invoice_id}, headers=headers)


def save_primary_card(month: Month, partner_id: str, brand: str, last4: str) -> DynamoPartnerRepository:
    """The partner's primary Stripe card in the account's card mirror, as adding it in the portal saves it."""
    partners = DynamoPartnerRepository(month.table, clients.dynamodb())
    primary = partners.primary_card(partner_id)
    assert primary is not None
    book = partners.card_book(partner_id)
    card = Card(primary, brand, last4, 12, 2034, at(1))
    partners.commit_cards(partner_id, book, replace(book, cards=(*book.cards, card), primary=primary))
    return partners


@pytest.fixture
def invoiced(month: Month) -> tuple[str, str]:
    partner_id = busy_partner(month)
    month.run()
    month.collect(partner_id)
    record = month.invoices.record(partner_id, PERIOD)
    assert record is not None and record.invoice_id
    return partner_id, record.invoice_id


def test_the_list_comes_from_the_table_with_the_spec_fields(month: Month, invoiced: tuple[str, str]) -> None:
    partner_id, invoice_id = invoiced

    reply = call(month, "list", partner_id, query={})

    assert reply.status == 200
    assert reply.body["next_cursor"] is None
    (item,) = reply.body["items"]
    assert item["id"] == invoice_id and item["period"] == PERIOD and item["status"] == "paid"
    assert {
        "id",
        "number",
        "period",
        "status",
        "past_due",
        "total",
        "amount_due",
        "currency",
        "due_date",
        "created",
        "amount_paid",
        "amount_remaining",
        "paid_at",
        "attempt_count",
        "next_payment_attempt",
        "last_payment_error",
        "starting_balance",
        "carried_to_next",
    } <= set(item)
    assert item["amount_paid"] == item["total"] == item["amount_due"] and item["amount_remaining"] == 0
    assert item["attempt_count"] == 1 and item["next_payment_attempt"] is None and item["last_payment_error"] is None
    assert item["due_date"] == item["created"] or item["due_date"] > item["created"]
    assert call(month, "list", partner_id, query={"status": "open"}).body["items"] == []


def test_a_bad_status_or_limit_is_a_422(month: Month, partner_id: str, stack: Any) -> None:
    assert call(month, "list", partner_id, query={"status": "lost"}).status == 422
    assert call(month, "list", partner_id, query={"limit": "0"}).status == 422
    assert call(month, "list", partner_id, query={"cursor": "not-a-cursor"}).status == 422


def test_the_detail_has_one_line_per_product_as_billed(month: Month, invoiced: tuple[str, str]) -> None:
    partner_id, invoice_id = invoiced

    reply = call(month, "get", partner_id, path={"invoice_id": invoice_id})

    assert reply.status == 200
    lines = [(ln["product"], ln["licenses"], ln["license_days"], ln["amount"]) for ln in reply.body["lines"]]
    assert lines == month.expected_lines(partner_id)
    assert all(ln["description"].startswith(ln["name"]) for ln in reply.body["lines"])
    assert all({"daily_price", "monthly_price"} <= set(ln) for ln in reply.body["lines"])


def test_the_detail_says_where_the_cap_applied_who_paid_with_which_card_and_where_the_pdf_is(
    month: Month, invoiced: tuple[str, str]
) -> None:
    # Given the busy partner's October, paid by Stripe's automatic attempt on its Visa (4242), saved on the account
    partner_id, invoice_id = invoiced
    save_primary_card(month, partner_id, "visa", "4242")

    # When the partner opens the invoice
    reply = call(month, "get", partner_id, path={"invoice_id": invoice_id})

    # Then the Backup line was capped (72 days x 17c = 1224c, billed 1160c) and the Scan line was not (6 x 14c)
    assert reply.status == 200
    capped = {line["product"]: line["cap_applied"] for line in reply.body["lines"]}
    assert capped == {"jetpack-backup": True, "jetpack-scan": False}
    # And its one payment paid the whole total on the Visa, when Stripe's attempt ran
    body = reply.body
    (payment,) = body["payments"]
    assert payment["status"] == "paid" and payment["amount"] == body["total"] == 1160 + 84
    assert payment["payment_method"] == {"brand": "visa", "last4": "4242"}
    assert payment["paid_at"] == body["paid_at"] and body["attempt_count"] == 1
    # And the PDF is this API's route for it
    assert body["pdf_url"] == f"/v1/invoices/{invoice_id}/pdf"
    # And on Stripe each line's quantity is its license-days (Stripe's PDF and page show them), the amount unchanged
    on_stripe = {
        line.metadata["product"]: (line.quantity, line.amount)
        for line in month.sdk.v1.invoices.line_items.list(invoice_id, {"limit": 100}).data
    }
    assert on_stripe == {"jetpack-backup": (72, 1160), "jetpack-scan": (6, 84)}


def test_a_payment_on_a_card_removed_since_names_no_card(month: Month, invoiced: tuple[str, str]) -> None:
    # Given the busy partner's paid invoice, and the Visa it was paid with removed from the account's cards since
    partner_id, invoice_id = invoiced
    partners = save_primary_card(month, partner_id, "visa", "4242")
    book = partners.card_book(partner_id)
    partners.commit_cards(partner_id, book, replace(book, cards=(), primary=None))

    # When the partner opens the invoice
    (payment,) = call(month, "get", partner_id, path={"invoice_id": invoice_id}).body["payments"]

    # Then the payment is still there, paid, naming no card
    assert payment["status"] == "paid" and payment["payment_method"] is None


def test_another_partners_invoice_is_not_found(month: Month, invoiced: tuple[str, str]) -> None:
    _, invoice_id = invoiced
    stranger = f"agency-{uuid.uuid4().hex[:12]}"

    for name in ("get", "pdf"):
        reply = call(month, name, stranger, path={"invoice_id": invoice_id})
        assert reply.status == 404 and reply.body["error"]["code"] == "invoice_not_found"
    assert pay(month, stranger, invoice_id).status == 404
    assert call(month, "get", stranger, path={"invoice_id": "in_doesnotexist"}).status == 404


def test_the_pdf_redirects_to_a_real_pdf(month: Month, invoiced: tuple[str, str]) -> None:
    partner_id, invoice_id = invoiced

    reply = call(month, "pdf", partner_id, path={"invoice_id": invoice_id})

    assert reply.status == 302
    import io

    import requests
    from pypdf import PdfReader

    pdf = requests.get(reply.headers["Location"], timeout=10).content
    assert pdf.startswith(b"%PDF")
    # And it reads like Stripe's: the product's line, its license-days as the quantity, the amount (BUSY_OCTOBER)
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())
    assert "Jetpack Scan" in text and "6 license-days" in text and "6 0.14 USD 0.84 USD" in text
    assert "72 license-days" in text and " 72 0.1611 USD 11.60 USD" in text


def test_a_failed_charge_makes_the_partner_past_due_until_paid_with_a_good_card(month: Month) -> None:
    # Given a partner whose card is charged and declined by Stripe's automatic attempt after month end
    partner_id = month.partner("pm_card_chargeCustomerFail")
    month.issue(partner_id, "jetpack-security", 2, at(5))
    month.run()
    opened = month.invoices.record(partner_id, PERIOD)
    assert opened is not None and opened.status == "open" and not opened.past_due
    month.collect(partner_id)
    record = month.invoices.record(partner_id, PERIOD)
    assert record is not None and record.invoice_id and record.status == "open" and record.past_due
    assert record.attempt_count == 1 and record.next_payment_attempt is not None
    assert record.last_payment_error is not None and record.last_payment_error["code"] == "card_declined"
    assert record.last_payment_error["payment_method"] == {"brand": "visa", "last4": "0341"}
    partners = DynamoPartnerRepository(month.table, clients.dynamodb())
    assert partners.standing(partner_id).past_due_invoices == (record.invoice_id,)
    listed = call(month, "list", partner_id, query={}).body["items"]
    assert listed[0]["past_due"] is True

    # When the partner pays again with the same card: 402 with Stripe's message, still past due
    declined = pay(month, partner_id, record.invoice_id)
    assert declined.status == 402 and declined.body["error"]["code"] == "card_declined"
    assert declined.body["error"]["message"]
    assert partners.standing(partner_id).past_due_invoices == (record.invoice_id,)

    # When a good card becomes primary and the partner pays: paid, and past due is cleared
    month.use_card(partner_id, "pm_card_visa")
    key = uuid.uuid4().hex
    paid = pay(month, partner_id, record.invoice_id, key)
    assert paid.status == 200 and paid.body["status"] == "paid" and paid.body["past_due"] is False
    assert partners.standing(partner_id).past_due_invoices == ()

    # The same request replays; paying a paid invoice again is a conflict
    assert pay(month, partner_id, record.invoice_id, key).body == paid.body
    again = pay(month, partner_id, record.invoice_id)
    assert again.status == 409 and again.body["error"]["code"] == "invoice_not_payable"
    assert MONTH_END


def operator(month: Month, name: str, invoice_id: str, groups: tuple[str, ...] = ("operators",)) -> Any:
    return month.function("invoices")(load_event(f"invoices/{name}", groups=groups, path={"invoice_id": invoice_id}))


def test_operators_mark_uncollectible_then_void_and_the_standing_follows(month: Month) -> None:
    # Given a partner past due after Stripe's automatic attempt was declined
    partner_id = month.partner("pm_card_chargeCustomerFail")
    month.issue(partner_id, "jetpack-scan", 1, at(20))
    month.run()
    month.collect(partner_id)
    record = month.invoices.record(partner_id, PERIOD)
    assert record is not None and record.invoice_id and record.past_due
    partners = DynamoPartnerRepository(month.table, clients.dynamodb())

    # A partner may do neither: 403 on its own invoice, 404 on another's; an unknown invoice is a 404
    for name in ("void", "mark_uncollectible"):
        assert operator(month, name, record.invoice_id, groups=()).status == 403
        own = load_event(f"invoices/{name}", partner_id=partner_id, groups=(), path={"invoice_id": record.invoice_id})
        assert month.function("invoices")(own).status == 403
        other = load_event(
            f"invoices/{name}", partner_id="agency-other", groups=(), path={"invoice_id": record.invoice_id}
        )
        assert month.function("invoices")(other).status == 404
        assert operator(month, name, "in_doesnotexist").status == 404

    # When an operator marks it uncollectible: Stripe stops collecting, the partner stays past due
    marked = operator(month, "mark_uncollectible", record.invoice_id)
    assert marked.status == 200, marked.body
    assert marked.body["status"] == "uncollectible" and marked.body["past_due"] is True
    assert marked.body["next_payment_attempt"] is None
    assert partners.standing(partner_id).past_due_invoices == (record.invoice_id,)
    assert operator(month, "mark_uncollectible", record.invoice_id).body["status"] == "uncollectible"

    # When the operator voids it: void in Stripe, and the partner is no longer past due
    voided = operator(month, "void", record.invoice_id)
    assert voided.status == 200, voided.body
    assert voided.body["status"] == "void" and voided.body["past_due"] is False
    assert month.sdk.v1.invoices.retrieve(record.invoice_id).status == "void"
    assert partners.standing(partner_id).past_due_invoices == ()
    # Voiding again answers the void invoice; a void invoice cannot be marked uncollectible
    assert operator(month, "void", record.invoice_id).body["status"] == "void"
    refused = operator(month, "mark_uncollectible", record.invoice_id)
    assert refused.status == 409 and refused.body["error"]["code"] == "invoice_not_transitionable"


def test_a_card_that_needs_authentication_answers_402_with_what_stripe_js_needs(month: Month) -> None:
    # Given a partner whose card needs 3-D Secure, past due after Stripe's off-session attempt
    partner_id = month.partner("pm_card_authenticationRequired")
    month.issue(partner_id, "jetpack-scan", 1, at(20))
    month.run()
    month.collect(partner_id)
    record = month.invoices.record(partner_id, PERIOD)
    assert record is not None and record.invoice_id and record.past_due
    assert record.last_payment_error is not None and record.last_payment_error["code"] == "authentication_required"

    # When the partner pays now: 402 authentication_required with the PaymentIntent's secret and the key. Stripe's
    # refusal names no PaymentIntent (tests/emulator/test_collection.py): it is read from the invoice's payments
    reply = pay(month, partner_id, record.invoice_id)
    assert reply.status == 402 and reply.body["error"]["code"] == "authentication_required"
    (detail,) = reply.body["error"]["details"]
    intent = month.sdk.v1.payment_intents.retrieve(detail["payment_intent_id"])
    assert detail["client_secret"] == intent.client_secret and detail["publishable_key"].startswith("pk_test_")
    assert intent.status == "requires_action"
    # And nothing was charged: the invoice is still open and past due
    assert month.invoices.record(partner_id, PERIOD).past_due  # type: ignore[union-attr]


def test_paying_with_another_of_the_partners_cards(month: Month) -> None:
    # Given a partner past due on a declining primary card, who saves a visa without making it primary
    partner_id = month.partner("pm_card_chargeCustomerFail")
    month.issue(partner_id, "jetpack-scan", 1, at(20))
    month.run()
    month.collect(partner_id)
    record = month.invoices.record(partner_id, PERIOD)
    assert record is not None and record.invoice_id and record.past_due
    added = month.function("payment_methods")(
        load_event(
            "payment_methods/add",
            partner_id=partner_id,
            body={"payment_method_id": "pm_card_visa", "primary": False},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
    )
    assert added.status == 201, added.body

    def pay_with(card: str) -> Any:
        return call(
            month,
            "pay",
            partner_id,
            path={"invoice_id": record.invoice_id},
            body={"payment_method_id": card},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )

    # A card that is not the partner's is a 422 and charges nothing
    refused = pay_with("pm_somebody_elses")
    assert refused.status == 422 and refused.body["error"]["details"][0]["field"] == "payment_method_id"
    # When the partner pays with the visa by id: paid, and past due is cleared
    paid = pay_with(added.body["id"])
    assert paid.status == 200, paid.body
    assert paid.body["status"] == "paid" and paid.body["past_due"] is False and paid.body["amount_paid"] == 12 * 14


def test_paying_an_invoice_stripe_already_paid_answers_409_and_the_record_catches_up(month: Month) -> None:
    # Given a partner past due after Stripe's first attempt declined
    partner_id = month.partner("pm_card_chargeCustomerFail")
    month.issue(partner_id, "jetpack-scan", 1, at(20))
    month.run()
    month.collect(partner_id)
    record = month.invoices.record(partner_id, PERIOD)
    assert record is not None and record.invoice_id and record.past_due and record.next_payment_attempt
    # And Stripe's own retry succeeding on a new default card, with the invoice.paid webhook not here yet
    good = month.sdk.v1.payment_methods.attach("pm_card_visa", {"customer": month.customer(partner_id)})
    month.sdk.v1.customers.update(month.customer(partner_id), {"invoice_settings": {"default_payment_method": good.id}})
    month.clock.set(datetime.fromisoformat(record.next_payment_attempt))
    assert month.emulator is not None
    month.emulator.collect_due()  # Stripe runs the attempts due (other partners' too)
    assert month.sdk.v1.invoices.retrieve(record.invoice_id).status == "paid"
    assert month.invoices.record(partner_id, PERIOD).past_due  # type: ignore[union-attr]

    # When the partner presses Pay (Stripe refuses with a message and no code)
    reply = pay(month, partner_id, record.invoice_id)

    # Then it is a 409, never a 5xx, and the record and the standing are what Stripe holds: paid, not past due
    assert reply.status == 409 and reply.body["error"]["code"] == "invoice_not_payable", reply.body
    paid = month.invoices.record(partner_id, PERIOD)
    assert paid is not None and paid.status == "paid" and not paid.past_due
    assert DynamoPartnerRepository(month.table, clients.dynamodb()).standing(partner_id).past_due_invoices == ()


@pytest.mark.parametrize("action", ["pay", "void"])
def test_a_payment_or_void_stripe_made_but_answered_500_is_read_back_from_stripe(month: Month, action: str) -> None:
    """https://docs.stripe.com/error-low-level: a 500's result is indeterminate, and the key replays it: the
    invoice as Stripe holds it decides."""
    # Given a partner past due on a declining card, who then saves a good one as primary
    partner_id = month.partner("pm_card_chargeCustomerFail")
    month.issue(partner_id, "jetpack-scan", 1, at(20))
    month.run()
    month.collect(partner_id)
    record = month.invoices.record(partner_id, PERIOD)
    assert record is not None and record.invoice_id and record.past_due
    month.use_card(partner_id, "pm_card_visa")
    # And Stripe carrying out the next request on the invoice, then answering it 500
    assert month.emulator is not None
    suffix = "/pay" if action == "pay" else "/void"
    month.emulator.set_faults(fail_after_commit=1.0, limit=1, path_suffix=suffix, methods=["POST"])
    # When the partner pays, or an operator voids it
    reply = pay(month, partner_id, record.invoice_id) if action == "pay" else operator(month, "void", record.invoice_id)
    # Then the answer is the invoice as Stripe now holds it, and the standing follows
    expected = "paid" if action == "pay" else "void"
    assert reply.status == 200 and reply.body["status"] == expected and reply.body["past_due"] is False, reply.body
    assert month.emulator.describe_faults()["injected"][0]["after_commit"] is True
    assert DynamoPartnerRepository(month.table, clients.dynamodb()).standing(partner_id).past_due_invoices == ()


@pytest.mark.parametrize("name", ["void", "mark_uncollectible"])
def test_an_operator_without_mfa_cannot_void_or_write_off_an_invoice(month: Month, name: str) -> None:
    # Given an operator the authorizer found without TOTP MFA enrolled
    event = load_event(f"invoices/{name}", groups=("operators",), mfa="none", path={"invoice_id": "in_doesnotexist"})
    # When they void an invoice or mark it uncollectible, they are refused before anything is looked up
    reply = month.function("invoices")(event)
    assert reply.status == 403, reply.body
    assert reply.body["error"]["code"] == "mfa_required"
