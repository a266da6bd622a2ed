"""The month-end queues as operators use them: the planner's request queue, the worker's queue and its
dead-letter queue. Messages are the planner's own (``{"period"}``) and the worker's (``{"partner_id", "period"}``).
"""

from __future__ import annotations

import json
from typing import Any

_PEEK_VISIBILITY_SECONDS = 5  # how long a looked-at dead letter stays hidden if releasing it fails
_PEEK_LIMIT = 1000  # dead letters looked at per call; a DLQ that deep is an incident, not a retry


class InvoiceRunQueues:
    def __init__(self, sqs: Any, run_queue_url: str, invoice_queue_url: str, dead_letter_url: str) -> None:
        self._sqs = sqs
        self._run_queue_url = run_queue_url
        self._invoice_queue_url = invoice_queue_url
        self._dead_letter_url = dead_letter_url

    def request_run(self, period: str) -> None:
        """Ask the planner for ``period``: it is an SQS event source of the request queue, deployed and locally."""
        self._sqs.send_message(QueueUrl=self._run_queue_url, MessageBody=json.dumps({"period": period}))

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
        for start in range(0, len(ours), 10):
            chunk = ours[start : start + 10]
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
        body = json.loads(message.get("Body", ""))
        if body.get("period") == period and isinstance(body.get("partner_id"), str):
            return str(body["partner_id"])
    except (ValueError, AttributeError):
        pass
    return None
