"""Month-end invoicing end to end in-process: the planner and the worker against moto and the Stripe emulator.

A month in which partners issue, transfer and revoke licenses gives exactly one invoice per partner whose lines
equal the billing engine's; re-runs, duplicate messages, a crash after any step (also once Stripe's idempotency
keys expired) and Stripe faults never give a second invoice or a duplicate line. A webhook for an invoice the
table does not name yet is acknowledged without effect, and the resumed run records it as Stripe shows it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
import stripe
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from stripe import WebhookSignature

from local.resources import LocalResources
from local.stack import LAUNCH_COLLECTION_SETTINGS
from local.stripe_emulator import Emulator, RunningServer, serve
from partnerhub import clients
from partnerhub.clock import ManualClock
from partnerhub.domain.invoicing import PeriodNotEnded
from partnerhub.payments.client import STRIPE_API_VERSION, StripeConnection
from partnerhub.payments.invoicing import StripeInvoices
from partnerhub.repository import keys
from partnerhub.repository.invoices import DynamoInvoiceRepository
from testkit.events import load_event
from testkit.partners import SeededPartners

PERIOD = "2026-10"
MONTH_END = datetime(2026, 11, 1, 0, 15, tzinfo=UTC)


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 10, day, hour, tzinfo=UTC)


# What busy_partner's October 2026 comes to, worked by hand from the seeded catalog: October has 31 days;
# Backup is 17¢ a day capped at 495¢ a month per license, Scan 14¢ a day capped at 395¢. A day counts once
# the license was active during it.
BUSY_OCTOBER = [
    # Three Backups from 1 Oct 00:00: two run all month (31 days, 527¢ capped to 495¢ each); one is revoked
    # on 10 Oct 15:00 (days 1-10: 170¢).
    ("jetpack-backup", 3, 31 + 10 + 31, 495 + 170 + 495),
    # One Scan from 20 Oct 23:00 to 25 Oct 09:00: days 20-25, 6 days at 14¢.
    ("jetpack-scan", 1, 6, 6 * 14),
]


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def emulator(clock: ManualClock) -> Iterator[Emulator]:
    emulator = Emulator(clock, webhook_url=None, seed=11)
    # Collected as the production account is set up (docs/invoicing.md, "Before launch")
    emulator.configure_collection(**LAUNCH_COLLECTION_SETTINGS)
    yield emulator
    emulator.close()


@pytest.fixture(scope="module")
def stripe_server(emulator: Emulator) -> Iterator[RunningServer]:
    running = serve(emulator, "127.0.0.1", 0)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def sdk(stripe_server: RunningServer) -> Iterator[stripe.StripeClient]:
    """The official SDK pointed at the emulator: the test's own hands in Stripe."""
    url = stripe_server.url
    client = stripe.StripeClient(
        "sk_test_local",
        base_addresses={"api": url, "files": url, "connect": url},
        max_network_retries=0,
        stripe_version=STRIPE_API_VERSION,
    )
    yield client


@pytest.fixture(scope="module")
def stripe_connection(stripe_server: RunningServer) -> StripeConnection:
    """The functions' way to Stripe: the emulator."""
    return StripeConnection(lambda _fresh: "sk_test_local", stripe_server.url, timeout=(5.0, 30.0))


@pytest.fixture(scope="module")
def stack(aws: LocalResources, sdk: stripe.StripeClient) -> LocalResources:
    os.environ["STRIPE_SECRET_PARAM"] = "/partnerhub/stripe/secret-key"
    os.environ["INVOICE_QUEUE_URL"] = aws.queue_urls["InvoiceQueue"]
    return aws


@pytest.fixture(autouse=True)
def _calm(emulator: Emulator, clock: ManualClock) -> Iterator[None]:
    emulator.clear_faults()
    clock.set(at(1, 0))
    yield
    emulator.clear_faults()


class Month:
    """Drives a month: partners with cards, license commands at chosen instants, and the month-end run."""

    STRIPE_FUNCTIONS = frozenset({"invoices", "invoice_worker", "payment_methods", "webhooks"})

    def __init__(
        self,
        function: Callable[..., Any],
        sdk: stripe.StripeClient,
        clock: ManualClock,
        aws: Any,
        stripe: StripeConnection,
        emulator: Emulator | None = None,
    ) -> None:
        self._function = function
        self._stripe = stripe
        self.emulator = emulator
        self.sdk = sdk
        self.clock = clock
        self.aws = aws
        self.table = os.environ["TABLE_NAME"]
        self.partners = SeededPartners(self.table, clients.dynamodb())
        self.invoices = DynamoInvoiceRepository(self.table, clients.dynamodb())
        self.sqs = __import__("boto3").client("sqs")
        self.queue = aws.queue_urls["InvoiceQueue"]
        self.busy: set[str] = set()  # the partners busy_partner made

    def function(self, name: str) -> Any:
        """The function built with the session clock, and the emulator for those that talk to Stripe."""
        if name in self.STRIPE_FUNCTIONS:
            return self._function(name, stripe=self._stripe)
        return self._function(name)

    def partner(self, card: str = "pm_card_visa") -> str:
        """A partner with a Stripe customer whose default (and primary) card is ``card``."""
        partner_id = f"agency-{uuid.uuid4().hex[:12]}"
        customer = self.sdk.v1.customers.create({"metadata": {"partner_id": partner_id}})
        self.partners.claim_stripe_customer(partner_id, customer.id)
        self.use_card(partner_id, card)
        return partner_id

    def use_card(self, partner_id: str, card: str) -> str:
        customer = self.partners.stripe_customer_id(partner_id)
        assert customer is not None
        pm = self.sdk.v1.payment_methods.attach(card, {"customer": customer})
        self.sdk.v1.customers.update(customer, {"invoice_settings": {"default_payment_method": pm.id}})
        self.partners.set_has_payment_method(partner_id, True)
        __import__("boto3").client("dynamodb").update_item(
            TableName=self.table,
            Key={"PK": {"S": keys.partner_pk(partner_id)}, "SK": {"S": keys.PROFILE}},
            UpdateExpression="SET primary_card = :pm",
            ExpressionAttributeValues={":pm": {"S": pm.id}},
        )
        return str(pm.id)

    def customer(self, partner_id: str) -> str:
        customer = self.partners.stripe_customer_id(partner_id)
        assert customer is not None
        return customer

    # license commands, each at its own instant
    def issue(self, partner_id: str, product: str, quantity: int, when: datetime) -> list[str]:
        self.clock.set(when)
        reply = self.function("licenses")(
            load_event(
                "licenses/issue",
                partner_id=partner_id,
                body={"product": product, "quantity": quantity},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
        )
        assert reply.status == 201, reply.body
        return [item["license_key"] for item in reply.body["items"]]

    def assign(self, partner_id: str, license_key: str, site: str, when: datetime) -> None:
        self.clock.set(when)
        body = {"site_id": site, "site_url": f"https://{site}.example"}
        event = load_event(
            "licenses/assign",
            partner_id=partner_id,
            body=body,
            path={"license_key": license_key},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        reply = self.function("licenses")(event)
        assert reply.status == 200, reply.body

    def revoke(self, partner_id: str, license_key: str, when: datetime) -> None:
        self.clock.set(when)
        event = load_event(
            "licenses/revoke",
            partner_id=partner_id,
            path={"license_key": license_key},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        reply = self.function("licenses")(event)
        assert reply.status == 200, reply.body

    # the month-end run
    def plan(self, period: str | None = PERIOD) -> dict[str, Any]:
        self.clock.set(max(self.clock.now(), MONTH_END))
        event = {} if period is None else {"period": period}
        result: dict[str, Any] = self.function("invoice_planner").built.handler(event, _context())
        return result

    def drain(self, max_rounds: int = 20, *, until_empty: bool = True) -> dict[str, int]:
        """Feed the queue to the worker as the SQS poller does, until it is empty; after five receives a
        message counts as dead-lettered (and is removed, as the redrive policy would)."""
        worker = self.function("invoice_worker").built
        stats = {"succeeded": 0, "failed": 0, "dead_lettered": 0}
        for _ in range(max_rounds):
            received = self.sqs.receive_message(
                QueueUrl=self.queue, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=30
            ).get("Messages", [])
            if not received:
                return stats
            event = {"Records": [_sqs_record(m, self.aws.queue_arns["InvoiceQueue"]) for m in received]}
            try:
                result = worker.handler(event, _context())
                failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
            except BatchProcessingError:  # every record failed: Lambda returns the whole batch to the queue
                failed = {m["MessageId"] for m in received}
            for message in received:
                receives = int(message["Attributes"]["ApproximateReceiveCount"])
                if message["MessageId"] in failed and receives < 5:
                    stats["failed"] += 1
                    self.sqs.change_message_visibility(
                        QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
                    continue
                stats["dead_lettered" if message["MessageId"] in failed else "succeeded"] += 1
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
        if until_empty:
            raise AssertionError("the queue did not drain")
        return stats

    def send(self, partner_id: str, period: str = PERIOD) -> None:
        self.sqs.send_message(QueueUrl=self.queue, MessageBody=json.dumps({"partner_id": partner_id, "period": period}))

    def run(self, period: str = PERIOD) -> dict[str, int]:
        self.plan(period)
        return self.drain()

    def collect(self, *partner_ids: str, after: timedelta = timedelta(hours=1)) -> None:
        """Time passes until Stripe's automatic attempt (an hour after finalizing) has run; each partner's
        record is then brought to Stripe's state, as the ``invoice.*`` webhook that follows does."""
        assert self.emulator is not None
        self.clock.advance(after)
        self.emulator.collect_due()
        for partner_id in partner_ids:
            self.settle(partner_id)

    def settle(self, partner_id: str, period: str = PERIOD) -> Any:
        from partnerhub.payments.invoicing import StripeInvoices

        record = self.invoices.record(partner_id, period)
        assert record is not None and record.invoice_id
        return self.invoices.apply_stripe_invoice(StripeInvoices(self._stripe).retrieve(record.invoice_id))

    # what came out
    def stripe_invoices(self, partner_id: str) -> list[Any]:
        return list(self.sdk.v1.invoices.list({"customer": self.customer(partner_id), "limit": 100}).data)

    def stripe_items(self, partner_id: str) -> list[Any]:
        return list(self.sdk.v1.invoice_items.list({"customer": self.customer(partner_id), "limit": 100}).data)

    def expected_lines(self, partner_id: str, period: str = PERIOD) -> list[tuple[str, int, int, int]]:
        """The invoice lines of a partner made by :func:`busy_partner`, worked by hand (``BUSY_OCTOBER``)."""
        assert partner_id in self.busy and period == PERIOD, "only busy_partner's October is worked by hand"
        return list(BUSY_OCTOBER)

    def assert_one_correct_invoice(self, partner_id: str) -> Any:
        invoices = self.stripe_invoices(partner_id)
        assert len(invoices) == 1, [i.id for i in invoices]
        invoice = invoices[0]
        lines = list(self.sdk.v1.invoices.line_items.list(invoice.id, {"limit": 100}).data)
        on_stripe = sorted(
            (m["product"], int(m["licenses"]), int(m["license_days"]), line.amount)
            for line in lines
            for m in [line.metadata.to_dict()]
        )
        expected = self.expected_lines(partner_id)
        assert on_stripe == expected
        assert len(self.stripe_items(partner_id)) == len(expected)
        # Stripe's automatic attempt may have run meanwhile; its webhook brings the record up to date
        record = self.settle(partner_id)
        assert record is not None and record.invoice_id == invoice.id and record.step == "finalized"
        assert [(ln["product"], ln["licenses"], ln["license_days"], ln["amount"]) for ln in record.lines] == expected
        assert record.status == invoice.status and record.total == sum(line[3] for line in expected)
        return invoice


def _context() -> Any:
    from local.events import LambdaContext

    return LambdaContext("test-invoicing", timeout_seconds=60)


def _sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }


@pytest.fixture
def month(
    function: Callable[..., Any],
    sdk: stripe.StripeClient,
    clock: ManualClock,
    stack: LocalResources,
    stripe_connection: StripeConnection,
    emulator: Emulator,
) -> Month:
    month = Month(function, sdk, clock, stack, stripe_connection, emulator)
    month.drain()  # nothing left over from another test
    return month


def busy_partner(month: Month, card: str = "pm_card_visa") -> str:
    """Issues, assigns, transfers and revokes across October, in two products."""
    partner_id = month.partner(card)
    backups = month.issue(partner_id, "jetpack-backup", 3, at(1, 0))
    month.assign(partner_id, backups[0], "site-a", at(2))
    month.assign(partner_id, backups[0], "site-b", at(12))  # a transfer: billing continues unbroken
    month.revoke(partner_id, backups[1], at(10, 15))
    (scan,) = month.issue(partner_id, "jetpack-scan", 1, at(20, 23))
    month.revoke(partner_id, scan, at(25))
    month.busy.add(partner_id)
    return partner_id


# ---------------------------------------------------------------------------------------------- the month


def test_a_busy_month_gives_one_correct_invoice_per_partner_and_a_rerun_changes_nothing(month: Month) -> None:
    # Given three partners busy in October and one whose only license was revoked before October
    busy = [busy_partner(month) for _ in range(3)]
    idle = month.partner()
    month.issue(idle, "jetpack-boost", 1, datetime(2026, 9, 3, tzinfo=UTC))
    month.revoke(idle, month.issue(idle, "jetpack-boost", 1, datetime(2026, 9, 4, tzinfo=UTC))[0], at(1, 0))

    # When month-end runs
    planned = month.plan()
    stats = month.drain()

    # Then every partner ever billed is planned, and each busy one has exactly one correct invoice, open:
    # finalizing never charges, Stripe's automatic attempt does, an hour later
    assert planned["period"] == PERIOD and planned["partners_enqueued"] >= 4
    assert stats["failed"] == 0 and stats["dead_lettered"] == 0
    for partner_id in busy:
        invoice = month.assert_one_correct_invoice(partner_id)
        assert invoice.status == "open" and invoice.number and invoice.attempt_count == 0
        assert invoice.metadata.to_dict() == {"partner_id": partner_id, "period": PERIOD}
        record = month.invoices.record(partner_id, PERIOD)
        assert record is not None and not record.past_due and record.due_date is not None
    month.collect(*busy)
    for partner_id in busy:
        record = month.invoices.record(partner_id, PERIOD)
        assert record is not None and record.status == "paid" and record.amount_paid == record.total
        assert record.amount_remaining == 0 and record.paid_at is not None
    # the idle partner still had a license active in October (issued in September, never revoked)
    assert len(month.stripe_invoices(idle)) == 1

    # When it runs again, nothing changes in Stripe or in the table
    before = {p: (month.invoices.record(p, PERIOD), len(month.stripe_items(p))) for p in busy}
    month.run()
    after = {p: (month.invoices.record(p, PERIOD), len(month.stripe_items(p))) for p in busy}
    assert after == before
    for partner_id in busy:
        assert len(month.stripe_invoices(partner_id)) == 1


def test_the_lines_name_product_licenses_and_days(month: Month) -> None:
    partner_id = month.partner()
    month.issue(partner_id, "jetpack-scan", 2, at(1, 0))  # 31 days each: capped at $3.95
    month.run()

    record = month.invoices.record(partner_id, PERIOD)

    assert record is not None
    assert [line["description"] for line in record.lines] == [
        "Jetpack Scan \u2014 2 licenses, 62 license-days \u00d7 $0.14 (capped at $3.95 per license)"
    ]
    assert record.total == 790


def test_a_month_with_nothing_to_bill_makes_no_invoice(month: Month) -> None:
    partner_id = month.partner()
    (key,) = month.issue(partner_id, "jetpack-boost", 1, datetime(2026, 11, 1, 0, 5, tzinfo=UTC))
    month.clock.set(MONTH_END)

    month.send(partner_id)
    month.drain()
    month.send(partner_id)
    month.drain()

    record = month.invoices.record(partner_id, PERIOD)
    assert record is not None and record.step == "nothing_to_bill" and record.status == "nothing_to_bill"
    assert month.stripe_invoices(partner_id) == []
    assert key


def test_a_duplicated_message_gives_one_invoice(month: Month) -> None:
    partner_id = busy_partner(month)
    month.clock.set(MONTH_END)

    for _ in range(3):
        month.send(partner_id)
    month.drain()
    month.send(partner_id)
    month.drain()

    month.assert_one_correct_invoice(partner_id)


def test_the_scheduler_bills_the_month_that_just_ended(month: Month) -> None:
    busy_partner(month)
    month.clock.set(MONTH_END)

    planned = month.plan(None)
    assert planned["period"] == PERIOD and planned["started_by"] == "schedule"
    month.drain()
    # And the month's run item names the schedule as what planned it last, with the plan's count (who started the
    # month first depends on the tests that ran before, on the same table)
    from partnerhub.repository.invoice_runs import DynamoInvoiceRunRepository

    run = DynamoInvoiceRunRepository(month.table, __import__("boto3").client("dynamodb")).run(PERIOD)
    assert run is not None and run["last_planned_by"] == "schedule"
    assert run["planned_partners"] == planned["partners_enqueued"]


def test_a_month_not_yet_ended_is_refused(month: Month) -> None:
    month.clock.set(datetime(2026, 10, 31, 23, 59, tzinfo=UTC))
    planner = month.function("invoice_planner").built

    with pytest.raises(PeriodNotEnded, match="has not ended yet"):
        planner.handler({"period": PERIOD}, _context())
    with pytest.raises(ValueError, match="YYYY-MM"):
        planner.handler({"period": "2026-1"}, _context())


# ---------------------------------------------------------------------------------------------- crashes


class Crash(RuntimeError):
    pass


class Crashing:
    """Wraps the worker's repository or Stripe adapter: after the ``at``-th step in all, the step's effect
    stays and the worker dies, as if the process crashed right after that call."""

    STEPS = frozenset(
        {
            "start",
            "mark_draft_requested",
            "apply_stripe_invoice",
            "mark_itemized",
            "mark_nothing_to_bill",
            "create_draft",
            "find_draft",
            "line_products",
            "add_line",
            "finalize",
        }
    )

    def __init__(self, inner: Any, counter: dict[str, Any]) -> None:
        self._inner = inner
        self._counter = counter

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name not in self.STEPS:
            return target

        def step(*args: Any, **kwargs: Any) -> Any:
            result = target(*args, **kwargs)
            self._counter["done"] += 1
            self._counter["log"].append(name)
            if self._counter["done"] == self._counter["at"]:
                raise Crash(f"crash after step {self._counter['at']} ({name})")
            return result

        return step


@pytest.fixture
def crash_after(month: Month) -> Iterator[Callable[[int | None], dict[str, Any]]]:
    invoicer = month.function("invoice_worker").wiring
    store, gateway = invoicer._store, invoicer._gateway
    counter: dict[str, Any] = {"done": 0, "at": None, "log": []}
    invoicer._store, invoicer._gateway = Crashing(store, counter), Crashing(gateway, counter)

    def arm(step: int | None) -> dict[str, Any]:
        counter.update(done=0, at=step, log=[])
        return counter

    yield arm
    invoicer._store, invoicer._gateway = store, gateway


STEPS_OF_A_TWO_PRODUCT_MONTH = 9  # start, mark, create, apply, 2 x add_line, mark_itemized, finalize, apply


@pytest.mark.parametrize("expired", [False, True], ids=["rerun-at-once", "rerun-after-idempotency-expiry"])
def test_a_crash_after_any_step_still_gives_exactly_one_correct_invoice(
    month: Month, crash_after: Callable[[int | None], dict[str, Any]], expired: bool
) -> None:
    for step in range(1, STEPS_OF_A_TWO_PRODUCT_MONTH + 1):
        # Given a busy partner whose worker dies right after step `step`
        partner_id = busy_partner(month)
        month.clock.set(MONTH_END)
        counter = crash_after(step)
        month.send(partner_id)
        month.drain(max_rounds=1, until_empty=False)
        assert counter["done"] == step, (step, counter["log"])
        record = month.invoices.record(partner_id, PERIOD)
        assert record is not None and record.failure is not None

        # When the message comes back (at once, or after Stripe forgot the idempotency keys)
        if expired:
            month.clock.advance(timedelta(hours=25))
        crash_after(None)
        month.drain()

        # Then there is exactly one invoice with the right lines, and the failure note is gone
        month.assert_one_correct_invoice(partner_id)
        record = month.invoices.record(partner_id, PERIOD)
        assert record is not None and record.failure is None


def test_the_crash_steps_are_all_the_steps(month: Month, crash_after: Callable[[int | None], dict[str, Any]]) -> None:
    partner_id = busy_partner(month)
    month.clock.set(MONTH_END)
    counter = crash_after(None)

    month.send(partner_id)
    month.drain()

    assert len(counter["log"]) == STEPS_OF_A_TWO_PRODUCT_MONTH, counter["log"]


# ---------------------------------------------------------------------------------------------- webhooks first


WEBHOOK_SECRET_PARAM = "/partnerhub/stripe/webhook-secret"


def deliver_webhook(month: Month, event: dict[str, Any]) -> Any:
    """``event`` as Stripe delivers it: signed with the webhook secret at the clock, to the webhooks function."""
    with mock.patch.dict(os.environ, {"STRIPE_WEBHOOK_SECRET_PARAM": WEBHOOK_SECRET_PARAM}):
        webhooks = month.function("webhooks")
    body = json.dumps(event)
    signature = WebhookSignature.generate_signature_header(body, month.aws.parameters[WEBHOOK_SECRET_PARAM], int(month.clock.now().timestamp()))
    return webhooks(load_event("webhooks/invoice_paid", raw_body=body, headers={"Stripe-Signature": signature}))


def invoice_events(month: Month, invoice_id: str, since: int) -> list[dict[str, Any]]:
    assert month.emulator is not None
    return [
        e
        for e in month.emulator.events()[since:]
        if e["type"].startswith("invoice.") and e["data"]["object"].get("id") == invoice_id
    ]


def unrecorded_invoice_collected(
    month: Month, crash_after: Callable[[int | None], dict[str, Any]], stripe: StripeConnection, card: str
) -> str:
    """A busy partner whose worker died right after Stripe created the month's draft, before the record named it;
    Stripe then went on without the table (the lines added and the invoice finalized as the run does, and an hour
    later Stripe's automatic attempt charged ``card``). Returns the partner; its message is back on the queue."""
    partner_id = busy_partner(month, card)
    month.clock.set(MONTH_END)
    counter = crash_after(3)
    month.send(partner_id)
    month.drain(max_rounds=1, until_empty=False)
    assert counter["log"] == ["start", "mark_draft_requested", "create_draft"]
    record = month.invoices.record(partner_id, PERIOD)
    assert record is not None and record.draft_requested and record.invoice_id is None

    (draft,) = month.stripe_invoices(partner_id)
    stripe_side = StripeInvoices(stripe)
    for line in record.lines:
        stripe_side.add_line(month.customer(partner_id), draft.id, partner_id, PERIOD, line)
    stripe_side.finalize(draft.id, partner_id, PERIOD)
    month.clock.advance(timedelta(hours=1))
    assert month.emulator is not None
    month.emulator.collect_due()
    return partner_id


# October's total for busy_partner, worked by hand from BUSY_OCTOBER: 495 + 170 + 495 backup, 6 x 14 scan.
BUSY_OCTOBER_TOTAL = 495 + 170 + 495 + 84


@pytest.mark.parametrize(
    ("card", "stripe_says", "expected"),
    [
        # Stripe's first attempt declines: open, one failed attempt, so past due (docs/invoicing.md, "Past due")
        (
            "pm_card_chargeCustomerFail",
            {"invoice.finalized", "invoice.payment_failed"},
            {"status": "open", "attempt_count": 1, "amount_paid": 0, "past_due": True},
        ),
        # Stripe's first attempt succeeds: paid, never past due
        (
            "pm_card_visa",
            {"invoice.finalized", "invoice.paid"},
            {"status": "paid", "attempt_count": 1, "amount_paid": BUSY_OCTOBER_TOTAL, "past_due": False},
        ),
    ],
    ids=["declined", "paid"],
)
def test_a_webhook_for_an_invoice_not_recorded_yet_is_acknowledged_and_the_worker_settles_it(
    month: Month,
    crash_after: Callable[[int | None], dict[str, Any]],
    stripe_connection: StripeConnection,
    card: str,
    stripe_says: set[str],
    expected: dict[str, Any],
) -> None:
    # Given a month-end invoice Stripe finalized and charged, that the table does not know yet
    assert month.emulator is not None
    since = len(month.emulator.events())
    partner_id = unrecorded_invoice_collected(month, crash_after, stripe_connection, card)
    (invoice,) = month.stripe_invoices(partner_id)
    before = month.invoices.record(partner_id, PERIOD)

    # When Stripe's webhooks for it arrive (each twice, as Stripe may deliver them)
    events = invoice_events(month, invoice.id, since)
    assert stripe_says <= {e["type"] for e in events}
    replies = [deliver_webhook(month, event) for event in events + events]

    # Then each is acknowledged, and nothing about the invoice or the partner's standing was written
    assert {reply.status for reply in replies} == {200}
    assert month.invoices.record(partner_id, PERIOD) == before
    assert month.invoices.find_by_stripe_id(invoice.id) is None
    assert month.partners.standing(partner_id).past_due_invoices == ()

    # When the worker's message is redelivered
    crash_after(None)
    stats = month.drain()

    # Then the invoice is recorded once, as Stripe shows it, and the partner's standing follows
    assert stats["succeeded"] == 1 and stats["failed"] == 0
    (only,) = month.stripe_invoices(partner_id)
    assert only.id == invoice.id and only.metadata.to_dict() == {"partner_id": partner_id, "period": PERIOD}
    record = month.invoices.record(partner_id, PERIOD)
    assert record is not None and record.invoice_id == invoice.id and record.failure is None
    assert record.step == "finalized" and record.total == BUSY_OCTOBER_TOTAL
    assert {
        "status": record.status,
        "attempt_count": record.attempt_count,
        "amount_paid": record.amount_paid,
        "past_due": record.past_due,
    } == expected
    assert month.invoices.find_by_stripe_id(invoice.id) == record
    past_due = (invoice.id,) if expected["past_due"] else ()
    assert month.partners.standing(partner_id).past_due_invoices == past_due
    month.assert_one_correct_invoice(partner_id)

    if expected["status"] == "open":
        # When the partner pays with a working card, Stripe's invoice.paid now finds the record
        seen = len(month.emulator.events())
        month.use_card(partner_id, "pm_card_visa")
        month.sdk.v1.invoices.pay(invoice.id)
        paid = [e for e in invoice_events(month, invoice.id, seen) if e["type"] == "invoice.paid"]
        assert [deliver_webhook(month, e).status for e in paid] == [200]

        # Then the invoice is paid in full, once, and the partner is clear
        record = month.invoices.record(partner_id, PERIOD)
        assert record is not None and record.status == "paid" and not record.past_due
        assert record.amount_paid == BUSY_OCTOBER_TOTAL and record.amount_remaining == 0
        assert month.partners.standing(partner_id).past_due_invoices == ()
        assert len(month.stripe_invoices(partner_id)) == 1


# ---------------------------------------------------------------------------------------------- Stripe faults


def test_rate_limits_and_server_errors_on_a_share_of_calls_change_nothing(month: Month, emulator: Emulator) -> None:
    partners = [busy_partner(month) for _ in range(3)]
    emulator.set_faults(rate_limit=0.2, server_error=0.15, fail_after_commit=0.1, seed=5)

    month.run()

    emulator.clear_faults()
    for partner_id in partners:
        month.assert_one_correct_invoice(partner_id)


@pytest.mark.parametrize("fault", ["server_error", "fail_after_commit"], ids=["500-nothing-made", "made-then-500"])
@pytest.mark.parametrize(
    ("prefix", "suffix"),
    [("/v1/invoices", ""), ("/v1/invoiceitems", ""), ("/v1/invoices/", "/finalize")],
    ids=["draft", "line", "finalize"],
)
def test_a_500_stripe_replays_under_its_key_is_reconciled_in_the_same_run(
    month: Month, emulator: Emulator, fault: str, prefix: str, suffix: str
) -> None:
    """https://docs.stripe.com/api/idempotent_requests: Stripe saves the first answer of a request that began
    executing, 500s included, and replays it for 24 hours under the same key."""
    # Given a busy partner, and Stripe answering one write of its month with a 500 it saves under the key
    partner_id = busy_partner(month)
    month.clock.set(MONTH_END)
    emulator.set_faults(**{fault: 1.0}, limit=1, path_prefix=prefix, path_suffix=suffix, methods=["POST"])
    # When the month-end worker gets the partner's message
    month.send(partner_id)
    stats = month.drain()
    # Then the month completes in that one delivery, without waiting for the key to expire and with no duplicate
    assert stats == {"succeeded": 1, "failed": 0, "dead_lettered": 0}
    assert [f["after_commit"] for f in emulator.describe_faults()["injected"]] == [fault == "fail_after_commit"]
    assert month.clock.now() == MONTH_END
    month.assert_one_correct_invoice(partner_id)
    record = month.invoices.record(partner_id, PERIOD)
    assert record is not None and record.failure is None
    # The keys moved on only when the write had not happened (a new request, never a second object)
    assert record.key_generation == (1 if fault == "server_error" else 0)


def test_a_permanent_failure_leaves_the_message_to_the_dead_letter_queue_with_a_clear_log_line(
    month: Month, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    partner_id = busy_partner(month)
    month.clock.set(MONTH_END)
    emulator.set_faults(server_error=1.0, path_prefix="/v1/invoiceitems", methods=["POST"])

    month.send(partner_id)
    stats = month.drain()

    assert stats["dead_lettered"] == 1
    record = month.invoices.record(partner_id, PERIOD)
    assert record is not None and record.step == "drafted"
    assert record.failure is not None and record.failure["step"] == "add_lines"
    failures = [r.getMessage() for r in caplog.records if r.getMessage().startswith("invoice run failed")]
    assert failures and f"partner {partner_id}, period {PERIOD}, step add_lines" in failures[-1]

    # When Stripe is back and an operator re-runs the month, the invoice completes
    emulator.clear_faults()
    month.send(partner_id)
    month.drain()
    month.assert_one_correct_invoice(partner_id)
