"""Scale: a partner with 10,000 licenses, month-end for many partners, and the billing engine alone.

Data is written straight into the table with ``batch_write_item`` and the repository's own item
builder (``partnerhub.repository.licenses.license_item``), and the partner's counters are set to
match. Issuing 10,000 licenses through the API would measure moto (each transaction copies its
table) rather than this project; the API's own cost per call is the calls-per-request section's.
"""

from __future__ import annotations

import contextlib
import resource
import secrets
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness import Bench, Calls
from bench.latency import baseline

PRODUCTS = ("jetpack-backup", "jetpack-scan", "jetpack-boost")
PROBE_SAMPLES = 21  # calls per probe of the 10,000-license partner, when they fit in PROBE_SECONDS
PROBE_SECONDS = 1.5


@dataclass
class Timed:
    name: str
    seconds: float
    calls: Calls | None = None
    note: str = ""


@dataclass
class BigPartner:
    licenses: int
    seed_seconds: float
    getitem_seconds: float
    rows: list[Timed] = field(default_factory=list)
    moto_query_seconds: float = float("nan")  # moto's own handling (server side) of the list page's Query
    moto_getitem_seconds: float = float("nan")  # ... and of the baseline GetItem


@contextlib.contextmanager
def moto_handling() -> Iterator[list[float]]:
    """The time moto's DynamoDB handler spends on each request (parse, answer, serialise), in this process's
    moto server: what the local DynamoDB itself costs, without the client, HTTP and the socket."""
    from moto.dynamodb.responses import DynamoHandler

    seconds: list[float] = []
    original = DynamoHandler.call_action

    def timed(handler: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(handler)
        finally:
            seconds.append(time.perf_counter() - started)

    # Timed inside moto's server, around its one entry point, for the block only (mypy refuses method assignment).
    DynamoHandler.call_action = timed  # type: ignore[method-assign]
    try:
        yield seconds
    finally:
        DynamoHandler.call_action = original  # type: ignore[method-assign]


@dataclass
class MonthEnd:
    partners: int
    licenses_per_partner: int
    products_per_partner: int
    seed_seconds: float = 0.0
    wall_seconds: float = 0.0
    invoices: int = 0
    calls: Calls | None = None
    peak_rss_mb: float = 0.0
    rss_growth_mb: float = 0.0
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    extrapolated_to: int | None = None

    @property
    def stripe_per_partner(self) -> float:
        return (self.calls.stripe_total if self.calls else 0) / max(1, self.partners)

    @property
    def reads_per_partner(self) -> float:
        return (self.calls.reads if self.calls else 0) / max(1, self.partners)


@dataclass
class Engine:
    license_months: int
    seconds: float
    baseline_seconds: float

    @property
    def rate(self) -> float:
        return self.license_months / self.seconds

    @property
    def baseline_rate(self) -> float:
        return self.license_months / self.baseline_seconds


# -- seeding ------------------------------------------------------------------------------------------


def _writer() -> Any:
    """A client for bulk seeding: botocore's parameter validation off (it costs more than moto's write)."""
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodb", config=Config(parameter_validation=False, retries={"max_attempts": 10}))


def synthetic_license(partner_id: str, i: int, product: str, issued_at: datetime, *, assigned: bool) -> Any:
    """The ``i``-th bench license: a portal license with an unguessable key, on site ``site-{i}`` when ``assigned``."""
    from partnerhub.domain.models import License, Site, Source

    site = Site(site_id=f"site-{i}", site_url=f"https://client-{i}.example.com") if assigned else None
    return License(
        partner_id=partner_id,
        license_key=f"{product}_{secrets.token_urlsafe(18).replace('-', 'a').replace('_', 'b')}",
        product=product,
        product_name=product,
        source=Source.PORTAL,
        issued_at=issued_at,
        issued_by="user:bench",
        assigned_at=issued_at if site else None,
        site=site,
        version=1,
    )


def seed_licenses(
    bench: Bench, partner_id: str, count: int, issued_from: datetime, products: tuple[str, ...], assigned_every: int = 3
) -> dict[str, dict[str, int]]:
    """``count`` licenses for the partner, spread over ``products``, every n-th assigned; returns the counters."""
    from partnerhub.repository.dynamo import serialize
    from partnerhub.repository.licenses import license_item

    writer = _writer()
    counters: dict[str, dict[str, int]] = {p: {"issued": 0, "assigned": 0, "revoked": 0} for p in products}
    batch: list[dict[str, Any]] = []
    for i in range(count):
        product = products[i % len(products)]
        issued_at = issued_from + timedelta(minutes=i)
        license = synthetic_license(
            partner_id, i, product, issued_at, assigned=bool(assigned_every) and i % assigned_every == 0
        )
        site = license.site
        counters[product]["issued"] += 1
        counters[product]["assigned"] += 1 if site else 0
        batch.append({"PutRequest": {"Item": serialize(license_item(license))}})
        if len(batch) == 25:
            _flush(writer, bench.table, batch)
            batch = []
    if batch:
        _flush(writer, bench.table, batch)
    lives = [
        (
            products[i % len(products)],
            issued_from + timedelta(minutes=i),
            [("assigned", issued_from + timedelta(minutes=i))] if assigned_every and i % assigned_every == 0 else [],
        )
        for i in range(count)
    ]
    write_tallies(bench, partner_id, lives)
    return counters


def write_tallies(bench: Bench, partner_id: str, lives: list[Any]) -> int:
    """The billing tallies the license commands would have kept for these licenses, written to the bench table."""
    from partnerhub.repository.dynamo import serialize

    items = tally_items(partner_id, lives)
    writer = _writer()
    for start in range(0, len(items), 25):
        _flush(writer, bench.table, [{"PutRequest": {"Item": serialize(i)}} for i in items[start : start + 25]])
    return len(items)


def tally_items(partner_id: str, lives: list[Any]) -> list[dict[str, Any]]:
    """The tally items (``tallies_of``, the rebuild's own rules) for licenses given as (product, issued_at, events)."""
    from partnerhub.domain.tallies import tallies_of
    from partnerhub.repository import keys
    from partnerhub.repository.tallies import month_item, running_item

    months, running = tallies_of(lives)
    pk = keys.partner_pk(partner_id)
    items = [
        month_item(pk, keys.month_tally_sk(str(period), product), period, product, tally)
        for period, tallies in months.items()
        for product, tally in tallies.items()
    ]
    items.append(running_item(partner_id, running, writes=len(lives)))
    return items


def _flush(writer: Any, table: str, batch: list[dict[str, Any]]) -> None:
    pending: dict[str, Any] = {table: batch}
    while pending:
        pending = writer.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def write_partner(
    bench: Bench, partner_id: str, counters: dict[str, dict[str, int]], customer: str | None = None
) -> None:
    """The partner record as the license commands and payment methods leave it (a card on file, the license
    counters, the Stripe customer) and its billable-registry entry, written with the repository's own pieces."""
    from testkit.partners import SeededPartners

    partners = SeededPartners(bench.table, _writer())
    partners.set_has_payment_method(partner_id, True)
    partners.add_license_counts(partner_id, counters)
    if customer:
        partners.claim_stripe_customer(partner_id, customer)
    partners.make_billable(partner_id)


# -- a partner with 10,000 licenses ------------------------------------------------------------------


def big_partner(bench: Bench, licenses: int, repeats: int, log: Callable[[str], None] = print) -> BigPartner:
    bench.reset_aws()
    partner = f"big-{secrets.token_hex(4)}"
    now = bench.stack.clock.now()
    started = time.perf_counter()
    # Every fourth assigned: not in step with the three products, so each product has both statuses.
    counters = seed_licenses(bench, partner, licenses, now - timedelta(days=45), PRODUCTS, assigned_every=4)
    write_partner(bench, partner, counters)
    seeded = time.perf_counter() - started
    log(f"  scale: seeded {licenses} licenses for one partner in {seeded:.1f} s")
    base = baseline(bench, 50)
    result = BigPartner(licenses, seeded, base.p50)
    probes: list[tuple[str, str, dict[str, str], str]] = [
        ("list page (50, newest first)", "GET /v1/licenses", {"limit": "50"}, ""),
        ("list page, one product and status", "GET /v1/licenses", {"product": PRODUCTS[1], "status": "assigned"}, ""),
        ("search (site URL substring, 11 matches)", "GET /v1/licenses", {"search": "client-99"}, ""),
        ("counts", "GET /v1/licenses/counts", {}, ""),
        ("billing estimate (month to date)", "GET /v1/billing", {}, ""),
    ]
    # What moto itself costs for the list page: the same Query with a bare client, no handler around it.
    from partnerhub import clients
    from partnerhub.repository import keys as table_keys
    from partnerhub.repository.dynamo import values
    from partnerhub.repository.partners import profile_key

    client = clients.dynamodb()
    page_query: dict[str, Any] = {
        "TableName": bench.table,
        "IndexName": table_keys.GSI_LICENSES,
        "KeyConditionExpression": "GSI1PK = :pk",
        "ExpressionAttributeValues": values(pk=table_keys.licenses_gsi_pk(partner)),
        "ScanIndexForward": False,
        "Limit": 50,
    }
    profile = profile_key(partner)
    import boto3

    plain = boto3.client("dynamodb")  # botocore parses every attribute value against the service model
    raw: list[float] = []
    parsed: list[float] = []
    with moto_handling() as query_handling:
        for _ in range(max(PROBE_SAMPLES, repeats)):
            began = time.perf_counter()
            client.query(**page_query)
            raw.append(time.perf_counter() - began)
            began = time.perf_counter()
            plain.query(**page_query)
            parsed.append(time.perf_counter() - began)
    with moto_handling() as get_handling:
        for _ in range(max(PROBE_SAMPLES, repeats)):
            client.get_item(TableName=bench.table, Key=profile)
    result.moto_query_seconds = statistics.median(query_handling) if query_handling else float("nan")
    result.moto_getitem_seconds = statistics.median(get_handling) if get_handling else float("nan")
    result.rows.append(
        Timed(
            "the list page's Query alone (bare client)",
            statistics.median(raw),
            note="the local DynamoDB's cost for one page as this project's client sees it (moto over HTTP, with "
            "local/fast_dynamodb.py; the items taken as their JSON has them: repository/dynamo.py, read_pages_raw)",
        )
    )
    result.rows.append(
        Timed(
            "the same Query, a plain boto3 client",
            statistics.median(parsed),
            note="botocore walking every attribute value of the 50 items against the service model",
        )
    )
    result.rows.append(
        Timed(
            "moto's own handling of that Query",
            result.moto_query_seconds,
            note=f"server side: parse, query, serialise (a GetItem: {result.moto_getitem_seconds * 1000:.2f} ms)",
        )
    )
    for name, route_key, query, note in probes:
        if bench.route(route_key) is None or bench.function_error(bench.route(route_key).function_id):
            result.rows.append(Timed(name, float("nan"), note="route not available"))
            continue
        samples: list[float] = []
        calls: Calls | None = None
        status = 0
        spent = 0.0
        while len(samples) < repeats or (len(samples) < PROBE_SAMPLES and spent < PROBE_SECONDS):
            reply = bench.invoke(route_key, partner_id=partner, query=query)
            samples.append(reply.seconds)
            spent += reply.seconds
            calls, status = reply.calls, reply.status
            if reply.seconds > 2.0:
                break  # one slow sample is figure enough; the budget is better spent elsewhere
        shown = f"answered {status}" if status >= 400 else note
        if route_key == "GET /v1/licenses" and status == 200 and "search" in query:
            shown = f"{len(reply.body.get('items', []))} found on the first page"
        result.rows.append(Timed(name, statistics.median(samples), calls, shown))
        log(f"  scale: {name}: {statistics.median(samples) * 1000:.0f} ms")
    return result


# -- the billing estimate at 10,000 and 100,000 licenses ----------------------------------------------


@dataclass
class BillingRead:
    licenses: int
    tally_items: int
    seconds: float
    getitem_seconds: float
    calls: Calls | None
    status: int


def billing_read(
    bench: Bench, sizes: tuple[int, ...], repeats: int, log: Callable[[str], None] = print
) -> list[BillingRead]:
    """``GET /v1/billing`` for partners whose tallies say they hold ``size`` licenses, against a bare GetItem.

    The estimate reads tallies, never licenses, so only the tallies are seeded (from ``size`` synthetic
    licenses through ``tallies_of``, the rebuild's own rules): issued over the last 60 days across three
    products, every fourth assigned, every tenth revoked 20 days after it was issued.
    """
    bench.reset_aws()
    now = bench.stack.clock.now()
    rows: list[BillingRead] = []
    for size in sizes:
        partner = f"bill-{size}-{secrets.token_hex(3)}"
        step = timedelta(days=60) / size
        lives: list[Any] = []
        for i in range(size):
            issued = now - timedelta(days=60) + step * i
            events: list[tuple[str, datetime]] = [("assigned", issued)] if i % 4 == 0 else []
            if i % 10 == 0 and issued + timedelta(days=20) < now:
                events.append(("revoked", issued + timedelta(days=20)))
            lives.append((PRODUCTS[i % len(PRODUCTS)], issued, events))
        items = write_tallies(bench, partner, lives)
        write_partner(bench, partner, {})
        base = baseline(bench, 50)
        samples: list[float] = []
        reply = None
        for _ in range(repeats):
            reply = bench.invoke("GET /v1/billing", partner_id=partner)
            samples.append(reply.seconds)
        assert reply is not None
        total = reply.body.get("totals", {}).get("counts", {}).get("total") if reply.status == 200 else None
        rows.append(BillingRead(size, items, statistics.median(samples), base.p50, reply.calls, reply.status))
        log(
            f"  billing read: {size} licenses ({items} tally items, {total} licenses in the month): "
            f"{statistics.median(samples) * 1000:.1f} ms, GetItem {base.p50 * 1000:.2f} ms, "
            f"{reply.calls.dynamodb_total if reply.calls else '?'} DynamoDB calls"
        )
    return rows


# -- month-end -----------------------------------------------------------------------------------------


def _stripe_customers(bench: Bench, partners: list[str]) -> dict[str, str]:
    """A Stripe customer with a default card per partner, made with the SDK in the emulator."""
    import stripe

    from local.resources import stripe_secret_key
    from partnerhub.payments.client import STRIPE_API_VERSION

    base = bench.stripe_url()
    client = stripe.StripeClient(
        stripe_secret_key(),
        stripe_version=STRIPE_API_VERSION,
        base_addresses={"api": base},
        max_network_retries=2,
    )
    made: dict[str, str] = {}
    for partner in partners:
        customer = client.v1.customers.create(params={"metadata": {"partner_id": partner}})
        card = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
        client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": card.id}})
        made[partner] = customer.id
    return made


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def month_end(
    bench: Bench, partners: int, per_partner: int, products: int, log: Callable[[str], None] = print
) -> MonthEnd:
    """Seed ``partners`` partners with ``per_partner`` licenses last month, then plan and drain month-end."""
    result = MonthEnd(partners, per_partner, products)
    targets = bench.template.schedule_targets()
    workers = [s.function_id for s in bench.template.sqs_sources]
    planner = next((t for t in targets if "plan" in t.lower()), targets[0] if targets else None)
    missing = [f for f in [planner, *workers] if f is None or bench.function_error(f)]
    if planner is None or not workers or missing:
        result.error = "not available yet (no scheduled planner and SQS worker in template.yaml)"
        return result
    bench.reset_aws()
    now = bench.stack.clock.now()
    first_of_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    period_start = (first_of_month - timedelta(days=1)).replace(day=1)
    period = f"{period_start:%Y-%m}"
    chosen = PRODUCTS[:products]
    ids = [f"me-{i:05d}-{secrets.token_hex(3)}" for i in range(partners)]
    started = time.perf_counter()
    customers = _stripe_customers(bench, ids)
    for n, partner in enumerate(ids):
        counters = seed_licenses(bench, partner, per_partner, period_start + timedelta(days=3), chosen, 2)
        write_partner(bench, partner, counters, customers[partner])
        if (n + 1) % 250 == 0:
            log(f"  month-end: seeded {n + 1}/{partners} partners")
    result.seed_seconds = time.perf_counter() - started
    log(f"  month-end: seeded {partners} partners x {per_partner} licenses in {result.seed_seconds:.1f} s")
    rss_before = _rss_mb()
    started = time.perf_counter()
    with bench.counter.window(all_threads=True) as calls:
        try:
            planned = bench.invoke_function(planner, {"period": period})
            totals = bench.stack.drainer.drain_all(time_limit=1800)
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"[:200]
            return result
    result.wall_seconds = time.perf_counter() - started
    result.calls = calls
    result.peak_rss_mb = _rss_mb()
    result.rss_growth_mb = result.peak_rss_mb - rss_before
    processed = sum(stats.succeeded for stats in totals.values())
    failed = sum(stats.failed for stats in totals.values())
    result.invoices = calls.stripe.get("POST /v1/invoices", 0)
    result.summary = {"planner": planned, "succeeded": processed, "failed": failed}
    log(
        f"  month-end: {partners} partners in {result.wall_seconds:.1f} s, "
        f"{result.stripe_per_partner:.2f} Stripe calls per partner, {failed} failed deliveries"
    )
    return result


# -- the billing engine alone ------------------------------------------------------------------------


def engine(license_months: int) -> Engine:
    from partnerhub.domain.billing import BillableLicense, bill_month
    from partnerhub.domain.catalog import PRICES
    from partnerhub.domain.periods import Period

    period = Period(2026, 10)
    products = [p.product for p in PRICES]
    licenses = [
        BillableLicense(
            license_key=f"lic-{i}",
            product=products[i % len(products)],
            issued_at=datetime(2026, 9, 1 + i % 28, tzinfo=UTC),
            revoked_at=datetime(2026, 10, 1 + i % 30, 12, tzinfo=UTC) if i % 5 == 0 else None,
        )
        for i in range(license_months)
    ]
    started = time.perf_counter()
    bill = bill_month(licenses, PRICES, period)
    seconds = time.perf_counter() - started
    assert bill.total > 0
    numbers = list(range(license_months))
    started = time.perf_counter()
    total = 0
    for number in numbers:
        total += number
    baseline_seconds = time.perf_counter() - started
    return Engine(license_months, seconds, baseline_seconds)


def extrapolate(measured: MonthEnd, target: int) -> float:
    """Wall time for ``target`` partners from a smaller run: linear (per-partner work is independent)."""
    return measured.wall_seconds / max(1, measured.partners) * target
