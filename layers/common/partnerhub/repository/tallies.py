"""The billing tally items' attributes: one place for their names, shared by the commands that keep them
(``repository/licenses.py``) and the reads (``repository/billing.py``). See ``docs/billing.md``."""

from __future__ import annotations

import re
from typing import Any

from partnerhub.domain.periods import Period
from partnerhub.domain.tallies import MonthTally, RunningTally
from partnerhub.repository import keys
from partnerhub.repository.dynamo import stamp, unstamp

_ISSUED = re.compile(r"^i#([0-9]{2})$")
_REVOKED = re.compile(r"^r#([0-9]{2})#([0-9]{2})$")


def tally_issued_name(day: int) -> str:
    """Month tally: licenses issued on ``day``."""
    return f"i#{day:02d}"


def tally_revoked_name(first: int, last: int) -> str:
    """Month tally: licenses revoked this month, active from day ``first`` to day ``last``."""
    return f"r#{first:02d}#{last:02d}"


def tally_open_name(product: str) -> str:
    """Running tally: open licenses of ``product``."""
    return f"o#{product}"


def tally_assigned_name(product: str) -> str:
    """Running tally: assigned open licenses of ``product``."""
    return f"a#{product}"


def month_item(pk: str, sk: str, period: Period, product: str, tally: MonthTally) -> dict[str, Any]:
    item: dict[str, Any] = {"PK": pk, "SK": sk, "tally_period": str(period), "tally_product": product}
    item["assigned"] = tally.assigned
    item["last_issued_at"] = stamp(tally.last_issued_at) if tally.last_issued_at else None
    item |= {tally_issued_name(day): n for day, n in tally.issued.items()}
    item |= {tally_revoked_name(first, last): n for (first, last), n in tally.revoked.items()}
    return item


def running_item(partner_id: str, running: dict[str, RunningTally], *, writes: int) -> dict[str, Any]:
    """The partner's running tally as the rebuild writes it: open and assigned licenses per product, and the
    count of commands that have written the tallies (``writes``)."""
    item: dict[str, Any] = {
        "PK": keys.partner_pk(partner_id),
        "SK": keys.RUNNING_TALLY,
        "partner_id": partner_id,
        "writes": writes,
    }
    for product, run in running.items():
        item[tally_open_name(product)] = run.open
        item[tally_assigned_name(product)] = run.assigned
    return item


def month_tally(item: dict[str, Any]) -> MonthTally:
    tally = MonthTally(assigned=int(item.get("assigned", 0)), last_issued_at=unstamp(item.get("last_issued_at")))
    for name, value in item.items():
        if match := _ISSUED.match(name):
            tally.issued[int(match[1])] = int(value)
        elif match := _REVOKED.match(name):
            tally.revoked[int(match[1]), int(match[2])] = int(value)
    return tally


def running_tallies(item: dict[str, Any]) -> dict[str, RunningTally]:
    running: dict[str, RunningTally] = {}
    for name, value in item.items():
        kind, _, product = name.partition("#")
        if kind == "o" and product:
            running.setdefault(product, RunningTally()).open = int(value)
        elif kind == "a" and product:
            running.setdefault(product, RunningTally()).assigned = int(value)
    return running
