"""Invoice items and invoices: drafts, finalization, collection and Stripe's status machine.

Statuses move as Stripe documents: ``draft`` → ``open`` → ``paid`` | ``void`` | ``uncollectible``, and an
``uncollectible`` invoice may still be paid or voided; ``paid`` and ``void`` are final.
"""

from __future__ import annotations

import copy
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..account import MAX_TRIES
from ..errors import StripeError, invalid
from ..forms import Bool, Dec, Enum, Int, IntOrRange, ListOf, Metadata, Obj, Str, schema
from ..listing import created_matches, paginate
from ..routing import Context, Route, merge_metadata, watched
from ..store import Store
from . import intents, payment_methods
from .customers import CUSTOM_FIELD

DAY = 86_400
_CUSTOMER_FIELDS = (
    "customer_address",
    "customer_email",
    "customer_name",
    "customer_phone",
    "customer_shipping",
    "customer_tax_exempt",
)
_LINES_SHOWN = 10


# ---------------------------------------------------------------- invoice items


def _money(params: dict[str, Any]) -> tuple[int, int, Decimal, Decimal, dict[str, Any]]:
    """(amount, quantity, quantity_decimal, unit_amount_decimal, price_data) of an invoice item.

    The pinned API version takes either ``amount`` or a unit price (``unit_amount_decimal``, or
    ``price_data[unit_amount]``/``price_data[unit_amount_decimal]``) times ``quantity``/``quantity_decimal``;
    the top-level ``unit_amount`` of older versions is gone. The product is rounded half up to whole cents.
    """
    price_data = params.get("price_data") or {}
    if params.get("quantity") is not None and params.get("quantity_decimal") is not None:
        raise invalid("You may only specify one of these parameters: quantity, quantity_decimal.", param="quantity")
    quantity_decimal = (
        params["quantity_decimal"]
        if params.get("quantity_decimal") is not None
        else Decimal(params["quantity"] if params.get("quantity") is not None else 1)
    )
    if quantity_decimal < 0:
        raise invalid("Quantity must be non-negative.", param="quantity")
    unit_sources = [k for k in ("unit_amount_decimal",) if params.get(k) is not None]
    if price_data:
        if price_data.get("unit_amount") is not None and price_data.get("unit_amount_decimal") is not None:
            raise invalid(
                "You may only specify one of these parameters: unit_amount, unit_amount_decimal.",
                param="price_data[unit_amount]",
            )
        unit_sources.append("price_data")
    if params.get("amount") is not None:
        if unit_sources:
            raise invalid(f"You may only specify one of these parameters: amount, {unit_sources[0]}.", param="amount")
        if quantity_decimal != 1:
            raise invalid(
                "When `amount` is given, `quantity` must be 1 (pass `unit_amount_decimal` instead).", param="quantity"
            )
        amount = int(params["amount"])
        return amount, 1, Decimal(1), Decimal(amount), price_data
    if len(unit_sources) > 1:
        raise invalid(
            "You may only specify one of these parameters: unit_amount_decimal, price_data.",
            param="unit_amount_decimal",
        )
    if not unit_sources:
        raise invalid("Must provide one of `amount`, `unit_amount_decimal`, `price_data` or `pricing`.", param="amount")
    if params.get("unit_amount_decimal") is not None:
        unit: Decimal = params["unit_amount_decimal"]
    elif price_data.get("unit_amount") is not None:
        unit = Decimal(price_data["unit_amount"])
    elif price_data.get("unit_amount_decimal") is not None:
        unit = price_data["unit_amount_decimal"]
    else:
        raise invalid(
            "Missing required param: price_data[unit_amount].",
            code="parameter_missing",
            param="price_data[unit_amount]",
        )
    amount = int((unit * quantity_decimal).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    quantity = int(quantity_decimal) if quantity_decimal == quantity_decimal.to_integral_value() else 1
    return amount, quantity, quantity_decimal, unit, price_data


def _plain(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return text


def _line_for(store: Store, item: dict[str, Any]) -> dict[str, Any]:
    line = {
        "amount": item["amount"],
        "currency": item["currency"],
        "description": item["description"],
        "discount_amounts": [],
        "discountable": item["discountable"],
        "discounts": [],
        "id": store.new_id("il"),
        "invoice": item["invoice"],
        "livemode": False,
        "metadata": copy.deepcopy(item["metadata"]),
        "object": "line_item",
        "parent": {
            "invoice_item_details": {
                "invoice_item": item["id"],
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        },
        "period": copy.deepcopy(item["period"]),
        "pretax_credit_amounts": [],
        "pricing": copy.deepcopy(item["pricing"]),
        "quantity": item["quantity"],
        "quantity_decimal": item["quantity_decimal"],
        "subscription": None,
        "subtotal": item["amount"],
        "taxes": [],
    }
    store.add("line_item", line)
    return line


def _add_to_invoice(store: Store, item: dict[str, Any], invoice: dict[str, Any]) -> None:
    with watched(store, "invoice", invoice):
        item["invoice"] = invoice["id"]
        line = _line_for(store, item)
        store.private[invoice["id"]]["lines"].append(line["id"])
        store.private[item["id"]]["line"] = line["id"]
        _recompute(store, invoice)


def _remove_from_invoice(store: Store, item: dict[str, Any]) -> None:
    invoice = store.objects["invoice"].get(item["invoice"] or "")
    line_id = store.private[item["id"]].pop("line", None)
    if invoice is not None and line_id is not None:
        with watched(store, "invoice", invoice):
            store.private[invoice["id"]]["lines"].remove(line_id)
            store.objects["line_item"].pop(line_id, None)
            _recompute(store, invoice)
    item["invoice"] = None


def _draft_invoice(store: Store, invoice_id: str, customer_id: str) -> dict[str, Any]:
    invoice = store.get("invoice", invoice_id, "invoice")
    if invoice["status"] != "draft":
        raise invalid(
            "Invoice items can only be added to draft invoices.", code="invoice_not_editable", param="invoice"
        )
    if invoice["customer"] != customer_id:
        raise invalid("The invoice's customer does not match the invoice item's customer.", param="invoice")
    return invoice


def _create_item(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.store
    customer = store.get("customer", params["customer"], "customer")
    amount, quantity, quantity_decimal, unit, price_data = _money(params)
    invoice = _draft_invoice(store, params["invoice"], customer["id"]) if params.get("invoice") else None
    currency = (
        params.get("currency")
        or price_data.get("currency")
        or (invoice or {}).get("currency")
        or customer["currency"]
        or "usd"
    ).lower()
    now = store.now()
    period = params.get("period") or {}
    item: dict[str, Any] = {
        "amount": amount,
        "currency": currency,
        "customer": customer["id"],
        "customer_account": None,
        "date": now,
        "description": params.get("description"),
        "discountable": params["discountable"] if params.get("discountable") is not None else amount >= 0,
        "discounts": [],
        "id": store.new_id("ii"),
        "invoice": None,
        "livemode": False,
        "metadata": merge_metadata({}, params.get("metadata") or {}),
        "net_amount": amount,
        "object": "invoiceitem",
        "parent": None,
        "period": {"end": period.get("end", now), "start": period.get("start", now)},
        "pricing": {
            "price_details": {
                "price": store.new_id("price"),
                "product": price_data.get("product") or store.new_id("prod", 14),
            },
            "type": "price_details",
            "unit_amount_decimal": _plain(unit),
        },
        "proration": False,
        "quantity": quantity,
        "quantity_decimal": _plain(quantity_decimal),
        "tax_rates": [],
        "test_clock": None,
    }
    if item["period"]["end"] < item["period"]["start"]:
        raise invalid("The period end must be on or after the period start.", param="period[end]")
    store.add("invoiceitem", item)
    store.private[item["id"]] = {}
    if customer["currency"] is None:
        customer["currency"] = currency
    if invoice is not None:
        _add_to_invoice(store, item, invoice)
    store.emit("invoiceitem.created", "invoiceitem", item)
    return store.render("invoiceitem", item)


def _retrieve_item(ctx: Context, params: dict[str, Any], item_id: str) -> dict[str, Any]:
    return ctx.store.render("invoiceitem", ctx.store.get("invoiceitem", item_id))


def _item_editable(store: Store, item: dict[str, Any]) -> None:
    invoice = store.objects["invoice"].get(item["invoice"] or "")
    if invoice is not None and invoice["status"] != "draft":
        raise invalid(
            "This invoice item belongs to an invoice that is no longer a draft and cannot be changed.",
            code="invoice_not_editable",
        )


def _update_item(ctx: Context, params: dict[str, Any], item_id: str) -> dict[str, Any]:
    store = ctx.store
    item = store.get("invoiceitem", item_id)
    _item_editable(store, item)
    if "metadata" in params:
        item["metadata"] = merge_metadata(item["metadata"], params["metadata"])
    if "description" in params:
        item["description"] = params["description"]
    line_id = store.private[item["id"]].get("line")
    if line_id is not None:
        store.objects["line_item"][line_id].update(
            description=item["description"], metadata=copy.deepcopy(item["metadata"])
        )
    return store.render("invoiceitem", item)


def _delete_item(ctx: Context, params: dict[str, Any], item_id: str) -> dict[str, Any]:
    store = ctx.store
    item = store.get("invoiceitem", item_id)
    _item_editable(store, item)
    _remove_from_invoice(store, item)
    store.emit("invoiceitem.deleted", "invoiceitem", item)
    del store.objects["invoiceitem"][item_id]
    return {"deleted": True, "id": item_id, "object": "invoiceitem"}


def _list_items(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.store
    items = [
        i
        for i in store.newest_first("invoiceitem")
        if params.get("customer") in (None, i["customer"])
        and params.get("invoice") in (None, i["invoice"])
        and (params.get("pending") is None or params["pending"] == (i["invoice"] is None))
        and created_matches(i["date"], params.get("created"))
    ]
    return paginate(items, params, "/v1/invoiceitems", lambda i: store.render("invoiceitem", i))


# ---------------------------------------------------------------- invoices


def _lines(store: Store, invoice: dict[str, Any]) -> list[dict[str, Any]]:
    return [store.objects["line_item"][line_id] for line_id in store.private[invoice["id"]]["lines"]]


def _recompute(store: Store, invoice: dict[str, Any]) -> None:
    subtotal = sum(line["amount"] for line in _lines(store, invoice))
    amount_due = max(subtotal, 0)
    invoice.update(
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total=subtotal,
        total_excluding_tax=subtotal,
        amount_due=amount_due,
        amount_remaining=amount_due - invoice["amount_paid"],
    )


def _customer_snapshot(customer: dict[str, Any]) -> dict[str, Any]:
    return {
        "customer_address": copy.deepcopy(customer["address"]),
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "customer_phone": customer["phone"],
        "customer_shipping": copy.deepcopy(customer["shipping"]),
        "customer_tax_exempt": customer["tax_exempt"],
    }


def render_invoice(store: Store, invoice: dict[str, Any]) -> dict[str, Any]:
    """The invoice as the API shows it: a draft follows its customer; a finalized one keeps its snapshot."""
    out = copy.deepcopy(invoice)
    if invoice["status"] == "draft":
        customer = store.objects["customer"].get(invoice["customer"])
        if customer is not None:
            out.update(_customer_snapshot(customer))
    lines = _lines(store, invoice)
    out["lines"] = {
        "data": [copy.deepcopy(line) for line in lines[:_LINES_SHOWN]],
        "has_more": len(lines) > _LINES_SHOWN,
        "object": "list",
        "url": f"/v1/invoices/{invoice['id']}/lines",
    }
    return out


def _own_payment_method(store: Store, customer_id: str, ref: str, param: str) -> str:
    """A payment method of this customer; a test token is saved to the customer first."""
    pm = payment_methods.resolve(store, ref, param)
    if pm["customer"] is None and ref != pm["id"]:
        payment_methods.attach(store, pm, customer_id)
    if pm["customer"] != customer_id:
        raise invalid(
            f"The PaymentMethod {pm['id']} does not belong to the invoice's customer {customer_id}.", param=param
        )
    return str(pm["id"])


def _create(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.store
    customer = store.get("customer", params["customer"], "customer")
    method = params.get("collection_method") or "charge_automatically"
    days = params.get("days_until_due")
    if method == "charge_automatically" and (days is not None or params.get("due_date") is not None):
        raise invalid(
            "Invoices with collection_method=charge_automatically cannot have a due date.",
            param="days_until_due" if days is not None else "due_date",
        )
    if method == "send_invoice" and days is None and params.get("due_date") is None:
        raise invalid(
            "Invoices with collection_method=send_invoice need `days_until_due` or `due_date`.", param="days_until_due"
        )
    now = store.now()
    invoice_id = store.new_id("in")
    auto_advance = bool(params.get("auto_advance"))
    currency = (params.get("currency") or customer["currency"] or "usd").lower()
    invoice: dict[str, Any] = {
        "account_country": "US",
        "account_name": "Local Stripe emulator",
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": auto_advance,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": now + 3600 if auto_advance else None,
        "billing_reason": "manual",
        "collection_method": method,
        "created": now,
        "currency": currency,
        "custom_fields": params.get("custom_fields") or customer["invoice_settings"]["custom_fields"],
        "customer": customer["id"],
        "customer_account": None,
        **_customer_snapshot(customer),
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": params.get("description"),
        "discounts": [],
        "due_date": params.get("due_date") or (now + days * DAY if days is not None else None),
        "effective_at": None,
        "ending_balance": None,
        "footer": params.get("footer") or customer["invoice_settings"]["footer"],
        "from_invoice": None,
        "hosted_invoice_url": None,
        "id": invoice_id,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "livemode": False,
        "metadata": merge_metadata({}, params.get("metadata") or {}),
        "next_payment_attempt": None,
        "number": None,
        "object": "invoice",
        "on_behalf_of": None,
        "parent": None,
        "payment_settings": {"default_mandate": None, "payment_method_options": None, "payment_method_types": None},
        "period_end": now,
        "period_start": now,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": params.get("statement_descriptor"),
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subscription": None,
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": None,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": now,
    }
    if params.get("default_payment_method"):
        invoice["default_payment_method"] = _own_payment_method(
            store, customer["id"], params["default_payment_method"], "default_payment_method"
        )
    store.add("invoice", invoice)
    store.private[invoice_id] = {"lines": [], "days_until_due": days}
    if params.get("pending_invoice_items_behavior") == "include":
        pending = [
            i
            for i in store.objects["invoiceitem"].values()
            if i["customer"] == customer["id"] and i["invoice"] is None and i["currency"] == currency
        ]
        store.watching.add(invoice_id)  # the items a new invoice takes in are part of its creation, not an update
        try:
            for item in sorted(pending, key=lambda i: store.sequence[i["id"]]):
                _add_to_invoice(store, item, invoice)
        finally:
            store.watching.discard(invoice_id)
    store.emit("invoice.created", "invoice", invoice)
    return store.render("invoice", invoice)


def _retrieve(ctx: Context, params: dict[str, Any], invoice_id: str) -> dict[str, Any]:
    return ctx.store.render("invoice", ctx.store.get("invoice", invoice_id, "invoice"))


_OPEN_EDITABLE = {
    "metadata",
    "description",
    "footer",
    "auto_advance",
    "custom_fields",
    "default_payment_method",
    "due_date",
    "expand",
}


def _update(ctx: Context, params: dict[str, Any], invoice_id: str) -> dict[str, Any]:
    store = ctx.store
    invoice = store.get("invoice", invoice_id, "invoice")
    status = invoice["status"]
    allowed = (
        None if status == "draft" else _OPEN_EDITABLE if status in ("open", "uncollectible") else {"metadata", "expand"}
    )
    if allowed is not None:
        refused = sorted(set(params) - allowed)
        if refused:
            raise invalid(
                f"You can't update `{refused[0]}` on an invoice with status {status}.",
                code="invoice_not_editable",
                param=refused[0],
            )
    with watched(store, "invoice", invoice):
        if "metadata" in params:
            invoice["metadata"] = merge_metadata(invoice["metadata"], params["metadata"])
        for key in ("description", "footer", "statement_descriptor", "due_date"):
            if key in params:
                invoice[key] = params[key]
        if "custom_fields" in params:
            invoice["custom_fields"] = params["custom_fields"] or None
        if "auto_advance" in params:
            invoice["auto_advance"] = bool(params["auto_advance"])
            if status == "draft":
                invoice["automatically_finalizes_at"] = invoice["created"] + 3600 if invoice["auto_advance"] else None
        if "collection_method" in params:
            invoice["collection_method"] = params["collection_method"] or "charge_automatically"
        if "days_until_due" in params:
            days = params["days_until_due"]
            store.private[invoice_id]["days_until_due"] = days
            invoice["due_date"] = None if days is None else invoice["created"] + days * DAY
        if "default_payment_method" in params:
            ref = params["default_payment_method"]
            invoice["default_payment_method"] = (
                None if ref is None else _own_payment_method(store, invoice["customer"], ref, "default_payment_method")
            )
    return store.render("invoice", invoice)


def _delete(ctx: Context, params: dict[str, Any], invoice_id: str) -> dict[str, Any]:
    store = ctx.store
    invoice = store.get("invoice", invoice_id, "invoice")
    if invoice["status"] != "draft":
        raise invalid(
            "You can only delete draft invoices. Void or mark it uncollectible instead.", code="invoice_not_editable"
        )
    store.watching.add(invoice_id)  # emptying a deleted draft is its deletion, not an update
    try:
        for item in store.objects["invoiceitem"].values():
            if item["invoice"] == invoice_id:
                _remove_from_invoice(store, item)
    finally:
        store.watching.discard(invoice_id)
    store.emit("invoice.deleted", "invoice", invoice)
    del store.objects["invoice"][invoice_id]
    return {"deleted": True, "id": invoice_id, "object": "invoice"}


# ---------------------------------------------------------------- collection
#
# How Stripe collects a ``charge_automatically`` invoice (https://docs.stripe.com/invoicing/automatic-collection,
# https://docs.stripe.com/billing/revenue-recovery/smart-retries), as the emulator does it:
#
# * ``finalize`` answers ``open`` and makes the invoice's PaymentIntent (``payment_intent.created`` beside
#   ``invoice.finalized``); with ``auto_advance`` the first automatic attempt is due ``FIRST_ATTEMPT_DELAY`` (one
#   hour, as Stripe waits after finalizing) later on the emulator's clock, or it happens at once on ``invoices.pay``.
# * A failed automatic attempt leaves the invoice ``open`` with ``attempt_count`` and the error on its
#   PaymentIntent (``expand[]=payments.data.payment.payment_intent``). Whether it is retried is the account's
#   setting for one-off invoices (``store.settings``, see ``account.py``): off, or Smart Retries' number of tries
#   within a window, each retry charging the customer's CURRENT default payment method. No payment method: no
#   retry ("Stripe doesn't retry payments if no payment methods are available"). After a hard decline (lost or
#   stolen card, fraud) a retry is counted but only charged once the default payment method changed.
# * After the last try fails, the invoice is left open, marked uncollectible or voided, as the account says.
# * Only automatic retries count beyond the first attempt: a failed ``invoices.pay`` after the first attempt
#   does not move ``attempt_count`` nor the schedule.
# * An amount due under the currency's minimum charge (50 cents in usd) is not charged: the invoice is paid
#   with ``amount_paid`` 0 and the amount goes to the customer's balance, which the next finalized invoice
#   takes as its ``starting_balance`` (https://docs.stripe.com/billing/customer/balance).

FIRST_ATTEMPT_DELAY = 3600
MINIMUM_CHARGE = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "chf": 50, "jpy": 50}
HARD_DECLINES = frozenset({"lost_card", "stolen_card", "fraudulent", "pickup_card", "restricted_card"})


def _mark_paid(store: Store, invoice: dict[str, Any], amount: int) -> None:
    now = store.now()
    invoice.update(
        status="paid",
        amount_paid=invoice["amount_paid"] + amount,
        amount_remaining=0,
        auto_advance=False,
        next_payment_attempt=None,
        automatically_finalizes_at=None,
    )
    invoice["status_transitions"]["paid_at"] = now
    store.emit("invoice.paid", "invoice", invoice)
    store.emit("invoice.payment_succeeded", "invoice", invoice)


def _default_payment_method(store: Store, invoice: dict[str, Any]) -> dict[str, Any] | None:
    """What Stripe charges: the invoice's own default, else the customer's CURRENT default."""
    customer = store.objects["customer"].get(invoice["customer"])
    pm_id = invoice["default_payment_method"] or (customer or {}).get("invoice_settings", {}).get(
        "default_payment_method"
    )
    pm = store.objects["payment_method"].get(pm_id) if pm_id else None
    return pm if pm is not None and pm["customer"] == invoice["customer"] else None


def _payment_method_for(store: Store, invoice: dict[str, Any], ref: str | None) -> dict[str, Any] | None:
    if ref:
        return store.get("payment_method", _own_payment_method(store, invoice["customer"], ref, "payment_method"))
    return _default_payment_method(store, invoice)


def _collects_automatically(invoice: dict[str, Any]) -> bool:
    return bool(invoice["auto_advance"]) and invoice["collection_method"] == "charge_automatically"


def _next_retry(store: Store, invoice: dict[str, Any]) -> int | None:
    """When the next automatic retry is due under the account's retry setting (None: no more tries).

    Smart Retries choose their instants; here the window after the first failure is cut into one share per
    retry and each retry falls at a seeded random instant in the later half of its share."""
    retries = store.settings.retries
    tries = invoice["attempt_count"]
    if retries is None or tries >= retries.tries:
        return None
    private = store.private[invoice["id"]]
    setting = [retries.tries, retries.window_days]
    if private.get("retry_setting") != setting:
        start, window, shares = private["first_failure_at"], retries.window_days * DAY, retries.tries - 1
        schedule = []
        for share in range(shares):
            low, high = start + window * share // shares, start + window * (share + 1) // shares
            schedule.append(store.rng.randint(low + (high - low) // 2, high))
        private["retry_setting"], private["retry_schedule"] = setting, schedule
    schedule = private["retry_schedule"]
    return int(schedule[tries - 1])


def _schedule_after_failure(store: Store, invoice: dict[str, Any], automatic: bool, *, retryable: bool) -> None:
    private = store.private[invoice["id"]]
    if not _collects_automatically(invoice):
        invoice["next_payment_attempt"] = None
        return
    if private.get("first_failure_at") is None:
        # The schedule counts from when the failed attempt was due (a clock moved far ahead runs it late).
        due = invoice["next_payment_attempt"] if automatic else None
        private["first_failure_at"] = due or store.now()
    elif not automatic:
        return  # a manual attempt after the first does not move the retry schedule
    following = _next_retry(store, invoice) if retryable else None
    if following is not None:
        invoice["next_payment_attempt"] = following
        return
    invoice["next_payment_attempt"] = None
    outcome = store.settings.after_final_attempt
    if outcome == "mark_uncollectible":
        invoice.update(status="uncollectible", auto_advance=False)
        invoice["status_transitions"]["marked_uncollectible_at"] = store.now()
        store.emit("invoice.marked_uncollectible", "invoice", invoice)
    elif outcome == "void":
        _void_now(store, invoice)


def _no_payment_method_error() -> StripeError:
    return StripeError(
        402,
        "card_error",
        "This customer has no attached payment source or default payment method.",
        code="missing",
    )


def _attempt(
    store: Store, invoice: dict[str, Any], pm: dict[str, Any] | None, *, automatic: bool, on_session: bool = False
) -> StripeError | None:
    """One payment attempt of what is left; on failure the invoice stays open, the error returned."""
    invoice["attempted"] = True
    if automatic or invoice["attempt_count"] == 0:
        invoice["attempt_count"] += 1
    if pm is None:
        error: StripeError | None = _no_payment_method_error()
    else:
        intent = intents.for_invoice(store, invoice)
        error = intents.charge(store, intent, pm, on_session=on_session)
    if error is None:
        _mark_paid(store, invoice, invoice["amount_remaining"])
        return None
    private = store.private[invoice["id"]]
    private["failed_pm"] = None if pm is None else pm["id"]
    private["hard_decline"] = error.decline_code in HARD_DECLINES
    if error.code == "authentication_required":
        store.emit("invoice.payment_action_required", "invoice", invoice)
    _schedule_after_failure(store, invoice, automatic, retryable=pm is not None)
    store.emit("invoice.payment_failed", "invoice", invoice)
    return error


def intent_settled(store: Store, invoice_id: str | None, intent: dict[str, Any], error: StripeError | None) -> None:
    """Stripe.js confirmed the invoice's PaymentIntent: a success pays the invoice."""
    invoice = store.objects["invoice"].get(invoice_id or "")
    if invoice is None or error is not None or invoice["status"] not in ("open", "uncollectible"):
        return
    with watched(store, "invoice", invoice):
        _mark_paid(store, invoice, intent["amount_received"])


def _apply_balance(store: Store, invoice: dict[str, Any], customer: dict[str, Any]) -> None:
    """The customer's balance joins the invoice at finalization: a debit adds to what is due, a credit reduces it."""
    starting = int(customer.get("balance") or 0)
    owed = invoice["total"] + starting
    amount_due = max(owed, 0)
    ending = min(owed, 0)
    minimum = MINIMUM_CHARGE.get(invoice["currency"], 50)
    carried = 0
    if 0 < amount_due < minimum:
        carried, amount_due = amount_due, 0
        ending = carried
    customer["balance"] = ending
    invoice.update(
        starting_balance=starting,
        ending_balance=ending,
        amount_due=amount_due,
        amount_remaining=amount_due,
    )
    store.private[invoice["id"]]["carried"] = carried


def finalize(store: Store, base_url: str, invoice: dict[str, Any], auto_advance: bool | None = None) -> None:
    """Draft → open: number it, freeze the customer's details, apply the balance, make its PaymentIntent,
    schedule the first attempt.

    https://docs.stripe.com/invoicing/integration/workflow-transitions: finalizing never charges; with
    ``auto_advance`` Stripe attempts payment about an hour later. The customer's ``next_invoice_sequence``
    (and balance) change with it: ``customer.updated``.
    """
    if invoice["status"] != "draft":
        raise invalid("This invoice is already finalized, you can't re-finalize a non-draft invoice.")
    customer = store.get("customer", invoice["customer"], "customer")
    with watched(store, "invoice", invoice), watched(store, "customer", customer):
        now = store.now()
        sequence = customer["next_invoice_sequence"]
        customer["next_invoice_sequence"] = sequence + 1
        invoice.update(_customer_snapshot(customer))
        invoice.update(
            status="open",
            number=f"{customer['invoice_prefix']}-{sequence:04d}",
            effective_at=now,
            automatically_finalizes_at=None,
            hosted_invoice_url=f"{base_url}/_emulator/invoices/{invoice['id']}",
            invoice_pdf=f"{base_url}/_emulator/invoices/{invoice['id']}/pdf",
        )
        if auto_advance is not None:
            invoice["auto_advance"] = auto_advance
        days = store.private[invoice["id"]].get("days_until_due")
        if days is not None:
            invoice["due_date"] = now + days * DAY
        invoice["status_transitions"]["finalized_at"] = now
        _apply_balance(store, invoice, customer)
        store.emit("invoice.finalized", "invoice", invoice)
        if invoice["amount_due"] == 0:
            _mark_paid(store, invoice, 0)
            return
        intents.for_invoice(store, invoice)
        if _collects_automatically(invoice):
            invoice["next_payment_attempt"] = now + FIRST_ATTEMPT_DELAY


def collect_due(store: Store) -> int:
    """Run every automatic payment attempt that is due on the emulator's clock; how many ran.

    A clock moved weeks ahead runs the missed retries one after another, each on the then-current default.
    """
    ran = 0
    for _ in range(MAX_TRIES + 2):
        now = store.now()
        due = [
            invoice
            for invoice in store.objects["invoice"].values()
            if invoice["status"] == "open"
            and _collects_automatically(invoice)
            and invoice["next_payment_attempt"] is not None
            and invoice["next_payment_attempt"] <= now
        ]
        if not due:
            break
        for invoice in sorted(due, key=lambda i: (i["next_payment_attempt"], store.sequence[i["id"]])):
            private = store.private[invoice["id"]]
            pm = _default_payment_method(store, invoice)
            with watched(store, "invoice", invoice):
                if private.get("hard_decline") and pm is not None and pm["id"] == private.get("failed_pm"):
                    # A hard decline is not retried on the same card: the try is counted, nothing is charged.
                    invoice["attempt_count"] += 1
                    _schedule_after_failure(store, invoice, True, retryable=True)
                else:
                    _attempt(store, invoice, pm, automatic=True)
            ran += 1
    return ran


def _finalize(ctx: Context, params: dict[str, Any], invoice_id: str) -> dict[str, Any]:
    invoice = ctx.store.get("invoice", invoice_id, "invoice")
    finalize(ctx.store, ctx.base_url, invoice, params.get("auto_advance"))
    return ctx.store.render("invoice", invoice)


_REQUIRES_ACTION = (
    "This payment requires additional user action before it can be completed successfully. Payment can be "
    "completed using the PaymentIntent associated with the invoice. For more details see: "
    "https://docs.stripe.com/billing/subscriptions/overview#requires-action"
)


def _pay(ctx: Context, params: dict[str, Any], invoice_id: str) -> dict[str, Any]:
    """https://docs.stripe.com/api/invoices/pay: attempt payment now, outside the automatic schedule.

    An invoice in a state that cannot be paid is refused with a message and no ``code``, as Stripe refuses it;
    a card that needs the cardholder answers ``invoice_payment_intent_requires_action`` without the
    PaymentIntent (the docs do not promise it there: read it from the invoice's ``payments``)."""
    store = ctx.store
    invoice = store.get("invoice", invoice_id, "invoice")
    if invoice["status"] == "paid":
        raise invalid("Invoice is already paid.")
    if invoice["status"] == "void":
        raise invalid("This invoice has been voided and can no longer be paid.")
    pm = None
    if not params.get("paid_out_of_band"):
        pm = _payment_method_for(store, invoice, params.get("payment_method"))
        if pm is None:
            raise invalid(
                "This customer has no attached payment source or default payment method. Please consider "
                "adding a default payment method.",
                param="payment_method",
            )
    with watched(store, "invoice", invoice):
        if invoice["status"] == "draft":
            finalize(store, ctx.base_url, invoice, False)
            if invoice["status"] == "paid":
                return store.render("invoice", invoice)
        if params.get("paid_out_of_band"):
            intents.cancel_for_invoice(store, invoice)
            _mark_paid(store, invoice, invoice["amount_remaining"])
            return store.render("invoice", invoice)
        # ``off_session`` defaults to true: the customer is not there to authenticate.
        error = _attempt(store, invoice, pm, automatic=False, on_session=params.get("off_session") is False)
    if error is None:
        return store.render("invoice", invoice)
    if error.code == "authentication_required":
        raise StripeError(402, "card_error", _REQUIRES_ACTION, code="invoice_payment_intent_requires_action")
    raise error


def _void_now(store: Store, invoice: dict[str, Any]) -> None:
    invoice.update(status="void", auto_advance=False, next_payment_attempt=None, amount_remaining=0)
    invoice["status_transitions"]["voided_at"] = store.now()
    intents.cancel_for_invoice(store, invoice)
    store.emit("invoice.voided", "invoice", invoice)


def _void(ctx: Context, params: dict[str, Any], invoice_id: str) -> dict[str, Any]:
    """https://docs.stripe.com/api/invoices/void: open or uncollectible only; refused with a message, no code."""
    store = ctx.store
    invoice = store.get("invoice", invoice_id, "invoice")
    if invoice["status"] not in ("open", "uncollectible"):
        raise invalid(
            f"You can only void invoices that are open or uncollectible. This invoice is {invoice['status']}."
        )
    with watched(store, "invoice", invoice):
        _void_now(store, invoice)
    return store.render("invoice", invoice)


def _mark_uncollectible(ctx: Context, params: dict[str, Any], invoice_id: str) -> dict[str, Any]:
    """https://docs.stripe.com/api/invoices/mark_uncollectible: open only; refused with a message, no code."""
    store = ctx.store
    invoice = store.get("invoice", invoice_id, "invoice")
    if invoice["status"] != "open":
        raise invalid(f"You can only mark open invoices as uncollectible. This invoice is {invoice['status']}.")
    with watched(store, "invoice", invoice):
        invoice.update(status="uncollectible", auto_advance=False, next_payment_attempt=None)
        invoice["status_transitions"]["marked_uncollectible_at"] = store.now()
        store.emit("invoice.marked_uncollectible", "invoice", invoice)
    return store.render("invoice", invoice)


def _list(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.store
    items = [
        i
        for i in store.newest_first("invoice")
        if params.get("customer") in (None, i["customer"])
        and params.get("status") in (None, i["status"])
        and params.get("collection_method") in (None, i["collection_method"])
        and created_matches(i["created"], params.get("created"))
        and created_matches(i["due_date"] or 0, params.get("due_date"))
    ]
    return paginate(items, params, "/v1/invoices", lambda i: store.render("invoice", i))


def _lines_route(ctx: Context, params: dict[str, Any], invoice_id: str) -> dict[str, Any]:
    store = ctx.store
    invoice = store.get("invoice", invoice_id, "invoice")
    return paginate(_lines(store, invoice), params, f"/v1/invoices/{invoice_id}/lines", copy.deepcopy)


_PERIOD = Obj({"start": Int(), "end": Int()}, ["start", "end"])
_PRICE_DATA = Obj(
    {"currency": Str(), "product": Str(), "unit_amount": Int(), "unit_amount_decimal": Dec(), "tax_behavior": Str()},
    ["currency", "product"],
)
_ITEM_FIELDS = {
    "customer": Str(),
    "amount": Int(),
    "currency": Str(),
    "description": Str(),
    "metadata": Metadata(),
    "period": _PERIOD,
    "invoice": Str(),
    "quantity": Int(minimum=0),
    "quantity_decimal": Dec(),
    "unit_amount_decimal": Dec(),
    "price_data": _PRICE_DATA,
    "discountable": Bool(),
}
_INVOICE_FIELDS = {
    "auto_advance": Bool(),
    "collection_method": Enum("charge_automatically", "send_invoice"),
    "custom_fields": ListOf(CUSTOM_FIELD),
    "days_until_due": Int(minimum=0),
    "default_payment_method": Str(),
    "description": Str(),
    "due_date": Int(),
    "footer": Str(),
    "metadata": Metadata(),
    "statement_descriptor": Str(),
}
ROUTES = [
    Route("POST", "/v1/invoiceitems", _create_item, schema(_ITEM_FIELDS, ["customer"])),
    Route(
        "GET",
        "/v1/invoiceitems",
        _list_items,
        schema({"customer": Str(), "invoice": Str(), "pending": Bool()}, listing=True),
    ),
    Route("GET", "/v1/invoiceitems/<item_id>", _retrieve_item, schema({})),
    Route("POST", "/v1/invoiceitems/<item_id>", _update_item, schema({"description": Str(), "metadata": Metadata()})),
    Route("DELETE", "/v1/invoiceitems/<item_id>", _delete_item, schema({})),
    Route(
        "POST",
        "/v1/invoices",
        _create,
        schema(
            {
                **_INVOICE_FIELDS,
                "customer": Str(),
                "currency": Str(),
                "pending_invoice_items_behavior": Enum("exclude", "include"),
            },
            ["customer"],
        ),
    ),
    Route(
        "GET",
        "/v1/invoices",
        _list,
        schema(
            {
                "customer": Str(),
                "status": Enum("draft", "open", "paid", "uncollectible", "void"),
                "collection_method": Enum("charge_automatically", "send_invoice"),
                "due_date": IntOrRange(),
            },
            listing=True,
        ),
    ),
    Route("GET", "/v1/invoices/<invoice_id>", _retrieve, schema({})),
    Route("POST", "/v1/invoices/<invoice_id>", _update, schema(_INVOICE_FIELDS)),
    Route("DELETE", "/v1/invoices/<invoice_id>", _delete, schema({})),
    Route("POST", "/v1/invoices/<invoice_id>/finalize", _finalize, schema({"auto_advance": Bool()})),
    Route(
        "POST",
        "/v1/invoices/<invoice_id>/pay",
        _pay,
        schema(
            {
                "payment_method": Str(),
                "paid_out_of_band": Bool(),
                "off_session": Bool(),
                "forgive": Bool(),
                "mandate": Str(),
                "source": Str(),
            }
        ),
    ),
    Route("POST", "/v1/invoices/<invoice_id>/void", _void, schema({})),
    Route("POST", "/v1/invoices/<invoice_id>/mark_uncollectible", _mark_uncollectible, schema({})),
    Route("GET", "/v1/invoices/<invoice_id>/lines", _lines_route, schema({}, listing=True)),
]
