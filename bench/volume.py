"""Volume: the local stack (``python -m local``, over HTTP) with 0 and with 10,000 licenses stored.

What a user of ``make run`` feels as their data grows: the same calls on an empty table and on one
where the acting partner already holds N licenses:

* issuing 1 and 100 licenses, a list page, a license detail, the counts (medians over several calls);
* 12 clients for 60 s of mixed work (issue, assign, unassign, revoke, list, counts, billing) on four
  partners, one of them the partner holding the N licenses: requests per second, and 5xx (must be 0);
* starting the stack with the N licenses saved (``LOCAL_STATE_DIR``): the time until it serves them.

Every size gets its own stack process and all run at once; each figure alternates between them (call
by call, or in slices of the 60 s), so a burst of load from elsewhere on this shared machine falls on
both sides of a ratio alike. The stored licenses are written straight into the stack's DynamoDB (moto's
endpoint, batch writes of the repository's own ``license_item``) with the partner record's counters set
to match: issuing 10,000 through the API would take minutes and measure nothing more. The clients are
threads of the bench process, on the same cores as the stacks.
"""

from __future__ import annotations

import random
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

PRODUCTS = ("jetpack-backup", "jetpack-scan", "jetpack-boost")
TABLE = "partnerhub-local"
START = "2026-11-16T10:00:00Z"
MARK = "<!-- volume -->"
END_MARK = "<!-- /volume -->"


@dataclass
class Probe:
    name: str
    seconds: dict[int, float] = field(default_factory=dict)  # stored licenses -> median seconds


@dataclass
class Mixed:
    stored: int
    seconds: float
    requests: int
    by_status: dict[str, int]
    by_action: dict[str, int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.by_status.items() if status.startswith("5") or status == "error")


@dataclass
class Volume:
    sizes: list[int]
    probes: list[Probe] = field(default_factory=list)
    mixed: list[Mixed] = field(default_factory=list)
    seed_seconds: dict[int, float] = field(default_factory=dict)
    serve_seconds: dict[str, float] = field(default_factory=dict)
    clients: int = 12
    mixed_seconds: float = 60.0
    notes: list[str] = field(default_factory=list)


class Client:
    """HTTP to one running stack as one partner."""

    def __init__(self, api_url: str, partner: str) -> None:
        import requests

        self.url = api_url
        self.session = requests.Session()
        token = self.session.post(f"{api_url}/_local/token", json={"partner_id": partner}, timeout=30).json()["token"]
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.session.request(method, f"{self.url}{path}", timeout=120, **kwargs)


def _table(moto_url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto on 127.0.0.1
        config=Config(parameter_validation=False, retries={"max_attempts": 10}),
    )


def seed_partner(moto_url: str, partner: str, count: int, issued_from: datetime, log: Callable[[str], None]) -> None:
    """``count`` licenses for ``partner`` (every fourth assigned), its record with matching counters and the
    billing tallies the license commands would have kept for them."""
    from bench.scale import synthetic_license, tally_items
    from partnerhub.repository.dynamo import serialize
    from partnerhub.repository.licenses import license_item
    from testkit.partners import SeededPartners

    client = _table(moto_url)
    counters = {p: {"issued": 0, "assigned": 0, "revoked": 0} for p in PRODUCTS}
    batch: list[dict[str, Any]] = []
    lives: list[Any] = []
    started = time.monotonic()
    for i in range(count):
        product = PRODUCTS[i % len(PRODUCTS)]
        issued_at = issued_from + timedelta(seconds=30 * i)
        license = synthetic_license(partner, i, product, issued_at, assigned=i % 4 == 0)
        site = license.site
        counters[product]["issued"] += 1
        counters[product]["assigned"] += 1 if site else 0
        lives.append((product, issued_at, [("assigned", issued_at)] if site else []))
        batch.append({"PutRequest": {"Item": serialize(license_item(license))}})
        if len(batch) == 25 or i == count - 1:
            _flush(client, batch)
            batch = []
        if i and i % 5000 == 0:
            log(f"    seeded {i:,} of {count:,} ({time.monotonic() - started:.0f} s)")
    partners = SeededPartners(TABLE, client)
    partners.set_has_payment_method(partner, True)
    partners.add_license_counts(partner, counters)
    tallies = tally_items(partner, lives)
    for start in range(0, len(tallies), 25):
        _flush(client, [{"PutRequest": {"Item": serialize(item)}} for item in tallies[start : start + 25]])


def _flush(client: Any, batch: list[dict[str, Any]]) -> None:
    pending: dict[str, Any] = {TABLE: batch}
    while pending:
        pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def _median(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def _calls(api: Client, key: str) -> dict[str, tuple[Callable[[], Any], int]]:
    """The single calls measured: name -> (the call, the status it must answer)."""
    return {
        "issue 1 license": (
            lambda: api.call("POST", "/v1/licenses", json={"product": "jetpack-backup", "quantity": 1}),
            201,
        ),
        "issue 100 licenses": (
            lambda: api.call("POST", "/v1/licenses", json={"product": "jetpack-scan", "quantity": 100}),
            201,
        ),
        "list page (50)": (lambda: api.call("GET", "/v1/licenses", params={"limit": "50"}), 200),
        "license detail": (lambda: api.call("GET", f"/v1/licenses/{key}"), 200),
        "counts": (lambda: api.call("GET", "/v1/licenses/counts"), 200),
    }


def _probes(apis: dict[int, Client], repeats: int, log: Callable[[str], None]) -> list[Probe]:
    """Each call on every stack in turn (A, B, A, B, ...), so that the machine's load falls on both alike.

    The first round is not counted (first-use costs: imports, the partition index being built).
    """
    calls = {}
    for stored, api in apis.items():
        # The license the detail is read for: a fresh one on every stack (the empty one has no other).
        issued = api.call("POST", "/v1/licenses", json={"product": "jetpack-boost", "quantity": 1})
        key = issued.json()["items"][0]["license_key"]
        calls[stored] = _calls(api, key)
    probes = []
    for name in calls[next(iter(calls))]:
        rounds = repeats if name != "issue 100 licenses" else max(2, repeats // 2)
        samples: dict[int, list[float]] = {stored: [] for stored in apis}
        for round_ in range(rounds + 1):
            for stored in apis:
                call, expect = calls[stored][name]
                started = time.perf_counter()
                reply = call()
                took = time.perf_counter() - started
                if reply.status_code != expect:
                    raise RuntimeError(f"{name}: expected {expect}, got {reply.status_code}: {reply.text[:300]}")
                if round_:
                    samples[stored].append(took)
        probe = Probe(name, {stored: _median(values) for stored, values in samples.items()})
        log(f"    {name}: " + ", ".join(f"{n:,} stored {s * 1000:.0f} ms" for n, s in probe.seconds.items()))
        probes.append(probe)
    return probes


class _Worker(threading.Thread):
    ACTIONS = (
        ("issue", 3),
        ("assign", 3),
        ("unassign", 1),
        ("revoke", 1),
        ("list", 3),
        ("counts", 2),
        ("billing", 1),
    )

    def __init__(self, api: Client, seed: int, deadline: float, tally: dict[str, Any], lock: threading.Lock) -> None:
        super().__init__(daemon=True)
        self.api = api
        self.rng = random.Random(seed)
        self.deadline = deadline
        self.tally = tally
        self.lock = lock
        self.unassigned: list[str] = []
        self.assigned: list[str] = []

    def run(self) -> None:
        names = [name for name, weight in self.ACTIONS for _ in range(weight)]
        while time.monotonic() < self.deadline:
            action = self.rng.choice(names)
            status: int | str
            try:
                status = self._do(action)
            except Exception as exc:  # a dropped connection counts as a failure, as a 5xx would
                status = f"error:{type(exc).__name__}"
            with self.lock:
                self.tally["actions"][action] = self.tally["actions"].get(action, 0) + 1
                key = "error" if str(status).startswith("error") else str(status)
                self.tally["status"][key] = self.tally["status"].get(key, 0) + 1

    def _do(self, action: str) -> int:
        api = self.api
        if action == "assign" and self.unassigned:
            key = self.unassigned.pop()
            n = self.rng.randrange(10**9)
            site = {"site_id": str(n), "site_url": f"https://s{n}.example"}
            reply = api.call("PUT", f"/v1/licenses/{key}/site", json=site)
            if reply.status_code == 200:
                self.assigned.append(key)
            return int(reply.status_code)
        if action == "unassign" and self.assigned:
            key = self.assigned.pop()
            reply = api.call("DELETE", f"/v1/licenses/{key}/site")
            if reply.status_code == 200:
                self.unassigned.append(key)
            return int(reply.status_code)
        if action == "revoke" and (self.assigned or self.unassigned):
            pool = self.assigned if self.assigned else self.unassigned
            return int(api.call("POST", f"/v1/licenses/{pool.pop()}/revoke").status_code)
        if action == "list":
            return int(api.call("GET", "/v1/licenses", params={"limit": "50"}).status_code)
        if action == "counts":
            return int(api.call("GET", "/v1/licenses/counts").status_code)
        if action == "billing":
            return int(api.call("GET", "/v1/billing").status_code)
        reply = api.call("POST", "/v1/licenses", json={"product": self.rng.choice(PRODUCTS), "quantity": 2})
        if reply.status_code == 201:
            self.unassigned.extend(item["license_key"] for item in reply.json()["items"])
        return int(reply.status_code)


def _mixed_block(apis: list[Client], seconds: float, tally: dict[str, Any], seed: int) -> float:
    lock = threading.Lock()
    started = time.monotonic()
    workers = [_Worker(api, seed + i, started + seconds, tally, lock) for i, api in enumerate(apis)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=seconds + 180)
    return time.monotonic() - started


def _mixed(
    stacks: dict[int, tuple[str, list[str]]], clients: int, seconds: float, blocks: int, log: Callable[[str], None]
) -> list[Mixed]:
    """``clients`` clients on each stack in turn, in ``blocks`` slices of ``seconds / blocks`` (A, B, A, B...)."""
    tallies: dict[int, dict[str, Any]] = {n: {"actions": {}, "status": {}} for n in stacks}
    elapsed = dict.fromkeys(stacks, 0.0)
    apis = {
        n: [Client(url, partners[i % len(partners)]) for i in range(clients)] for n, (url, partners) in stacks.items()
    }
    for block in range(blocks):
        for stored in stacks:
            elapsed[stored] += _mixed_block(apis[stored], seconds / blocks, tallies[stored], 1000 * block)
        log(f"    mixed work: slice {block + 1} of {blocks} done")
    return [
        Mixed(n, elapsed[n], sum(tallies[n]["status"].values()), tallies[n]["status"], tallies[n]["actions"])
        for n in stacks
    ]


def _stack(env: dict[str, str]) -> Any:
    from local.stack import StackProcess

    return StackProcess({"LOCAL_CLOCK_START": START, **env})


def measure(
    sizes: list[int],
    log: Callable[[str], None] = print,
    *,
    repeats: int = 9,
    clients: int = 12,
    mixed_seconds: float = 60.0,
    mixed_sizes: tuple[int, ...] = (0, 10_000),
    blocks: int = 4,
) -> Volume:
    """Every size gets its own stack, all running at once; each figure alternates between them."""
    from partnerhub.clock import parse_instant

    volume = Volume(sizes=sizes, clients=clients, mixed_seconds=mixed_seconds)
    with tempfile.TemporaryDirectory(prefix="bench-volume-") as scratch:
        stacks: dict[int, Any] = {}
        partners: dict[int, list[str]] = {}
        try:
            for stored in sizes:
                log(f"  volume: starting a stack for {stored:,} stored licenses")
                stacks[stored] = _stack({"LOCAL_STATE_DIR": str(Path(scratch) / f"state-{stored}")}).start(timeout=300)
                partners[stored] = [f"vol-{stored}-{n}-{secrets.token_hex(3)}" for n in range(4)]
                started = time.monotonic()
                for n, partner in enumerate(partners[stored]):
                    # The first partner holds the stored licenses; every partner may issue.
                    count = stored if n == 0 else 0
                    seed_partner(
                        stacks[stored].moto_url, partner, count, parse_instant(START) - timedelta(days=90), log
                    )
                volume.seed_seconds[stored] = time.monotonic() - started
                log(f"  volume: seeded {stored:,} licenses in {volume.seed_seconds[stored]:.1f} s")
            volume.probes = _probes({n: Client(stacks[n].api_url, partners[n][0]) for n in sizes}, repeats, log)
            chosen = [n for n in sizes if n in mixed_sizes]
            if mixed_seconds > 0 and chosen:
                log(
                    f"  volume: {clients} clients, mixed work for {mixed_seconds:.0f} s on each of {len(chosen)} stacks"
                )
                volume.mixed = _mixed(
                    {n: (stacks[n].api_url, partners[n]) for n in chosen}, clients, mixed_seconds, blocks, log
                )
                for mixed in volume.mixed:
                    log(
                        f"    {mixed.stored:,} stored: {mixed.rate:.1f} requests/s, {mixed.server_errors} 5xx, "
                        f"statuses {mixed.by_status}"
                    )
        finally:
            for stack in stacks.values():
                stack.stop()
                stack.cleanup()
        largest = max(sizes)
        if largest:
            volume.serve_seconds.update(_time_to_serve(Path(scratch) / f"state-{largest}", largest, log))
    return volume


def _time_to_serve(state: Path, stored: int, log: Callable[[str], None]) -> dict[str, float]:
    """Start once with the saved state (its size reported) and once clean; seconds until each serves."""
    results: dict[str, float] = {}
    size_mb = (state / "snapshot.json").stat().st_size / 1e6
    for label, env in (
        (f"{stored:,} licenses saved ({size_mb:.0f} MB snapshot)", {"LOCAL_STATE_DIR": str(state)}),
        ("nothing saved", {}),
    ):
        stack = _stack(env)
        started = time.monotonic()
        stack.start(timeout=300)
        results[label] = time.monotonic() - started
        if env and "loaded from" not in stack.log():
            results[label] = float("nan")
            log("    the saved state was not loaded")
        stack.stop()
        stack.cleanup()
        log(f"  volume: time to serve, {label}: {results[label]:.1f} s")
    return results


# ---------------------------------------------------------------- the report


def render(volume: Volume) -> str:
    base = min(volume.sizes)
    lines = [
        MARK,
        "## Volume: the local stack with licenses already stored",
        "",
        f"`python -m bench volume`. One `python -m local` per column, all running at once; each call goes to "
        "each stack in turn (A, B, A, B, ...) so that the shared machine's load falls on all alike. Each row: the "
        "median over HTTP (first round not counted), with the acting partner holding that many licenses (every "
        f"fourth assigned); the ratio is to the same call with {base:,} stored. Stored licenses are written straight "
        "into the stack's DynamoDB (the repository's own item builder, batch writes), not issued through the API.",
        "",
        "| call | " + " | ".join(f"{n:,} stored" for n in volume.sizes) + " | ratio (largest / empty) |",
        "|---|" + "---|" * len(volume.sizes) + "---|",
    ]
    for probe in volume.probes:
        cells = [f"{probe.seconds[n] * 1000:.0f} ms" for n in volume.sizes]
        ratio = probe.seconds[max(volume.sizes)] / probe.seconds[base]
        lines.append(f"| {probe.name} | " + " | ".join(cells) + f" | {ratio:.2f}x |")
    if volume.mixed:
        lines += [
            "",
            f"Mixed work: {volume.clients} clients for {volume.mixed_seconds:.0f} s on each stack, in slices taken in "
            "turn, on four partners (one holds the stored licenses): issue 2, assign, unassign, revoke, list a page, "
            "counts, billing estimate. 4xx are expected answers (e.g. a license revoked by one client and then "
            "assigned by another is refused); 5xx must be 0.",
            "",
            "| stored | requests | requests/s | 5xx | statuses |",
            "|---|---|---|---|---|",
        ]
        for mixed in volume.mixed:
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(mixed.by_status.items()))
            lines.append(
                f"| {mixed.stored:,} | {mixed.requests:,} | {mixed.rate:.1f} | {mixed.server_errors} | {statuses} |"
            )
        if len(volume.mixed) > 1:
            ratio = volume.mixed[0].rate / volume.mixed[-1].rate
            lines += ["", f"Requests per second, empty / {volume.mixed[-1].stored:,} stored: **{ratio:.2f}x**."]
    if volume.serve_seconds:
        lines += ["", "Time to serve (process start until `/_local/health` answers with the state loaded):", ""]
        lines += [f"- {label}: {seconds:.1f} s" for label, seconds in volume.serve_seconds.items()]
    if volume.seed_seconds:
        seeded = ", ".join(f"{n:,} in {s:.0f} s" for n, s in volume.seed_seconds.items() if n)
        lines += ["", f"Seeding (direct batch writes into the stack's moto): {seeded}."]
    lines += [f"\n{note}" for note in volume.notes]
    lines += ["", END_MARK]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Put the volume section into ``path``, replacing the previous one (the rest of the file is kept)."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if MARK in text and END_MARK in text:
        head, rest = text.split(MARK, 1)
        tail = rest.split(END_MARK, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")
