"""Customers: create, retrieve, update, list, delete, and their saved payment methods."""

from __future__ import annotations

import copy
from typing import Any

from ..errors import invalid
from ..forms import ADDRESS, Enum, Int, ListOf, Metadata, Obj, Str, schema
from ..listing import created_matches, paginate
from ..routing import Context, Route, changes, merge_metadata
from ..store import Store
from . import payment_methods

CUSTOM_FIELD = Obj({"name": Str(), "value": Str()}, ["name", "value"])
INVOICE_SETTINGS = Obj(
    {
        "custom_fields": ListOf(CUSTOM_FIELD),
        "default_payment_method": Str(),
        "footer": Str(),
        "rendering_options": Obj({"amount_tax_display": Str(), "template": Str()}),
    }
)
SHIPPING = Obj({"address": ADDRESS, "name": Str(), "phone": Str()}, ["name"])
_FIELDS = {
    "address": ADDRESS,
    "description": Str(),
    "email": Str(),
    "invoice_prefix": Str(),
    "invoice_settings": INVOICE_SETTINGS,
    "metadata": Metadata(),
    "name": Str(),
    "next_invoice_sequence": Int(minimum=1),
    "phone": Str(),
    "preferred_locales": ListOf(Str()),
    "shipping": SHIPPING,
    "tax_exempt": Enum("none", "exempt", "reverse"),
}
_EMPTY_ADDRESS = dict.fromkeys(("city", "country", "line1", "line2", "postal_code", "state"))


def _address(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {**_EMPTY_ADDRESS, **{k: v for k, v in value.items()}}


def _default_payment_method(store: Store, customer_id: str, ref: str | None) -> str | None:
    if ref is None:
        return None
    pm = store.objects["payment_method"].get(ref)
    if pm is None or pm["customer"] != customer_id:
        raise invalid(
            f"No such PaymentMethod: '{ref}'; the payment method must be attached to the customer first.",
            code="resource_missing",
            param="invoice_settings[default_payment_method]",
        )
    return ref


def _apply(store: Store, customer: dict[str, Any], params: dict[str, Any], token_map: dict[str, str]) -> None:
    for key in ("description", "email", "name", "phone", "tax_exempt", "preferred_locales", "next_invoice_sequence"):
        if key in params:
            customer[key] = params[key] if key != "preferred_locales" else (params[key] or [])
    if params.get("invoice_prefix"):
        customer["invoice_prefix"] = params["invoice_prefix"].upper()
    if "address" in params:
        merged = None if params["address"] is None else {**(customer["address"] or {}), **params["address"]}
        customer["address"] = _address(merged)
    if "shipping" in params:
        shipping = params["shipping"]
        customer["shipping"] = (
            None
            if shipping is None
            else {
                "address": _address(shipping.get("address") or {}),
                "name": shipping["name"],
                "phone": shipping.get("phone"),
            }
        )
    if "metadata" in params:
        customer["metadata"] = merge_metadata(customer["metadata"], params["metadata"])
    settings = params.get("invoice_settings")
    if "invoice_settings" in params and settings is not None:
        current = customer["invoice_settings"]
        if "custom_fields" in settings:
            current["custom_fields"] = settings["custom_fields"] or None
        if "footer" in settings:
            current["footer"] = settings["footer"]
        if "rendering_options" in settings:
            current["rendering_options"] = settings["rendering_options"]
        if "default_payment_method" in settings:
            ref = settings["default_payment_method"]
            current["default_payment_method"] = _default_payment_method(
                store, customer["id"], token_map.get(ref, ref) if ref else None
            )


def _create(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.store
    customer: dict[str, Any] = {
        "address": None,
        "balance": 0,
        "created": store.now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "id": store.new_id("cus", 14),
        "invoice_prefix": store.token(8).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "object": "customer",
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    # Validate the payment method before anything is stored, so a decline leaves no customer behind.
    token_map: dict[str, str] = {}
    pm = None
    if params.get("payment_method"):
        pm = payment_methods.resolve(store, params["payment_method"])
        card = payment_methods.card_of(store, pm)
        if card.attach_decline:
            raise payment_methods.decline(card.attach_decline)
    store.add("customer", customer)
    if pm is not None:
        payment_methods.attach(store, pm, customer["id"])
        token_map[params["payment_method"]] = pm["id"]
    _apply(store, customer, params, token_map)
    store.emit("customer.created", "customer", customer)
    return store.render("customer", customer)


def _retrieve(ctx: Context, params: dict[str, Any], customer_id: str) -> dict[str, Any]:
    customer = ctx.store.objects["customer"].get(customer_id)
    if customer is None and customer_id in ctx.store.private.get("deleted_customers", {}):
        return {"deleted": True, "id": customer_id, "object": "customer"}
    return ctx.store.render("customer", ctx.store.get("customer", customer_id))


def _update(ctx: Context, params: dict[str, Any], customer_id: str) -> dict[str, Any]:
    store = ctx.store
    customer = store.get("customer", customer_id)
    before = copy.deepcopy(customer)
    _apply(store, customer, params, {})
    previous = changes(before, customer)
    if previous:
        store.emit("customer.updated", "customer", customer, previous)
    return store.render("customer", customer)


def _delete(ctx: Context, params: dict[str, Any], customer_id: str) -> dict[str, Any]:
    store = ctx.store
    customer = store.get("customer", customer_id)
    store.emit("customer.deleted", "customer", customer)
    del store.objects["customer"][customer_id]
    store.private.setdefault("deleted_customers", {})[customer_id] = True
    return {"deleted": True, "id": customer_id, "object": "customer"}


def _list(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.store
    items = [
        c
        for c in store.newest_first("customer")
        if params.get("email") in (None, c["email"]) and created_matches(c["created"], params.get("created"))
    ]
    return paginate(items, params, "/v1/customers", lambda c: store.render("customer", c))


def _payment_methods(ctx: Context, params: dict[str, Any], customer_id: str) -> dict[str, Any]:
    return payment_methods.list_for_customer(ctx, customer_id, params, f"/v1/customers/{customer_id}/payment_methods")


def _payment_method(ctx: Context, params: dict[str, Any], customer_id: str, pm_id: str) -> dict[str, Any]:
    store = ctx.store
    store.get("customer", customer_id, "customer")
    pm = store.get("payment_method", pm_id)
    if pm["customer"] != customer_id:
        raise invalid(f"No such PaymentMethod: '{pm_id}'", code="resource_missing", param="payment_method", status=404)
    return store.render("payment_method", pm)


ROUTES = [
    Route("POST", "/v1/customers", _create, schema({**_FIELDS, "payment_method": Str()})),
    Route("GET", "/v1/customers", _list, schema({"email": Str()}, listing=True)),
    Route("GET", "/v1/customers/<customer_id>", _retrieve, schema({})),
    Route("POST", "/v1/customers/<customer_id>", _update, schema(_FIELDS)),
    Route("DELETE", "/v1/customers/<customer_id>", _delete, schema({})),
    Route(
        "GET",
        "/v1/customers/<customer_id>/payment_methods",
        _payment_methods,
        schema({"type": Str(), "allow_redisplay": Str()}, listing=True),
    ),
    Route("GET", "/v1/customers/<customer_id>/payment_methods/<pm_id>", _payment_method, schema({})),
]
