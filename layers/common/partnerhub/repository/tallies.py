"""The billing tally items: their attribute names, and every write of them.

This module owns the tally records (``docs/billing.md``): the license commands add their pieces to their own
transactions through :func:`tally_updates`, the migration rebuilds them with :class:`DynamoTallyRepository`,
and the estimate reads them through :func:`month_tally` and :func:`running_tallies` (``repository/billing.py``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from partnerhub.domain.periods import Period
from partnerhub.domain.tallies import MonthTally, RunningTally, TallyChange, tallies_of
from partnerhub.repository import keys
from partnerhub.repository.dynamo import TableRepository, deserialize, error_code, serialize, stamp, unstamp, values

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


def tally_updates(table: str, partner_id: str, change: TallyChange) -> list[dict[str, Any]]:
    """A portal license event's pieces of its command's transaction: the month's and the running tallies."""
    pk = keys.partner_pk(partner_id)
    month_adds: dict[str, int] = {}
    if change.issued:
        month_adds[tally_issued_name(change.issued_day)] = change.issued
    if change.revoked:
        month_adds[tally_revoked_name(*change.revoked_days)] = change.revoked
    if change.assigned:
        month_adds["assigned"] = change.assigned
    month_sets: dict[str, Any] = {"tally_period": str(change.period), "tally_product": change.product}
    if change.issued:
        assert change.issued_at is not None
        month_sets["last_issued_at"] = stamp(change.issued_at)
    running_adds = {
        name: value
        for name, value in (
            (tally_open_name(change.product), change.opened),
            (tally_assigned_name(change.product), change.assigned),
            ("writes", 1),
        )
        if value
    }
    month_key = keys.month_tally_sk(str(change.period), change.product)
    return [
        _update(table, pk, month_key, sets=month_sets, adds=month_adds),
        _update(table, pk, keys.RUNNING_TALLY, sets={"partner_id": partner_id}, adds=running_adds),
    ]


def _update(table: str, pk: str, sk: str, *, sets: dict[str, Any], adds: dict[str, int]) -> dict[str, Any]:
    """An unconditional UpdateItem: ``SET`` the given attributes, ``ADD`` the given increments."""
    names: dict[str, str] = {}
    vals: dict[str, Any] = {}
    clauses = []
    for verb, attrs in (("SET", sets), ("ADD", adds)):
        parts = []
        for attr, value in attrs.items():
            n = len(names)
            names[f"#a{n}"] = attr
            vals[f"a{n}"] = value
            parts.append(f"#a{n} = :a{n}" if verb == "SET" else f"#a{n} :a{n}")
        if parts:
            clauses.append(f"{verb} {', '.join(parts)}")
    return {
        "Update": {
            "TableName": table,
            "Key": serialize({"PK": pk, "SK": sk}),
            "UpdateExpression": " ".join(clauses),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values(**vals),
        }
    }


class TalliesMoved(Exception):
    """A command changed the partner's tallies while they were being rebuilt: rebuild again."""


class DynamoTallyRepository(TableRepository):
    def rebuild(self, partner_id: str) -> int:
        """Recompute the partner's tallies from its portal licenses and their history; the items written.

        The migration for licenses issued before the tallies existed, safe to re-run. The running tally
        is written last, only if no command touched the tallies since they were read (every command
        adds 1 to its ``writes``); otherwise :class:`TalliesMoved` and the caller runs it again.
        """
        pk = keys.partner_pk(partner_id)
        head = self._client.get_item(
            TableName=self._table, Key=serialize({"PK": pk, "SK": keys.RUNNING_TALLY}), ConsistentRead=True
        ).get("Item")
        seen = int(deserialize(head).get("writes", 0)) if head else None
        lives: list[tuple[str, datetime, list[tuple[str, datetime]]]] = []
        history: list[tuple[str, datetime]] | None = None  # of the portal license just read, if any
        for item in self._prefixed(pk, keys.license_sk("")):
            kind = item.get("type")
            if kind == "license":
                history = None
                if item.get("source", "portal") == "portal":
                    history = []
                    lives.append((item["product"], _instant(item["issued_at"]), history))
            elif kind == "history" and history is not None:
                # A license's history items sort right after it (``keys.history_sk``).
                history.append((item["event"], _instant(item["at"])))
        stale = {item["SK"] for item in self._prefixed(pk, keys.TALLY_PREFIX) if item["SK"] != keys.RUNNING_TALLY}
        months, running = tallies_of(lives)
        puts: list[dict[str, Any]] = []
        for period, products in months.items():
            for product, tally in products.items():
                sk = keys.month_tally_sk(str(period), product)
                stale.discard(sk)
                puts.append(
                    {"Put": {"TableName": self._table, "Item": serialize(month_item(pk, sk, period, product, tally))}}
                )
        deletes = [{"Delete": {"TableName": self._table, "Key": serialize({"PK": pk, "SK": sk})}} for sk in stale]
        writes = [*puts, *deletes]
        for start in range(0, len(writes), 100):
            self._client.transact_write_items(TransactItems=writes[start : start + 100])  # type: ignore[arg-type]
        final = running_item(partner_id, running, writes=(seen or 0) + 1)
        condition = "attribute_not_exists(PK)" if seen is None else "writes = :seen"
        params: dict[str, Any] = {"TableName": self._table, "Item": serialize(final), "ConditionExpression": condition}
        if seen is not None:
            params["ExpressionAttributeValues"] = values(seen=seen)
        try:
            self._client.put_item(**params)
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                raise TalliesMoved(partner_id) from error
            raise
        return len(writes) + 1

    def _prefixed(self, pk: str, prefix: str) -> Any:
        return self._items(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues=values(pk=pk, prefix=prefix),
            ConsistentRead=True,
        )


def _instant(text: str) -> datetime:
    instant = unstamp(text)
    assert instant is not None
    return instant
