"""The CSV statement's own cost at 100,000 licenses: ``python -m bench.export [licenses] [--by-site]``.

No DynamoDB: the licenses (each moved once in the month, labelled, with its history) come from a generator
standing in for ``license_lives``, so the figures are the export's own CPU and memory, the part of the cost
that DynamoDB's pages do not set. It prints the parts (each at most ``EXPORT_MAX_BYTES``), bytes per row, the
total, the time, and the peak memory of the export (``tracemalloc``, measured in a second pass).
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common")]

from partnerhub.clock import ManualClock  # noqa: E402
from partnerhub.domain.billing import PriceVersion  # noqa: E402
from partnerhub.domain.estimates import Tallies  # noqa: E402
from partnerhub.domain.invoicing import InvoiceRecord  # noqa: E402
from partnerhub.domain.models import HistoryEvent, License, Product, Site, Source  # noqa: E402
from partnerhub.domain.periods import Period  # noqa: E402
from partnerhub.domain.rebilling import RebillingService  # noqa: E402
from partnerhub.schemas.exports import statement_csv  # noqa: E402
from partnerhub.settings import BillingSettings  # noqa: E402

PERIOD = Period(2029, 6)
START = datetime(2029, 6, 1, 8, tzinfo=UTC)
BACKUP = PriceVersion("jetpack-backup", daily_price=17, monthly_price=495, effective_from=date(2024, 1, 1))


class SyntheticLives:
    """``count`` Backup licenses issued on 1 June, assigned on the 4th and moved to a second site on the 11th."""

    def __init__(self, count: int) -> None:
        self.count = count

    def license_lives(
        self, partner_id: str, period: Period, *, after: str | None = None, page_size: int | None = None
    ) -> Iterator[tuple[License, list[HistoryEvent]]]:
        first = 0 if after is None else int(after.split("_")[1]) + 1
        for i in range(first, self.count):
            a = Site(site_id=f"site-{i}", site_url=f"https://client-{i}.example.com")
            b = Site(site_id=f"site-{i}b", site_url=f"https://client-{i}-new.example.com")
            license = License(
                partner_id=partner_id,
                license_key=f"jetpack-backup_{i:024d}",
                product="jetpack-backup",
                product_name="Jetpack VaultPress Backup",
                source=Source.PORTAL,
                issued_at=START,
                issued_by="user:bench",
                assigned_at=START + timedelta(days=10),
                site=b,
                version=3,
                client=f"Client number {i % 500}",
                tags=("retainer", "q2"),
            )
            history = [
                HistoryEvent(seq=2, type="assigned", at=START + timedelta(days=3), actor="user:bench", site=a),
                HistoryEvent(
                    seq=3,
                    type="transferred",
                    at=START + timedelta(days=10),
                    actor="user:bench",
                    site=b,
                    previous_site=a,
                ),
            ]
            yield license, history

    def tallies(self, partner_id: str, period: Period) -> Tallies:
        raise AssertionError("the statement export reads license lives only")

    def invoice_records(self, partner_id: str, first: Period, last: Period) -> dict[str, InvoiceRecord]:
        raise AssertionError("the statement export reads license lives only")


class Catalog:
    def load(self) -> tuple[list[Product], list[PriceVersion]]:
        return [Product(product="jetpack-backup", name="Jetpack VaultPress Backup")], [BACKUP]


def export(count: int, by_site: bool, max_bytes: int) -> tuple[list[int], int, int]:
    service = RebillingService(SyntheticLives(count), Catalog(), ManualClock(PERIOD.end + timedelta(days=1)))
    sizes: list[int] = []
    rows = amount = 0
    after: str | None = None
    while True:
        part = statement_csv(service.statement("bench", PERIOD, by_site=by_site, after=after), max_bytes)
        sizes.append(len(part.text.encode()))
        rows += part.rows
        amount += sum(int(line.rsplit(",", 1)[1]) for line in part.text.split("\r\n")[1:] if line)
        after = part.last_license
        if after is None:
            return sizes, rows, amount


def main() -> None:
    count = int(next((a for a in sys.argv[1:] if a.isdigit()), "100000"))
    by_site = "--by-site" in sys.argv
    max_bytes = BillingSettings(table_name="bench").export_max_bytes
    started = time.perf_counter()
    sizes, rows, amount = export(count, by_site, max_bytes)
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    export(count, by_site, max_bytes)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"{count} licenses{' by site' if by_site else ''}: {len(sizes)} parts of at most {max(sizes) / 1e6:.1f} MB, "
        f"{rows} rows, {sum(sizes) / rows:.0f} bytes/row, {sum(sizes) / 1e6:.1f} MB in all, {elapsed:.1f} s, "
        f"peak memory {peak / 1e6:.1f} MB; amounts {amount} cents (each license 495: {count * 495})"
    )


if __name__ == "__main__":
    main()
