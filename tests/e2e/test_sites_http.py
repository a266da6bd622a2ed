"""Connected sites over HTTP against the local stack: the README's "Connected sites" session, and its error paths."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from testkit.stack import LocalStack
from tests.e2e.test_licenses_http import NEW_SITE, SITE, in_good_standing

DENTIST = {
    "site_id": "184473100",
    "site_url": "https://client-dentist.example",
    "site_owner": "bo@client-dentist.example",
}


@pytest.fixture
def partner(stack: LocalStack) -> str:
    partner_id = f"agency-{uuid.uuid4().hex[:10]}"
    in_good_standing(stack, partner_id)
    return partner_id


def test_the_readme_session(stack: LocalStack, partner: str) -> None:
    api = stack.client(partner)
    # The first session: a license assigned to the bakery, transferred to the florist, then revoked
    key = api.post("/v1/licenses", json={"product": "jetpack-backup"}).json()["items"][0]["license_key"]
    assert api.put(f"/v1/licenses/{key}/site", json=SITE).status_code == 200
    assert api.put(f"/v1/licenses/{key}/site", json=NEW_SITE).status_code == 200
    assert api.post(f"/v1/licenses/{key}/revoke").status_code == 200

    # Both sites were connected by those assignments; neither holds a license now
    listed = api.get("/v1/sites").json()
    assert [(s["site_id"], s["licenses"]) for s in listed["items"]] == [
        (SITE["site_id"], []),
        (NEW_SITE["site_id"], []),
    ]
    assert listed["next_cursor"] is None

    # Connect a client's site, then issue Scan to it and to the bakery: one license each, assigned at once
    connected = api.post("/v1/sites", json=DENTIST)
    assert connected.status_code == 200, connected.text
    assert connected.json()["licenses"] == []
    body = {"product": "jetpack-scan", "site_ids": [DENTIST["site_id"], SITE["site_id"]]}
    issued = api.post("/v1/licenses", json=body, headers={"Idempotency-Key": "order-2"})
    assert issued.status_code == 201, issued.text
    assert [(i["site"]["site_id"], i["status"]) for i in issued.json()["items"]] == [
        (DENTIST["site_id"], "assigned"),
        (SITE["site_id"], "assigned"),
    ]
    replay = api.post("/v1/licenses", json=body, headers={"Idempotency-Key": "order-2"})
    assert replay.json() == issued.json()

    # Searching finds the dentist with its license; issuing Scan to it again is refused, naming it
    found = api.get("/v1/sites", params={"search": "dentist"}).json()["items"]
    assert [(s["site_id"], [lic["product"] for lic in s["licenses"]]) for s in found] == [
        (DENTIST["site_id"], ["jetpack-scan"])
    ]
    again = api.post("/v1/licenses", json={"product": "jetpack-scan", "site_ids": [DENTIST["site_id"]]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "site_has_license"
    assert [d["site_id"] for d in again.json()["error"]["details"]] == [DENTIST["site_id"]]

    # A site holding a license stays; the florist, holding nothing, goes
    refused = api.delete(f"/v1/sites/{DENTIST['site_id']}")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "site_has_licenses"
    gone = api.delete(f"/v1/sites/{NEW_SITE['site_id']}")
    assert gone.status_code == 204 and gone.content == b""
    assert [s["site_id"] for s in api.get("/v1/sites").json()["items"]] == [SITE["site_id"], DENTIST["site_id"]]
    assert api.get("/v1/licenses/counts").json()["assigned"] == 2


def test_error_paths_over_http(stack: LocalStack, partner: str) -> None:
    api = stack.client(partner)

    unknown = api.post("/v1/licenses", json={"product": "jetpack-scan", "site_ids": ["404404"]})
    both = api.post("/v1/licenses", json={"product": "jetpack-scan", "site_ids": ["1"], "quantity": 1})
    bad_site = api.post("/v1/sites", json={"site_id": "1", "site_url": "not a url"})
    gone = api.delete("/v1/sites/404404")
    no_token = stack.anonymous.get("/v1/sites")

    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "site_not_found"
    assert both.status_code == 422 and bad_site.status_code == 422
    assert [d["field"] for d in bad_site.json()["error"]["details"]] == ["site_url"]
    assert gone.status_code == 404 and no_token.status_code == 401
    for reply in (unknown, both, bad_site, gone):
        assert set(reply.json()["error"]) == {"code", "message", "details"}


def test_concurrent_orders_for_one_site_over_http_issue_one_license(stack: LocalStack, partner: str) -> None:
    api = stack.client(partner)
    assert api.post("/v1/sites", json=DENTIST).status_code == 200
    body = {"product": "jetpack-boost", "site_ids": [DENTIST["site_id"]]}

    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: api.post("/v1/licenses", json=body).status_code, range(6)))

    assert sorted(statuses) == [201] + [409] * 5
    (site,) = api.get("/v1/sites").json()["items"]
    assert [lic["product"] for lic in site["licenses"]] == ["jetpack-boost"]
    assert api.get("/v1/licenses/counts").json()["all"] == 1
