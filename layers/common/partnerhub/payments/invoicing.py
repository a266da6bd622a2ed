"""Stripe behind :class:`partnerhub.domain.invoicing.InvoiceGateway`: drafts, invoice items, finalize, pay.

Every write carries an idempotency key derived from what it means (partner, month, product, and the
partner-month's key generation), so a retry, a duplicate message or a re-run of the month asks Stripe for
the same object again instead of a new one. Stripe objects are handed back as they come (mappings); the
repository reads the fields it keeps.

Every outcome is decided from the object's state as Stripe shows it, re-read when a refusal leaves it in
doubt, never from the refusal's error code or message: Stripe refuses paying a paid invoice, voiding a paid
one or finalizing a finalized one with a message and no code, and may name no PaymentIntent when a card
needs authentication. Declines and authentication become ``PaymentRequired`` here and only here; outages
surface from :meth:`StripeConnection.call` as 502 after its retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from partnerhub.domain.invoicing import DRAFT, FINAL, PAID, VOID
from partnerhub.domain.periods import Period
from partnerhub.errors import Conflict, PaymentRequired, UpstreamError
from partnerhub.payments.client import StripeConnection

if TYPE_CHECKING:
    import stripe

StripeInvoice = Mapping[str, Any]


# Every invoice read also brings its payments' PaymentIntents: the last payment error, its card and the
# client secret a payment that needs authentication is completed with live there.
EXPAND = ["payments.data.payment.payment_intent"]


def _options(idempotency_key: str) -> Any:
    return {"idempotency_key": idempotency_key}


def _generation(key: str, generation: int) -> str:
    """Generation 0 is the plain key; a later one gets a suffix (a new request after a replayed failure)."""
    return key if generation == 0 else f"{key}:{generation}"


def invoice_key(partner_id: str, period: str, generation: int = 0) -> str:
    return _generation(f"invoice:{partner_id}:{period}", generation)


def line_key(partner_id: str, period: str, product: str, generation: int = 0) -> str:
    return _generation(f"line:{partner_id}:{period}:{product}", generation)


def finalize_key(partner_id: str, period: str, generation: int = 0) -> str:
    return _generation(f"finalize:{partner_id}:{period}", generation)


def payment_intent_of(invoice: StripeInvoice) -> Mapping[str, Any] | None:
    """The invoice's PaymentIntent, from its expanded ``payments``: the default payment's (Stripe makes it at
    finalization), else the latest one shown."""
    payments = (invoice.get("payments") or {}).get("data") or []
    intents = [
        (bool(p.get("is_default")), (p.get("payment") or {}).get("payment_intent"))
        for p in payments
        if isinstance(p, Mapping)
    ]
    shown = [(default, intent) for default, intent in intents if isinstance(intent, Mapping)]
    for default, intent in shown:
        if default:
            return intent
    return shown[-1][1] if shown else None


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

    def create_draft(
        self, customer_id: str, partner_id: str, period: str, description: str, generation: int = 0
    ) -> StripeInvoice:
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
        key = invoice_key(partner_id, period, generation)
        return self._stripe.call(
            lambda: self._stripe.client().v1.invoices.create(params, _options(key)).to_dict(),
            describe=f"creating the invoice of {partner_id} for {period}",
        )

    def find_draft(self, customer_id: str, partner_id: str, period: str) -> StripeInvoice | None:
        """The partner-month's invoice if Stripe has one the record does not name yet (a crash right after
        creating it, or a creation Stripe answered with a server error after making it). Voided ones do not
        count."""

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
        self,
        customer_id: str,
        invoice_id: str,
        partner_id: str,
        period: str,
        line: Mapping[str, Any],
        generation: int = 0,
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
        key = line_key(partner_id, period, str(line["product"]), generation)
        self._stripe.call(
            lambda: self._stripe.client().v1.invoice_items.create(params, _options(key)),
            describe=f"adding the {line['product']} line to {invoice_id}",
        )

    def finalize(self, invoice_id: str, partner_id: str, period: str, generation: int = 0) -> StripeInvoice:
        """Number the invoice and hand it to Stripe's automatic collection (``auto_advance``): Stripe answers
        ``open`` and charges the default payment method about an hour later, retrying failures itself.

        Refused (a run that stopped after this call, resumed after the idempotency key expired): the invoice
        as it is now, when it is no longer a draft. The decision rests on the status Stripe shows, never on
        the refusal's error code."""
        import stripe

        key = finalize_key(partner_id, period, generation)
        try:
            return self._stripe.call(
                lambda: (
                    self._stripe.client()
                    .v1.invoices.finalize_invoice(invoice_id, {"auto_advance": True, "expand": EXPAND}, _options(key))
                    .to_dict()
                ),
                describe=f"finalizing {invoice_id}",
            )
        except stripe.InvalidRequestError:
            current = self.retrieve(invoice_id)
            if current.get("status") == DRAFT:
                raise
            return current

    def finalized(self, invoice_id: str) -> StripeInvoice | None:
        """The invoice when Stripe shows it finalized (no longer a draft), else None."""
        current = self.retrieve(invoice_id)
        return None if current.get("status") == DRAFT else current

    def retrieve(self, invoice_id: str) -> StripeInvoice:
        return self._stripe.call(
            lambda: self._stripe.client().v1.invoices.retrieve(invoice_id, {"expand": EXPAND}).to_dict(),
            describe=f"reading invoice {invoice_id}",
        )

    def void(self, invoice_id: str) -> StripeInvoice:
        """Void; refused or failed, the invoice as Stripe shows it decides (void already: returned)."""
        return self._operator_call(invoice_id, "void", VOID)

    def mark_uncollectible(self, invoice_id: str) -> StripeInvoice:
        return self._operator_call(invoice_id, "mark_uncollectible", "uncollectible")

    def _operator_call(self, invoice_id: str, action: str, target: str) -> StripeInvoice:
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
            if current.get("status") == target:
                return current  # made by another request meanwhile
            raise Conflict(
                f"the invoice is {current.get('status')}; Stripe refused to make it {target}: "
                f"{error.user_message or 'refused'}",
                code="invoice_not_transitionable",
            ) from error
        except UpstreamError as error:
            if not error.answered:
                raise
            current = self.retrieve(invoice_id)
            if current.get("status") == target:
                return current  # Stripe did it and answered a server error
            raise

    def pay(self, invoice_id: str, payment_method_id: str, idempotency_key: str) -> StripeInvoice:
        """Charge the card now (the key makes a retried request the same charge, never a second one).

        The outcome is read from the invoice whenever Stripe does not answer with it: paid meanwhile (by Stripe's
        own attempt, or before a server error) is returned as paid; a card that needs authentication (the
        invoice's PaymentIntent is ``requires_action``) is a 402 ``authentication_required`` with what Stripe.js
        needs; a decline a 402 carrying Stripe's message; an invoice that cannot be paid (paid, void, draft) a
        409, whichever message Stripe refused it with."""
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
            current = self.retrieve(invoice_id)
            if current.get("status") == PAID:
                return current
            intent = payment_intent_of(current)
            if intent is not None and intent.get("status") == "requires_action":
                raise self._needs_authentication(intent) from error
            raise _declined(error, intent) from error
        except stripe.InvalidRequestError as error:
            current = self.retrieve(invoice_id)
            status = str(current.get("status"))
            if status in FINAL or status == DRAFT:
                raise Conflict(
                    f"the invoice is {status}; only open invoices can be paid", code="invoice_not_payable"
                ) from error
            raise UpstreamError(f"Stripe refused to pay {invoice_id}: {error.user_message or error}") from error
        except UpstreamError as error:
            if not error.answered:
                raise
            current = self.retrieve(invoice_id)
            if current.get("status") == PAID:
                return current
            raise

    def _needs_authentication(self, intent: Mapping[str, Any]) -> PaymentRequired:
        return PaymentRequired(
            "the card needs the cardholder to authenticate this payment (3-D Secure); confirm the payment "
            "with Stripe.js using the details, then the invoice is paid",
            code="authentication_required",
            details=[
                {
                    "field": "payment_method",
                    "reason": "authentication_required",
                    "payment_intent_id": intent.get("id"),
                    "client_secret": intent.get("client_secret"),
                    "publishable_key": self._publishable_key,
                }
            ],
        )


def _declined(error: stripe.CardError, intent: Mapping[str, Any] | None) -> PaymentRequired:
    failure = (intent or {}).get("last_payment_error") or {}
    reason = getattr(error, "decline_code", None) or failure.get("decline_code") or error.code or "card_declined"
    return PaymentRequired(
        error.user_message or failure.get("message") or "the card was declined",
        code="card_declined",
        details=[{"field": "payment_method", "reason": str(reason)}],
    )
