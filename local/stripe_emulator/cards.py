"""Stripe's test payment method tokens (``pm_card_visa`` …) and test card numbers.

https://docs.stripe.com/testing lists them; the behaviours here are that page's, card by card. Where the page
leaves a case open (a card that needs authentication "unless set up", attached without a SetupIntent), the
emulator takes the less convenient reading: it has not been set up, so an off-session charge needs the customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Authentication(StrEnum):
    """When a card's issuer asks the cardholder to authenticate a charge (3-D Secure)."""

    NEVER = "never"
    ALWAYS = "always"
    """Every charge, on or off session, however the card was set up (4000 0027 6000 3184)."""
    UNLESS_SET_UP = "unless_set_up"
    """Every on-session charge; off-session charges only until the card was set up for them (4000 0025 0000 3155)."""
    ON_SESSION = "on_session"
    """On-session charges only: the card is already set up for off-session use (4000 0038 0000 0446)."""


@dataclass(frozen=True)
class TestCard:
    """What a test card looks like and how it behaves."""

    number: str
    brand: str
    funding: str = "credit"
    country: str = "US"
    attach_decline: str | None = None
    """Decline code when the card is attached or set up: Stripe's declining cards cannot be saved."""
    charge_decline: str | None = None
    """Decline code for every charge of an attached card (``pm_card_chargeCustomerFail``), after any
    authentication (``pm_card_authenticationRequiredChargeDeclinedInsufficientFunds``)."""
    authentication: Authentication = Authentication.NEVER
    setup_authentication: bool = False
    """Setting the card up (a SetupIntent) asks the cardholder to authenticate."""

    @property
    def last4(self) -> str:
        return self.number[-4:]

    def needs_authentication(self, *, on_session: bool, set_up: bool) -> bool:
        """Whether a charge asks the cardholder to authenticate (``set_up``: a SetupIntent saved it for
        off-session use)."""
        if self.authentication is Authentication.ALWAYS:
            return True
        if self.authentication is Authentication.UNLESS_SET_UP:
            return on_session or not set_up
        if self.authentication is Authentication.ON_SESSION:
            return on_session
        return False


_VISA = TestCard("4242424242424242", "visa")
# https://docs.stripe.com/testing#authentication-and-setup
_ALWAYS = Authentication.ALWAYS

TOKENS: dict[str, TestCard] = {
    "pm_card_visa": _VISA,
    "pm_card_us": _VISA,
    "pm_card_visa_debit": TestCard("4000056655665556", "visa", funding="debit"),
    "pm_card_mastercard": TestCard("5555555555554444", "mastercard"),
    "pm_card_mastercard_debit": TestCard("5200828282828210", "mastercard", funding="debit"),
    "pm_card_mastercard_prepaid": TestCard("5105105105105100", "mastercard", funding="prepaid"),
    "pm_card_amex": TestCard("371449635398431", "amex"),
    "pm_card_discover": TestCard("6011111111111117", "discover"),
    "pm_card_diners": TestCard("3056930009020004", "diners"),
    "pm_card_jcb": TestCard("3566002020360505", "jcb", country="JP"),
    "pm_card_unionpay": TestCard("6200000000000005", "unionpay", country="CN"),
    "pm_card_gb": TestCard("4000008260000000", "visa", country="GB"),
    "pm_card_de": TestCard("4000002760000016", "visa", country="DE"),
    "pm_card_fr": TestCard("4000002500000003", "visa", country="FR"),
    # https://docs.stripe.com/testing#declined-payments: these decline when they are saved.
    "pm_card_chargeDeclined": TestCard("4000000000000002", "visa", attach_decline="generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": TestCard(
        "4000000000009995", "visa", attach_decline="insufficient_funds"
    ),
    "pm_card_visa_chargeDeclinedInsufficientFunds": TestCard(
        "4000000000009995", "visa", attach_decline="insufficient_funds"
    ),
    "pm_card_chargeDeclinedLostCard": TestCard("4000000000009987", "visa", attach_decline="lost_card"),
    "pm_card_chargeDeclinedStolenCard": TestCard("4000000000009979", "visa", attach_decline="stolen_card"),
    "pm_card_chargeDeclinedFraudulent": TestCard("4000000000000019", "visa", attach_decline="fraudulent"),
    "pm_card_chargeDeclinedExpiredCard": TestCard("4000000000000069", "visa", attach_decline="expired_card"),
    "pm_card_chargeDeclinedIncorrectCvc": TestCard("4000000000000127", "visa", attach_decline="incorrect_cvc"),
    "pm_card_chargeDeclinedProcessingError": TestCard("4000000000000119", "visa", attach_decline="processing_error"),
    # "Attaching this card to a Customer object succeeds, but attempts to charge the customer fail."
    "pm_card_chargeCustomerFail": TestCard("4000000000000341", "visa", charge_decline="generic_decline"),
    # https://docs.stripe.com/testing#authentication-and-setup
    "pm_card_authenticationRequiredOnSetup": TestCard(
        "4000002500003155",
        "visa",
        country="IE",
        authentication=Authentication.UNLESS_SET_UP,
        setup_authentication=True,
    ),
    "pm_card_authenticationRequired": TestCard(
        "4000002760003184", "visa", country="DE", authentication=_ALWAYS, setup_authentication=True
    ),
    "pm_card_authenticationRequiredSetupForOffSession": TestCard(
        "4000003800000446", "visa", country="IE", authentication=Authentication.ON_SESSION
    ),
    "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds": TestCard(
        "4000008260003178",
        "visa",
        country="GB",
        charge_decline="insufficient_funds",
        authentication=_ALWAYS,
        setup_authentication=True,
    ),
    # https://docs.stripe.com/testing#three-ds-cards: 3-D Secure required on every charge.
    "pm_card_threeDSecure2Required": TestCard(
        "4000000000003220", "visa", authentication=_ALWAYS, setup_authentication=True
    ),
    "pm_card_threeDSecureRequired": TestCard(
        "4000000000003063", "visa", authentication=_ALWAYS, setup_authentication=True
    ),
    # Not a Stripe token: a card that saves fine and then lacks funds at every charge, which Stripe's
    # own set cannot express (its insufficient-funds card already fails when it is saved).
    "pm_card_insufficientFunds": TestCard("4000000000009995", "visa", charge_decline="insufficient_funds"),
}

BY_NUMBER: dict[str, TestCard] = {}
for _card in TOKENS.values():
    BY_NUMBER.setdefault(_card.number, _card)

# What Stripe says for each decline: (error code, message).
DECLINES: dict[str, tuple[str, str]] = {
    "generic_decline": ("card_declined", "Your card was declined."),
    "insufficient_funds": ("card_declined", "Your card has insufficient funds."),
    "lost_card": ("card_declined", "Your card was declined."),
    "stolen_card": ("card_declined", "Your card was declined."),
    "fraudulent": ("card_declined", "Your card was declined."),
    "expired_card": ("expired_card", "Your card has expired."),
    "incorrect_cvc": ("incorrect_cvc", "Your card's security code is incorrect."),
    "processing_error": (
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
}


def card_for_number(number: str) -> TestCard:
    """A card typed in (Stripe.js sends raw numbers); unknown numbers behave as a plain card of their brand."""
    digits = "".join(ch for ch in number if ch.isdigit())
    known = BY_NUMBER.get(digits)
    if known is not None:
        return known
    brand = {"4": "visa", "5": "mastercard", "3": "amex", "6": "discover"}.get(digits[:1], "unknown")
    return TestCard(digits, brand)
