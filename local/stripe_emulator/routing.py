"""What a resource module hands the app: its routes, and what a handler receives."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .errors import StripeError, invalid
from .forms import Obj
from .store import Store


@dataclass
class Context:
    """One request as a handler sees it."""

    store: Store
    base_url: str
    publishable: bool = False
    """The caller used a ``pk_test_`` key; only client-secret routes get this far with one."""


Handler = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Route:
    """``method`` + werkzeug ``rule`` answered by ``handler(ctx, params, **path_args)``."""

    method: str
    rule: str
    handler: Handler
    params: Obj
    publishable: bool = False
    """Stripe.js may call it with a publishable key and the object's ``client_secret``."""


def merge_metadata(current: dict[str, str], update: dict[str, str] | None) -> dict[str, str]:
    """Stripe's metadata update: keys merge, ``""`` removes one, an empty ``metadata`` clears all."""
    if update is None:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """``previous_attributes`` of an update event: old values of the top-level keys that changed."""
    return {key: before.get(key) for key in after if before.get(key) != after.get(key)}


@contextmanager
def watched(store: Store, kind: str, obj: dict[str, Any]) -> Iterator[None]:
    """Record ``<kind>.updated``, with ``previous_attributes``, when the operation in the block changed ``obj``.

    Stripe sends ``invoice.updated`` and ``customer.updated`` whenever the object changes, beside the events
    that name the change (https://docs.stripe.com/api/events/types: "Occurs whenever an invoice changes",
    "Occurs whenever any property of a customer changes"). Nested blocks on one object record one event, at
    the outermost block's end; an invoice's ``lines`` are compared through its totals."""
    key = obj["id"]
    if key in store.watching:
        yield
        return
    store.watching.add(key)
    before = _comparable(store, kind, obj)
    try:
        yield
    finally:
        store.watching.discard(key)
        if key in store.objects[kind]:
            previous = changes(before, _comparable(store, kind, obj))
            if previous:
                store.emit(f"{kind}.updated", kind, obj, previous)


def _comparable(store: Store, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    rendered = store.render(kind, obj)
    rendered.pop("lines", None)
    return rendered


def check_client_secret(ctx: Context, intent: dict[str, Any], params: dict[str, Any], kind: str) -> None:
    """A publishable key may act on a Setup- or PaymentIntent (``kind``) only with that intent's client secret."""
    secret = params.get("client_secret")
    if ctx.publishable and secret is None:
        raise StripeError(
            403,
            "invalid_request_error",
            "This API call cannot be made with a publishable API key. Please use a secret API key.",
        )
    if secret is not None and not hmac.compare_digest(secret, intent["client_secret"]):
        raise invalid(
            f"The client_secret provided does not match the client_secret associated with the {kind}.",
            code="resource_missing",
            param="client_secret",
        )
