"""Issuing to sites stays all or nothing across transactions: under concurrent orders, assignments and
disconnections, after a crash between its transactions, and when an interrupted order is never retried.

Each concurrent request runs in its own execution environment (a fresh import of the function), as Lambda runs
them; a barrier releases them together. The crashes are the repository's own transaction call failing after it
wrote (the execution environment dying there).
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from partnerhub import clients
from partnerhub.clock import ManualClock
from partnerhub.domain.licenses import LicenseService, ListQuery
from partnerhub.domain.models import Site
from partnerhub.domain.sites import RESERVATION, SiteService
from partnerhub.errors import Conflict
from partnerhub.repository import keys
from partnerhub.repository.licenses import DynamoLicenseRepository
from partnerhub.repository.sites import DynamoSiteRepository
from testkit.events import load_event
from tests.integration.conftest import Function, Reply
from tests.integration.test_license_races import race

N = 8


@pytest.fixture
def envs(environments: Callable[[str, int], list[Function]]) -> list[Function]:
    return environments("licenses", N)


def site(n: int) -> Site:
    return Site(site_id=f"s{n:04d}", site_url=f"https://client-{n}.example")


def connect_all(env: Function, partner: str, numbers: range | list[int]) -> None:
    for n in numbers:
        body = site(n).model_dump(exclude_none=True)
        reply = env(
            load_event("licenses/connect_site", partner_id=partner, body=body, drop_headers=("idempotency-key",))
        )
        assert reply.status == 200, reply.body


def order_call(env: Function, partner: str, numbers: list[int], product: str = "jetpack-backup") -> Callable[[], Reply]:
    body = {"product": product, "site_ids": [site(n).site_id for n in numbers]}
    event = load_event("licenses/issue_to_sites", partner_id=partner, body=body, drop_headers=("idempotency-key",))
    return lambda: env(event)


def claims(partner: str) -> list[dict[str, Any]]:
    answer = boto3.client("dynamodb").query(
        TableName=os.environ["TABLE_NAME"],
        KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
        ExpressionAttributeValues={
            ":pk": {"S": keys.partner_pk(partner)},
            ":lo": {"S": keys.SITE_CLAIM_PREFIX},
            ":hi": {"S": keys.SITES_UPPER},
        },
        ConsistentRead=True,
    )
    return [item for item in answer["Items"] if "license_key" in item]


def licenses_on_sites(service: LicenseService, partner: str) -> dict[str, list[str]]:
    """Every license of the partner by the site it is on (consistent with the claims, checked by the caller)."""
    found: dict[str, list[str]] = {}
    cursor = None
    while True:
        page = service.list(ListQuery(partner_id=partner, limit=100, cursor=cursor))
        for lic in page.items:
            found.setdefault(lic.site.site_id if lic.site else "", []).append(lic.license_key)
        cursor = page.next_cursor
        if cursor is None:
            return found


@pytest.fixture
def wiring(aws: Any, clock: ManualClock, now: Any) -> tuple[DynamoLicenseRepository, LicenseService, SiteService]:
    repository = DynamoLicenseRepository(os.environ["TABLE_NAME"], clients.dynamodb())
    service = LicenseService(repository, clock, sleep=lambda _: None)
    sites = SiteService(DynamoSiteRepository(os.environ["TABLE_NAME"], clients.dynamodb()), repository, clock)
    return repository, service, sites


def crash_after(repository: DynamoLicenseRepository, transactions: int) -> None:
    """The next ``transactions``-th transaction is written, and then the execution environment dies."""
    real = repository._transact
    calls = 0

    def transact(items: list[dict[str, Any]]) -> None:
        nonlocal calls
        calls += 1
        real(items)
        if calls == transactions:
            repository._transact = real  # type: ignore[method-assign]
            raise RuntimeError("the execution environment died here")

    repository._transact = transact  # type: ignore[method-assign]


class TestRaces:
    def test_overlapping_orders_each_win_whole_or_issue_nothing(
        self, envs: list[Function], paying_partner: str
    ) -> None:
        # Given 20 connected sites, and eight orders for windows of them that overlap their neighbours'
        connect_all(envs[0], paying_partner, range(20))
        windows = [list(range(start, start + 6)) for start in range(0, 16, 2)]

        # When all of them are sent at once
        replies = race([order_call(env, paying_partner, window) for env, window in zip(envs, windows, strict=True)])

        # Then each order either got every one of its sites or issued nothing
        assert {r.status for r in replies} <= {201, 409}, [r.body for r in replies]
        won = [window for window, r in zip(windows, replies, strict=True) if r.status == 201]
        assert won, "some order must win"
        for window, reply in zip(windows, replies, strict=True):
            if reply.status == 201:
                assert [i["site"]["site_id"] for i in reply.body["items"]] == [site(n).site_id for n in window]
            else:
                assert reply.body["error"]["code"] == "site_has_license", reply.body
        # and no site holds two: the winners' windows are disjoint, and the table holds exactly their licenses
        taken = [n for window in won for n in window]
        assert len(taken) == len(set(taken))
        table = claims(paying_partner)
        assert sorted(c["site_id"]["S"] for c in table) == sorted(site(n).site_id for n in taken)
        assert all("reserved_until" not in c for c in table)
        counts = envs[0](load_event("licenses/counts", partner_id=paying_partner)).body
        assert (counts["all"], counts["assigned"]) == (len(taken), len(taken))

    def test_an_order_racing_single_assignments_to_its_sites(self, envs: list[Function], paying_partner: str) -> None:
        # Given five connected sites and N - 1 unassigned licenses
        connect_all(envs[0], paying_partner, range(5))
        issued = envs[0](
            load_event(
                "licenses/issue",
                partner_id=paying_partner,
                body={"product": "jetpack-backup", "quantity": N - 1},
                drop_headers=("idempotency-key",),
            )
        ).body["items"]

        # When an order to all five races N - 1 assignments of those licenses to site 2
        def assign(env: Function, key: str) -> Callable[[], Reply]:
            body = site(2).model_dump(exclude_none=True)
            event = load_event("licenses/assign", partner_id=paying_partner, path={"license_key": key}, body=body)
            return lambda: env(event)

        calls = [order_call(envs[0], paying_partner, list(range(5)))]
        calls += [assign(env, lic["license_key"]) for env, lic in zip(envs[1:], issued, strict=True)]
        replies = race(calls)

        # Then exactly one license ends on site 2: the order's (and all five are its) or one assignment's
        order, assignments = replies[0], replies[1:]
        winners = [r for r in assignments if r.status == 200]
        assert all(r.status in (200, 409) for r in assignments)
        if order.status == 201:
            assert winners == [] and len(order.body["items"]) == 5
        else:
            assert order.status == 409 and len(winners) == 1, [order.body, [r.body for r in assignments]]
        site_2 = [c for c in claims(paying_partner) if c["site_id"]["S"] == site(2).site_id]
        assert len(site_2) == 1

    @pytest.mark.parametrize("attempt", range(3))
    def test_a_disconnect_racing_an_order_leaves_the_site_either_holding_it_or_gone(
        self, envs: list[Function], paying_partner: str, attempt: int
    ) -> None:
        connect_all(envs[0], paying_partner, range(3))
        gone = load_event("licenses/disconnect_site", partner_id=paying_partner, path={"site_id": site(1).site_id})

        order, disconnected = race([order_call(envs[1], paying_partner, [0, 1, 2]), lambda: envs[2](gone)])

        if disconnected.status == 204:
            # The site went first: the order names it as not connected and issues nothing.
            assert order.status == 404, order.body
            assert [d["site_id"] for d in order.body["error"]["details"]] == [site(1).site_id]
            assert claims(paying_partner) == []
        else:
            assert disconnected.status == 409 and order.status == 201, (disconnected.body, order.body)
            assert len(claims(paying_partner)) == 3


class TestCrashes:
    def test_a_crash_after_reserving_is_finished_by_the_retry(
        self, wiring: tuple[DynamoLicenseRepository, LicenseService, SiteService], paying_partner: str
    ) -> None:
        repository, service, sites = wiring
        for n in range(3):
            sites.connect(paying_partner, site(n))
        ids = [site(n).site_id for n in range(3)]

        # Given an order that reserved its sites and died before committing
        crash_after(repository, 1)
        with pytest.raises(RuntimeError):
            service.issue_to_sites(paying_partner, "jetpack-backup", ids, "user:ann", receipt_id="order-1")
        reserved = claims(paying_partner)
        assert len(reserved) == 3 and all("reserved_until" in c for c in reserved)
        assert service.counts(paying_partner).all == 0

        # When it is retried (the same Idempotency-Key: the same receipt)
        issued = service.issue_to_sites(paying_partner, "jetpack-backup", ids, "user:ann", receipt_id="order-1")

        # Then it issues each license once and holds each site with it
        assert [lic.site.site_id for lic in issued if lic.site] == ids
        assert licenses_on_sites(service, paying_partner) == {
            s: [lic.license_key] for s, lic in zip(ids, issued, strict=True)
        }
        assert all("reserved_until" not in c for c in claims(paying_partner))
        assert service.counts(paying_partner).assigned == 3

    def test_a_crash_between_the_commit_and_the_last_licenses_is_finished_by_the_retry(
        self, wiring: tuple[DynamoLicenseRepository, LicenseService, SiteService], paying_partner: str
    ) -> None:
        repository, service, sites = wiring
        for n in range(100):
            sites.connect(paying_partner, site(n))
        ids = [site(n).site_id for n in range(100)]

        # Given an order of 100 that died right after its commit (two reservations, then the receipt's transaction)
        crash_after(repository, 3)
        with pytest.raises(RuntimeError):
            service.issue_to_sites(paying_partner, "jetpack-scan", ids, "user:ann", receipt_id="order-100")
        written = licenses_on_sites(service, paying_partner)
        assert 0 < sum(len(v) for v in written.values()) < 100

        # When it is retried
        issued = service.issue_to_sites(paying_partner, "jetpack-scan", ids, "user:ann", receipt_id="order-100")

        # Then it finishes with the licenses it committed to (the first ones are those already written)
        assert len(issued) == 100 and len({lic.license_key for lic in issued}) == 100
        on_sites = licenses_on_sites(service, paying_partner)
        assert on_sites == {lic.site.site_id: [lic.license_key] for lic in issued if lic.site}
        for site_id, keys_written in written.items():
            assert on_sites[site_id] == keys_written
        counts = service.counts(paying_partner)
        assert (counts.all, counts.assigned) == (100, 100)
        assert len(claims(paying_partner)) == 100 and all("reserved_until" not in c for c in claims(paying_partner))

    def test_an_interrupted_order_holds_its_sites_until_its_reservation_lapses(
        self,
        wiring: tuple[DynamoLicenseRepository, LicenseService, SiteService],
        paying_partner: str,
        clock: ManualClock,
    ) -> None:
        repository, service, sites = wiring
        for n in range(2):
            sites.connect(paying_partner, site(n))
        (other,) = service.issue(paying_partner, "jetpack-backup", 1, "user:bob", receipt_id="other")
        crash_after(repository, 1)
        with pytest.raises(RuntimeError):
            service.issue_to_sites(paying_partner, "jetpack-backup", ["s0000", "s0001"], "user:ann", "order-2")

        # While the reservation holds: the site is being issued a license; it cannot take another, nor leave
        with pytest.raises(Conflict) as refused:
            service.assign(paying_partner, other.license_key, site(0), "user:bob")
        assert refused.value.code == "site_has_license"
        with pytest.raises(Conflict) as kept:
            sites.disconnect(paying_partner, "s0001")
        assert kept.value.code == "site_has_licenses"

        # Once it lapses, an assignment takes the site (releasing the reservation) ...
        clock.advance(RESERVATION)
        assert service.assign(paying_partner, other.license_key, site(0), "user:bob").site == site(0)

        # ... and the order, retried later, finds it taken: it issues nothing and lets go of its other site
        with pytest.raises(Conflict) as late:
            service.issue_to_sites(paying_partner, "jetpack-backup", ["s0000", "s0001"], "user:ann", "order-2")
        assert late.value.code == "site_has_license"
        assert [d["site_id"] for d in late.value.details] == ["s0000"]
        assert licenses_on_sites(service, paying_partner) == {"s0000": [other.license_key]}
        assert [c["site_id"]["S"] for c in claims(paying_partner)] == ["s0000"]

    def test_an_abandoned_order_retried_after_its_sites_are_free_again_issues_them(
        self,
        wiring: tuple[DynamoLicenseRepository, LicenseService, SiteService],
        paying_partner: str,
        clock: ManualClock,
    ) -> None:
        repository, service, sites = wiring
        for n in range(2):
            sites.connect(paying_partner, site(n))
        crash_after(repository, 1)
        with pytest.raises(RuntimeError):
            service.issue_to_sites(paying_partner, "jetpack-backup", ["s0000", "s0001"], "user:ann", "order-3")
        # Given its reservation lapsed and was released by a disconnect of one of its sites (reconnected since)
        clock.advance(RESERVATION + RESERVATION)
        sites.disconnect(paying_partner, "s0001")
        sites.connect(paying_partner, site(1))

        # When the order is retried
        issued = service.issue_to_sites(paying_partner, "jetpack-backup", ["s0000", "s0001"], "user:ann", "order-3")

        # Then it issues both, once
        assert [lic.site.site_id for lic in issued if lic.site] == ["s0000", "s0001"]
        assert sorted(licenses_on_sites(service, paying_partner)) == ["s0000", "s0001"]
        assert service.counts(paying_partner).all == 2

    def test_an_order_cannot_commit_after_its_lapsed_reservation_was_released(
        self,
        wiring: tuple[DynamoLicenseRepository, LicenseService, SiteService],
        paying_partner: str,
        clock: ManualClock,
    ) -> None:
        # Given an order of 40 that has reserved its sites and is slow to commit (past its reservation), while another
        # command takes its last site, whose license would be written after the commit (the commit's transaction
        # holds only the first 31: this site is protected by nothing but the receipt)
        repository, service, sites = wiring
        for n in range(40):
            sites.connect(paying_partner, site(n))
        ids = [site(n).site_id for n in range(40)]
        (other,) = service.issue(paying_partner, "jetpack-backup", 1, "user:bob", receipt_id="other-2")
        real = repository._transact
        calls = 0

        def slow(items: list[dict[str, Any]]) -> None:
            nonlocal calls
            calls += 1
            if calls == 2:  # the commit: meanwhile the reservation lapses and an assignment takes site 39
                clock.advance(RESERVATION)
                repository._transact = real  # type: ignore[method-assign]
                service.assign(paying_partner, other.license_key, site(39), "user:bob")
                repository._transact = slow  # type: ignore[method-assign]
            real(items)

        repository._transact = slow  # type: ignore[method-assign]

        # When it goes on to commit: releasing the lapsed reservation marked its receipt abandoned, which refuses it
        with pytest.raises(Conflict) as refused:
            service.issue_to_sites(paying_partner, "jetpack-backup", ids, "user:ann", "order-4")
        repository._transact = real  # type: ignore[method-assign]

        # Then it reads again and refuses the order, naming the site it lost; nothing of it is written
        assert [d["site_id"] for d in refused.value.details] == ["s0039"]
        assert licenses_on_sites(service, paying_partner) == {"s0039": [other.license_key]}
        assert service.counts(paying_partner).all == 1
        assert [c["site_id"]["S"] for c in claims(paying_partner)] == ["s0039"]


def test_an_order_for_another_partners_sites_names_them_as_not_connected(
    envs: list[Function], paying_partner: str
) -> None:
    other = f"agency-{uuid.uuid4().hex[:12]}"
    connect_all(envs[0], other, range(2))

    reply = order_call(envs[0], paying_partner, [0, 1])()

    assert reply.status == 404 and reply.body["error"]["code"] == "site_not_found"
    assert Counter(d["site_id"] for d in reply.body["error"]["details"]) == {"s0000": 1, "s0001": 1}
    assert claims(other) == []
