"""The local stack's snapshot file: a kill at any moment leaves a loadable snapshot; the Stripe emulator's
store comes back exactly as it was saved."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest

from local import persistence
from local.stripe_emulator.cards import TOKENS
from local.stripe_emulator.store import Store
from partnerhub.clock import ManualClock

ROOT = Path(__file__).resolve().parents[2]

# Writes snapshots in a loop, each a little larger than the last; every one says how long its payload is.
WRITER = """
import sys
from pathlib import Path
from local.persistence import write_atomic
path = Path(sys.argv[1])
version = int(sys.argv[2])
while True:
    version += 1
    write_atomic(path, {"version": version, "payload": "x" * (200_000 + version), "length": 200_000 + version})
"""


def test_a_kill_at_any_moment_leaves_a_snapshot_that_loads(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    persistence.write_atomic(path, {"version": 0, "payload": "", "length": 0})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "common")])}
    rng = random.Random(20)
    versions = [0]
    for _ in range(6):
        # Given a process busy rewriting the snapshot
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(versions[-1])], env=env)  # noqa: S603
        time.sleep(0.3 + rng.random() * 0.4)
        # When it is killed mid-stride
        writer.kill()
        writer.wait(timeout=10)
        # Then the file is one whole snapshot, no older than the last one seen
        data = persistence.read(path)
        assert data is not None
        assert len(data["payload"]) == data["length"] == (200_000 + data["version"] if data["version"] else 0)
        assert data["version"] >= versions[-1]
        versions.append(data["version"])
        # And no temporary file is left behind once it has been read
        assert [p.name for p in tmp_path.iterdir()] == ["snapshot.json"]
    assert versions[-1] > 0  # the writer did get snapshots down


def test_a_failed_write_keeps_the_previous_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    persistence.write_atomic(path, {"format": 1, "n": 1})
    with mock.patch("local.persistence.os.replace", side_effect=OSError("disk full")), pytest.raises(OSError):
        persistence.write_atomic(path, {"format": 1, "n": 2})
    assert persistence.read(path) == {"format": 1, "n": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot.json"]


def test_a_file_that_is_not_a_snapshot_is_refused_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    path.write_text('{"format": 1, "dynamo', encoding="utf-8")
    with pytest.raises(persistence.SnapshotError, match="cannot be read"):
        persistence.read(path)
    assert persistence.read(tmp_path / "none.json") is None


def test_the_stripe_store_comes_back_as_it_was_saved() -> None:
    # Given a store with a customer, a payment method with its private test card, and an event
    clock = ManualClock(datetime(2026, 11, 10, 12, 0, tzinfo=UTC))
    store = Store(clock, seed=4)
    customer = store.add("customer", {"id": store.new_id("cus", 14), "object": "customer", "created": store.now()})
    pm = store.add("payment_method", {"id": store.new_id("pm"), "object": "payment_method", "created": store.now()})
    store.private[pm["id"]] = {"card": TOKENS["pm_card_visa"]}
    store.emit("customer.created", "customer", customer)

    # When it is saved as JSON and restored into a fresh store
    saved = json.loads(json.dumps(store.snapshot()))
    restored = Store(clock, seed=4)
    restored.restore(saved)

    # Then the objects, the events, the private card and the id sequence continue where they were
    assert restored.objects == store.objects
    assert [e["id"] for e in restored.events] == [e["id"] for e in store.events]
    assert restored.private[pm["id"]]["card"] == TOKENS["pm_card_visa"]
    assert restored.new_id("in") == store.new_id("in")
    assert restored.newest_first("customer") == store.newest_first("customer")
