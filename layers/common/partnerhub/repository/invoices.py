"""The partner-month invoice record, its Stripe pointer, and the partner's past-due standing kept in step.

Items (keys in ``keys.py``):

* ``PARTNER#{pid}`` / ``INVOICE#{YYYY-MM}``: the record. The month-end worker's progress (``step``, ``lines``,
  ``failure``) and the invoice as Stripe last showed it (``invoice_id``, ``status``, ``number``, amounts,
  ``past_due``...). ``version`` grows on every write; appliers of Stripe objects write conditionally on it.
* ``STRIPE_INVOICE#{in_id}`` / ``POINTER``: ``{partner_id, period}``, written in the same transaction that
  first puts the invoice id on the record, so a webhook or an API call finds the record from a Stripe id.

Every Stripe object goes through :meth:`DynamoInvoiceRepository.apply_stripe_invoice`, whatever brought
it (the worker, the pay route, a webhook), so the rules of ``domain.invoicing`` hold for all of them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from partnerhub import cursors
from partnerhub.clock import isoformat
from partnerhub.domain.invoicing import (
    DRAFT,
    NOTHING_TO_BILL,
    PAID,
    STATUSES,
    VOID,
    InvoiceRecord,
    StandingChange,
    Step,
    StripeState,
    is_past_due,
    later_step,
    standing_change,
    step_for_status,
    supersedes,
)
from partnerhub.domain.periods import Period
from partnerhub.errors import ValidationFailed
from partnerhub.observability import logger
from partnerhub.repository import keys
from partnerhub.repository.dynamo import (
    Item,
    TableRepository,
    batch_get,
    cancellation_reasons,
    deserialize,
    error_code,
    serialize,
)
from partnerhub.repository.partners import mark_past_due

_CONFLICT_RETRIES = 8
_RECORD_FIELDS = (
    "step",
    "invoice_id",
    "status",
    "number",
    "past_due",
    "total",
    "amount_due",
    "amount_paid",
    "currency",
    "due_date",
    "created",
    "attempt_count",
    "hosted_invoice_url",
    "invoice_pdf",
    "customer",
    "paid_at",
    "amount_remaining",
    "next_payment_attempt",
    "last_payment_error",
    "starting_balance",
    "carried_to_next",
    "finalized_at",
    "payments",
    "draft_requested",
    "failure",
    "key_generation",
    "version",
)


class ConcurrentUpdate(RuntimeError):
    """Another writer kept winning the record; the caller may retry later."""


@dataclass(frozen=True, slots=True)
class InvoicePage:
    items: list[InvoiceRecord]
    next_cursor: str | None


def record_from_item(item: Item) -> InvoiceRecord:
    step = item.get("step", Step.PENDING.value)
    return InvoiceRecord(
        partner_id=str(item["partner_id"]),
        period=str(item["period"]),
        step=Step(step),
        invoice_id=item.get("invoice_id"),
        status=item.get("status"),
        number=item.get("number"),
        past_due=bool(item.get("past_due", False)),
        total=int(item.get("total", 0)),
        amount_due=int(item.get("amount_due", 0)),
        amount_paid=int(item.get("amount_paid", 0)),
        currency=str(item.get("currency", "usd")),
        due_date=item.get("due_date"),
        created=item.get("created"),
        attempt_count=int(item.get("attempt_count", 0)),
        hosted_invoice_url=item.get("hosted_invoice_url"),
        invoice_pdf=item.get("invoice_pdf"),
        customer=item.get("customer"),
        paid_at=item.get("paid_at"),
        amount_remaining=int(item.get("amount_remaining", 0)),
        next_payment_attempt=item.get("next_payment_attempt"),
        last_payment_error=item.get("last_payment_error"),
        starting_balance=int(item.get("starting_balance", 0)),
        carried_to_next=int(item.get("carried_to_next", 0)),
        finalized_at=item.get("finalized_at"),
        payments=tuple(item.get("payments", ())),
        lines=tuple(item.get("lines", ())),
        draft_requested=bool(item.get("draft_requested", False)),
        failure=item.get("failure"),
        key_generation=int(item.get("key_generation", 0)),
        version=int(item.get("version", 0)),
    )


def _instant(epoch: Any) -> str | None:
    """Stripe's epoch seconds as the API's ISO 8601 spelling."""
    if epoch is None:
        return None
    return isoformat(datetime.fromtimestamp(int(epoch), UTC))


def _get(obj: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """Read a field of a Stripe object or of a plain dict (a webhook's ``data.object``)."""
    try:
        value = obj[name]
    except (KeyError, TypeError, AttributeError):
        return default
    return default if value is None else value


def last_payment_error(invoice: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{code, message, payment_method: {brand, last4}}`` of the invoice's latest failed attempt, from its
    PaymentIntents (``expand[]=payments.data.payment.payment_intent``); None when the last attempt did not fail."""
    payments = _get(_get(invoice, "payments", {}), "data", []) or []
    intents = [_get(_get(p, "payment", {}), "payment_intent") for p in payments]
    for intent in reversed([i for i in intents if isinstance(i, Mapping)]):
        error = _get(intent, "last_payment_error")
        if not error:
            continue
        card = _get(_get(error, "payment_method", {}), "card", {}) or {}
        method = {"brand": _get(card, "brand"), "last4": _get(card, "last4")} if card else None
        return {
            "code": str(_get(error, "code", "card_declined")),
            "message": str(_get(error, "message", "The payment failed.")),
            "payment_method": method,
        }
    return None


def invoice_payments(invoice: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The invoice's payments (Stripe's InvoicePayments, ``expand[]=payments.data.payment.payment_intent``) as the
    record keeps them, in Stripe's order: ``{id, status, amount_paid, amount_requested, created, paid_at,
    payment_method_id}``; None when the object does not show its payments."""
    listing = _get(invoice, "payments")
    if listing is None:
        return None
    kept = []
    for payment in _get(listing, "data", []) or []:
        intent = _get(_get(payment, "payment", {}), "payment_intent")
        method = _get(intent, "payment_method") if isinstance(intent, Mapping) else None
        if isinstance(method, Mapping):
            method = _get(method, "id")
        kept.append(
            {
                "id": str(_get(payment, "id")),
                "status": str(_get(payment, "status", "open")),
                "amount_paid": int(_get(payment, "amount_paid", 0)),
                "amount_requested": int(_get(payment, "amount_requested", 0)),
                "created": _instant(_get(payment, "created")),
                "paid_at": _instant(_get(_get(payment, "status_transitions", {}), "paid_at")),
                "payment_method_id": str(method) if method else None,
            }
        )
    return kept


def stripe_fields(invoice: Mapping[str, Any]) -> dict[str, Any]:
    """The record's view of a Stripe invoice object.

    ``due_date`` is Stripe's when it has one (``send_invoice``), else the moment the invoice was finalized:
    a ``charge_automatically`` invoice is due on issue and collected by Stripe's automatic attempt.
    ``carried_to_next`` is the positive ending balance: cents Stripe moved to the customer's balance because
    the amount due was under its minimum charge, which the next invoice takes as ``starting_balance``.
    ``last_payment_error`` and ``payments`` are left as they are when the object does not show its payments."""
    status = str(_get(invoice, "status", DRAFT))
    attempts = int(_get(invoice, "attempt_count", 0))
    transitions = _get(invoice, "status_transitions", {}) or {}
    finalized_at = _instant(_get(transitions, "finalized_at"))
    extra: dict[str, Any] = {}
    if status in (PAID, VOID) or status == DRAFT:
        extra["last_payment_error"] = None
    elif _get(invoice, "payments") is not None:
        extra["last_payment_error"] = last_payment_error(invoice)
    payments = invoice_payments(invoice)
    if payments is not None:
        extra["payments"] = payments
    return extra | {
        "invoice_id": str(invoice["id"]),
        "status": status,
        "number": _get(invoice, "number"),
        "past_due": is_past_due(status, attempts),
        "total": int(_get(invoice, "total", 0)),
        "amount_due": int(_get(invoice, "amount_due", 0)),
        "amount_paid": int(_get(invoice, "amount_paid", 0)),
        "currency": str(_get(invoice, "currency", "usd")),
        "due_date": _instant(_get(invoice, "due_date")) or finalized_at,
        "created": _instant(_get(invoice, "created")),
        "attempt_count": attempts,
        "hosted_invoice_url": _get(invoice, "hosted_invoice_url"),
        "invoice_pdf": _get(invoice, "invoice_pdf"),
        "customer": _customer_id(_get(invoice, "customer")),
        "paid_at": _instant(_get(transitions, "paid_at")),
        "amount_remaining": int(_get(invoice, "amount_remaining", 0)),
        "next_payment_attempt": _instant(_get(invoice, "next_payment_attempt")),
        "starting_balance": int(_get(invoice, "starting_balance", 0)),
        "carried_to_next": max(int(_get(invoice, "ending_balance", 0)), 0) if status != DRAFT else 0,
        "finalized_at": finalized_at,
    }


def _customer_id(customer: Any) -> str | None:
    if customer is None or isinstance(customer, str):
        return customer
    return str(_get(customer, "id")) if _get(customer, "id") else None


class DynamoInvoiceRepository(TableRepository):
    # ------------------------------------------------------------------ reads

    def record(self, partner_id: str, period: str) -> InvoiceRecord | None:
        """The partner-month record (consistent read), or None before the month-end flow touched it."""
        response = self._client.get_item(
            TableName=self._table, Key=self._record_key(partner_id, period), ConsistentRead=True
        )
        item = response.get("Item")
        return record_from_item(deserialize(item)) if item else None

    def records(self, period: str, partner_ids: list[str]) -> dict[str, InvoiceRecord]:
        """The records of many partners for one month (BatchGetItem, 100 keys a call), by partner id."""
        wanted = [self._record_key(pid, period) for pid in dict.fromkeys(partner_ids)]
        found = (record_from_item(item) for item in batch_get(self._client, self._table, wanted, ConsistentRead=True))
        return {record.partner_id: record for record in found}

    def find_by_stripe_id(self, invoice_id: str) -> InvoiceRecord | None:
        """The record of a Stripe invoice, through its pointer; None for an invoice this system never recorded."""
        pointer = self._pointer(invoice_id)
        if pointer is None:
            return None
        return self.record(pointer["partner_id"], pointer["period"])

    def get(self, partner_id: str, invoice_id: str) -> InvoiceRecord | None:
        """A partner's invoice by Stripe id; None when it does not exist or belongs to another partner."""
        pointer = self._pointer(invoice_id)
        if pointer is None or pointer["partner_id"] != partner_id:
            return None
        record = self.record(partner_id, pointer["period"])
        if record is None or record.invoice_id != invoice_id:
            return None
        return record

    def list_for_partner(
        self, partner_id: str, status: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> InvoicePage:
        """A partner's invoices, newest month first, from the partner's partition (months without an invoice
        are skipped). The cursor is the last month returned."""
        if status is not None and status not in STATUSES:
            raise ValidationFailed(
                "invalid status", details=[{"field": "status", "reason": f"one of {', '.join(STATUSES)}"}]
            )
        names = {"#status": "status"}
        attribute_values: dict[str, Any] = {
            ":pk": {"S": keys.partner_pk(partner_id)},
            ":prefix": {"S": keys.INVOICE_PREFIX},
            ":none": {"S": NOTHING_TO_BILL},
        }
        filter_ = "attribute_exists(invoice_id) AND #status <> :none"
        if status is not None:
            filter_ += " AND #status = :status"
            attribute_values[":status"] = {"S": status}
        start = _decode_cursor(cursor)
        after = {} if start is None else {"ExclusiveStartKey": self._record_key(partner_id, start)}
        newest_first = self._items(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            FilterExpression=filter_,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=attribute_values,
            ScanIndexForward=False,
            Limit=limit + 1,
            **after,
        )
        found = [record_from_item(item) for item in itertools.islice(newest_first, limit + 1)]
        if len(found) > limit:
            return InvoicePage(found[:limit], _encode_cursor(found[limit - 1].period))
        return InvoicePage(found, None)

    # ------------------------------------------------------------------ Stripe objects

    def apply_stripe_invoice(self, invoice: Mapping[str, Any]) -> InvoiceRecord | None:
        """Bring the record (and the partner's standing) up to this Stripe invoice, unless it is stale.

        The record is found through the pointer, else through ``metadata`` {partner_id, period}; an invoice
        known by neither is not ours: None, nothing written. The record, the pointer and the partner's
        ``past_due`` set change in one transaction, conditional on the record's version (retried on conflict).
        Returns the record as it stands afterwards.
        """
        invoice_id = str(invoice["id"])
        where = self._locate(invoice)
        if where is None:
            logger.info("stripe invoice not ours; ignored", extra={"invoice_id": invoice_id})
            return None
        partner_id, period = where
        fields = stripe_fields(invoice)
        incoming = StripeState(fields["status"], fields["attempt_count"])
        for _ in range(_CONFLICT_RETRIES):
            current = self.record(partner_id, period)
            if current is not None and current.invoice_id not in (None, invoice_id):
                logger.warning(
                    "stripe invoice names a partner-month that holds another invoice; ignored",
                    extra={"invoice_id": invoice_id, "partner_id": partner_id, "period": period},
                )
                return None
            if current is not None and not supersedes(current.stripe_state, incoming):
                return current
            try:
                self._write_applied(partner_id, period, current, fields)
            except ClientError as error:
                if _conflict(error):
                    continue
                raise
            return self.record(partner_id, period)
        raise ConcurrentUpdate(f"invoice {invoice_id}: the record kept changing under concurrent writers")

    def _locate(self, invoice: Mapping[str, Any]) -> tuple[str, str] | None:
        pointer = self._pointer(str(invoice["id"]))
        if pointer is not None:
            return str(pointer["partner_id"]), str(pointer["period"])
        metadata = _get(invoice, "metadata", {}) or {}
        partner_id, period = _get(metadata, "partner_id"), _get(metadata, "period")
        if not partner_id or not period:
            return None
        try:
            Period.parse(str(period))
        except ValueError:
            return None
        return str(partner_id), str(period)

    def _write_applied(
        self, partner_id: str, period: str, current: InvoiceRecord | None, fields: dict[str, Any]
    ) -> None:
        step = step_for_status(fields["status"])
        if current is not None:
            step = later_step(current.step, step)
        updates = {k: v for k, v in fields.items() if v is not None} | {
            "step": step.value,
            "partner_id": partner_id,
            "period": period,
        }
        removed = [k for k, v in fields.items() if v is None]
        names = {f"#{k}": k for k in updates} | {f"#{k}": k for k in removed} | {"#version": "version"}
        expression = "SET " + ", ".join(f"#{k} = :{k}" for k in updates) + " ADD #version :one"
        if removed:
            expression += " REMOVE " + ", ".join(f"#{k}" for k in removed)
        attribute_values = {f":{k}": v for k, v in serialize(updates).items()} | {":one": {"N": "1"}}
        record_update: dict[str, Any] = {
            "TableName": self._table,
            "Key": self._record_key(partner_id, period),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": attribute_values,
        }
        if current is None:
            record_update["ConditionExpression"] = "attribute_not_exists(PK)"
        else:
            record_update["ConditionExpression"] = "#version = :expected"
            attribute_values[":expected"] = {"N": str(current.version)}
        invoice_id = fields["invoice_id"]
        writes: list[dict[str, Any]] = [{"Update": record_update}]
        if current is None or current.invoice_id is None:
            writes.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": serialize(
                            {
                                "PK": keys.stripe_invoice_pk(invoice_id),
                                "SK": keys.POINTER,
                                "partner_id": partner_id,
                                "period": period,
                            }
                        ),
                    }
                }
            )
        change = standing_change(fields["status"], fields["attempt_count"])
        if change is not StandingChange.KEEP:
            writes.append(mark_past_due(self._table, partner_id, invoice_id, past_due=change is StandingChange.MARK))
        self._client.transact_write_items(TransactItems=writes)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ the worker's progress

    def start(self, partner_id: str, period: str) -> InvoiceRecord:
        """The partner-month record, created as ``pending`` when the flow first reaches it."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item=serialize(
                    {
                        **self._plain_key(partner_id, period),
                        "partner_id": partner_id,
                        "period": period,
                        "step": Step.PENDING.value,
                        "version": 1,
                    }
                ),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
        record = self.record(partner_id, period)
        assert record is not None
        return record

    def mark_draft_requested(self, partner_id: str, period: str, lines: list[dict[str, Any]]) -> None:
        """Before asking Stripe for the draft: from now on a draft may exist that the record does not name yet.
        The lines computed for the month are kept with it, so a resumed run bills exactly the same lines."""
        self._progress(partner_id, period, {"draft_requested": True, "lines": lines}, only_steps=(Step.PENDING,))

    def mark_itemized(self, partner_id: str, period: str) -> None:
        self._progress(partner_id, period, {"step": Step.ITEMIZED.value}, only_steps=(Step.DRAFTED, Step.ITEMIZED))

    def mark_nothing_to_bill(self, partner_id: str, period: str) -> None:
        self._progress(
            partner_id,
            period,
            {"step": Step.NOTHING_TO_BILL.value, "status": NOTHING_TO_BILL},
            only_steps=(Step.PENDING,),
        )

    def record_failure(self, partner_id: str, period: str, step: str, message: str, at: datetime) -> None:
        """Where a failed attempt stopped and why, for the operator reading the record."""
        self._progress(partner_id, period, {"failure": {"step": step, "error": message[:500], "at": isoformat(at)}})

    def next_key_generation(self, partner_id: str, period: str, seen: int) -> int:
        """Move the record's Stripe key generation from ``seen`` to ``seen + 1`` (conditional: a concurrent run
        that moved it first wins, and both then use its generation); the generation in force afterwards."""
        current = "key_generation = :seen"
        if seen == 0:  # a record from before key generations holds none: that is generation 0
            current = f"(attribute_not_exists(key_generation) OR {current})"
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._record_key(partner_id, period),
                UpdateExpression="SET key_generation = :next ADD version :one",
                ConditionExpression=f"attribute_exists(PK) AND {current}",
                ExpressionAttributeValues={
                    ":next": {"N": str(seen + 1)},
                    ":seen": {"N": str(seen)},
                    ":one": {"N": "1"},
                },
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
        record = self.record(partner_id, period)
        assert record is not None
        return record.key_generation

    def clear_failure(self, partner_id: str, period: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._record_key(partner_id, period),
                UpdateExpression="REMOVE failure ADD version :one",
                ConditionExpression="attribute_exists(failure)",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise

    def _progress(
        self, partner_id: str, period: str, updates: dict[str, Any], only_steps: tuple[Step, ...] = ()
    ) -> bool:
        names = {f"#{k}": k for k in updates} | {"#version": "version"}
        attribute_values = {f":{k}": v for k, v in serialize(updates).items()} | {":one": {"N": "1"}}
        params: dict[str, Any] = {
            "TableName": self._table,
            "Key": self._record_key(partner_id, period),
            "UpdateExpression": "SET " + ", ".join(f"#{k} = :{k}" for k in updates) + " ADD #version :one",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": attribute_values,
            "ConditionExpression": "attribute_exists(PK)",
        }
        if only_steps:
            names["#step"] = "step"
            allowed = [f":s{i}" for i in range(len(only_steps))]
            params["ConditionExpression"] += f" AND #step IN ({', '.join(allowed)})"
            attribute_values.update({f":s{i}": {"S": s.value} for i, s in enumerate(only_steps)})
        try:
            self._client.update_item(**params)
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # ------------------------------------------------------------------ keys

    def _pointer(self, invoice_id: str) -> Item | None:
        response = self._client.get_item(
            TableName=self._table,
            Key=serialize({"PK": keys.stripe_invoice_pk(invoice_id), "SK": keys.POINTER}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return deserialize(item) if item else None

    @staticmethod
    def _plain_key(partner_id: str, period: str) -> dict[str, str]:
        return {"PK": keys.partner_pk(partner_id), "SK": keys.invoice_sk(period)}

    def _record_key(self, partner_id: str, period: str) -> dict[str, Any]:
        return serialize(self._plain_key(partner_id, period))


def _conflict(error: ClientError) -> bool:
    code = error_code(error)
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = cancellation_reasons(error)
        return any(r.get("Code") in ("ConditionalCheckFailed", "TransactionConflict") for r in reasons) or not reasons
    return False


def _encode_cursor(period: str) -> str:
    return cursors.encode({"period": period})


def _decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    payload = cursors.decode(cursor)
    try:
        period = str(payload["period"])
        Period.parse(period)
    except (ValueError, KeyError) as error:
        raise cursors.invalid() from error
    return period
