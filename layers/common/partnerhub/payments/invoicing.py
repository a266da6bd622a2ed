"""Stripe behind :class:`partnerhub.domain.invoicing.InvoiceGateway`: drafts, invoice items, finalize, pay.

Every write carries an idempotency key derived from what it means (partner, month, product), so a retry,
a duplicate message or a re-run of the month asks Stripe for the same object again instead of a new one.
Stripe objects are handed back as they come (mappings); the repository reads the fields it keeps.
Declines and authentication become ``PaymentRequired`` here and only here; outages surface from
:meth:`StripeConnection.call` as 502 after its retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from partnerhub.domain.invoicing import VOID
from partnerhub.domain.periods import Period
from partnerhub.errors import Conflict, PaymentRequired
from partnerhub.payments.client import StripeConnection

if TYPE_CHECKING:
    import stripe

StripeInvoice = Mapping[str, Any]


# Every invoice read also brings its payments' PaymentIntents: the last payment error and its card live there.
EXPAND = ["payments.data.payment.payment_intent"]


def _options(idempotency_key: str) -> Any:
    return {"idempotency_key": idempotency_key}


def invoice_key(partner_id: str, period: str) -> str:
    return f"invoice:{partner_id}:{period}"


def line_key(partner_id: str, period: str, product: str) -> str:
    return f"line:{partner_id}:{period}:{product}"


def finalize_key(partner_id: str, period: str) -> str:
    return f"finalize:{partner_id}:{period}"


def line_price(line: Mapping[str, Any]) -> dict[str, Any]:
    """An invoice item's price as Stripe's invoice shows it: ``quantity`` in license-days at a unit price.

    Uncapped, the unit price is the daily price (whole cents). Under the monthly cap it is the line's amount over
    its days, to Stripe's 12 decimal places: ``quantity * unit_amount_decimal`` then differs from the amount by
    less than ``days * 0.5e-12`` cents, so Stripe's rounding to whole cents gives the amount exactly.
    """
    days, amount = int(line["license_days"]), int(line["amount"])
    if days <= 0:
        return {"amount": amount}
    unit = Decimal(amount) / Decimal(days)
    if unit == unit.to_integral_value():
        return {"quantity": days, "unit_amount_decimal": str(int(unit))}
    return {"quantity": days, "unit_amount_decimal": format(unit.quantize(Decimal("1e-12")), "f")}


class StripeInvoices:
    """The month-end invoicer's and the pay route's way to Stripe invoices."""

    def __init__(self, stripe: StripeConnection, publishable_key: str = "pk_test_local") -> None:
        self._stripe = stripe
        self._publishable_key = publishable_key

    def create_draft(self, customer_id: str, partner_id: str, period: str, description: str) -> StripeInvoice:
        """A draft for the partner-month that collects nothing until finalized and takes no pending items."""
        params: Any = {
            "customer": customer_id,
            "collection_method": "charge_automatically",
            "auto_advance": False,
            "pending_invoice_items_behavior": "exclude",
            "currency": "usd",
            "description": description,
            "metadata": {"partner_id": partner_id, "period": period},
        }
        return self._stripe.call(
            lambda: (
                self._stripe.client().v1.invoices.create(params, _options(invoice_key(partner_id, period))).to_dict()
            ),
            describe=f"creating the invoice of {partner_id} for {period}",
        )

    def find_draft(self, customer_id: str, partner_id: str, period: str) -> StripeInvoice | None:
        """The partner-month's invoice if Stripe has one the record does not name yet (a crash right after
        creating it, found again after Stripe's idempotency window closed). Voided ones do not count."""

        def matching() -> StripeInvoice | None:
            page = self._stripe.client().v1.invoices.list({"customer": customer_id, "limit": 100})
            for found in page.auto_paging_iter():
                invoice = found.to_dict()
                metadata = invoice.get("metadata") or {}
                if (
                    metadata.get("partner_id") == partner_id
                    and metadata.get("period") == period
                    and invoice.get("status") != VOID
                ):
                    return invoice
            return None

        return self._stripe.call(matching, describe=f"looking up the invoice of {partner_id} for {period}")

    def line_products(self, invoice_id: str) -> set[str]:
        """The products already on the invoice, from its lines' metadata."""

        def products() -> set[str]:
            page = self._stripe.client().v1.invoices.line_items.list(invoice_id, {"limit": 100})
            metadata = [line.to_dict().get("metadata") or {} for line in page.auto_paging_iter()]
            return {str(m["product"]) for m in metadata if "product" in m}

        return self._stripe.call(products, describe=f"reading the lines of {invoice_id}")

    def add_line(
        self, customer_id: str, invoice_id: str, partner_id: str, period: str, line: Mapping[str, Any]
    ) -> None:
        month = Period.parse(period)
        params: Any = {
            "customer": customer_id,
            "invoice": invoice_id,
            **line_price(line),
            "currency": str(line.get("currency", "usd")),
            "description": str(line["description"]),
            "period": {"start": int(month.start.timestamp()), "end": int(month.end.timestamp())},
            "metadata": {
                "product": str(line["product"]),
                "license_days": str(line["license_days"]),
                "licenses": str(line["licenses"]),
                "partner_id": partner_id,
                "period": period,
            },
        }
        self._stripe.call(
            lambda: self._stripe.client().v1.invoice_items.create(
                params, _options(line_key(partner_id, period, str(line["product"])))
            ),
            describe=f"adding the {line['product']} line to {invoice_id}",
        )

    def finalize(self, invoice_id: str, partner_id: str, period: str) -> StripeInvoice:
        """Number the invoice and hand it to Stripe's automatic collection (``auto_advance``): Stripe answers
        ``open`` and charges the default payment method about an hour later, retrying failures itself.

        Refused (a run that stopped after this call, resumed after the idempotency key expired): the invoice
        as it is now, when it is no longer a draft. The decision rests on the status Stripe shows, never on
        the refusal's error code."""
        import stripe

        try:
            return self._finalize(invoice_id, partner_id, period)
        except stripe.InvalidRequestError:
            current = self.retrieve(invoice_id)
            if current.get("status") == "draft":
                raise
            return current

    def _finalize(self, invoice_id: str, partner_id: str, period: str) -> StripeInvoice:
        return self._stripe.call(
            lambda: (
                self._stripe.client()
                .v1.invoices.finalize_invoice(
                    invoice_id,
                    {"auto_advance": True, "expand": EXPAND},
                    _options(finalize_key(partner_id, period)),
                )
                .to_dict()
            ),
            describe=f"finalizing {invoice_id}",
        )

    def retrieve(self, invoice_id: str) -> StripeInvoice:
        return self._stripe.call(
            lambda: self._stripe.client().v1.invoices.retrieve(invoice_id, {"expand": EXPAND}).to_dict(),
            describe=f"reading invoice {invoice_id}",
        )

    def void(self, invoice_id: str) -> StripeInvoice:
        """Void (Stripe refuses a paid one; the caller checked the record, and re-reads on refusal)."""
        return self._operator_call(invoice_id, "void")

    def mark_uncollectible(self, invoice_id: str) -> StripeInvoice:
        return self._operator_call(invoice_id, "mark_uncollectible")

    def _operator_call(self, invoice_id: str, action: str) -> StripeInvoice:
        import stripe

        def call() -> StripeInvoice:
            invoices = self._stripe.client().v1.invoices
            method = invoices.void_invoice if action == "void" else invoices.mark_uncollectible
            # The key makes a retried request (429, 5xx, timeout) the same request, not a second one.
            return method(invoice_id, {"expand": EXPAND}, _options(f"{action}:{invoice_id}")).to_dict()

        try:
            return self._stripe.call(call, describe=f"{action} {invoice_id}")
        except stripe.InvalidRequestError as error:
            current = self.retrieve(invoice_id)
            raise Conflict(
                f"the invoice is {current.get('status')}: {error.user_message or 'Stripe refused'}",
                code="invoice_not_transitionable",
            ) from error

    def pay(self, invoice_id: str, payment_method_id: str, idempotency_key: str) -> StripeInvoice:
        """Charge the card now (the key makes a retried request the same charge, never a second one).

        A decline is a 402 carrying Stripe's message; a card that needs authentication a 402
        ``authentication_required`` with what Stripe.js needs; a paid or void invoice a 409."""
        import stripe

        try:
            return self._stripe.call(
                lambda: (
                    self._stripe.client()
                    .v1.invoices.pay(
                        invoice_id,
                        {"payment_method": payment_method_id, "expand": EXPAND},
                        _options(idempotency_key),
                    )
                    .to_dict()
                ),
                describe=f"paying {invoice_id}",
            )
        except stripe.CardError as error:
            if error.code in ("invoice_payment_intent_requires_action", "authentication_required"):
                raise self._needs_authentication(error) from error
            raise _declined(error) from error
        except stripe.InvalidRequestError as error:
            if error.code == "invoice_not_editable":
                raise Conflict(
                    error.user_message or "the invoice cannot be paid", code="invoice_not_payable"
                ) from error
            raise

    def _needs_authentication(self, error: stripe.CardError) -> PaymentRequired:
        intent: Any = getattr(error.error, "payment_intent", None) if error.error is not None else None
        return PaymentRequired(
            "the card needs the cardholder to authenticate this payment (3-D Secure); confirm the payment "
            "with Stripe.js using the details, then the invoice is paid",
            code="authentication_required",
            details=[
                {
                    "field": "payment_method",
                    "reason": "authentication_required",
                    "payment_intent_id": getattr(intent, "id", None),
                    "client_secret": getattr(intent, "client_secret", None),
                    "publishable_key": self._publishable_key,
                }
            ],
        )


def _declined(error: stripe.CardError) -> PaymentRequired:
    reason = getattr(error, "decline_code", None) or error.code or "card_declined"
    return PaymentRequired(
        error.user_message or "the card was declined",
        code="card_declined",
        details=[{"field": "payment_method", "reason": str(reason)}],
    )
