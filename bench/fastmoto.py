"""Make moto's DynamoDB cost what DynamoDB's does, in the dimensions the bench scales.

moto answers two things in time proportional to the whole table, where DynamoDB does not:

* an index query walks (and sorts) every item of the table to find one index partition;
* a TransactWriteItems deep-copies every table it touches, to roll back on failure.

With 20,000 licenses in the table that is about half a second per query and more per transaction,
which would measure moto rather than this project. Within the bench process only, this module gives
moto an index (each queried GSI partition built once per table version, rebuilt after any write)
and an item-level rollback for transactions (the items a transaction names are copied, not the
table). Results are unchanged: the same items, the same order, the same cancellation reasons. It
is applied after ``local.atomic_dynamodb`` and holds the same lock, so every write and every query
still runs alone.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable
from typing import Any

_WRITES = ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items")
_state = threading.local()
_generation = [0]
_patched = [False]


def install() -> None:
    """Idempotent."""
    if _patched[0]:
        return
    from moto.dynamodb import models as backend_module
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    from local.atomic_dynamodb import _LOCK, make_moto_dynamodb_atomic

    make_moto_dynamodb_atomic()
    # Item-level rollback inside the lock (the snapshot and the writes are one atomic step), then the
    # version bump around every write, also inside the lock.
    DynamoDBBackend.transact_write_items = _item_rollback(DynamoDBBackend.transact_write_items, backend_module)
    for name in _WRITES:
        setattr(DynamoDBBackend, name, _bumping(getattr(DynamoDBBackend, name), _LOCK))
    Table.query = _indexed(Table.query)
    _patched[0] = True


def _bumping(method: Callable[..., Any], lock: Any) -> Callable[..., Any]:
    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        with lock:
            try:
                return method(*args, **kwargs)
            finally:
                _generation[0] += 1

    return run


def _indexed(query: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(query)
    def run(table: Any, *args: Any, **kwargs: Any) -> Any:
        # moto's backend passes index_name positionally (the eighth parameter after the table).
        index_name = kwargs.get("index_name", args[7] if len(args) > 7 else None)
        conditions = kwargs.get("hash_key_conditions") or []
        if not index_name or len(conditions) != 1:
            return query(table, *args, **kwargs)
        attribute, value = conditions[0]
        candidates = _partition(table, index_name, attribute, value)
        if candidates is None:
            return query(table, *args, **kwargs)
        table.all_items = lambda: candidates  # the instance attribute shadows the method for this call
        try:
            return query(table, *args, **kwargs)
        finally:
            del table.all_items

    return run


def _partition(table: Any, index_name: str, attribute: str, value: Any) -> list[Any] | None:
    index = next((i for i in table.global_indexes if i.name == index_name), None)
    if index is None:
        return None
    hash_keys = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    if hash_keys != [attribute]:
        return None
    cache = getattr(table, "_bench_index", None)
    if cache is None or cache[0] != _generation[0]:
        cache = (_generation[0], {})
        table._bench_index = cache
    partitions: dict[Any, list[Any]] | None = cache[1].get(index_name)
    if partitions is None:
        partitions = {}
        for item in type(table).all_items(table):
            key = item.attrs.get(attribute)
            if key is not None:
                partitions.setdefault(key, []).append(item)
        cache[1][index_name] = partitions
    return partitions.get(value, [])


class _TablesAreNotCopied:
    """Stands in for the ``copy`` module inside moto's transaction: tables are not copied, items are."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if isinstance(value, self._table_type):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _item_rollback(transact: Callable[..., Any], module: Any) -> Callable[..., Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    shim = _TablesAreNotCopied(Table)

    @functools.wraps(transact)
    def run(backend: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        saved: list[tuple[Any, Any, Any, Any]] = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = backend.tables.get(op.get("TableName"))
            if table is None:
                continue
            source = op.get("Item") if "Item" in op else op.get("Key") or {}
            if table.hash_key_attr not in source:
                continue
            hash_value = DynamoType(source[table.hash_key_attr])
            range_value = DynamoType(source[table.range_key_attr]) if table.range_key_attr in source else None
            current = table.items.get(hash_value, {}).get(range_value) if range_value is not None else None
            saved.append((table, hash_value, range_value, copy.deepcopy(current)))
        real_copy = module.copy
        module.copy = shim
        try:
            return transact(backend, transact_items, *args, **kwargs)
        except Exception:
            for table, hash_value, range_value, item in reversed(saved):
                if range_value is None:
                    continue
                if item is None:
                    table.items.get(hash_value, {}).pop(range_value, None)
                else:
                    table.items[hash_value][range_value] = item
            raise
        finally:
            module.copy = real_copy

    return run
