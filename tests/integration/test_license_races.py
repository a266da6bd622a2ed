"""Races are settled by DynamoDB conditions and transactions, not by luck.

Each concurrent request runs in its own execution environment (a fresh import of the function), as
Lambda runs them; a barrier releases them together.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from partnerhub import clients
from partnerhub.clock import SystemClock
from partnerhub.domain.licenses import LicenseService
from partnerhub.repository import keys
from partnerhub.repository.dynamo import serialize
from partnerhub.repository.licenses import DynamoLicenseRepository
from testkit.events import load_event
from tests.integration.conftest import Function, Reply

N = 20


def race(calls: list[Callable[[], Reply]]) -> list[Reply]:
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Reply]) -> Reply:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def site(n: int) -> dict[str, str]:
    return {"site_id": f"site-{n}", "site_url": f"https://client-{n}.example"}


def claims_of(partner: str) -> list[dict[str, Any]]:
    """The partner's site claims (its connected sites share their range: a claim is the item naming a license)."""
    response = clients.dynamodb().query(
        TableName=os.environ["TABLE_NAME"],
        KeyConditionExpression="PK = :pk AND begins_with(SK, :site)",
        ExpressionAttributeValues=serialize({":pk": keys.partner_pk(partner), ":site": keys.SITE_CLAIM_PREFIX}),
        ConsistentRead=True,
    )
    return [item for item in response["Items"] if "license_key" in item]


@pytest.fixture
def envs(environments: Callable[[str, int], list[Function]]) -> list[Function]:
    return environments("licenses", N)


def issue(env: Function, partner: str, quantity: int, key: str | None = None) -> Reply:
    headers = {"Idempotency-Key": key} if key else None
    drop = () if key else ("idempotency-key",)
    event = load_event(
        "licenses/issue",
        partner_id=partner,
        body={"product": "jetpack-backup", "quantity": quantity},
        headers=headers,
        drop_headers=drop,
    )
    return env(event)


def assign_call(env: Function, partner: str, key: str, target: dict[str, str]) -> Callable[[], Reply]:
    event = load_event("licenses/assign", partner_id=partner, path={"license_key": key}, body=target)
    return lambda: env(event)


def test_twenty_licenses_onto_one_site_exactly_one_wins(envs: list[Function], paying_partner: str) -> None:
    license_keys = [i["license_key"] for i in issue(envs[0], paying_partner, N).body["items"]]

    replies = race(
        [assign_call(env, paying_partner, key, site(1)) for env, key in zip(envs, license_keys, strict=True)]
    )

    statuses = Counter(r.status for r in replies)
    assert statuses == {200: 1, 409: N - 1}
    assert all(r.body["error"]["code"] == "site_has_license" for r in replies if r.status == 409)
    assert len(claims_of(paying_partner)) == 1
    counts = envs[0](load_event("licenses/counts", partner_id=paying_partner)).body
    assert counts["assigned"] == 1 and counts["unassigned"] == N - 1


def test_one_license_onto_twenty_sites_loses_no_update(envs: list[Function], paying_partner: str) -> None:
    key = issue(envs[0], paying_partner, 1).body["items"][0]["license_key"]

    replies = race([assign_call(env, paying_partner, key, site(n)) for n, env in enumerate(envs)])

    winners = [r for r in replies if r.status == 200]
    assert all(r.status in (200, 503) for r in replies), [r.body for r in replies if r.status not in (200, 503)]
    assert len(winners) >= N // 2
    detail = envs[0](load_event("licenses/get", partner_id=paying_partner, path={"license_key": key})).body
    history = detail["history"]
    assert [h["type"] for h in history] == ["issued", "assigned"] + ["transferred"] * (len(history) - 2)
    recorded_sites = [h["site"]["site_id"] for h in history[1:]]
    assert sorted(recorded_sites) == sorted(r.body["site"]["site_id"] for r in winners), (
        history,
        [r.body for r in replies],
    )
    assert detail["site"]["site_id"] == recorded_sites[-1]
    claims = claims_of(paying_partner)
    assert len(claims) == 1 and claims[0]["site_id"]["S"] == recorded_sites[-1]


def test_twenty_issues_with_one_idempotency_key_make_one_set(envs: list[Function], paying_partner: str) -> None:
    replies = race([lambda env=env: issue(env, paying_partner, 3, key="same-order") for env in envs])

    created = [r for r in replies if r.status == 201]
    assert created, [r.body for r in replies]
    assert all(r.status in (201, 409) for r in replies)
    assert all(r.body["error"]["code"] == "idempotency_in_progress" for r in replies if r.status == 409)
    assert all(r.body == created[0].body for r in created)
    assert envs[0](load_event("licenses/counts", partner_id=paying_partner)).body["all"] == 3
    again = issue(envs[0], paying_partner, 3, key="same-order")
    assert again.status == 201 and again.body == created[0].body


@pytest.mark.parametrize("attempt", range(3))
def test_revoke_racing_assign_ends_consistent(envs: list[Function], paying_partner: str, attempt: int) -> None:
    key = issue(envs[0], paying_partner, 1).body["items"][0]["license_key"]
    revoke = load_event("licenses/revoke", partner_id=paying_partner, path={"license_key": key})

    race([assign_call(envs[1], paying_partner, key, site(7)), lambda: envs[2](revoke)])

    detail = envs[0](load_event("licenses/get", partner_id=paying_partner, path={"license_key": key})).body
    assert detail["status"] == "revoked"
    assert claims_of(paying_partner) == []
    types = [h["type"] for h in detail["history"]]
    assert types in (["issued", "revoked"], ["issued", "assigned", "revoked"])
    counts = envs[0](load_event("licenses/counts", partner_id=paying_partner)).body
    assert counts == {**counts, "all": 1, "assigned": 0, "unassigned": 0, "revoked": 1}


def test_an_issue_interrupted_between_transactions_finishes_on_retry(paying_partner: str, aws: Any) -> None:
    """100 licenses take two transactions; a crash between them and a retry still yields exactly 100."""
    repository = DynamoLicenseRepository(os.environ["TABLE_NAME"], clients.dynamodb())
    service = LicenseService(repository, SystemClock())
    real_transact = repository._transact
    calls = 0

    def crash_after_first(items: list[dict[str, Any]]) -> None:
        nonlocal calls
        calls += 1
        real_transact(items)
        if calls == 1:
            raise RuntimeError("the execution environment died here")

    repository._transact = crash_after_first  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        service.issue(paying_partner, "jetpack-backup", 100, "user:test", receipt_id="order-1")

    retried = service.issue(paying_partner, "jetpack-backup", 100, "user:test", receipt_id="order-1")

    assert len(retried) == 100 and len({lic.license_key for lic in retried}) == 100
    assert service.counts(paying_partner).all == 100
    page = service.list(
        __import__("partnerhub.domain.licenses", fromlist=["ListQuery"]).ListQuery(partner_id=paying_partner, limit=100)
    )
    assert {lic.license_key for lic in page.items} == {lic.license_key for lic in retried}
