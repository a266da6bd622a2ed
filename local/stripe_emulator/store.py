"""The emulator's state: objects by kind and id, ids, timestamps and the event log."""

from __future__ import annotations

import copy
import dataclasses
import random
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from partnerhub.clock import Clock

from .account import AccountSettings
from .cards import Authentication, TestCard
from .errors import missing

# The API version events are stamped with: the one the pinned SDK speaks.
API_VERSION = "2026-10-28.endive"

Renderer = Callable[["Store", dict[str, Any]], dict[str, Any]]

_KIND_BY_PREFIX = {
    "cus": "customer",
    "pm": "payment_method",
    "seti": "setup_intent",
    "in": "invoice",
    "ii": "invoiceitem",
    "il": "line_item",
    "evt": "event",
    "pi": "payment_intent",
    "ch": "charge",
    "inpay": "invoice_payment",
}
_LABELS = {
    "customer": "customer",
    "payment_method": "PaymentMethod",
    "setup_intent": "setupintent",
    "invoice": "invoice",
    "invoiceitem": "invoiceitem",
    "line_item": "line item",
    "event": "event",
    "payment_intent": "payment_intent",
    "charge": "charge",
    "invoice_payment": "invoice payment",
}


@dataclass
class RequestInfo:
    """Who is asking: stamped on events as Stripe does (``request.id``, ``request.idempotency_key``)."""

    request_id: str | None = None
    idempotency_key: str | None = None


@dataclass
class Store:
    """All mutable state. Callers hold :attr:`lock` for the whole of a request."""

    clock: Clock
    seed: int | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    renderers: dict[str, Renderer] = field(default_factory=dict)
    settings: AccountSettings = field(default_factory=AccountSettings)
    """The account's Dashboard settings (kept by :meth:`reset`: they are not objects)."""

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every object and event."""
        self.objects: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in _LABELS}
        self.sequence: dict[str, int] = {}
        self.events: list[dict[str, Any]] = []
        self.new_events: list[dict[str, Any]] = []
        self.private: dict[str, dict[str, Any]] = {}
        self.request = RequestInfo()
        self.watching: set[str] = set()
        """Objects an operation is watching for ``*.updated`` (see ``resources.invoices.watched``)."""
        self._counter = 0
        self.rng = random.Random(self.seed)

    def now(self) -> int:
        """Unix seconds on the emulator's clock."""
        return int(self.clock.now().timestamp())

    def new_id(self, prefix: str, length: int = 24) -> str:
        alphabet = string.ascii_letters + string.digits
        body = "".join(self.rng.choice(alphabet) for _ in range(length))
        # Stripe's long ids start with a version digit; short ones (cus_) do not.
        return f"{prefix}_{'1' if length >= 20 else ''}{body}"

    def token(self, length: int) -> str:
        return "".join(self.rng.choice(string.ascii_letters + string.digits) for _ in range(length))

    def add(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        self._counter += 1
        self.sequence[obj["id"]] = self._counter
        self.objects[kind][obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str, param: str = "id") -> dict[str, Any]:
        """The stored object, or Stripe's 404 ``resource_missing``."""
        obj = self.objects[kind].get(object_id)
        if obj is None:
            raise missing(_LABELS[kind], object_id, param)
        return obj

    def kind_of(self, object_id: str) -> str | None:
        return _KIND_BY_PREFIX.get(object_id.split("_", 1)[0])

    def lookup(self, object_id: str) -> dict[str, Any] | None:
        """Any stored object by id, rendered; used by ``expand[]``."""
        kind = self.kind_of(object_id)
        if kind is None or kind not in self.objects:
            return None
        obj = self.objects[kind].get(object_id)
        return None if obj is None else self.render(kind, obj)

    def render(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        """The API representation: a deep copy, so callers never share state with the store."""
        renderer = self.renderers.get(kind)
        return renderer(self, obj) if renderer else copy.deepcopy(obj)

    def newest_first(self, kind: str) -> list[dict[str, Any]]:
        return sorted(
            self.objects[kind].values(),
            key=lambda o: (o.get("created", 0), self.sequence.get(o["id"], 0)),
            reverse=True,
        )

    def emit(self, event_type: str, kind: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> None:
        """Record an event carrying the object as it is now (and what changed, for ``*.updated``)."""
        data: dict[str, Any] = {"object": self.render(kind, obj)}
        if previous:
            data["previous_attributes"] = copy.deepcopy(previous)
        event = {
            "api_version": API_VERSION,
            "created": self.now(),
            "data": data,
            "id": self.new_id("evt"),
            "livemode": False,
            "object": "event",
            "pending_webhooks": 0,
            "request": {"id": self.request.request_id, "idempotency_key": self.request.idempotency_key},
            "type": event_type,
        }
        self.add("event", event)
        self.events.append(event)
        self.new_events.append(event)

    def snapshot(self) -> dict[str, Any]:
        """Everything :meth:`restore` needs, as plain JSON data (the local stack keeps it across restarts)."""
        with self.lock:
            return copy.deepcopy(
                {
                    "objects": self.objects,
                    "sequence": self.sequence,
                    "events": [event["id"] for event in self.events],
                    "private": {
                        key: {name: _plain(value) for name, value in fields.items()}
                        for key, fields in self.private.items()
                    },
                    "counter": self._counter,
                    "rng": self.rng.getstate(),
                }
            )

    def restore(self, state: dict[str, Any]) -> None:
        """Replace the state with a :meth:`snapshot` (events not yet delivered are not sent again)."""
        with self.lock:
            self.reset()
            self.objects.update(copy.deepcopy(state["objects"]))
            self.sequence = dict(state["sequence"])
            self.events = [self.objects["event"][event_id] for event_id in state["events"]]
            self.private = {
                key: {name: _typed(value) for name, value in fields.items()} for key, fields in state["private"].items()
            }
            self._counter = int(state["counter"])
            version, internal, gauss = state["rng"]
            self.rng.setstate((version, tuple(internal), gauss))

    def take_new_events(self) -> list[dict[str, Any]]:
        """Events recorded since the last call, oldest first, for the webhook sender."""
        events, self.new_events = self.new_events, []
        return events


def _plain(value: Any) -> Any:
    """A test card (kept privately per payment method) as JSON data; anything else as it is."""
    return {"test_card": dataclasses.asdict(value)} if isinstance(value, TestCard) else value


def _typed(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"test_card"}:
        fields = dict(value["test_card"])
        fields["authentication"] = Authentication(fields.get("authentication", Authentication.NEVER))
        return TestCard(**fields)
    return value
