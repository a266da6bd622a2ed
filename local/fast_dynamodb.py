"""moto's DynamoDB at DynamoDB's cost: a request touches the items it names, a query reads its partition.

moto 5.2.5 answers two things in time proportional to the whole table, where DynamoDB does not:

* every Query (on the table or on an index) sorts every item of the table, keeps one partition, sorts it
  again and walks it from the start to the ExclusiveStartKey;
* every TransactWriteItems deep-copies each table it touches, to roll back if it is cancelled.

So the local stack slowed down quadratically as a user added data. This layer, installed over moto's
classes, keeps moto's own code for every answer and changes only what moto is given to walk:

* a **partition index** per table: for the table itself, each partition key's items sorted by sort
  key; for each global secondary index, each index partition's items sorted as moto sorts them (index
  sort key, then the table's keys). Items without the index's keys are not in it (sparse indexes). It
  is kept up to date item by item on every write, inside the lock that serialises the writes, and
  rebuilt from the table whenever a write it cannot follow happens (PartiQL, a table update).
* a Query hands moto's ``Table.query`` only the run of its partition that can be in the answer: from
  the key condition's bound (or just past the ExclusiveStartKey), up to ``Limit`` matching items and
  the one item after them (moto looks at it to decide on ``LastEvaluatedKey``). moto then filters,
  sorts, pages, projects and counts exactly as before.
* a TransactWriteItems copies the items it names, not the tables, and puts those items back if it is
  cancelled (all or nothing, with moto's own cancellation reasons); the stream records its writes made
  before it was cancelled go too (moto's own rollback swaps the whole table back, stream included).
* projecting an item (an INCLUDE or KEYS_ONLY index, a ProjectionExpression) converts it once, not
  once per projected attribute (moto's ``Item.project`` re-converts the whole item for each name).
* writing the answer: moto's response serializer looks each of an ``AttributeValue``'s ten members
  (``S``, ``N``, ..., ``BOOL``) up under up to a dozen aliases, for every attribute of every item, which
  made serialising a 50-item page cost ten times the query itself. An ``AttributeValue`` (and a map of
  them: an item, a key) that is a plain dict holding only member names is converted directly, as moto's
  JSON serializer converts it (the alias search finds exactly those keys in such a dict); anything
  else goes through moto's own path. A query also measures each item it is handed once, not three times
  (``Item.size``, pinned for the query).

Every answer is moto's: the same items in the same order, the same ``LastEvaluatedKey``, counts,
``ConsumedCapacity`` and errors. ``tests/local/test_fast_dynamodb.py`` runs one scripted sequence of
operations against plain moto and against this layer and compares every answer;
``tests/local/test_fast_dynamodb_properties.py`` does the same for random items (every attribute
type) and random queries (key conditions, orders, filters, limits, start keys);
``PARTNERHUB_PLAIN_MOTO=1`` runs the integration tests on plain moto. The layer reaches into moto's
internals, so it is pinned: installing it over any other moto version fails loudly, and
``tests/local/test_fast_dynamodb.py`` checks the pin against ``requirements/dev.txt``.

The same change would fit upstream as an index maintained by ``Table.put_item``/``delete_item`` and
``update_item``, used by ``Table.query`` when the key condition names one partition, and an
item-level undo log in ``transact_write_items`` instead of ``copy.deepcopy(table)``.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any, cast

from local.atomic_dynamodb import _LOCK, make_moto_dynamodb_atomic

MOTO_VERSION = "5.2.5"
_MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit: no single item moves moto's 1 MB page limit further
_state: dict[str, Any] = {"epoch": 0, "installed": False, "plain": False, "writes": 0}


class MotoVersionError(RuntimeError):
    """The installed moto is not the version this layer was written and tested against."""


def install() -> None:
    """Idempotent: serialise moto's DynamoDB operations and give it the fast paths (moto 5.2.5 only)."""
    if _state["installed"]:
        return
    import moto

    if moto.__version__ != MOTO_VERSION:
        raise MotoVersionError(
            f"local/fast_dynamodb.py is written against moto {MOTO_VERSION}, but moto {moto.__version__} is "
            "installed. Install the pinned requirements (requirements/dev.txt), or check the layer against the "
            "new version's dynamodb/models (Table.query, transact_write_items) and move the pin."
        )
    from moto.dynamodb import models as backend_module
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    make_moto_dynamodb_atomic()
    # What this layer is: wrappers that stand in for moto's own methods, pinned to its version (mypy refuses every
    # assignment to a method: method-assign).
    backend = DynamoDBBackend
    backend.put_item = _reindexing(backend.put_item, _key_from_item)  # type: ignore[method-assign]
    backend.update_item = _reindexing(backend.update_item, _key_from_key)  # type: ignore[method-assign]
    backend.delete_item = _reindexing(backend.delete_item, _key_from_key)  # type: ignore[method-assign]
    backend.transact_write_items = _item_rollback(backend.transact_write_items, backend_module)  # type: ignore[method-assign]
    for name in (
        "execute_statement",
        "execute_transaction",
        "batch_execute_statement",
        "update_table",
        "restore_table_from_backup",
        "restore_table_to_point_in_time",
        "import_table",
    ):
        setattr(backend, name, _invalidating(getattr(backend, name)))
    Table.query = _partitioned(Table.query)  # type: ignore[method-assign]
    from moto.dynamodb.models.dynamo_type import Item

    Item.project = _projecting(Item.project)  # type: ignore[method-assign]
    from moto.core.serialize import BaseJSONSerializer

    BaseJSONSerializer._serialize_type_structure = _attribute_values(  # type: ignore[method-assign]
        BaseJSONSerializer._serialize_type_structure
    )
    BaseJSONSerializer._serialize_type_map = _attribute_maps(  # type: ignore[method-assign]
        BaseJSONSerializer._serialize_type_map
    )
    from moto.dynamodb.responses import DynamoHandler

    DynamoHandler._enrich_response = staticmethod(_enriched(DynamoHandler._enrich_response))  # type: ignore[method-assign]
    _state["installed"] = True


@contextlib.contextmanager
def plain_moto() -> Iterator[None]:
    """Within this block, moto runs its own code paths (the comparison baseline), in every thread."""
    with _LOCK:
        was, _state["plain"] = _state["plain"], True
    try:
        yield
    finally:
        with _LOCK:
            _state["plain"] = was
            invalidate()


def writes() -> int:
    """How many item writes the layer has seen (a snapshot is due when this moves)."""
    return int(_state["writes"])


def invalidate() -> None:
    """Forget every partition index: the next query on each table rebuilds its own from the table."""
    with _LOCK:
        _state["epoch"] += 1
        _state["writes"] += 1


def _is_plain() -> bool:
    return bool(_state["plain"]) or os.environ.get("PARTNERHUB_PLAIN_MOTO") == "1"


# ---------------------------------------------------------------- the partition index


class _Partitions:
    """One sorted list of ``(sort key, item)`` per partition, and where each item sits in it."""

    def __init__(self, sort_attrs: list[str], types: dict[str, str]) -> None:
        self.sort_attrs = sort_attrs
        self.types = types  # declared attribute types of the key attributes
        self.lists: dict[Any, list[tuple[tuple[Any, ...], Any]]] = {}
        self.where: dict[tuple[Any, Any], tuple[Any, tuple[Any, ...]]] = {}
        self.irregular = False  # an item's key attribute has another type than declared: leave it to moto

    def key_of(self, item: Any) -> tuple[Any, ...] | None:
        values = []
        for attr in self.sort_attrs:
            value = item.attrs.get(attr)
            if value is None:
                return None
            if value.type != self.types.get(attr):
                self.irregular = True
                return None
            values.append(value.cast_value)
        return tuple(values)

    def remove(self, pk: tuple[Any, Any]) -> None:
        found = self.where.pop(pk, None)
        if found is None:
            return
        partition, key = found
        entries = self.lists[partition]
        at = bisect.bisect_left(entries, key, key=_entry_key)
        if at < len(entries) and entries[at][0] == key:
            del entries[at]
        if not entries:
            del self.lists[partition]

    def add(self, pk: tuple[Any, Any], partition: Any, item: Any) -> None:
        key = self.key_of(item)
        if key is None:
            return
        bisect.insort(self.lists.setdefault(partition, []), (key, item), key=_entry_key)
        self.where[pk] = (partition, key)


def _entry_key(entry: tuple[tuple[Any, ...], Any]) -> tuple[Any, ...]:
    return entry[0]


class _TableIndex:
    """The partition index of one moto table: its own partitions and one per global secondary index."""

    def __init__(self, table: Any) -> None:
        from moto.dynamodb.models.table import GlobalSecondaryIndex

        self.epoch = _state["epoch"]
        types = {a["AttributeName"]: a["AttributeType"] for a in table.attr}
        self.hash_attr: str = table.hash_key_attr
        self.range_attr: str | None = table.range_key_attr
        self.base: _Partitions | None = _Partitions([self.range_attr], types) if self.range_attr else None
        self.gsis: dict[str, tuple[str, _Partitions]] = {}
        for index in table.global_indexes or []:
            if not isinstance(index, GlobalSecondaryIndex):
                continue
            hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
            ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
            if len(hashes) != 1 or len(ranges) > 1:
                continue  # multi-attribute keys: moto's own path
            # The order moto sorts an index query in (Table._generate_attr_to_sort_by): index hash key, index
            # sort key (the table's sort key when the index has none), table hash key, table sort key.
            index_range = ranges[0] if ranges else self.range_attr or self.hash_attr
            attrs = [hashes[0], index_range, self.hash_attr, self.range_attr]
            self.gsis[index.name] = (hashes[0], _Partitions([a for a in attrs if a], types))
        for item in _stored_items(table):
            self.add(item)

    def add(self, item: Any) -> None:
        pk = (item.hash_key, item.range_key)
        if self.base is not None:
            self.base.add(pk, item.hash_key, item)
        for hash_attr, partitions in self.gsis.values():
            value = item.attrs.get(hash_attr)
            if value is not None:
                partitions.add(pk, value, item)

    def remove(self, pk: tuple[Any, Any]) -> None:
        if self.base is not None:
            self.base.remove(pk)
        for _, partitions in self.gsis.values():
            partitions.remove(pk)

    def refresh(self, table: Any, hash_value: Any, range_value: Any) -> None:
        """The item at this key was written (or not): index what the table now holds there."""
        self.remove((hash_value, range_value))
        current = table.items.get(hash_value)
        if range_value is not None and current is not None:
            current = current.get(range_value)
        if current is not None:
            self.add(current)


def _stored_items(table: Any) -> Iterator[Any]:
    for stored in table.items.values():
        if table.range_key_attr:
            yield from stored.values()
        else:
            yield stored


def _index_of(table: Any) -> _TableIndex:
    index: _TableIndex | None = table.__dict__.get("_partition_index")
    if index is None or index.epoch != _state["epoch"]:
        index = _TableIndex(table)
        table.__dict__["_partition_index"] = index
    return index


def _known_index(table: Any) -> _TableIndex | None:
    index: _TableIndex | None = table.__dict__.get("_partition_index")
    return index if index is not None and index.epoch == _state["epoch"] else None


# ---------------------------------------------------------------- writes


def _key_from_item(table: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
    attrs = kwargs.get("item_attrs", args[0] if args else None)
    return attrs if isinstance(attrs, dict) else None


def _key_from_key(table: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
    key = kwargs.get("key", args[0] if args else None)
    return key if isinstance(key, dict) else None


def _reindexing(method: Callable[..., Any], key_of: Callable[..., dict[str, Any] | None]) -> Callable[..., Any]:
    @functools.wraps(method)
    def run(backend: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            try:
                return method(backend, table_name, *args, **kwargs)
            finally:
                _state["writes"] += 1
                table = backend.tables.get(table_name)
                index = _known_index(table) if table is not None else None
                if index is not None:
                    _refresh_key(table, index, key_of(table, args, kwargs))

    return run


def _refresh_key(table: Any, index: _TableIndex, key: dict[str, Any] | None) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    if key is None:
        invalidate()  # a key this layer cannot read: rebuild rather than guess
        return
    try:
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    except (KeyError, TypeError, AttributeError):
        invalidate()
        return
    index.refresh(table, hash_value, range_value)


def _invalidating(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            try:
                return method(*args, **kwargs)
            finally:
                invalidate()

    return run


class _TablesAreNotCopied:
    """Stands in for the ``copy`` module inside moto's transaction: the tables are not copied (items are)."""

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
        with _LOCK:
            if _is_plain():
                try:
                    return transact(backend, transact_items, *args, **kwargs)
                finally:
                    invalidate()  # moto may have swapped in copies of the tables
            saved: list[tuple[Any, Any, Any, Any]] = []
            for entry in transact_items:
                try:
                    _, op = next(iter(entry.items()))
                    table = backend.tables.get(op.get("TableName"))
                    source = op["Item"] if "Item" in op else op["Key"]
                    hash_value = DynamoType(source[table.hash_key_attr])
                    range_value = DynamoType(source[table.range_key_attr]) if table.range_key_attr else None
                except (AttributeError, KeyError, TypeError, StopIteration):
                    continue  # moto rejects it before writing anything for it
                stored = table.items.get(hash_value)
                if range_value is not None and stored is not None:
                    stored = stored.get(range_value)
                saved.append((table, hash_value, range_value, copy.deepcopy(stored)))
            # A table's stream as it stood: a cancelled transaction leaves no record of its writes.
            streams = {
                id(table): (table.stream_shard, len(table.stream_shard.items))
                for table, *_ in saved
                if getattr(table, "stream_shard", None) is not None
            }
            real_copy = module.copy
            module.copy = shim
            try:
                return transact(backend, transact_items, *args, **kwargs)
            except Exception:
                for table, hash_value, range_value, item in reversed(saved):
                    _put_back(table, hash_value, range_value, item)
                    index = _known_index(table)
                    if index is not None:
                        index.refresh(table, hash_value, range_value)
                for shard, length in streams.values():
                    del shard.items[length:]
                raise
            finally:
                module.copy = real_copy

    return run


def _put_back(table: Any, hash_value: Any, range_value: Any, item: Any) -> None:
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
        return
    if item is None:
        partition = table.items.get(hash_value)
        if partition is not None:
            partition.pop(range_value, None)
            # moto keeps an emptied partition's dict too (Table.delete_item); either way no item is there
    else:
        table.items[hash_value][range_value] = item


# ---------------------------------------------------------------- queries


def _projecting(project: Callable[..., Any]) -> Callable[..., Any]:
    from botocore.utils import merge_dicts
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.models.utilities import find_nested_key

    @functools.wraps(project)
    def run(item: Any, projection_expressions: list[list[str]]) -> Any:
        # Top-level names only (no paths, no list indexes): then every lookup reads the same conversion
        # and none changes it. Anything else: moto's own code.
        if _is_plain() or not all(len(path) == 1 and "[" not in path[0] for path in projection_expressions):
            return project(item, projection_expressions)
        regular = item.to_regular_json()
        result: dict[str, Any] = {}
        for path in projection_expressions:
            merge_dicts(result, find_nested_key(path, regular))
        # boto3's TypeSerializer builds a map's members as a dict; its stubs say Mapping.
        attrs = cast("dict[str, Any]", dynamo_type.serializer.serialize(result)["M"])
        return dynamo_type.Item(hash_key=item.hash_key, range_key=item.range_key, attrs=attrs)

    return run


_ATTRIBUTE_VALUE_ORDER = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")  # the shape's member order
_ATTRIBUTE_VALUE_MEMBERS = frozenset(_ATTRIBUTE_VALUE_ORDER)


class _Irregular(Exception):
    """A value the direct conversion does not take on: moto's own path serialises it."""


def _attribute_values(serialize_structure: Callable[..., Any]) -> Callable[..., Any]:
    """moto's structure serializer, with a direct path for DynamoDB's ``AttributeValue`` held as a plain dict.

    moto picks each member's value by trying aliases in turn (the ``Meta`` aliases of an object, the member
    shape's name for ``L``, the name itself, its snake_case form, prefixes of the parent's or the object's
    class name): on a ``dict`` whose keys are all member names, the first alias found is the member's own
    name, so ``value.get(name)`` is what moto picks. The picked values are then converted as moto's JSON
    serializer converts them (``_attribute_value``); a value of another kind than moto stores (not a ``str``
    for ``S``, ...) is handed to moto's own ``_serialize`` member by member instead. Response transformers
    (a path-keyed table some moto services fill) could change a picked value: while one names a member, or
    outside this layer (plain moto), moto's own path runs.
    """

    @functools.wraps(serialize_structure)
    def run(serializer: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if (
            shape.name != "AttributeValue"
            or type(value) is not dict
            or not value.keys() <= _ATTRIBUTE_VALUE_MEMBERS
            or tuple(shape.members) != _ATTRIBUTE_VALUE_ORDER
            or not _direct_serializer(serializer)
        ):
            serialize_structure(serializer, serialized, value, shape, key)
            return
        try:
            wrapper: Any = _attribute_value(serializer, value)
        except _Irregular:
            wrapper = serializer.MAP_TYPE()
            for member_key, member_shape in shape.members.items():
                member_shape.parent = shape
                member_value = value.get(member_key)
                if member_value is not None:
                    serializer._serialize(wrapper, member_value, member_shape, member_key)
        if key:
            serializer._default_serialize(serialized, wrapper, shape, key)
        else:
            serialized.update(wrapper)

    return run


def _attribute_maps(serialize_map: Callable[..., Any]) -> Callable[..., Any]:
    """moto's map serializer, with the direct path for a map of ``AttributeValue`` (an item, a key).

    moto writes the map, then serialises each value under its key (a ``None`` value writes nothing);
    ``_attribute_value`` converts each value the same way, or moto's own path runs.
    """

    @functools.wraps(serialize_map)
    def run(serializer: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        member = shape.value
        if (
            type(value) is dict
            and member.name == "AttributeValue"
            and "name" not in member.serialization
            and tuple(member.members) == _ATTRIBUTE_VALUE_ORDER
            and _direct_serializer(serializer)
        ):
            try:
                converted = {k: _attribute_value(serializer, v) for k, v in value.items() if v is not None}
            except _Irregular:
                pass
            else:
                serializer._default_serialize(serialized, converted, shape, key)
                return
        serialize_map(serializer, serialized, value, shape, key)

    return run


def _attribute_value(serializer: Any, value: Any) -> dict[str, Any]:
    """What moto's JSON serializer makes of one ``AttributeValue`` dict (members in the shape's order).

    Strings (``S``, ``N``, set members) as they are; blobs (``B``, ``BS`` members) in base64 by moto's own
    ``_base64``; booleans (``NULL``, ``BOOL``) as they are; ``M`` without its ``None`` values, ``L`` with
    them (moto writes a ``None`` list element as ``null`` and leaves a ``None`` map value out).
    """
    if type(value) is not dict or not value.keys() <= _ATTRIBUTE_VALUE_MEMBERS:
        raise _Irregular
    out: dict[str, Any] = {}
    for name in _ATTRIBUTE_VALUE_ORDER:
        member = value.get(name)
        if member is None:
            continue
        if name in ("S", "N"):
            if type(member) is not str:
                raise _Irregular
            out[name] = member
        elif name == "B":
            if type(member) not in (bytes, str):
                raise _Irregular
            out[name] = serializer._base64(member)
        elif name in ("SS", "NS"):
            if type(member) is not list or any(type(m) is not str for m in member):
                raise _Irregular
            out[name] = list(member)
        elif name == "BS":
            if type(member) is not list or any(type(m) not in (bytes, str) for m in member):
                raise _Irregular
            out[name] = [serializer._base64(m) for m in member]
        elif name == "M":
            if type(member) is not dict:
                raise _Irregular
            out[name] = {k: _attribute_value(serializer, v) for k, v in member.items() if v is not None}
        elif name == "L":
            if type(member) is not list:
                raise _Irregular
            out[name] = [None if m is None else _attribute_value(serializer, m) for m in member]
        else:
            out[name] = member
    return out


def _direct_serializer(serializer: Any) -> bool:
    """Whether this serializer (one per response) may take the direct path: decided once per response."""
    decided: bool | None = serializer.__dict__.get("_partnerhub_direct")
    if decided is None:
        transformers = getattr(serializer._value_picker, "response_transformers", None) or {}
        named = any(path.rsplit(".", 1)[-1] in _ATTRIBUTE_VALUE_MEMBERS for path in transformers)
        decided = serializer.__dict__["_partnerhub_direct"] = not named and not _is_plain()
    return decided


def _enriched(enrich: Callable[..., Any]) -> Callable[..., Any]:
    """moto's last touch on a response, without its search of the whole body for an XML ``<RequestId>``.

    moto sets the request id headers, then substitutes the id between ``<RequestId>`` tags with a regular
    expression run over the whole body (a millisecond and more for a page of items). DynamoDB answers in
    JSON: when the body does not contain ``<RequestId>`` the substitution cannot match, and the body is
    moto's unchanged.
    """

    @functools.wraps(enrich)
    def run(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        if isinstance(body, str) and "<RequestId>" not in body and not _is_plain():
            from moto.utilities.aws_headers import gen_amzn_requestid_long

            if "status" in headers:
                headers["status"] = str(headers["status"])
            gen_amzn_requestid_long(headers)
            return headers, body
        return cast(tuple[dict[str, str], Any], enrich(headers, body))

    return run


_QUERY_PARAMS = (
    "hash_key",
    "range_comparison",
    "range_objs",
    "limit",
    "exclusive_start_key",
    "scan_index_forward",
    "projection_expressions",
    "index_name",
    "consistent_read",
    "filter_expression",
)


def _partitioned(query: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(query)
    def run(table: Any, *args: Any, **kwargs: Any) -> Any:
        if _is_plain():
            return query(table, *args, **kwargs)
        params = dict(zip(_QUERY_PARAMS, args, strict=False))
        params.update({k: v for k, v in kwargs.items() if k in _QUERY_PARAMS})
        extra = {k: v for k, v in kwargs.items() if k not in _QUERY_PARAMS}
        candidates = _candidates(table, params, extra)
        if candidates is None:
            return query(table, *args, **kwargs)
        table.all_items = lambda: candidates  # the instance attribute shadows the method for this call
        try:
            return query(table, *args, **kwargs)
        finally:
            del table.all_items
            for item in candidates:
                item.__dict__.pop("size", None)

    return run


def _candidates(table: Any, params: dict[str, Any], extra: dict[str, Any]) -> list[Any] | None:
    """The run of one partition that moto's query can look at, in order; None: let moto walk the table."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    if set(extra) - {"hash_key_conditions", "range_key_conditions"}:
        return None  # legacy QueryFilter arguments: moto's own path
    if len(extra.get("range_key_conditions") or []) > 1:
        return None
    index_name = params.get("index_name")
    index = _index_of(table)
    partitions: _Partitions | None
    if index_name:
        if index_name not in index.gsis:
            return None  # unknown index (moto says so), a local index, or multi-attribute keys
        hash_attr, partitions = index.gsis[index_name]
        conditions = extra.get("hash_key_conditions") or []
        if len(conditions) != 1 or conditions[0][0] != hash_attr:
            return None
        partition_value = conditions[0][1]
        range_position = 1  # the index sort key, after the (constant) index hash key
        if params.get("range_comparison") and not _declares_range(table, index_name):
            return None  # moto raises for this; let it
    else:
        partitions = index.base
        if partitions is None or params.get("hash_key") is None:
            return None
        partition_value = params["hash_key"]
        range_position = 0
    if partitions.irregular:
        return None
    entries = partitions.lists.get(partition_value, [])
    attr = partitions.sort_attrs[range_position]
    declared = partitions.types.get(attr)

    lo, hi = 0, len(entries)
    comparison = params.get("range_comparison")
    values = params.get("range_objs") or []
    if comparison:
        if declared not in ("S", "N") or any(v.type != declared for v in values):
            return None  # binary keys, mixed types: moto's own path
        bounds = _bounds(entries, range_position, comparison, [v.cast_value for v in values])
        if bounds is None:
            return None
        lo, hi = bounds

    forward = params.get("scan_index_forward") is not False
    start = params.get("exclusive_start_key")
    if start is not None:
        try:
            start_key = []
            for name in partitions.sort_attrs:
                value = DynamoType(start[name])
                if value.type != partitions.types.get(name):
                    return None
                start_key.append(value.cast_value)
        except (KeyError, TypeError, AttributeError):
            return None
        if forward:
            lo = max(lo, bisect.bisect_right(entries, tuple(start_key), key=_entry_key))
        else:
            hi = min(hi, bisect.bisect_left(entries, tuple(start_key), key=_entry_key))
    limit = params.get("limit")
    # moto skips what precedes the start key without a look at Limit, and what precedes the key
    # condition's bound matches nothing: neither can change the page. What follows the bound can (below).
    order = range(lo, hi) if forward else range(hi - 1, lo - 1, -1)
    rest = range(max(hi, lo), len(entries)) if forward else range(min(lo, hi) - 1, -1, -1)
    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT

    taken: list[Any] = []
    matched = 0
    size = 0
    for at in order:
        item = entries[at][1]
        taken.append(item)
        # moto's own test, item by item: a full page (by Limit or by its 1 MB) ends at this item, with
        # LastEvaluatedKey; nothing after it can be in the answer.
        item_size = _pinned_size(item)
        if (limit is not None and matched == limit) or size + item_size > RESULT_SIZE_LIMIT:
            return taken
        if not comparison or item.attrs[attr].compare(comparison, values):
            matched += 1
            size += item_size
    # Past the bound nothing matches the key condition; moto would still stop (and answer
    # LastEvaluatedKey) at the first of them if the page is full by count or nearly by size.
    if limit is not None and matched == limit:
        taken.extend(entries[at][1] for at in list(rest)[:1])
    elif size + _MAX_ITEM_BYTES > RESULT_SIZE_LIMIT:
        taken.extend(entries[at][1] for at in rest)
    return taken


def _pinned_size(item: Any) -> int:
    """``item.size()``, and the same figure for moto's own two calls of it in this query (no write can
    happen while a query runs: the lock serialises them); ``_partitioned`` unpins it after the query."""
    size = int(item.size())
    item.__dict__["size"] = lambda: size  # the instance attribute shadows the method
    return size


def _declares_range(table: Any, index_name: str) -> bool:
    index = table.get_index(index_name)
    return any(k["KeyType"] == "RANGE" for k in index.schema)


def _bounds(
    entries: list[tuple[tuple[Any, ...], Any]], position: int, comparison: str, values: list[Any]
) -> tuple[int, int] | None:
    """The slice of ``entries`` that can satisfy the key condition on the key at ``position`` (a superset)."""

    def at(entry: tuple[tuple[Any, ...], Any]) -> Any:
        return entry[0][position]

    n = len(entries)
    if comparison == "EQ":
        return bisect.bisect_left(entries, values[0], key=at), bisect.bisect_right(entries, values[0], key=at)
    if comparison in ("LT", "LE"):
        return 0, bisect.bisect_right(entries, values[0], key=at)
    if comparison in ("GT", "GE"):
        return bisect.bisect_left(entries, values[0], key=at), n
    if comparison == "BETWEEN":
        return bisect.bisect_left(entries, values[0], key=at), bisect.bisect_right(entries, values[1], key=at)
    if comparison == "BEGINS_WITH" and isinstance(values[0], str):
        prefix = values[0]
        lo = bisect.bisect_left(entries, prefix, key=at)
        if not prefix or prefix[-1] == chr(0x10FFFF):
            return lo, n
        # Strings that start with the prefix sort from it up to (not including) its successor.
        successor = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return lo, bisect.bisect_left(entries, successor, key=at)
    return None
