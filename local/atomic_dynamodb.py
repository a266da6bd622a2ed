"""Give moto's DynamoDB the atomicity real DynamoDB has.

DynamoDB applies every request (a PutItem, an UpdateItem, a whole TransactWriteItems) atomically.
moto checks conditions and then writes without holding a lock, so two threads can both pass a
condition that only one of them should. The project's race guarantees rest on DynamoDB's behaviour,
so the local stack and the tests serialise moto's DynamoDB operations behind one lock.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.RLock()
_OPERATIONS = (
    "put_item",
    "get_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "batch_get_item",
    "batch_write_item",
    "transact_get_items",
    "transact_write_items",
)
_patched = False


def make_moto_dynamodb_atomic() -> None:
    """Idempotent: patch moto's DynamoDB backend so each operation runs alone."""
    global _patched
    if _patched:
        return
    from moto.dynamodb.models import DynamoDBBackend

    for name in _OPERATIONS:
        original = getattr(DynamoDBBackend, name, None)
        if original is not None:
            setattr(DynamoDBBackend, name, _serialised(original))
    _patched = True


def _serialised(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    return run
