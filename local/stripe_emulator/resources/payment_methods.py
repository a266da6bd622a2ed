"""PaymentMethods: Stripe's test tokens, raw test cards, attach/detach, list."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from ..cards import DECLINES, TOKENS, TestCard, card_for_number
from ..errors import StripeError, invalid, missing
from ..forms import ADDRESS, Enum, Int, Metadata, Obj, Str, schema
from ..listing import created_matches, paginate
from ..routing import Context, Route, changes, merge_metadata
from ..store import Store

BILLING_DETAILS = Obj({"address": ADDRESS, "email": Str(), "name": Str(), "phone": Str(), "tax_id": Str()})
CARD = Obj({"number": Str(), "exp_month": Int(), "exp_year": Int(), "cvc": Str(), "token": Str()})
PAYMENT_METHOD_DATA = Obj(
    {
        "type": Enum("card"),
        "card": CARD,
        "billing_details": BILLING_DETAILS,
        "metadata": Metadata(),
        "allow_redisplay": Enum("always", "limited", "unspecified"),
    }
)


def decline(code: str, payment_method: dict[str, Any] | None = None) -> StripeError:
    """The 402 ``card_error`` Stripe answers for a declined card."""
    error_code, message = DECLINES[code]
    extra: dict[str, Any] = {}
    if payment_method is not None:
        extra["payment_method"] = copy.deepcopy(payment_method)
    return StripeError(402, "card_error", message, code=error_code, decline_code=code, extra=extra)


def _build(
    store: Store,
    card: TestCard,
    exp_month: int | None = None,
    exp_year: int | None = None,
    billing: dict[str, Any] | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    now = store.clock.now()
    billing = billing or {}
    address = {key: None for key in ("city", "country", "line1", "line2", "postal_code", "state")}
    address.update({k: v for k, v in (billing.get("address") or {}).items() if v is not None})
    pm: dict[str, Any] = {
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": address,
            "email": billing.get("email"),
            "name": billing.get("name"),
            "phone": billing.get("phone"),
            "tax_id": billing.get("tax_id"),
        },
        "card": {
            "brand": card.brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": card.country,
            "display_brand": card.brand.replace("amex", "american_express"),
            "exp_month": exp_month or now.month,
            # Test cards never expire: a few years after the emulator's own "now".
            "exp_year": exp_year or now.year + 3,
            "fingerprint": hashlib.sha256(card.number.encode()).hexdigest()[:16],
            "funding": card.funding,
            "generated_from": None,
            "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": store.now(),
        "customer": None,
        "customer_account": None,
        "id": store.new_id("pm"),
        "livemode": False,
        "metadata": metadata or {},
        "object": "payment_method",
        "type": "card",
    }
    store.add("payment_method", pm)
    store.private[pm["id"]] = {"card": card, "detached": False, "set_up": False}
    return pm


def card_of(store: Store, pm: dict[str, Any]) -> TestCard:
    """The test card behind a payment method."""
    card: TestCard = store.private[pm["id"]]["card"]
    return card


def is_set_up(store: Store, pm: dict[str, Any]) -> bool:
    """Whether a SetupIntent saved the card for off-session payments (attaching alone does not)."""
    return bool(store.private[pm["id"]].get("set_up", False))


def mark_set_up(store: Store, pm: dict[str, Any]) -> None:
    store.private[pm["id"]]["set_up"] = True


def resolve(store: Store, ref: str, param: str = "payment_method") -> dict[str, Any]:
    """An existing PaymentMethod, or a new one when ``ref`` is a test token (a new ``pm_`` every time)."""
    token = TOKENS.get(ref)
    if token is not None:
        return _build(store, token)
    obj = store.objects["payment_method"].get(ref)
    if obj is None:
        raise missing("PaymentMethod", ref, param)
    return obj


def from_data(store: Store, data: dict[str, Any]) -> dict[str, Any]:
    """``payment_method_data`` / ``POST /v1/payment_methods``, as Stripe.js sends a typed-in card."""
    card_params = data.get("card") or {}
    if card_params.get("token"):
        return resolve(store, "pm_card_" + card_params["token"].removeprefix("tok_"), "card[token]")
    number = card_params.get("number")
    if not number:
        raise invalid("Missing required param: card[number].", code="parameter_missing", param="card[number]")
    return _build(
        store,
        card_for_number(number),
        card_params.get("exp_month"),
        card_params.get("exp_year"),
        data.get("billing_details"),
        data.get("metadata"),
    )


def attach(store: Store, pm: dict[str, Any], customer_id: str) -> None:
    """Attach as Stripe does: declining cards fail, a used or detached method cannot be reused."""
    customer = store.get("customer", customer_id, "customer")
    if pm["customer"] == customer["id"]:
        return
    if pm["customer"] is not None:
        raise invalid(
            "The payment method you provided has already been attached to a customer.",
            code="payment_method_unexpected_state",
            param="payment_method",
        )
    if store.private[pm["id"]]["detached"]:
        raise invalid(
            "This PaymentMethod was previously used without being attached to a Customer or was detached "
            "from a Customer, and may not be used again.",
            code="payment_method_unexpected_state",
            param="payment_method",
        )
    card = card_of(store, pm)
    if card.attach_decline:
        raise decline(card.attach_decline)
    pm["customer"] = customer["id"]
    store.emit("payment_method.attached", "payment_method", pm)


def detach(store: Store, pm: dict[str, Any]) -> None:
    """Detach; a customer's default that goes away is unset, as Stripe does."""
    customer_id = pm["customer"]
    if customer_id is None:
        raise invalid(
            "The payment method you provided is not attached to a customer so detachment is impossible.",
            code="payment_method_unexpected_state",
        )
    pm["customer"] = None
    store.private[pm["id"]]["detached"] = True
    store.emit("payment_method.detached", "payment_method", pm, {"customer": customer_id})
    customer = store.objects["customer"].get(customer_id)
    if customer is not None and customer["invoice_settings"]["default_payment_method"] == pm["id"]:
        previous = copy.deepcopy(customer["invoice_settings"])
        customer["invoice_settings"]["default_payment_method"] = None
        store.emit("customer.updated", "customer", customer, {"invoice_settings": previous})


def list_for_customer(ctx: Context, customer_id: str, params: dict[str, Any], url: str) -> dict[str, Any]:
    store = ctx.store
    store.get("customer", customer_id, "customer")
    wanted = params.get("type")
    items = [
        pm
        for pm in store.newest_first("payment_method")
        if pm["customer"] == customer_id
        and (wanted in (None, pm["type"]))
        and created_matches(pm["created"], params.get("created"))
    ]
    return paginate(items, params, url, lambda pm: store.render("payment_method", pm))


def _create(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("type") is None:
        raise invalid("Missing required param: type.", code="parameter_missing", param="type")
    pm = from_data(ctx.store, params)
    if params.get("allow_redisplay"):
        pm["allow_redisplay"] = params["allow_redisplay"]
    return ctx.store.render("payment_method", pm)


def _retrieve(ctx: Context, params: dict[str, Any], pm_id: str) -> dict[str, Any]:
    return ctx.store.render("payment_method", ctx.store.get("payment_method", pm_id))


def _update(ctx: Context, params: dict[str, Any], pm_id: str) -> dict[str, Any]:
    store = ctx.store
    pm = store.get("payment_method", pm_id)
    before = copy.deepcopy(pm)
    if "metadata" in params:
        pm["metadata"] = merge_metadata(pm["metadata"], params["metadata"])
    billing = params.get("billing_details") or {}
    for key, value in billing.items():
        if key == "address":
            pm["billing_details"]["address"].update(value or {})
        else:
            pm["billing_details"][key] = value
    for key in ("exp_month", "exp_year"):
        if (params.get("card") or {}).get(key) is not None:
            pm["card"][key] = params["card"][key]
    if params.get("allow_redisplay"):
        pm["allow_redisplay"] = params["allow_redisplay"]
    previous = changes(before, pm)
    if previous:
        store.emit("payment_method.updated", "payment_method", pm, previous)
    return store.render("payment_method", pm)


def _attach(ctx: Context, params: dict[str, Any], pm_id: str) -> dict[str, Any]:
    pm = resolve(ctx.store, pm_id, "payment_method")
    attach(ctx.store, pm, params["customer"])
    return ctx.store.render("payment_method", pm)


def _detach(ctx: Context, params: dict[str, Any], pm_id: str) -> dict[str, Any]:
    pm = ctx.store.get("payment_method", pm_id)
    detach(ctx.store, pm)
    return ctx.store.render("payment_method", pm)


def _list(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    customer = params.get("customer")
    if customer:
        return list_for_customer(ctx, customer, params, "/v1/payment_methods")
    # Without a customer Stripe lists nothing useful for saved cards; mirror its empty answer.
    return paginate([], params, "/v1/payment_methods", lambda pm: pm)


_UPDATE = schema(
    {
        "metadata": Metadata(),
        "billing_details": BILLING_DETAILS,
        "card": Obj({"exp_month": Int(), "exp_year": Int()}),
        "allow_redisplay": Enum("always", "limited", "unspecified"),
    }
)

ROUTES = [
    Route(
        "POST",
        "/v1/payment_methods",
        _create,
        schema({**PAYMENT_METHOD_DATA.fields, "key": Str(), "_stripe_version": Str()}),
        publishable=True,
    ),
    Route("GET", "/v1/payment_methods", _list, schema({"customer": Str(), "type": Enum("card")}, listing=True)),
    Route("GET", "/v1/payment_methods/<pm_id>", _retrieve, schema({})),
    Route("POST", "/v1/payment_methods/<pm_id>", _update, _UPDATE),
    Route("POST", "/v1/payment_methods/<pm_id>/attach", _attach, schema({"customer": Str()}, ["customer"])),
    Route("POST", "/v1/payment_methods/<pm_id>/detach", _detach, schema({})),
]
