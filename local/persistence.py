"""The local stack's data across restarts: one snapshot file, written atomically, loaded at start.

``make run`` keeps the stack's state in ``.local/state/snapshot.json`` (``LOCAL_STATE_DIR``): every
DynamoDB item, the messages waiting in each SQS queue, the Stripe emulator's objects and events, the
clock, and the one-off migrations the data has had (``local/migrations.py``). The file is written to
a temporary name in the same folder, flushed to disk and renamed over the old one
(``os.replace``), so a crash or a kill at any moment leaves either the previous
snapshot or the new one, never half of one. It is written on shutdown and, while the stack runs, a
moment after writes settle (or every ``MAX_DIRTY_S`` seconds during a long burst of them).

Tables and queues themselves come from ``template.yaml`` at every start; the snapshot holds only
their contents, so a template change (a new index, a new queue) applies to kept data too.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from local.migrations import MIGRATIONS

FORMAT = 1
FILE_NAME = "snapshot.json"
QUIET_S = 1.0  # a snapshot is written once writes have paused this long...
MAX_DIRTY_S = 10.0  # ...or when changes have waited this long, whatever comes first
TICK_S = 0.25


class SnapshotError(RuntimeError):
    """The snapshot cannot be read (not one this code wrote)."""


@dataclass
class Loaded:
    """What a restore put back, for the banner."""

    saved_at: str
    items: int
    messages: int
    stripe_objects: int
    migrations: tuple[str, ...] = ()  # the one-off migrations its data has had (local/migrations.py)


def _account_region() -> tuple[str, str]:
    from moto.core.models import DEFAULT_ACCOUNT_ID

    return DEFAULT_ACCOUNT_ID, os.environ.get("AWS_DEFAULT_REGION", "us-east-1")


def _dynamodb() -> Any:
    from moto.dynamodb.models import dynamodb_backends

    account, region = _account_region()
    return dynamodb_backends[account][region]


def _sqs() -> Any:
    from moto.sqs.models import sqs_backends

    account, region = _account_region()
    return sqs_backends[account][region]


# ---------------------------------------------------------------- capture and restore


def capture(clock: Any, emulator: Any) -> dict[str, Any]:
    """The stack's state now, as JSON data."""
    from local.atomic_dynamodb import _LOCK

    with _LOCK:  # one consistent view of the tables: no write is half applied
        tables = {
            name: [item.to_json()["Attributes"] for item in _items(table)] for name, table in _dynamodb().tables.items()
        }
    queues = {}
    for name, queue in list(_sqs().queues.items()):
        queues[name] = [
            {
                "body": message.body,
                "attributes": message.message_attributes,
                "group_id": message.group_id,
                "deduplication_id": message.deduplication_id,
            }
            for message in list(queue._messages)
        ]
    return {
        "format": FORMAT,
        "saved_at": _iso(clock_wall()),
        "clock": _clock_state(clock),
        "dynamodb": tables,
        "sqs": queues,
        "stripe": emulator.store.snapshot() if emulator is not None else None,
        "migrations": list(MIGRATIONS),
    }


def restore(data: dict[str, Any], clock: Any, emulator: Any, log: Callable[[str], None] = print) -> Loaded:
    """Put a captured state back into a freshly started stack (its tables and queues already made)."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    from local import fast_dynamodb
    from local.atomic_dynamodb import _LOCK

    if data.get("format") != FORMAT:
        raise SnapshotError(f"snapshot format {data.get('format')!r} is not {FORMAT}")
    _restore_clock(clock, data.get("clock") or {})
    backend = _dynamodb()
    items = 0
    with _LOCK:
        for name, stored in data.get("dynamodb", {}).items():
            table = backend.tables.get(name)
            if table is None:
                log(f"local: the snapshot has table {name}, which template.yaml no longer declares: skipped")
                continue
            # Straight into the table: these items were moto's own, checked when they were first written.
            for attrs in stored:
                hash_value = DynamoType(attrs[table.hash_key_attr])
                if table.range_key_attr:
                    range_value = DynamoType(attrs[table.range_key_attr])
                    table.items[hash_value][range_value] = Item(hash_value, range_value, attrs)
                else:
                    table.items[hash_value] = Item(hash_value, None, attrs)
                items += 1
        fast_dynamodb.invalidate()
    sqs = _sqs()
    messages = 0
    for name, waiting in data.get("sqs", {}).items():
        if name not in sqs.queues:
            log(f"local: the snapshot has queue {name}, which template.yaml no longer declares: skipped")
            continue
        for message in waiting:
            sqs.send_message(
                name,
                message["body"],
                message_attributes=message.get("attributes") or {},
                deduplication_id=message.get("deduplication_id"),
                group_id=message.get("group_id"),
            )
            messages += 1
    stripe = data.get("stripe")
    stripe_objects = 0
    if stripe and emulator is not None:
        emulator.store.restore(stripe)
        stripe_objects = sum(len(objects) for objects in stripe["objects"].values())
    return Loaded(data.get("saved_at", "?"), items, messages, stripe_objects, tuple(data.get("migrations") or ()))


def _items(table: Any) -> list[Any]:
    if table.range_key_attr:
        return [item for partition in table.items.values() for item in partition.values()]
    return list(table.items.values())


def _clock_state(clock: Any) -> dict[str, Any]:
    frozen = getattr(clock, "_frozen", None)
    offset = getattr(clock, "_offset", None)
    if frozen is None and isinstance(offset, timedelta):
        return {"frozen": None, "offset_seconds": offset.total_seconds()}
    return {"frozen": _iso(clock.now()), "offset_seconds": 0.0}


def _restore_clock(clock: Any, state: dict[str, Any]) -> None:
    from partnerhub.clock import parse_instant

    if state.get("frozen"):
        clock.set(parse_instant(state["frozen"]))
    elif state.get("offset_seconds"):
        clock.advance(timedelta(seconds=float(state["offset_seconds"])))


def clock_wall() -> Any:
    """When a snapshot was written, by the wall clock (not a business time: it names a file's age)."""
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _iso(instant: Any) -> str:
    from partnerhub.clock import isoformat

    return str(isoformat(instant))


# ---------------------------------------------------------------- the file


def write_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` so that readers (and a crash) see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(data, handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # the rename itself on disk (not possible on every platform)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def read(path: Path) -> dict[str, Any] | None:
    """The snapshot at ``path``; None when there is none. Leftover temporary files are removed."""
    if path.parent.is_dir():
        for leftover in path.parent.glob(f".{path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"{path} cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise SnapshotError(f"{path} is not a snapshot")
    return data


# ---------------------------------------------------------------- keeping it up to date


class Keeper:
    """Writes the snapshot when the stack's state changes (debounced) and once more at shutdown."""

    def __init__(self, path: Path, clock: Any, emulator: Any, log: Callable[[str], None] = print) -> None:
        self.path = path
        self.clock = clock
        self.emulator = emulator
        self.log = log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved_signature: Any = None
        self._lock = threading.Lock()
        self.saves = 0

    def signature(self) -> Any:
        """Cheap to compute; moves whenever something worth saving changes."""
        from local import fast_dynamodb

        queues = tuple((name, tuple(m.id for m in list(q._messages))) for name, q in list(_sqs().queues.items()))
        stripe = None
        if self.emulator is not None:
            store = self.emulator.store
            stripe = (store._counter, len(store.events))
        return (fast_dynamodb.writes(), queues, stripe, _clock_state(self.clock).get("frozen"))

    def save(self) -> None:
        with self._lock:
            signature = self.signature()
            started = time.monotonic()
            write_atomic(self.path, capture(self.clock, self.emulator))
            self._saved_signature = signature
            self.saves += 1
            took = time.monotonic() - started
            if took > 1:
                self.log(f"local: saved the state in {took:.1f} s")

    def mark_saved(self) -> None:
        """The state as it is now is what the file holds (just loaded, or just reset)."""
        self._saved_signature = self.signature()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="state-keeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching and write the final snapshot."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            self.save()
        except Exception as exc:
            self.log(f"local: could not save the state: {exc} (the previous snapshot is kept)")

    def _run(self) -> None:
        last_seen = self._saved_signature
        changed_at = dirty_since = None
        failed: str | None = None
        while not self._stop.wait(TICK_S):
            try:
                now = time.monotonic()
                signature = self.signature()
                if signature == self._saved_signature:
                    dirty_since = changed_at = None
                    last_seen = signature
                    continue
                if signature != last_seen:
                    changed_at, last_seen = now, signature
                    dirty_since = dirty_since or now
                if (changed_at and now - changed_at >= QUIET_S) or (dirty_since and now - dirty_since >= MAX_DIRTY_S):
                    self.save()
                    dirty_since = changed_at = None
                    failed = None
            except Exception as exc:  # a failed save must not stop the stack; it is tried again later
                if str(exc) != failed:
                    self.log(f"local: could not save the state: {exc} (the previous snapshot is kept)")
                failed = str(exc)
                dirty_since = changed_at = time.monotonic()
