"""Month-end runs as operators see them, with in-memory fakes: the dry run's numbers (worked by hand), where each
partner-month stands, starting (only an ended month; the request and its audit entry) and retrying."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import pytest

from partnerhub.clock import ManualClock
from partnerhub.domain.audit import AuditEntry
from partnerhub.domain.billing import BillableLicense, PriceVersion
from partnerhub.domain.invoice_runs import InvoiceRunService, partner_state
from partnerhub.domain.invoicing import InvoiceRecord, Step
from partnerhub.domain.models import Product
from partnerhub.errors import Conflict

BACKUP = Product(product="jetpack-backup", name="Jetpack VaultPress Backup")
SCAN = Product(product="jetpack-scan", name="Jetpack Scan")
PRICES = [
    PriceVersion("jetpack-backup", 17, 495, date(2024, 1, 1)),
    PriceVersion("jetpack-scan", 14, 395, date(2024, 1, 1)),
]


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


LICENSES = {
    # b: Backup all March (31 x 17 = 527, capped 495) + Scan 1..12 March (revoked the 12th at 09:00: 12 x 14 = 168)
    "b": [
        BillableLicense("jetpack-backup_b1", "jetpack-backup", at(1)),
        BillableLicense("jetpack-scan_b2", "jetpack-scan", at(1), at(12)),
    ],
    # c: one Backup license issued 20 March 09:00: 12 days x 17 = 204
    "c": [BillableLicense("jetpack-backup_c1", "jetpack-backup", at(20))],
    # d: a license revoked in February: nothing in March
    "d": [BillableLicense("jetpack-backup_d1", "jetpack-backup", datetime(2026, 2, 1, tzinfo=UTC), at(1, 0))],
}

INVOICED_LINE = {
    "product": "jetpack-backup",
    "name": "Jetpack VaultPress Backup",
    "licenses": 1,
    "license_days": 31,
    "daily_price": 17,
    "monthly_price": 495,
    "amount": 495,
    "currency": "usd",
    "description": "...",
}


class Fakes:
    def __init__(self) -> None:
        self.records: dict[str, InvoiceRecord] = {
            "a": InvoiceRecord(
                "a", "2026-03", step=Step.FINALIZED, status="open", invoice_id="in_a", total=495, lines=(INVOICED_LINE,)
            ),
        }
        self.requested: list[str] = []
        self.started: list[AuditEntry] = []
        self.recorded: list[AuditEntry] = []
        self.dead: dict[str, list[str]] = {}

    # ports
    def request_run(self, period: str) -> None:
        self.requested.append(period)

    def dead_letters(self, period: str) -> list[str]:
        return list(self.dead.get(period, []))

    def redrive(self, period: str) -> list[str]:
        return self.dead.pop(period, [])

    def started_(self, period: str, audit: AuditEntry) -> None:
        self.started.append(audit)

    def run(self, period: str) -> Mapping[str, Any] | None:
        return {"started_at": "x", "started_by": self.started[0].actor} if self.started else None

    def record(self, entry: AuditEntry, once: str | None = None) -> bool:
        self.recorded.append(entry)
        return True


class RunLog:
    def __init__(self, fakes: Fakes) -> None:
        self.fakes = fakes

    def started(self, period: str, audit: AuditEntry) -> None:
        self.fakes.started_(period, audit)

    def run(self, period: str) -> Mapping[str, Any] | None:
        return self.fakes.run(period)


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 4, 1, 0, 20, tzinfo=UTC))


def service(fakes: Fakes, clock: ManualClock) -> InvoiceRunService:
    return InvoiceRunService(
        partners=lambda: ["d", "c", "b", "a"],
        records=lambda period, ids: {pid: r for pid, r in fakes.records.items() if pid in ids and r.period == period},
        licenses=lambda pid, period: LICENSES.get(pid, []),
        catalog=lambda: ([BACKUP, SCAN], PRICES),
        runs=RunLog(fakes),
        queues=fakes,
        audit_log=fakes,
        clock=clock,
    )


def entry(clock: ManualClock) -> AuditEntry:
    return AuditEntry("r1", clock.now(), "operator:op", "invoice_run.start", "invoice-run:2026-03", {})


def test_the_dry_run_bills_each_partner_as_the_worker_would_and_writes_nothing(
    fakes: Fakes, clock: ManualClock
) -> None:
    preview = service(fakes, clock).preview("2026-03")

    by_partner = {p.partner_id: p for p in preview.partners}
    assert [p.partner_id for p in preview.partners] == ["a", "b", "c", "d"]
    assert (by_partner["a"].state, by_partner["a"].total, by_partner["a"].invoice_id) == (
        "already_invoiced",
        495,
        "in_a",
    )
    assert by_partner["b"].state == "would_invoice"
    assert [(ln["product"], ln["license_days"], ln["amount"]) for ln in by_partner["b"].lines] == [
        ("jetpack-backup", 31, 495),
        ("jetpack-scan", 12, 168),
    ]
    assert by_partner["b"].total == 663
    assert (by_partner["c"].state, by_partner["c"].total) == ("would_invoice", 204)
    assert (by_partner["d"].state, by_partner["d"].lines, by_partner["d"].total) == ("nothing_to_bill", (), 0)
    assert (preview.total, preview.to_invoice) == (495 + 663 + 204, 663 + 204)
    assert fakes.requested == fakes.started == fakes.recorded == []


def test_a_month_not_ended_cannot_be_previewed_or_started(fakes: Fakes, clock: ManualClock) -> None:
    for call in (
        lambda: service(fakes, clock).preview("2026-04"),
        lambda: service(fakes, clock).start("2026-04", entry(clock)),
    ):
        with pytest.raises(Conflict) as refused:
            call()
        assert refused.value.code == "period_not_ended"
    assert fakes.requested == fakes.started == []


def test_starting_requests_the_planner_and_notes_the_start_with_its_audit_entry(
    fakes: Fakes, clock: ManualClock
) -> None:
    progress = service(fakes, clock).start("2026-03", entry(clock))
    assert fakes.requested == ["2026-03"]
    assert [(e.action, dict(e.summary)) for e in fakes.started] == [("invoice_run.start", {"period": "2026-03"})]
    assert (progress.planned, progress.invoiced, progress.pending, progress.started_by) == (4, 1, 3, "operator:op")


def test_progress_counts_each_partner_month_where_it_stands(fakes: Fakes, clock: ManualClock) -> None:
    fakes.records["b"] = InvoiceRecord(
        "b",
        "2026-03",
        step=Step.DRAFTED,
        invoice_id="in_b",
        status="draft",
        failure={"step": "add_lines", "error": "boom", "at": "t"},
    )
    fakes.records["d"] = InvoiceRecord("d", "2026-03", step=Step.NOTHING_TO_BILL)
    fakes.dead["2026-03"] = ["b"]
    progress = service(fakes, clock).progress("2026-03")
    assert (progress.planned, progress.invoiced, progress.nothing_to_bill, progress.failed, progress.pending) == (
        4,
        1,
        1,
        1,
        1,
    )
    assert progress.dead_lettered == 1
    assert [dict(f) for f in progress.failures] == [
        {"partner_id": "b", "step": "add_lines", "error": "boom", "at": "t"}
    ]


def test_retry_re_drives_the_months_dead_letters_and_records_them(fakes: Fakes, clock: ManualClock) -> None:
    fakes.dead["2026-03"] = ["c", "b"]
    redrive = service(fakes, clock).retry("2026-03", entry(clock))
    assert redrive.redriven == ("b", "c")
    (recorded,) = fakes.recorded
    assert dict(recorded.summary) == {"period": "2026-03", "redriven": 2, "partners": ["b", "c"]}
    assert service(fakes, clock).progress("2026-03").dead_lettered == 0


@pytest.mark.parametrize(
    ("record", "state"),
    [
        (None, "pending"),
        (InvoiceRecord("p", "2026-03"), "pending"),
        (InvoiceRecord("p", "2026-03", step=Step.NOTHING_TO_BILL), "nothing_to_bill"),
        (InvoiceRecord("p", "2026-03", step=Step.FINALIZED, status="open", invoice_id="in_p"), "invoiced"),
        (InvoiceRecord("p", "2026-03", step=Step.DRAFTED, status="paid", invoice_id="in_p"), "invoiced"),
        (InvoiceRecord("p", "2026-03", failure={"step": "customer"}), "failed"),
    ],
)
def test_partner_state(record: InvoiceRecord | None, state: str) -> None:
    assert partner_state(record) == state
