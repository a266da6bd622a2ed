"""The local stack keeps its data across restarts (``LOCAL_STATE_DIR``, as ``make run`` sets), survives a
kill, and starts clean on ``LOCAL_STATE_RESET=1`` (``make reset``)."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.stack import StackProcess

SNAPSHOT = "snapshot.json"
INSTANT = "2026-11-20T09:30:00Z"


class Running:
    def __init__(self, state: Path, **env: str) -> None:
        self.process = StackProcess({"LOCAL_STATE_DIR": str(state), "LOCAL_SQS_POLL": "0", **env}).start()
        self.url = self.process.api_url

    def api(self, partner: str) -> requests.Session:
        token = requests.post(f"{self.url}/_local/token", json={"partner_id": partner}, timeout=10).json()["token"]
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        return session

    def licenses(self, partner: str) -> list[str]:
        reply = self.api(partner).get(f"{self.url}/v1/licenses", timeout=30)
        assert reply.status_code == 200, reply.text
        return sorted(item["license_key"] for item in reply.json()["items"])

    def clock(self) -> str:
        return str(requests.get(f"{self.url}/_local/clock", timeout=10).json()["now"])

    def banner(self) -> str:
        return self.process.log()

    def close(self) -> str:
        """Stop (SIGTERM, a clean stop) and return everything the stack printed."""
        self.process.stop()
        printed = self.process.log()
        self.process.cleanup()
        return printed


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "state"


def _wait_for_snapshot(path: Path, predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and predicate(json.loads(path.read_text(encoding="utf-8"))):
            return
        time.sleep(0.2)
    raise AssertionError(f"no snapshot with the expected data in {timeout}s")


def test_data_survives_a_kill_a_restart_and_goes_on_reset(state: Path) -> None:
    partner = f"agency-{uuid.uuid4().hex[:8]}"

    # Given a stack that keeps its state, with a card on file and three licenses issued
    first = Running(state)
    try:
        assert "started clean (no saved state)" in first.banner()
        api = first.api(partner)
        card = api.post(f"{first.url}/v1/payment-methods", json={"payment_method_id": "pm_card_visa"}, timeout=30)
        assert card.status_code in (200, 201), card.text
        issued = api.post(f"{first.url}/v1/licenses", json={"product": "jetpack-backup", "quantity": 3}, timeout=30)
        assert issued.status_code == 201, issued.text
        keys = sorted(item["license_key"] for item in issued.json()["items"])
        # When the stack is killed (no chance to save on the way out) once the writes have settled
        _wait_for_snapshot(state / SNAPSHOT, lambda data: repr(keys[-1]) in repr(data["dynamodb"]))
        assert first.process.process is not None
        first.process.process.send_signal(signal.SIGKILL)
        first.process.process.wait(timeout=10)
    finally:
        first.close()

    # Then the next start loads it: the licenses, the card (in the table and in the Stripe emulator)
    second = Running(state)
    try:
        assert "loaded from" in second.banner()
        assert second.licenses(partner) == keys
        assert second.licenses(f"other-{partner}") == []
        cards = second.api(partner).get(f"{second.url}/v1/payment-methods", timeout=30).json()["items"]
        assert [c["brand"] for c in cards] == ["visa"]
        # And a clock moved just before a clean stop is kept too (saved on the way out)
        moved = requests.post(f"{second.url}/_local/clock", json={"now": INSTANT}, timeout=10)
        assert moved.status_code == 200, moved.text
    finally:
        printed = second.close()
    assert "state saved to" in printed
    saved = json.loads((state / SNAPSHOT).read_text(encoding="utf-8"))
    assert saved["clock"]["frozen"] == INSTANT

    # When the stack is reset, Then it starts clean
    third = Running(state, LOCAL_STATE_RESET="1")
    try:
        assert "started clean (reset)" in third.banner()
        assert third.licenses(partner) == []
        assert third.clock() != INSTANT
    finally:
        third.close()


def test_data_kept_from_before_sites_gets_its_assigned_sites_connected_once(state: Path) -> None:
    partner = f"agency-{uuid.uuid4().hex[:8]}"
    site = {"site_id": "184472401", "site_url": "https://client-bakery.example"}

    # Given kept data from before sites existed: a license assigned to a site, no site item, no migrations listed
    first = Running(state)
    try:
        api = first.api(partner)
        api.post(f"{first.url}/v1/payment-methods", json={"payment_method_id": "pm_card_visa"}, timeout=30)
        (license,) = api.post(f"{first.url}/v1/licenses", json={"product": "jetpack-backup"}, timeout=30).json()[
            "items"
        ]
        assigned = api.put(f"{first.url}/v1/licenses/{license['license_key']}/site", json=site, timeout=30)
        assert assigned.status_code == 200, assigned.text
    finally:
        first.close()
    snapshot = json.loads((state / SNAPSHOT).read_text(encoding="utf-8"))
    assert "connected-sites" in snapshot["migrations"]
    del snapshot["migrations"]
    for items in snapshot["dynamodb"].values():
        items[:] = [i for i in items if i.get("type", {}).get("S") != "site"]
        for item in items:
            if "license_key" in item and "#PRODUCT#" in item["SK"]["S"]:
                item.pop("source"), item.pop("type")
    (state / SNAPSHOT).write_text(json.dumps(snapshot), encoding="utf-8")

    # When the stack starts on it
    second = Running(state)
    try:
        sites = second.api(partner).get(f"{second.url}/v1/sites", timeout=30).json()["items"]
    finally:
        printed = second.close()

    # Then the site is connected, holding the license, and the saved data records the migration (it runs once)
    assert [(s["site_id"], s["site_url"]) for s in sites] == [(site["site_id"], site["site_url"])]
    assert sites[0]["licenses"] == [
        {"license_key": license["license_key"], "product": "jetpack-backup", "source": "portal"}
    ]
    assert "migration connected-sites: 1 site connected" in printed
    assert "connected-sites" in json.loads((state / SNAPSHOT).read_text(encoding="utf-8"))["migrations"]
    assert "migration connected-sites" not in Running(state).close()
