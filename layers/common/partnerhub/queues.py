"""The queues on SQS: month-end's (the planner's request queue, the worker's queue and its dead-letter queue) and
webhooks' (the delivery queue, one message group per endpoint, and the wake-ups of the due index's sweep). Their
messages have one shape each, which sender and reader share (``domain.planning``: ``RunRequest``, ``PartnerMonth``;
``domain.webhook_deliveries``: ``DeliveryMessage``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from itertools import batched
from typing import Any

from partnerhub import retry
from partnerhub.domain.planning import BadMessage, PartnerMonth, RunRequest
from partnerhub.domain.webhook_deliveries import DeliveryMessage
from partnerhub.observability import logger

_PEEK_VISIBILITY_SECONDS = 5  # how long a looked-at dead letter stays hidden if releasing it fails
_PEEK_LIMIT = 1000  # dead letters looked at per call; a DLQ that deep is an incident, not a retry
_BATCH = 10  # SendMessageBatch takes at most ten entries
_SEND_ATTEMPTS = 5


class InvoiceQueue:
    """The worker's queue, as the planner fills it."""

    def __init__(self, sqs: Any, queue_url: str, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sqs = sqs
        self._url = queue_url
        self._sleep = sleep

    def send(self, messages: Iterable[PartnerMonth]) -> int:
        """Send every message, ten a batch; the count sent. Entries SQS refused are sent again (a few times)
        before the run fails."""
        sent = 0
        for batch in batched(messages, _BATCH, strict=False):
            self._send_batch(list(batch))
            sent += len(batch)
        return sent

    def _send_batch(self, messages: list[PartnerMonth]) -> None:
        entries = [{"MessageBody": m.body()} for m in messages]
        send_all(self._sqs, self._url, entries, "partner-month message(s)", self._sleep)


def send_all(sqs: Any, url: str, entries: list[dict[str, Any]], what: str, sleep: Callable[[float], None]) -> None:
    """Send up to ten entries in one batch; entries SQS refused are sent again (a few times) before it fails."""
    pending = {str(i): {"Id": str(i), **entry} for i, entry in enumerate(entries)}

    def send() -> list[dict[str, Any]]:
        nonlocal pending
        response = sqs.send_message_batch(QueueUrl=url, Entries=list(pending.values()))
        failed: list[dict[str, Any]] = response.get("Failed", [])
        if failed:
            logger.warning("some messages were not enqueued; retrying them", extra={"failed": failed})
            pending = {f["Id"]: pending[f["Id"]] for f in failed}
        return failed

    try:
        retry.on_partial_send(attempts=_SEND_ATTEMPTS, sleep=sleep)(send)
    except retry.Exhausted as exhausted:
        raise RuntimeError(f"could not enqueue {len(pending)} {what}") from exhausted


class InvoiceRunQueues:
    def __init__(self, sqs: Any, run_queue_url: str, invoice_queue_url: str, dead_letter_url: str) -> None:
        self._sqs = sqs
        self._run_queue_url = run_queue_url
        self._invoice_queue_url = invoice_queue_url
        self._dead_letter_url = dead_letter_url

    def request_run(self, period: str, started_by: str | None = None) -> None:
        """Ask the planner for ``period`` on behalf of ``started_by``: it is an SQS event source of the request
        queue, deployed and locally."""
        self._sqs.send_message(QueueUrl=self._run_queue_url, MessageBody=RunRequest(period, started_by).body())

    def dead_letters(self, period: str) -> list[str]:
        messages = self._receive_all()
        self._release(messages)
        return [partner for message in messages if (partner := _partner_of(message, period)) is not None]

    def redrive(self, period: str) -> list[str]:
        """Send ``period``'s dead letters to the worker's queue, then delete them from the dead-letter queue
        (a crash between the two sends a partner-month twice, which the worker's record makes harmless)."""
        messages = self._receive_all()
        ours = [m for m in messages if _partner_of(m, period) is not None]
        self._release([m for m in messages if _partner_of(m, period) is None])
        for start in range(0, len(ours), _BATCH):
            chunk = ours[start : start + _BATCH]
            sent = self._sqs.send_message_batch(
                QueueUrl=self._invoice_queue_url,
                Entries=[{"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(chunk)],
            )
            if sent.get("Failed"):
                self._release(chunk)
                raise RuntimeError(f"could not re-drive {len(sent['Failed'])} message(s) for {period}")
            self._sqs.delete_message_batch(
                QueueUrl=self._dead_letter_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        return [str(_partner_of(m, period)) for m in ours]

    def _receive_all(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while len(found) < _PEEK_LIMIT:
            batch = self._sqs.receive_message(
                QueueUrl=self._dead_letter_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=_PEEK_VISIBILITY_SECONDS,
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not batch:
                break
            found += batch
        return found

    def _release(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._dead_letter_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(messages[start : start + 10])
                ],
            )


def _partner_of(message: dict[str, Any], period: str) -> str | None:
    try:
        found = PartnerMonth.parse(str(message.get("Body", "")))
    except BadMessage:
        return None
    return found.partner_id if found.period == period else None


class WebhookDeliveryQueue:
    """The delivery queue (FIFO): one message per attempt, in the endpoint's message group, so one endpoint's
    backlog waits in its own group while every other endpoint's messages go on."""

    def __init__(self, sqs: Any, queue_url: str, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sqs = sqs
        self._url = queue_url
        self._sleep = sleep

    def send(self, messages: Sequence[DeliveryMessage]) -> None:
        for batch in batched(messages, _BATCH, strict=False):
            entries = [
                {
                    "MessageBody": m.body(),
                    "MessageGroupId": m.group,
                    "MessageDeduplicationId": m.deduplication_id,
                }
                for m in batch
            ]
            send_all(self._sqs, self._url, entries, "webhook delivery message(s)", self._sleep)


WAKE_BODY = '{"sweep": true}'
_MAX_DELAY_SECONDS = 900  # SQS's limit


class WebhookWakeQueue:
    """Wake-ups of the due index's sweep, for retries due sooner than its one-minute schedule would see them."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._url = queue_url

    def after(self, delay: timedelta) -> None:
        seconds = min(_MAX_DELAY_SECONDS, max(0, math.ceil(delay.total_seconds())))
        self._sqs.send_message(QueueUrl=self._url, MessageBody=WAKE_BODY, DelaySeconds=seconds)
