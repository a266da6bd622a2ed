"""The table's DynamoDB stream, fed to the functions that read it as Lambda's event source mapping does. Never
deployed.

moto records a table's writes in its stream when the table has a ``StreamSpecification`` (``template.yaml`` gives
the table ``NEW_AND_OLD_IMAGES``). :class:`StreamPoller` takes the records written since its last look straight
from moto's backend in this process, under the lock that serialises moto's writes, and drops them from moto's
shard once taken (DynamoDB trims a stream after 24 hours; here a record lives until it is taken, so a long-running
stack does not keep every write twice). Each source gets every record that matches its ``FilterCriteria``, in
order, ``BatchSize`` at a time, as Lambda's DynamoDB event. A batch item failure (``ReportBatchItemFailures``) or
an error is retried from the first failed record, up to ``MaximumRetryAttempts``; then the poller moves on, as
Lambda does after sending the batch's position to the on-failure destination.

Why not moto's DynamoDB Streams API: its GetRecords keeps every shard iterator it hands out, forever (a leak at a
poll every few hundred milliseconds), and a plain moto transaction that is cancelled swaps in a copy of the table,
which strands an iterator on the old shard.

The records are the ones a write makes: a transaction that is cancelled leaves none (``local/fast_dynamodb.py``
rolls them back with the items).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from local.atomic_dynamodb import _LOCK
from local.gateway import FunctionError, FunctionHost
from local.template import StreamSource

RETRY_PAUSE_S = 0.2
LOCAL_RETRY_CAP = 10  # "until the record expires" (MaximumRetryAttempts -1) is this many tries locally


class FilterError(ValueError):
    """A FilterCriteria pattern this emulation does not read (so it never silently lets everything through)."""


def matches(record: Any, pattern: Any) -> bool:
    """Whether ``record`` matches an event filter ``pattern`` (Lambda's event filtering, the part this project uses:
    nested keys, and lists of alternatives that are exact values or ``{"prefix": ...}``)."""
    if isinstance(pattern, dict):
        if not isinstance(record, dict):
            return False
        return all(key in record and matches(record[key], inner) for key, inner in pattern.items())
    if isinstance(pattern, list):
        return any(_alternative(record, option) for option in pattern)
    raise FilterError(f"a filter pattern's values are lists of alternatives, not {pattern!r}")


def _alternative(value: Any, option: Any) -> bool:
    if isinstance(option, dict):
        if set(option) == {"prefix"}:
            return isinstance(value, str) and value.startswith(str(option["prefix"]))
        raise FilterError(f"filter operator {sorted(option)} is not emulated locally (only exact values and prefix)")
    return bool(value == option)


@dataclass
class SourceState:
    """A source's records not yet handed to its function, and what it has been handed so far."""

    source: StreamSource
    patterns: list[Any]
    pending: deque[dict[str, Any]] = field(default_factory=deque)
    delivered: int = 0
    dropped: int = 0


class StreamPoller:
    """Feeds stream-triggered functions the changes of their tables, like Lambda's event source mappings."""

    def __init__(
        self,
        host: FunctionHost,
        sources: list[StreamSource],
        table_names: dict[str, str],
        stream_arns: dict[str, str],
        log: Callable[[str], None] = print,
    ) -> None:
        self.host = host
        self.table_names = table_names
        self.stream_arns = stream_arns
        self.log = log
        self.states = [
            SourceState(source, [json.loads(p) for p in source.filters])
            for source in sources
            if source.enabled and source.table_id in table_names
        ]
        for state in self.states:
            for pattern in state.patterns:
                matches({}, pattern)  # an operator this emulation does not read fails the stack's start, not later
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _take(self, table_id: str) -> list[dict[str, Any]]:
        return take_records(self.table_names[table_id], self.stream_arns.get(table_id, ""))

    # -- feeding the functions --

    def drain(self) -> int:
        """Take every record written so far and hand each to its sources' functions; the records handed over."""
        with self._lock:
            taken: dict[str, list[dict[str, Any]]] = {}
            for state in self.states:
                table = state.source.table_id
                if table not in taken:
                    taken[table] = self._take(table)
                state.pending.extend(r for r in taken[table] if self._wanted(state, r))
            return sum(self._feed(state) for state in self.states)

    @staticmethod
    def _wanted(state: SourceState, record: dict[str, Any]) -> bool:
        return not state.patterns or any(matches(record, pattern) for pattern in state.patterns)

    def _feed(self, state: SourceState) -> int:
        source = state.source
        handed = 0
        tries = 0
        limit = source.maximum_retry_attempts if source.maximum_retry_attempts >= 0 else LOCAL_RETRY_CAP
        while state.pending and not self._stop.is_set():
            batch = [state.pending[i] for i in range(min(source.batch_size, len(state.pending)))]
            done = self._invoke(source, batch)
            for _ in range(done):
                state.pending.popleft()
            handed += done
            state.delivered += done
            if done == len(batch):
                tries = 0
                continue
            tries += 1
            if tries > limit:
                dropped = len(batch) - done
                for _ in range(dropped):
                    state.pending.popleft()
                state.dropped += dropped
                self.log(f"stream -> {source.function_id}: gave up on {dropped} record(s) after {tries} tries")
                tries = 0
                continue
            time.sleep(RETRY_PAUSE_S)
        return handed

    def _invoke(self, source: StreamSource, batch: list[dict[str, Any]]) -> int:
        """How many records at the head of ``batch`` the function processed (all of them, or up to the first
        it reported failed)."""
        try:
            result = self.host.invoke(source.function_id, {"Records": batch})
        except FunctionError as exc:
            self.log(f"stream -> {source.function_id}: {len(batch)} record(s) failed: {exc}")
            return 0
        failures = (
            result.get("batchItemFailures") if source.report_batch_item_failures and isinstance(result, dict) else []
        )
        failed = {str(item.get("itemIdentifier") or "") for item in failures or [] if isinstance(item, dict)}
        if not failed:
            self.log(f"stream -> {source.function_id}: {len(batch)} record(s) ok")
            return len(batch)
        sequences = [record["dynamodb"]["SequenceNumber"] for record in batch]
        if not failed <= set(sequences):
            return 0  # an identifier Lambda cannot place: the whole batch is retried
        first = min(sequences.index(item) for item in failed)
        self.log(f"stream -> {source.function_id}: {len(batch) - first} of {len(batch)} record(s) to retry")
        return first

    # -- in the background, as an event source mapping polls --

    def start(self, interval: float = 0.2) -> None:
        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    self.drain()
                except Exception as exc:  # moto going away at shutdown, mostly
                    if not self._stop.is_set():
                        self.log(f"stream poller: {exc}")

        self._thread = threading.Thread(target=run, name="stream-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def take_records(table_name: str, stream_arn: str = "") -> list[dict[str, Any]]:
    """The stream records of ``table_name`` written since the last take (moto in this process), as Lambda hands them
    to a function, and dropped from moto's shard."""
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[_account()][os.environ.get("AWS_DEFAULT_REGION", "us-east-1")]
    with _LOCK:
        table = backend.tables.get(table_name)
        shard = getattr(table, "stream_shard", None)
        if shard is None or not shard.items:
            return []
        taken = list(shard.items)
        # What DynamoDB's trimming does to a shard: later sequence numbers go on from where these ended.
        shard.starting_sequence_number += len(taken)
        shard.items = []
    return [_lambda_record(record.to_json(), stream_arn) for record in taken]


def _account() -> str:
    from moto.core.models import DEFAULT_ACCOUNT_ID

    return str(DEFAULT_ACCOUNT_ID)


def _lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """moto's stream record as Lambda hands it over: the creation time in epoch seconds, and the stream's ARN."""
    data = dict(record["dynamodb"])
    created = data.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        data["ApproximateCreationDateTime"] = float(int(created.timestamp()))
    return {**record, "dynamodb": data, "eventSourceARN": stream_arn}
