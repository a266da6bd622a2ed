"""SetupIntents: save a card for later, confirmed by the server or by Stripe.js with the client secret, 3-D Secure
included."""

from __future__ import annotations

from typing import Any

from ..cards import DECLINES
from ..errors import invalid
from ..forms import Bool, Enum, ListOf, Metadata, Obj, Str, schema
from ..listing import created_matches, paginate
from ..routing import Context, Route, check_client_secret, merge_metadata
from ..store import Store
from . import challenges, payment_methods

AUTHENTICATION_FAILED_MESSAGE = (
    "The latest attempt to set up the payment method has failed because authentication failed."
)

_STRIPE_JS = {
    "key": Str(),
    "_stripe_version": Str(),
    "expected_payment_method_type": Str(),
    "use_stripe_sdk": Bool(),
    "return_url": Str(),
    "client_secret": Str(),
}
_CONFIRM = {
    "payment_method": Str(),
    "payment_method_data": payment_methods.PAYMENT_METHOD_DATA,
    "return_url": Str(),
    "use_stripe_sdk": Bool(),
    "mandate_data": Obj({}),
}


def _confirm(ctx: Context, intent: dict[str, Any], params: dict[str, Any]) -> None:
    """Confirm: a declining card fails; a card whose issuer asks for authentication when it is set up
    (https://docs.stripe.com/testing#authentication-and-setup: 4000 0025 0000 3155 and the cards that always
    authenticate) leaves the intent ``requires_action`` with a 3-D Secure challenge (:mod:`.challenges`), whoever
    confirmed it: only the cardholder can answer the challenge, which Stripe.js presents
    (https://docs.stripe.com/payments/3d-secure/authentication-flow). Otherwise it succeeds at once."""
    store = ctx.store
    if intent["status"] in ("succeeded", "canceled"):
        raise invalid(
            f"You cannot confirm this SetupIntent because it has a status of {intent['status']}.",
            code="setup_intent_unexpected_state",
        )
    if params.get("payment_method"):
        pm = payment_methods.resolve(store, params["payment_method"])
    elif params.get("payment_method_data"):
        pm = payment_methods.from_data(store, params["payment_method_data"])
    elif intent["payment_method"]:
        pm = store.get("payment_method", intent["payment_method"], "payment_method")
    else:
        raise invalid(
            "You cannot confirm this SetupIntent because it's missing a payment method. Update the "
            "SetupIntent with a payment method and then confirm it again.",
            code="setup_intent_unexpected_state",
        )
    card = payment_methods.card_of(store, pm)
    if card.attach_decline:
        error_code, message = DECLINES[card.attach_decline]
        intent["status"] = "requires_payment_method"
        intent["payment_method"] = None
        intent["last_setup_error"] = {
            "code": error_code,
            "decline_code": card.attach_decline,
            "doc_url": None,
            "message": message,
            "param": None,
            "payment_method": store.render("payment_method", pm),
            "type": "card_error",
        }
        store.emit("setup_intent.setup_failed", "setup_intent", intent)
        error = payment_methods.decline(card.attach_decline, store.render("payment_method", pm))
        error.extra["setup_intent"] = store.render("setup_intent", intent)
        raise error
    if card.setup_authentication:
        challenges.require_action(store, ctx.base_url, "setup_intent", intent, pm)
        intent["last_setup_error"] = None
        store.emit("setup_intent.requires_action", "setup_intent", intent)
        return
    _succeed(store, intent, pm)


def _succeed(store: Store, intent: dict[str, Any], pm: dict[str, Any]) -> None:
    """The card is saved to the customer; an ``off_session`` intent sets it up for off-session payments."""
    if intent["customer"]:
        payment_methods.attach(store, pm, intent["customer"])
    if intent["usage"] == "off_session":
        payment_methods.mark_set_up(store, pm)
    intent.update(status="succeeded", payment_method=pm["id"], last_setup_error=None, next_action=None)
    store.emit("setup_intent.succeeded", "setup_intent", intent)


def after_challenge(store: Store, intent: dict[str, Any], *, completed: bool) -> None:
    """The cardholder's answer to the intent's 3-D Secure challenge: completed, the card is saved; failed,
    nothing is saved and the intent wants a payment method again, saying why
    (https://docs.stripe.com/error-codes#setup-intent-authentication-failure; the message and the ``type`` are
    those of Stripe's recorded answer in stripe/stripe-ios's ``STPSetupIntentTest``), with
    ``setup_intent.setup_failed`` (https://docs.stripe.com/api/events/types)."""
    pm = store.get("payment_method", intent["payment_method"], "payment_method")
    if completed:
        _succeed(store, intent, pm)
        return
    intent.update(
        status="requires_payment_method",
        payment_method=None,
        next_action=None,
        last_setup_error={
            "code": "setup_intent_authentication_failure",
            "doc_url": "https://stripe.com/docs/error-codes/setup-intent-authentication-failure",
            "message": AUTHENTICATION_FAILED_MESSAGE,
            "payment_method": store.render("payment_method", pm),
            "type": "invalid_request_error",
        },
    )
    store.emit("setup_intent.setup_failed", "setup_intent", intent)


def _create(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.store
    if params.get("customer"):
        store.get("customer", params["customer"], "customer")
    intent_id = store.new_id("seti")
    intent: dict[str, Any] = {
        "application": None,
        "automatic_payment_methods": None,
        "cancellation_reason": None,
        "client_secret": f"{intent_id}_secret_{store.token(32)}",
        "created": store.now(),
        "customer": params.get("customer"),
        "description": params.get("description"),
        "excluded_payment_method_types": None,
        "flow_directions": None,
        "id": intent_id,
        "last_setup_error": None,
        "latest_attempt": None,
        "livemode": False,
        "mandate": None,
        "metadata": merge_metadata({}, params.get("metadata") or {}),
        "next_action": None,
        "object": "setup_intent",
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {"mandate_options": None, "network": None, "request_three_d_secure": "automatic"}
        },
        "payment_method_types": params.get("payment_method_types") or ["card"],
        "single_use_mandate": None,
        "status": "requires_payment_method",
        "usage": params.get("usage") or "off_session",
    }
    if params.get("automatic_payment_methods"):
        intent["automatic_payment_methods"] = {"allow_redirects": "always", **params["automatic_payment_methods"]}
    if params.get("payment_method"):
        pm = payment_methods.resolve(store, params["payment_method"])
        intent.update(payment_method=pm["id"], status="requires_confirmation")
    store.add("setup_intent", intent)
    store.emit("setup_intent.created", "setup_intent", intent)
    if params.get("confirm"):
        _confirm(ctx, intent, {})
    return store.render("setup_intent", intent)


def _retrieve(ctx: Context, params: dict[str, Any], intent_id: str) -> dict[str, Any]:
    intent = ctx.store.get("setup_intent", intent_id, "intent")
    check_client_secret(ctx, intent, params, "SetupIntent")
    return ctx.store.render("setup_intent", intent)


def _update(ctx: Context, params: dict[str, Any], intent_id: str) -> dict[str, Any]:
    store = ctx.store
    intent = store.get("setup_intent", intent_id, "intent")
    if intent["status"] in ("succeeded", "canceled"):
        raise invalid(
            f"You cannot update this SetupIntent because it has a status of {intent['status']}.",
            code="setup_intent_unexpected_state",
        )
    if "metadata" in params:
        intent["metadata"] = merge_metadata(intent["metadata"], params["metadata"])
    if "description" in params:
        intent["description"] = params["description"]
    if params.get("customer"):
        intent["customer"] = store.get("customer", params["customer"], "customer")["id"]
    if params.get("payment_method"):
        pm = payment_methods.resolve(store, params["payment_method"])
        intent.update(payment_method=pm["id"], status="requires_confirmation")
    # Stripe has no ``setup_intent.updated`` event, so an update records none.
    return store.render("setup_intent", intent)


def _confirm_route(ctx: Context, params: dict[str, Any], intent_id: str) -> dict[str, Any]:
    intent = ctx.store.get("setup_intent", intent_id, "intent")
    check_client_secret(ctx, intent, params, "SetupIntent")
    _confirm(ctx, intent, params)
    return ctx.store.render("setup_intent", intent)


def _cancel(ctx: Context, params: dict[str, Any], intent_id: str) -> dict[str, Any]:
    store = ctx.store
    intent = store.get("setup_intent", intent_id, "intent")
    if intent["status"] in ("succeeded", "canceled"):
        raise invalid(
            f"You cannot cancel this SetupIntent because it has a status of {intent['status']}.",
            code="setup_intent_unexpected_state",
        )
    intent.update(status="canceled", cancellation_reason=params.get("cancellation_reason"))
    store.emit("setup_intent.canceled", "setup_intent", intent)
    return store.render("setup_intent", intent)


def _list(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.store
    items = [
        i
        for i in store.newest_first("setup_intent")
        if params.get("customer") in (None, i["customer"])
        and params.get("payment_method") in (None, i["payment_method"])
        and created_matches(i["created"], params.get("created"))
    ]
    return paginate(items, params, "/v1/setup_intents", lambda i: store.render("setup_intent", i))


ROUTES = [
    Route(
        "POST",
        "/v1/setup_intents",
        _create,
        schema(
            {
                "customer": Str(),
                "payment_method_types": ListOf(Str()),
                "usage": Enum("on_session", "off_session"),
                "metadata": Metadata(),
                "description": Str(),
                "payment_method": Str(),
                "confirm": Bool(),
                "automatic_payment_methods": Obj({"enabled": Bool(), "allow_redirects": Enum("always", "never")}),
                "return_url": Str(),
            }
        ),
    ),
    Route("GET", "/v1/setup_intents", _list, schema({"customer": Str(), "payment_method": Str()}, listing=True)),
    Route("GET", "/v1/setup_intents/<intent_id>", _retrieve, schema(_STRIPE_JS), publishable=True),
    Route(
        "POST",
        "/v1/setup_intents/<intent_id>",
        _update,
        schema({"metadata": Metadata(), "description": Str(), "customer": Str(), "payment_method": Str()}),
    ),
    Route(
        "POST",
        "/v1/setup_intents/<intent_id>/confirm",
        _confirm_route,
        schema({**_STRIPE_JS, **_CONFIRM}),
        publishable=True,
    ),
    Route(
        "POST",
        "/v1/setup_intents/<intent_id>/cancel",
        _cancel,
        schema({"cancellation_reason": Enum("abandoned", "duplicate", "requested_by_customer")}),
    ),
]
