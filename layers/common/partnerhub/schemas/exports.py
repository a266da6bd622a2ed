"""The month's statement as CSV (``GET /v1/billing/export``): written as the licenses are read, in parts of a
bounded size, each a whole CSV file with its header row."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from partnerhub import cursors
from partnerhub.clock import isoformat
from partnerhub.domain.models import LICENSE_KEY
from partnerhub.domain.rebilling import StatementLine

COLUMNS = (
    "license_key",
    "product",
    "client",
    "tags",
    "site_id",
    "site_url",
    "issued_at",
    "revoked_at",
    "license_days",
    "daily_price",
    "monthly_price",
    "amount",
)
TAG_SEPARATOR = ";"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    """A label as a spreadsheet will show it: one that would start a formula gets a leading ``'``."""
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def _row(line: StatementLine) -> list[str | int]:
    license = line.license
    return [
        license.license_key,
        license.product,
        _text(line.client) if line.client is not None else "",
        _text(TAG_SEPARATOR.join(line.tags)),
        line.site_id or "",
        line.site_url or "",
        isoformat(license.issued_at),
        isoformat(license.revoked_at) if license.revoked_at else "",
        line.license_days,
        line.daily_price,
        line.monthly_price,
        line.amount,
    ]


@dataclass(frozen=True, slots=True)
class CsvPart:
    text: str
    rows: int
    last_license: str | None  # set when the part is full and more licenses may follow


def statement_csv(
    licenses: Iterable[tuple[str, list[StatementLine]]],
    max_bytes: int,
    out_of_time: Callable[[], bool] = lambda: False,
) -> CsvPart:
    """Header and rows, license by license, until the next license's rows would pass ``max_bytes`` (UTF-8) or
    ``out_of_time()`` says the invocation must answer now: then the part ends after the last whole license and
    says which one it was. Holds one part at most."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    size = len(out.getvalue().encode())
    rows = 0
    last: str | None = None
    for license_key, lines in licenses:
        chunk = io.StringIO()
        csv.writer(chunk, lineterminator="\r\n").writerows(_row(line) for line in lines)
        text = chunk.getvalue()
        length = len(text.encode())
        if last is not None and (size + length > max_bytes or out_of_time()):
            return CsvPart(out.getvalue(), rows, last)
        out.write(text)
        size += length
        rows += len(lines)
        last = license_key
    return CsvPart(out.getvalue(), rows, None)


def encode_cursor(period: str, group_by: str | None, after: str) -> str:
    return cursors.encode({"p": period, "g": group_by, "k": after})


def decode_cursor(cursor: str | None, period: str, group_by: str | None) -> str | None:
    """The license key a part ended with; 422 naming ``cursor`` unless it came from this very export."""
    if not cursor:
        return None
    reason = "not a cursor of this export"
    payload = cursors.decode(cursor, reason, "query")
    key = payload.get("k")
    if payload.get("p") != period or payload.get("g") != group_by or not isinstance(key, str):
        raise cursors.invalid(reason, "query")
    if not LICENSE_KEY.match(key):
        raise cursors.invalid(reason, "query")
    return key
