"""The CSV statement's parts: whole licenses, a header in each part, a size and a time budget, safe labels."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from partnerhub.domain.models import License, Source
from partnerhub.domain.rebilling import StatementLine
from partnerhub.errors import ValidationFailed
from partnerhub.schemas.exports import COLUMNS, decode_cursor, encode_cursor, statement_csv

ISSUED = datetime(2029, 2, 1, 8, tzinfo=UTC)


def line(key: str, client: str | None = "Bakery", site: str | None = "shop", amount: int = 100) -> StatementLine:
    license = License(
        partner_id="agency-1",
        license_key=f"jetpack-backup_{key:A<24}",
        product="jetpack-backup",
        product_name="Backup",
        source=Source.PORTAL,
        issued_at=ISSUED,
        issued_by="user:ann",
        version=1,
    )
    return StatementLine(
        license, client, ("q1", "retainer"), site, f"https://{site}.example" if site else None, 5, 17, 495, amount
    )


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_a_part_holds_whole_licenses_and_names_the_last_one() -> None:
    licenses = [(f"k{i}", [line(f"k{i}"), line(f"k{i}", site=None)]) for i in range(5)]
    one_license = len(statement_csv(licenses[:1], 10**6).text.encode())

    # room for two headers and two licenses: one header and two licenses fit, a third license (longer than a
    # header) does not
    part = statement_csv(iter(licenses), max_bytes=one_license * 2)

    assert (part.rows, part.last_license) == (4, "k1")
    assert part.text.startswith(",".join(COLUMNS) + "\r\n")
    assert [r["license_key"][:17] for r in rows(part.text)] == ["jetpack-backup_k0"] * 2 + ["jetpack-backup_k1"] * 2
    everything = statement_csv(iter(licenses), max_bytes=10**6)
    assert everything.last_license is None and everything.rows == 10


def test_a_part_ends_early_when_the_invocation_runs_out_of_time() -> None:
    licenses = [(f"k{i}", [line(f"k{i}")]) for i in range(3)]
    calls = iter([False, True])

    part = statement_csv(iter(licenses), 10**6, out_of_time=lambda: next(calls))

    assert (part.rows, part.last_license) == (2, "k1")


def test_a_label_a_spreadsheet_would_run_is_quoted() -> None:
    part = statement_csv([("k", [line("k", client="=HYPERLINK(1)")])], 10**6)
    [row] = rows(part.text)
    assert row["client"] == "'=HYPERLINK(1)" and row["tags"] == "q1;retainer" and row["issued_at"].endswith("Z")


def test_a_cursor_only_continues_its_own_export() -> None:
    key = "jetpack-backup_" + "A" * 24
    cursor = encode_cursor("2029-02", "site", key)
    assert decode_cursor(cursor, "2029-02", "site") == key
    for period, group in (("2029-03", "site"), ("2029-02", None)):
        with pytest.raises(ValidationFailed):
            decode_cursor(cursor, period, group)
    with pytest.raises(ValidationFailed):
        decode_cursor("bm90LWpzb24", "2029-02", None)
