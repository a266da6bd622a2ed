"""Races over HTTP against the local stack: the gateway runs each concurrent request in its own
execution environment, as Lambda does, and a barrier releases the requests together."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
import requests

from tests.reliability.conftest import LocalStack, issue, race, site

N = 20


def test_twenty_licenses_of_one_product_onto_one_site_exactly_one_wins(stack: LocalStack, paying_partner: str) -> None:
    # Given twenty unassigned licenses of one product
    api = stack.client(paying_partner)
    license_keys = [lic["license_key"] for lic in issue(api, N)]

    # When all of them are assigned to the same site at once
    replies = race([lambda k=k: api.put(f"/v1/licenses/{k}/site", json=site(1)) for k in license_keys])

    # Then exactly one wins and every other one is a 409
    assert Counter(r.status_code for r in replies) == {200: 1, 409: N - 1}, [r.text for r in replies]
    assert all(r.json()["error"]["code"] == "site_has_license" for r in replies if r.status_code == 409)
    counts = api.get("/v1/licenses/counts").json()
    assert (counts["assigned"], counts["unassigned"]) == (1, N - 1)
    on_site = api.get("/v1/licenses", params={"status": "assigned"}).json()["items"]
    assert [lic["site"]["site_id"] for lic in on_site] == ["site-1"]


def test_one_license_onto_twenty_sites_records_every_success_in_order(stack: LocalStack, paying_partner: str) -> None:
    # Given one license
    api = stack.client(paying_partner)
    key = issue(api, 1)[0]["license_key"]

    # When it is assigned to twenty different sites at once
    replies = race([lambda n=n: api.put(f"/v1/licenses/{key}/site", json=site(n)) for n in range(N)])

    # Then each answer is a success or a clear "retry" (never a lost update, never a 5xx other than 503)
    assert all(r.status_code in (200, 503) for r in replies), [r.text for r in replies if r.status_code != 200]
    assert all(r.headers.get("Retry-After") for r in replies if r.status_code == 503)
    winners = [r.json()["site"]["site_id"] for r in replies if r.status_code == 200]
    assert winners
    # And every success is in the history, in time order, and the license sits on exactly the last one
    detail = api.get(f"/v1/licenses/{key}").json()
    history = detail["history"]
    assert [h["type"] for h in history] == ["issued", "assigned"] + ["transferred"] * (len(history) - 2)
    recorded = [h["site"]["site_id"] for h in history[1:]]
    assert sorted(recorded) == sorted(winners)
    times = [h["at"] for h in history]
    assert times == sorted(times)
    for earlier, later in itertools.pairwise(history[1:]):
        assert later["previous_site"] == earlier["site"], history
    assert detail["site"]["site_id"] == recorded[-1]
    assigned = api.get("/v1/licenses", params={"status": "assigned"}).json()["items"]
    assert [lic["license_key"] for lic in assigned] == [key]


def test_twenty_issues_with_one_idempotency_key_make_one_set(stack: LocalStack, paying_partner: str) -> None:
    api = stack.client(paying_partner)

    # When twenty identical orders with one Idempotency-Key arrive at once
    def order() -> requests.Response:
        return api.post(
            "/v1/licenses", json={"product": "jetpack-backup", "quantity": 3}, headers={"Idempotency-Key": "order-7"}
        )

    replies = race([order for _ in range(N)])

    # Then one set of three licenses exists; every 201 carries that same set; the rest are "still running"
    created = [r for r in replies if r.status_code == 201]
    assert created and all(r.status_code in (201, 409) for r in replies), [r.text for r in replies]
    assert all(r.json()["error"]["code"] == "idempotency_in_progress" for r in replies if r.status_code == 409)
    assert all(r.json() == created[0].json() for r in created)
    assert api.get("/v1/licenses/counts").json()["all"] == 3
    # And a later retry replays the same answer
    again = order()
    assert again.status_code == 201 and again.json() == created[0].json()


@pytest.mark.parametrize("attempt", range(3))
def test_revoke_racing_assign_ends_consistent(stack: LocalStack, paying_partner: str, attempt: int) -> None:
    api = stack.client(paying_partner)
    key = issue(api, 1)[0]["license_key"]

    # When an assignment and a revocation of the same license race
    assign, revoke = race(
        [lambda: api.put(f"/v1/licenses/{key}/site", json=site(7)), lambda: api.post(f"/v1/licenses/{key}/revoke")]
    )

    # Then the revocation wins for good, and the assignment either happened before it or was refused
    assert revoke.status_code == 200, revoke.text
    assert assign.status_code in (200, 409, 503), assign.text
    detail = api.get(f"/v1/licenses/{key}").json()
    assigned_first = assign.status_code == 200
    assert detail["status"] == "revoked"
    assert detail["site"] == (site(7) if assigned_first else None)
    types = [h["type"] for h in detail["history"]]
    assert types == (["issued", "assigned", "revoked"] if assigned_first else ["issued", "revoked"])
    counts = api.get("/v1/licenses/counts").json()
    assert (counts["all"], counts["assigned"], counts["unassigned"], counts["revoked"]) == (1, 0, 0, 1)
    # And the site is free again: a new license of the product can go there
    fresh = issue(api, 1)[0]["license_key"]
    assert api.put(f"/v1/licenses/{fresh}/site", json=site(7)).status_code == 200
