"""Month-end runs as operators see them, with in-memory fakes: the dry run's numbers (worked by hand), where each
partner-month stands, starting (only an ended month; the request and its audit entry) and retrying."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import pytest

from partnerhub import cursors
from partnerhub.clock import ManualClock
from partnerhub.domain.audit import AuditEntry
from partnerhub.domain.billing import BillableLicense, PriceVersion
from partnerhub.domain.invoice_runs import InvoiceRunService, RunPreview, partner_state
from partnerhub.domain.invoicing import InvoiceRecord, Step
from partnerhub.domain.models import Product
from partnerhub.domain.periods import Period
from partnerhub.errors import Conflict, ValidationFailed
from partnerhub.repository.billing import PartnerIdPage
from testkit.data import INVOICE_LINE

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


class Fakes:
    def __init__(self) -> None:
        self.partners = ["d", "c", "b", "a"]
        self.since: dict[str, datetime] = {}  # a partner's first license, when the registry says (else: always)
        self.pages: list[tuple[int, str | None]] = []  # (limit, cursor) of each registry page read
        self.record_reads: list[list[str]] = []  # the partner ids of each batch read of records
        self.license_reads: list[str] = []  # the partners whose month's licenses were read
        self.records: dict[str, InvoiceRecord] = {
            "a": InvoiceRecord(
                "a", "2026-03", step=Step.FINALIZED, status="open", invoice_id="in_a", total=495, lines=(INVOICE_LINE,)
            ),
        }
        self.requested: list[str] = []
        self.requested_by: list[str | None] = []
        self.started: list[AuditEntry] = []
        self.recorded: list[AuditEntry] = []
        self.dead: dict[str, list[str]] = {}

    # ports
    def billable(self, before: datetime) -> list[str]:
        """The registry's partners billable before ``before``, as the repository filters them."""
        return [p for p in self.partners if p not in self.since or self.since[p] < before]

    def partner_page(self, limit: int, cursor: str | None, before: datetime) -> PartnerIdPage:
        """The registry by id, as the repository pages it (the project's cursor codec, ``after`` an id)."""
        self.pages.append((limit, cursor))
        after = cursors.decode(cursor).get("after") if cursor else None
        if cursor and not isinstance(after, str):
            raise cursors.invalid()
        rest = [p for p in sorted(self.billable(before)) if after is None or p > after]
        page = rest[:limit]
        return PartnerIdPage(page, cursors.encode({"after": page[-1]}) if len(rest) > limit else None)

    def read_records(self, period: str, ids: list[str]) -> dict[str, InvoiceRecord]:
        self.record_reads.append(list(ids))
        return {pid: r for pid, r in self.records.items() if pid in ids and r.period == period}

    def licenses(self, partner_id: str, period: Period) -> Iterable[BillableLicense]:
        self.license_reads.append(partner_id)
        return LICENSES.get(partner_id, [])

    def request_run(self, period: str, started_by: str | None = None) -> None:
        self.requested.append(period)
        self.requested_by.append(started_by)

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
        partners=fakes.billable,
        partner_page=fakes.partner_page,
        records=fakes.read_records,
        licenses=fakes.licenses,
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
    assert preview.next_cursor is None


def every_page(run: InvoiceRunService, period: str, limit: int) -> list[RunPreview]:
    pages = [run.preview(period, limit)]
    while pages[-1].next_cursor is not None:
        pages.append(run.preview(period, limit, pages[-1].next_cursor))
    return pages


def mixed_month(fakes: Fakes) -> None:
    """Seven partners in every state: a invoiced, b and c to invoice, d and g with nothing in March, e whose
    month was closed with nothing to bill, f started (its lines stored) but not finished."""
    fakes.partners = ["g", "f", "e", "d", "c", "b", "a"]
    fakes.records["e"] = InvoiceRecord("e", "2026-03", step=Step.NOTHING_TO_BILL)
    fakes.records["f"] = InvoiceRecord("f", "2026-03", step=Step.DRAFTED, invoice_id="in_f", lines=(INVOICE_LINE,))


def test_the_dry_run_pages_add_up_to_the_whole_month(fakes: Fakes, clock: ManualClock) -> None:
    mixed_month(fakes)
    run = service(fakes, clock)
    whole = run.preview("2026-03", 500)
    assert whole.next_cursor is None

    pages = every_page(run, "2026-03", 2)

    assert [len(p.partners) for p in pages] == [2, 2, 2, 1]
    assert [p for page in pages for p in page.partners] == list(whole.partners)
    assert [p.partner_id for p in whole.partners] == ["a", "b", "c", "d", "e", "f", "g"]
    assert [p.state for p in whole.partners] == [
        "already_invoiced",
        "would_invoice",
        "would_invoice",
        "nothing_to_bill",
        "nothing_to_bill",
        "would_invoice",
        "nothing_to_bill",
    ]
    # Each page's sums are its own partners'; over every page they are the month's
    for page in pages:
        assert page.total == sum(p.total for p in page.partners)
        assert page.to_invoice == sum(p.total for p in page.partners if p.state == "would_invoice")
    assert sum(p.total for p in pages) == whole.total == 495 + 663 + 204 + 495
    assert sum(p.to_invoice for p in pages) == whole.to_invoice == 663 + 204 + 495


def test_a_dry_run_page_reads_only_its_own_partners(fakes: Fakes, clock: ManualClock) -> None:
    mixed_month(fakes)
    run = service(fakes, clock)
    first = run.preview("2026-03", 2)
    for reads in (fakes.pages, fakes.record_reads, fakes.license_reads):
        reads.clear()

    second = run.preview("2026-03", 2, first.next_cursor)

    assert [p.partner_id for p in second.partners] == ["c", "d"]
    assert fakes.pages == [(2, first.next_cursor)]  # one page of the registry, of the page's size
    assert fakes.record_reads == [["c", "d"]]  # one batch read of the page's records
    assert fakes.license_reads == ["c", "d"]  # and the licenses of those not done, nobody else's


@pytest.mark.parametrize("limit", [0, -1, 501])
def test_a_dry_run_page_size_out_of_bounds_is_refused_naming_limit(
    fakes: Fakes, clock: ManualClock, limit: int
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        service(fakes, clock).preview("2026-03", limit)
    assert [d["field"] for d in refused.value.details] == ["limit"]
    assert fakes.pages == fakes.record_reads == fakes.license_reads == []


@pytest.mark.parametrize("cursor", ["not-a-cursor!", cursors.encode({"sk": "x"}), cursors.encode({"after": 3})])
def test_a_cursor_not_of_the_dry_run_is_refused_and_reads_nothing_else(
    fakes: Fakes, clock: ManualClock, cursor: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        service(fakes, clock).preview("2026-03", 2, cursor)
    assert [d["field"] for d in refused.value.details] == ["cursor"]
    assert fakes.record_reads == fakes.license_reads == []
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
    assert fakes.requested_by == ["operator:op"]  # the planner's request names who asked
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


def test_a_partner_that_started_after_the_month_counts_nowhere_in_it(fakes: Fakes, clock: ManualClock) -> None:
    # Given March invoiced for a, with nothing to bill for d; and e, whose first license was issued on 2 April
    fakes.records["b"] = InvoiceRecord("b", "2026-03", step=Step.FINALIZED, status="open", invoice_id="in_b")
    fakes.records["c"] = InvoiceRecord("c", "2026-03", step=Step.FINALIZED, status="open", invoice_id="in_c")
    fakes.records["d"] = InvoiceRecord("d", "2026-03", step=Step.NOTHING_TO_BILL)
    fakes.partners.append("e")
    fakes.since = {"e": datetime(2026, 4, 2, 9, tzinfo=UTC), "b": datetime(2026, 3, 31, 23, 59, tzinfo=UTC)}
    run = service(fakes, clock)

    # When the operator reads the month's progress and its dry run
    progress = run.progress("2026-03")
    preview = run.preview("2026-03")

    # Then e is in neither (not pending in one and "nothing to bill" in the other), b (since 31 March) is in both
    assert [p.partner_id for p in preview.partners] == ["a", "b", "c", "d"]
    states = [p.state for p in preview.partners]
    assert states == ["already_invoiced", "already_invoiced", "already_invoiced", "nothing_to_bill"]
    assert (progress.planned, progress.invoiced, progress.nothing_to_bill, progress.pending) == (4, 3, 1, 0)
    # And April, which e started in, counts it
    assert "e" in fakes.billable(Period.parse("2026-04").end)


def test_progress_names_the_months_last_plan(fakes: Fakes, clock: ManualClock) -> None:
    class Planned(RunLog):
        def run(self, period: str) -> Mapping[str, Any] | None:
            return {
                "started_at": "2026-04-01T00:15:00Z",
                "started_by": "schedule",
                "last_planned_at": "2026-04-01T00:15:00Z",
                "last_planned_by": "operator:op",
                "last_started_by": "operator:op",
                "last_started_by_name": "op@agency.example",
                "planned_partners": 4,
            }

    run = InvoiceRunService(
        partners=fakes.billable,
        partner_page=fakes.partner_page,
        records=fakes.read_records,
        licenses=fakes.licenses,
        catalog=lambda: ([BACKUP, SCAN], PRICES),
        runs=Planned(fakes),
        queues=fakes,
        audit_log=fakes,
        clock=clock,
    )

    progress = run.progress("2026-03")

    assert (progress.started_by, progress.last_planned_by, progress.planned_partners) == ("schedule", "operator:op", 4)
    assert progress.last_planned_by_name == "op@agency.example"


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
