"""Stripe behind :class:`partnerhub.domain.accounts.CardGateway`: customers, SetupIntents, PaymentMethods.

Stripe's errors become domain errors here and only here: a decline is a 402 carrying Stripe's code
and message, a payment method that is missing or belongs to another customer is a 404 (never
revealing which), and outages surface from :meth:`StripeConnection.call` as 502.

A write Stripe answered with a server error is replayed by its idempotency key for 24 hours
(https://docs.stripe.com/api/idempotent_requests), so the same request retried by the partner would fail for a
day. Every write here has the same effect however often it is made (attach a payment method to the customer,
set its default, save the company details, detach) or a harmless one (a SetupIntent nobody confirms, a customer
no partner claims: ``AccountService`` claims exactly one). So after such an answer the outcome is read back
where Stripe shows it, and when it is not there the write is made once more under the key's next generation.
Test-mode tokens (``pm_card_visa``) are not objects: an attach of one that Stripe made and then answered 500 cannot
be read back by the token, so it may be made twice; a payment method confirmed by Stripe.js (``pm_...``) is read
back and never attached twice.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from partnerhub.domain.accounts import CardDetails, Company, SetupIntent
from partnerhub.errors import NotFound, PaymentRequired, UpstreamError
from partnerhub.payments.client import StripeConnection

if TYPE_CHECKING:
    import stripe

# How many idempotency keys one write may go through after server errors Stripe saved (see StripeCards._write).
_GENERATIONS = 3

# Invoice custom fields the company details set; Stripe prints them on every invoice made afterwards.
CONTACT_FIELD = "Contact"
WEBSITE_FIELD = "Website"


def _options(idempotency_key: str) -> Any:
    return {"idempotency_key": idempotency_key}


def _details(pm: stripe.PaymentMethod) -> CardDetails:
    card = pm.card
    if card is None:
        raise NotFound("no such card", code="payment_method_not_found")
    return CardDetails(
        id=pm.id, brand=card.brand, last4=card.last4, exp_month=int(card.exp_month), exp_year=int(card.exp_year)
    )


def _not_found() -> NotFound:
    return NotFound("no such payment method", code="payment_method_not_found")


def _declined(error: stripe.CardError) -> PaymentRequired:
    detail = error.error
    reason = (detail.decline_code if detail is not None else None) or error.code or "card_declined"
    return PaymentRequired(
        error.user_message or "the card was declined",
        code="card_declined",
        details=[{"field": "payment_method_id", "reason": str(reason)}],
    )


class StripeCards:
    """The payment gateway for cards and customers, over the shared Stripe client."""

    def __init__(self, stripe: StripeConnection) -> None:
        self._stripe = stripe

    def _write[T](
        self,
        write: Callable[[str], T],
        idempotency_key: str,
        describe: str,
        done: Callable[[], T | None] = lambda: None,
    ) -> T:
        """``write(key)`` under ``idempotency_key``; after a server error Stripe answered (and would replay under
        that key), ``done()`` reads whether it took effect, and if not the write is made again under the key's
        next generation (``key:1``, then ``key:2``). The generations are derived, not drawn: a retry of the same
        request replays each key's first answer, so it finds the object an earlier generation made instead of
        making another."""
        for generation in range(_GENERATIONS):
            key = idempotency_key if generation == 0 else f"{idempotency_key}:{generation}"
            try:
                return self._stripe.call(partial(write, key), describe=describe)
            except UpstreamError as error:
                if not error.answered or generation == _GENERATIONS - 1:
                    raise
                found = done()
                if found is not None:
                    return found
        raise AssertionError("unreachable: the last generation returns or raises")

    def create_customer(self, partner_id: str, idempotency_key: str) -> str:
        customer = self._write(
            lambda key: self._stripe.client().v1.customers.create(
                {"description": f"Partner {partner_id}", "metadata": {"partner_id": partner_id}}, _options(key)
            ),
            idempotency_key,
            "creating the Stripe customer",
        )
        return str(customer.id)

    def create_setup_intent(self, customer_id: str, partner_id: str, idempotency_key: str) -> SetupIntent:
        params: Any = {
            "customer": customer_id,
            "payment_method_types": ["card"],
            "usage": "off_session",
            "metadata": {"partner_id": partner_id},
        }
        intent = self._write(
            lambda key: self._stripe.client().v1.setup_intents.create(params, _options(key)),
            idempotency_key,
            "creating a SetupIntent",
        )
        return SetupIntent(id=intent.id, client_secret=str(intent.client_secret))

    def attached_card(self, customer_id: str, payment_method_id: str) -> CardDetails | None:
        import stripe

        try:
            pm = self._stripe.call(
                lambda: self._stripe.client().v1.customers.payment_methods.retrieve(customer_id, payment_method_id),
                describe="reading a payment method",
            )
        except stripe.InvalidRequestError:
            return None  # not attached to this customer (or no such method): attaching decides
        return _details(pm)

    def attach(self, customer_id: str, payment_method_id: str, idempotency_key: str) -> CardDetails:
        import stripe

        def attach_once(key: str) -> CardDetails:
            pm = self._stripe.client().v1.payment_methods.attach(
                payment_method_id, {"customer": customer_id}, _options(key)
            )
            if pm.customer != customer_id:
                raise _not_found()
            return _details(pm)

        try:
            pm = self._write(
                attach_once,
                idempotency_key,
                "attaching a payment method",
                lambda: self.attached_card(customer_id, payment_method_id),
            )
        except stripe.CardError as error:
            raise _declined(error) from error
        except stripe.InvalidRequestError as error:
            # Missing, attached to another customer, or detached before: all "not yours to add".
            raise _not_found() from error
        return pm

    def set_default(self, customer_id: str, payment_method_id: str, idempotency_key: str) -> None:
        def made() -> bool | None:
            return True if self._default_of(customer_id) == payment_method_id else None

        self._write(
            lambda key: self._stripe.client().v1.customers.update(
                customer_id, {"invoice_settings": {"default_payment_method": payment_method_id}}, _options(key)
            ),
            idempotency_key,
            "setting the default payment method",
            made,
        )

    def _default_of(self, customer_id: str) -> str | None:
        customer = self._stripe.call(
            lambda: self._stripe.client().v1.customers.retrieve(customer_id), describe="reading the customer"
        )
        settings = customer.invoice_settings
        default: Any = settings.default_payment_method if settings is not None else None
        return None if default is None else str(getattr(default, "id", default))

    def detach(self, payment_method_id: str, idempotency_key: str) -> None:
        """Detach; refused, the payment method as Stripe shows it decides: attached to no customer (an earlier
        try whose answer was lost, or gone) is the outcome wanted, whatever the refusal said."""
        import stripe

        def gone() -> bool | None:
            return True if self._attached_to(payment_method_id) is None else None

        try:
            self._write(
                lambda key: self._stripe.client().v1.payment_methods.detach(payment_method_id, None, _options(key)),
                idempotency_key,
                "detaching a payment method",
                gone,
            )
        except stripe.InvalidRequestError:
            if self._attached_to(payment_method_id) is not None:
                raise

    def _attached_to(self, payment_method_id: str) -> str | None:
        """The customer the payment method is attached to now; None when none (or it does not exist)."""
        import stripe

        try:
            pm = self._stripe.call(
                lambda: self._stripe.client().v1.payment_methods.retrieve(payment_method_id),
                describe="reading a payment method",
            )
        except stripe.InvalidRequestError:
            return None
        customer: Any = pm.customer
        return None if customer is None else str(getattr(customer, "id", customer))

    def update_customer(self, customer_id: str, company: Company, idempotency_key: str) -> None:
        self._write(
            lambda key: self._stripe.client().v1.customers.update(customer_id, customer_params(company), _options(key)),
            idempotency_key,
            "updating the Stripe customer",
        )


def customer_params(company: Company) -> Any:
    """The company details as Stripe customer fields. Empty strings clear optional fields in Stripe."""
    return {
        "name": company.name,
        "address": {
            "line1": company.address_line1,
            "line2": company.address_line2 or "",
            "city": company.city,
            "state": company.state or "",
            "country": company.country,
            "postal_code": company.postal_code,
        },
        "invoice_settings": {
            "custom_fields": [
                {"name": CONTACT_FIELD, "value": company.contact_name},
                {"name": WEBSITE_FIELD, "value": company.website},
            ]
        },
        "metadata": {
            "contact_first_name": company.contact_first_name,
            "contact_last_name": company.contact_last_name,
            "website": company.website,
        },
    }
