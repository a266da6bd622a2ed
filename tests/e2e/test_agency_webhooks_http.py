"""Webhooks to agencies over HTTP against the local stack, to a receiver this test runs on 127.0.0.1: every event a
partner's actions make, signed so the ``standardwebhooks`` library verifies it; the retry schedule under time
travel; redelivery; secret rotation's 24-hour overlap; private and metadata addresses refused when saved and when
delivering (a name moved with ``/_local/dns``); endpoints that redirect, refuse, fail, hang up, flood or stall;
one partner's stalled endpoint holding up nobody else; partners kept apart; an endpoint disabled after five days
of failures."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from standardwebhooks.webhooks import Webhook

from partnerhub.clock import isoformat, parse_instant
from testkit import receiver as hooks
from testkit.partners import SeededPartners
from testkit.stack import ApiSession, LocalStack

SITE = {"site_id": "184472401", "site_url": "https://client-bakery.example", "site_owner": "ann@client-bakery.example"}
NEW_SITE = {"site_id": "184472999", "site_url": "https://client-florist.example"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[hooks.Receiver]:
    running = hooks.start()
    yield running
    running.stop()


def new_partner(stack: LocalStack, *, standing: bool = True) -> str:
    partner = f"agency-{uuid.uuid4().hex[:10]}"
    if standing:
        client = boto3.client(
            "dynamodb",
            endpoint_url=stack.moto_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        SeededPartners("partnerhub-local", client).set_has_payment_method(partner, True)
    return partner


def drain(stack: LocalStack) -> None:
    """Everything the stack has to do now, done: the table's stream into events, the queues into deliveries."""
    stack.anonymous.post("/_local/drain", timeout=120).raise_for_status()


def endpoint(api: ApiSession, url: str, events: list[str]) -> dict[str, Any]:
    made = api.post("/v1/webhook-endpoints", json={"url": url, "events": events})
    assert made.status_code == 201, made.text
    return dict(made.json())


def deliveries(api: ApiSession, endpoint_id: str) -> list[dict[str, Any]]:
    reply = api.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries")
    assert reply.status_code == 200, reply.text
    return list(reply.json()["items"])


def issue(api: ApiSession, quantity: int = 1) -> list[dict[str, Any]]:
    reply = api.post("/v1/licenses", json={"product": "jetpack-backup", "quantity": quantity})
    assert reply.status_code == 201, reply.text
    return list(reply.json()["items"])


def signed_with(secret: str, got: hooks.Received) -> bool:
    """Whether one of the request's signatures is the one the library makes with ``secret`` (for requests sent at a
    stack time far from the wall clock, which ``Webhook.verify``'s five-minute window would refuse)."""
    at = datetime.fromtimestamp(int(got.headers["webhook-timestamp"]), UTC)
    return Webhook(secret).sign(got.headers["webhook-id"], at, got.body) in got.headers["webhook-signature"].split(" ")


def wall_clock(stack: LocalStack) -> datetime:
    """Put the stack's clock at the real time (frozen there): the library checks timestamps against the wall clock."""
    now = datetime.now(UTC).replace(microsecond=0)
    stack.set_clock(isoformat(now))
    return now


def test_every_action_is_a_signed_event_the_library_verifies(stack: LocalStack, receiver: hooks.Receiver) -> None:
    # Given a partner with an endpoint for every event, at the real time
    wall_clock(stack)
    partner = new_partner(stack, standing=False)
    api = stack.client(partner)
    path = receiver.path()
    made = endpoint(api, receiver.url(path), ["*"])
    assert made["secret"].startswith("whsec_") and "secret" not in api.get(f"/v1/webhook-endpoints/{made['id']}").json()
    # When the partner adds a card, issues a license, assigns, transfers, labels, unassigns and revokes it, and
    # deletes the card
    card = api.post("/v1/payment-methods", json={"payment_method_id": "pm_card_visa"})
    assert card.status_code == 201, card.text
    drain(stack)  # the card's events first (the license commands' events follow in their own order)
    (license,) = issue(api)
    key = license["license_key"]
    assert api.put(f"/v1/licenses/{key}/site", json=SITE).status_code == 200
    assert api.put(f"/v1/licenses/{key}/site", json=NEW_SITE).status_code == 200
    assert api.patch(f"/v1/licenses/{key}", json={"client": "Florist & Co", "tags": ["q4"]}).status_code == 200
    assert api.delete(f"/v1/licenses/{key}/site").status_code == 200
    revoked = api.post(f"/v1/licenses/{key}/revoke")
    assert revoked.status_code == 200
    assert api.delete(f"/v1/payment-methods/{card.json()['id']}").status_code == 204
    drain(stack)
    # Then every one came, signed: the Standard Webhooks library verifies each with the endpoint's secret
    got = receiver.wait(path, 10)
    payloads = [Webhook(made["secret"]).verify(g.body, g.headers) for g in got]
    kinds = [p["type"] for p in payloads]
    assert len(kinds) == 10
    assert sorted(kinds[:2]) == ["account.standing_changed", "payment_method.added"]
    assert kinds[2:8] == [
        "license.issued",
        "license.assigned",
        "license.transferred",
        "license.updated",
        "license.unassigned",
        "license.revoked",
    ]
    assert sorted(kinds[8:]) == ["account.standing_changed", "payment_method.removed"]
    # each carries its event id as webhook-id, and its object as the API answers it
    assert [g.headers["webhook-id"] for g in got] == [p["id"] for p in payloads]
    assert payloads[7]["data"] == revoked.json()
    assert payloads[3]["data"]["site"] == SITE and payloads[4]["data"]["site"]["site_id"] == NEW_SITE["site_id"]
    assert payloads[5]["data"]["client"] == "Florist & Co"
    standing = [p["data"] for p in payloads if p["type"] == "account.standing_changed"]
    assert [s["has_payment_method"] for s in standing] == [True, False]
    # and the partner's event log lists them, newest first, as they were sent
    listed = api.get("/v1/events").json()["items"]
    assert listed == list(reversed(payloads))
    assert api.get("/v1/events", params={"type": "license.revoked"}).json()["items"] == [payloads[7]]
    # and the deliveries log says every one was delivered at the first attempt
    log = deliveries(api, made["id"])
    assert [(d["status"], d["attempt"], d["status_code"]) for d in log] == [("delivered", 1, 200)] * 10


def test_invoice_events(stack: LocalStack, receiver: hooks.Receiver) -> None:
    # Given a partner with a card that declines at Stripe's automatic attempt, and a license through March 2027
    stack.set_clock("2027-03-10T09:00:00Z")
    partner = new_partner(stack, standing=False)
    api = stack.client(partner)
    path = receiver.path()
    made = endpoint(api, receiver.url(path), ["invoice.*"])
    assert api.post("/v1/payment-methods", json={"payment_method_id": "pm_card_chargeCustomerFail"}).status_code == 201
    issue(api)
    # When March is invoiced, Stripe's attempt declines an hour later, and the partner pays with a good card
    stack.set_clock("2027-04-01T00:20:00Z")
    assert stack.invoice_run("2027-03")["complete"]
    stack.advance("PT1H")
    drain(stack)
    receiver.wait(path, 2)
    api = stack.client(partner)
    (invoice,) = api.get("/v1/invoices").json()["items"]
    good = api.post("/v1/payment-methods", json={"payment_method_id": "pm_card_visa"})
    assert good.status_code == 201, good.text
    paid = api.post(f"/v1/invoices/{invoice['id']}/pay", headers={"Idempotency-Key": f"pay-{partner}"})
    assert paid.status_code == 200, paid.text
    drain(stack)
    # Then finalized, payment_failed and paid came, signed with the secret, each showing the invoice then
    got = receiver.wait(path, 3)
    assert all(signed_with(made["secret"], g) for g in got)
    payloads = [json.loads(g.body) for g in got]
    assert [p["type"] for p in payloads] == ["invoice.finalized", "invoice.payment_failed", "invoice.paid"]
    assert {p["data"]["id"] for p in payloads} == {invoice["id"]}
    assert [p["data"]["status"] for p in payloads] == ["open", "open", "paid"]
    assert payloads[1]["data"]["last_payment_error"]["code"] == "card_declined"
    assert payloads[2]["data"]["amount_paid"] == payloads[2]["data"]["total"] > 0


def test_the_retry_schedule_follows_the_stack_clock(stack: LocalStack, receiver: hooks.Receiver) -> None:
    # Given an endpoint that always answers 503, and a license issued at 09:00:00 (the clock stands still)
    start = parse_instant(stack.set_clock("2027-05-04T09:00:00Z"))
    partner = new_partner(stack)
    path = receiver.path(hooks.answer(503, b"busy"))
    made = endpoint(stack.client(partner), receiver.url(path), ["license.issued"])
    issue(stack.client(partner))
    drain(stack)
    receiver.wait(path, 1)
    # When the clock is moved to each retry in turn (4 s first: one second short of the first)
    waits = ["PT4S", "PT1S", "PT5M", "PT30M", "PT2H", "PT5H", "PT10H", "PT10H"]
    seen_after: list[int] = []
    logs: list[dict[str, Any]] = []
    for step in waits:
        stack.advance(step)
        drain(stack)
        api = stack.client(partner)
        (delivery,) = deliveries(api, made["id"])
        logs.append(delivery)
        seen_after.append(len(receiver.at(path)))
    # Then an attempt came exactly when due, never before (worked by hand: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h)
    assert seen_after == [1, 2, 3, 4, 5, 6, 7, 8]
    expected_next = [
        start + timedelta(seconds=5),
        start + timedelta(minutes=5, seconds=5),
        start + timedelta(minutes=35, seconds=5),
        start + timedelta(hours=2, minutes=35, seconds=5),
        start + timedelta(hours=7, minutes=35, seconds=5),
        start + timedelta(hours=17, minutes=35, seconds=5),
        start + timedelta(hours=27, minutes=35, seconds=5),
        None,
    ]
    assert [d["next_attempt_at"] for d in logs] == [isoformat(t) if t else None for t in expected_next]
    assert [d["attempt"] for d in logs] == [1, 2, 3, 4, 5, 6, 7, 8]
    final = logs[-1]
    assert (final["status"], final["status_code"], final["error"], final["response"]) == (
        "failed",
        503,
        "HTTP 503",
        "busy",
    )
    # Every attempt was the same message (one webhook-id), signed at the stack time it was sent
    got = receiver.at(path)
    assert len({g.headers["webhook-id"] for g in got}) == 1
    stamps = [datetime.fromtimestamp(int(g.headers["webhook-timestamp"]), UTC) for g in got]
    assert stamps == [start, *[t for t in expected_next if t is not None]]
    assert all(signed_with(made["secret"], g) for g in got)


def test_an_event_can_be_delivered_again(stack: LocalStack, receiver: hooks.Receiver) -> None:
    stack.set_clock("2027-05-10T09:00:00Z")
    partner = new_partner(stack)
    api = stack.client(partner)
    path = receiver.path()
    made = endpoint(api, receiver.url(path), ["license.*"])
    issue(api)
    drain(stack)
    (first,) = receiver.wait(path, 1)
    (event,) = api.get("/v1/events", params={"type": "license.issued"}).json()["items"]
    # When the partner asks for it again
    again = api.post(f"/v1/events/{event['id']}/redeliver", json={"endpoint_id": made["id"]})
    # Then it is accepted, and one more delivery comes: the same event, one attempt
    assert again.status_code == 202, again.text
    assert (again.json()["manual"], again.json()["event_id"], again.json()["status"]) == (True, event["id"], "pending")
    drain(stack)
    got = receiver.wait(path, 2)
    assert got[1].body == first.body and got[1].headers["webhook-id"] == first.headers["webhook-id"]
    log = deliveries(api, made["id"])
    assert sorted((d["manual"], d["status"], d["attempt"]) for d in log) == [
        (False, "delivered", 1),
        (True, "delivered", 1),
    ]
    # An unknown event, or an endpoint that is not the partner's, is 404
    missing = api.post("/v1/events/evt_doesnotexist000000000000/redeliver", json={"endpoint_id": made["id"]})
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "event_not_found")
    other = endpoint(stack.client(new_partner(stack)), receiver.url(receiver.path()), ["*"])
    stranger = api.post(f"/v1/events/{event['id']}/redeliver", json={"endpoint_id": other["id"]})
    assert (stranger.status_code, stranger.json()["error"]["code"]) == (404, "webhook_endpoint_not_found")


def test_a_rotated_secret_signs_beside_the_new_one_for_24_hours(stack: LocalStack, receiver: hooks.Receiver) -> None:
    # Given an endpoint at the real time, whose secret is rotated
    wall_clock(stack)
    partner = new_partner(stack)
    api = stack.client(partner)
    path = receiver.path()
    made = endpoint(api, receiver.url(path), ["license.*"])
    rotated = api.post(f"/v1/webhook-endpoints/{made['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    old, new = made["secret"], rotated.json()["secret"]
    assert new != old and new.startswith("whsec_")
    assert rotated.json()["previous_secret_expires_at"] is not None
    # When an event is delivered now
    issue(api)
    drain(stack)
    (now,) = receiver.wait(path, 1)
    # Then it carries both signatures: receivers holding either secret verify it with the library
    assert len(now.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(now.body, now.headers)
    Webhook(new).verify(now.body, now.headers)
    # When the next one comes a day and a minute later
    stack.advance("P1DT1M")
    api = stack.client(partner)
    issue(api)
    drain(stack)
    later = receiver.wait(path, 2)[1]
    # Then only the new secret signs
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    assert signed_with(new, later) and not signed_with(old, later)
    assert api.get(f"/v1/webhook-endpoints/{made['id']}").json()["previous_secret_expires_at"] is None
    # Neither secret was ever written to a log, nor is it in the deliveries log or the endpoint as listed
    for secret in (old, new):
        key = secret.removeprefix("whsec_")
        assert key not in stack.log()
        assert key not in json.dumps(deliveries(api, made["id"])) and key not in api.get("/v1/webhook-endpoints").text


def dns(stack: LocalStack, host: str, addresses: list[str] | None) -> None:
    reply = stack.anonymous.post("/_local/dns", json={"host": host, "addresses": addresses})
    reply.raise_for_status()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.1.2.3/in", "10.1.2.3 resolves to 10.1.2.3, a private address"),
        ("http://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "a cloud metadata address"),
        ("http://100.64.0.9/in", "a carrier-grade NAT address"),
        ("http://127.0.0.2/in", "a loopback address"),
        ("http://inside.agency.test/in", "inside.agency.test resolves to 192.168.7.7, a private address"),
        (
            "http://metadata.agency.test/in",
            "metadata.agency.test resolves to 169.254.169.254, a cloud metadata address",
        ),
    ],
)
def test_private_and_metadata_addresses_are_refused_when_saved(stack: LocalStack, url: str, reason: str) -> None:
    dns(stack, "inside.agency.test", ["192.168.7.7"])
    dns(stack, "metadata.agency.test", ["169.254.169.254"])
    api = stack.client(new_partner(stack))
    refused = api.post("/v1/webhook-endpoints", json={"url": url, "events": ["*"]})
    assert refused.status_code == 422, refused.text
    (detail,) = refused.json()["error"]["details"]
    assert detail["field"] == "url" and reason in detail["reason"]
    assert api.get("/v1/webhook-endpoints").json()["items"] == []


def test_a_name_moved_to_the_metadata_address_is_refused_at_delivery(
    stack: LocalStack, receiver: hooks.Receiver
) -> None:
    # Given an endpoint whose name pointed at the receiver when it was saved
    stack.set_clock("2027-05-20T09:00:00Z")
    host = f"rebind-{uuid.uuid4().hex[:8]}.agency.test"
    dns(stack, host, ["127.0.0.1"])
    partner = new_partner(stack)
    api = stack.client(partner)
    path = receiver.path()
    made = endpoint(api, receiver.url(path, host=host), ["license.*"])
    # When the name now answers the metadata service's address, and an event is delivered
    dns(stack, host, ["169.254.169.254"])
    issue(api)
    drain(stack)
    # Then nothing is sent, and the deliveries log says why
    (delivery,) = deliveries(api, made["id"])
    assert (delivery["status"], delivery["attempt"], delivery["status_code"]) == ("pending", 1, None)
    assert (
        delivery["error"]
        == f"{host} resolves to 169.254.169.254, a cloud metadata address: deliveries go to public addresses only"
    )
    assert receiver.at(path) == []
    # and once the name answers the receiver again, the retry goes to it, with the name in Host
    dns(stack, host, ["127.0.0.1"])
    stack.advance("PT5S")
    drain(stack)
    (got,) = receiver.wait(path, 1)
    assert got.headers["host"] == f"{host}:{receiver.port}"
    assert deliveries(stack.client(partner), made["id"])[0]["status"] == "delivered"


def test_endpoints_that_misbehave_are_failed_attempts_with_the_reason(
    stack: LocalStack, receiver: hooks.Receiver
) -> None:
    stall = threading.Event()
    behaviours = {
        "redirect": (
            hooks.answer(302, b"", {"Location": "http://169.254.169.254/"}),
            302,
            "HTTP 302: redirects are not followed",
        ),
        "bad request": (hooks.answer(400, b'{"error": "unknown field"}'), 400, "HTTP 400"),
        "server error": (hooks.answer(500, b"oops"), 500, "HTTP 500"),
        "hang up": (hooks.hang_up(), None, "the connection was closed before a complete answer"),
        "huge": (hooks.answer(200, b"x" * (3 * 1024 * 1024)), 200, "the answer's body is over 64 KB"),
        "stall": (hooks.wait_for(stall, hooks.answer(200), longest=20), None, "no answer within 10 s"),
    }
    stack.set_clock("2027-05-25T09:00:00Z")
    partner = new_partner(stack)
    api = stack.client(partner)
    made = {
        name: (endpoint(api, receiver.url(receiver.path(behave)), ["license.issued"]), code, error)
        for name, (behave, code, error) in behaviours.items()
    }
    try:
        issue(api)
        drain(stack)
    finally:
        stall.set()
    for name, (ep, code, error) in made.items():
        (delivery,) = deliveries(api, ep["id"])
        assert (delivery["status"], delivery["attempt"], delivery["status_code"], delivery["error"]) == (
            "pending",
            1,
            code,
            error,
        ), name
    assert deliveries(api, made["bad request"][0]["id"])[0]["response"] == '{"error": "unknown field"}'
    assert deliveries(api, made["huge"][0]["id"])[0]["response"] == "x" * 300
    # The stack is still well: the next retry of each is due in 5 s
    assert stack.anonymous.get("/_local/health").json()["status"] == "ok"


def test_a_stalled_endpoint_holds_up_no_other_partner(stack: LocalStack, receiver: hooks.Receiver) -> None:
    # Given partner A, whose endpoint stalls until the test lets it answer, and partner B with a prompt endpoint
    stack.set_clock("2027-06-01T09:00:00Z")
    gate = threading.Event()
    slow_path = receiver.path(hooks.wait_for(gate, hooks.answer(200), longest=9))
    fast_path = receiver.path()
    a, b = new_partner(stack), new_partner(stack)
    endpoint(stack.client(a), receiver.url(slow_path), ["license.issued"])
    endpoint(stack.client(b), receiver.url(fast_path), ["license.issued"])
    try:
        # When A issues three licenses (three deliveries queue for its endpoint) and its first delivery stalls
        issue(stack.client(a), 3)
        receiver.wait(slow_path, 1)
        # and then B issues one: B's API call answers, and B's delivery comes while A's is still stalled
        issue(stack.client(b))
        receiver.wait(fast_path, 1)
        # Then A's endpoint has had one request so far (its others wait in its own group), and it is still stalled
        assert len(receiver.at(slow_path)) == 1 and not gate.is_set()
    finally:
        gate.set()
    # and once it answers, A's other deliveries follow, in order
    got = receiver.wait(slow_path, 3)
    keys = [json.loads(g.body)["data"]["license_key"] for g in got]
    assert len(set(keys)) == 3


def test_partners_never_see_each_others_events_or_endpoints(stack: LocalStack, receiver: hooks.Receiver) -> None:
    stack.set_clock("2027-06-05T09:00:00Z")
    a, b = new_partner(stack), new_partner(stack)
    a_path, b_path = receiver.path(), receiver.path()
    a_endpoint = endpoint(stack.client(a), receiver.url(a_path), ["license.*"])
    endpoint(stack.client(b), receiver.url(b_path), ["*"])
    (a_license,) = issue(stack.client(a))
    drain(stack)
    receiver.wait(a_path, 1)
    # B's endpoint got nothing of A's; B lists only its own endpoints and events
    assert [json.loads(g.body)["data"].get("license_key") for g in receiver.at(a_path)] == [a_license["license_key"]]
    assert all(
        a not in g.body.decode() and a_license["license_key"] not in g.body.decode() for g in receiver.at(b_path)
    )
    api_b = stack.client(b)
    assert len(api_b.get("/v1/webhook-endpoints").json()["items"]) == 1
    assert all(a not in json.dumps(e) for e in api_b.get("/v1/events").json()["items"])
    # and every route with A's endpoint or event is 404 to B
    # (A's card also made an account.standing_changed event, written when the stream got to it)
    (a_event,) = stack.client(a).get("/v1/events", params={"type": "license.issued"}).json()["items"]
    for method, path, body in [
        ("GET", f"/v1/webhook-endpoints/{a_endpoint['id']}", None),
        ("GET", f"/v1/webhook-endpoints/{a_endpoint['id']}/deliveries", None),
        ("PATCH", f"/v1/webhook-endpoints/{a_endpoint['id']}", {"url": receiver.url(b_path)}),
        ("POST", f"/v1/webhook-endpoints/{a_endpoint['id']}/rotate-secret", None),
        ("DELETE", f"/v1/webhook-endpoints/{a_endpoint['id']}", None),
        ("POST", f"/v1/events/{a_event['id']}/redeliver", {"endpoint_id": a_endpoint["id"]}),
    ]:
        reply = api_b.request(method, path, json=body)
        assert reply.status_code == 404, (method, path, reply.text)
    assert stack.client(a).get(f"/v1/webhook-endpoints/{a_endpoint['id']}").json()["url"] == receiver.url(a_path)


def test_an_endpoint_failing_for_five_days_is_disabled_with_the_reason(
    stack: LocalStack, receiver: hooks.Receiver
) -> None:
    # Given an endpoint that always fails, and a license issued on Monday 09:00 (its first delivery fails then)
    start = parse_instant(stack.set_clock("2027-06-07T09:00:00Z"))
    partner = new_partner(stack)
    path = receiver.path(hooks.answer(500, b"down"))
    made = endpoint(stack.client(partner), receiver.url(path), ["license.*"])
    (license,) = issue(stack.client(partner))
    drain(stack)
    # When it keeps failing: the retries over the next days, and new events on Wednesday and Friday
    stack.advance("P2D")
    drain(stack)
    label = stack.client(partner).patch(f"/v1/licenses/{license['license_key']}", json={"client": "Wednesday"})
    assert label.status_code == 200
    drain(stack)
    stack.set_clock(isoformat(start + timedelta(days=4, hours=23, minutes=59)))
    drain(stack)
    assert stack.client(partner).get(f"/v1/webhook-endpoints/{made['id']}").json()["enabled"] is True
    stack.set_clock(isoformat(start + timedelta(days=5)))
    api = stack.client(partner)
    assert api.patch(f"/v1/licenses/{license['license_key']}", json={"client": "Saturday"}).status_code == 200
    drain(stack)
    # Then the failure five days in disables it, with the reason
    shown = api.get(f"/v1/webhook-endpoints/{made['id']}").json()
    assert shown["enabled"] is False
    assert shown["failing_since"] == isoformat(start)
    assert shown["disabled_at"] == isoformat(start + timedelta(days=5))
    assert shown["disabled_reason"] == (
        f"Every delivery failed for 5 days (since {isoformat(start)}); the last error: HTTP 500. "
        "Fix the endpoint, then enable it again."
    )
    # and nothing more is sent to it: its waiting deliveries end at their next attempt, without one
    sent = len(receiver.at(path))
    stack.advance("PT1H")
    drain(stack)
    assert len(receiver.at(path)) == sent
    assert all(d["status"] != "pending" for d in deliveries(stack.client(partner), made["id"]))
    # and enabling it again clears the reason
    enabled = stack.client(partner).patch(f"/v1/webhook-endpoints/{made['id']}", json={"enabled": True})
    assert enabled.status_code == 200
    assert (enabled.json()["enabled"], enabled.json()["disabled_reason"], enabled.json()["failing_since"]) == (
        True,
        None,
        None,
    )


def test_the_eleventh_endpoint_is_refused_with_the_limit(stack: LocalStack, receiver: hooks.Receiver) -> None:
    api = stack.client(new_partner(stack))
    for _ in range(10):
        endpoint(api, receiver.url(receiver.path()), ["*"])
    refused = api.post("/v1/webhook-endpoints", json={"url": receiver.url(receiver.path()), "events": ["*"]})
    assert refused.status_code == 409
    assert (refused.json()["error"]["code"], refused.json()["error"]["details"][0]["limit"]) == (
        "webhook_endpoint_limit",
        10,
    )


def test_operators_see_how_many_endpoints_a_partner_has_never_what_they_are(
    stack: LocalStack, receiver: hooks.Receiver
) -> None:
    partner = new_partner(stack)
    api = stack.client(partner)
    secrets = [endpoint(api, receiver.url(receiver.path()), ["*"])["secret"] for _ in range(2)]
    ops = stack.client("ops-webhooks", groups=["operators"])
    detail = ops.get(f"/v1/operator/partners/{partner}")
    assert detail.status_code == 200, detail.text
    assert detail.json()["webhook_endpoints"] == 2
    assert all(s.removeprefix("whsec_") not in detail.text for s in secrets)
    assert receiver.url("") not in detail.text


def test_the_receiver_in_the_docs_verifies_what_the_stack_sends(stack: LocalStack, tmp_path: Any) -> None:
    # Given the receiver docs/integrations.md shows, run as written, with a new endpoint's secret
    text = (Path(__file__).resolve().parents[2] / "docs" / "integrations.md").read_text()
    (code,) = re.findall(r"A complete receiver:\n\n```python\n(.*?)```", text, re.S)
    assert len(code.strip().splitlines()) <= 20
    script = tmp_path / "receiver.py"
    script.write_text(code)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    wall_clock(stack)
    partner = new_partner(stack)
    api = stack.client(partner)
    made = endpoint(api, f"http://127.0.0.1:{port}/partnerhub", ["license.*"])
    env = {**os.environ, "PARTNERHUB_WEBHOOK_SECRET": made["secret"], "PORT": str(port)}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter running the docs' receiver
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        # When a license is issued
        (license,) = issue(api)
        drain(stack)
        # Then the receiver verified it and printed it, and the log says it answered 204
        (delivery,) = deliveries(api, made["id"])
        assert (delivery["status"], delivery["status_code"]) == ("delivered", 204)
    finally:
        process.terminate()
        printed, _ = process.communicate(timeout=10)
    assert f"{delivery['event_id']} license.issued" in printed and license["license_key"] in printed
