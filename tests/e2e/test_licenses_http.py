"""The license commands over HTTP against the local stack: the README's curl session, and its error paths."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from partnerhub.repository import keys
from testkit.stack import LocalStack

SITE = {"site_id": "184472401", "site_url": "https://client-bakery.example", "site_owner": "ann@client-bakery.example"}
NEW_SITE = {"site_id": "184472999", "site_url": "https://client-florist.example"}


def in_good_standing(stack: LocalStack, partner_id: str) -> None:
    """Until a card is added through the payment-methods API, the standing is the partner record's flag."""
    table = boto3.resource(
        "dynamodb",
        endpoint_url=stack.moto_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    ).Table("partnerhub-local")
    table.update_item(
        Key={"PK": keys.partner_pk(partner_id), "SK": keys.PROFILE},
        UpdateExpression="SET has_payment_method = :yes",
        ExpressionAttributeValues={":yes": True},
    )


@pytest.fixture
def partner(stack: LocalStack) -> str:
    partner_id = f"agency-{uuid.uuid4().hex[:10]}"
    in_good_standing(stack, partner_id)
    return partner_id


def test_the_readme_session(stack: LocalStack, partner: str) -> None:
    api = stack.client(partner)

    issued = api.post("/v1/licenses", json={"product": "jetpack-backup", "quantity": 2}, headers={"Idempotency-Key": "o-1"})
    assert issued.status_code == 201, issued.text
    first, second = (item["license_key"] for item in issued.json()["items"])
    replay = api.post("/v1/licenses", json={"product": "jetpack-backup", "quantity": 2}, headers={"Idempotency-Key": "o-1"})
    assert replay.json() == issued.json()

    listed = api.get("/v1/licenses", params={"status": "unassigned"}).json()
    assert {item["license_key"] for item in listed["items"]} == {first, second}

    assigned = api.put(f"/v1/licenses/{first}/site", json=SITE)
    assert assigned.status_code == 200 and assigned.json()["status"] == "assigned"
    found = api.get("/v1/licenses", params={"search": "bakery"}).json()["items"]
    assert [item["license_key"] for item in found] == [first]

    moved = api.put(f"/v1/licenses/{first}/site", json=NEW_SITE)
    assert moved.json()["site"]["site_id"] == NEW_SITE["site_id"]

    revoked = api.post(f"/v1/licenses/{second}/revoke")
    assert revoked.json()["status"] == "revoked"

    detail = api.get(f"/v1/licenses/{first}").json()
    assert [event["type"] for event in detail["history"]] == ["issued", "assigned", "transferred"]
    counts = api.get("/v1/licenses/counts").json()
    assert (counts["all"], counts["assigned"], counts["unassigned"], counts["revoked"]) == (2, 1, 0, 1)


def test_error_paths_over_http(stack: LocalStack, partner: str) -> None:
    api = stack.client(partner)
    key = api.post("/v1/licenses", json={"product": "jetpack-scan"}).json()["items"][0]["license_key"]

    malformed = api.post("/v1/licenses", data='{"product": ', headers={"Content-Type": "application/json"})
    invalid = api.post("/v1/licenses", json={"product": "jetpack-scan", "quantity": 500})
    foreign = stack.client(f"{partner}-other").get(f"/v1/licenses/{key}")
    unknown = api.get("/v1/licenses/jetpack-scan_AAAAAAAAAAAAAAAAAAAAAAAA")
    unassign_unassigned = api.delete(f"/v1/licenses/{key}/site")
    no_token = stack.anonymous.get("/v1/licenses")

    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_request"
    assert invalid.status_code == 422 and invalid.json()["error"]["details"][0]["field"] == "quantity"
    assert foreign.status_code == 404 and unknown.status_code == 404
    assert unassign_unassigned.status_code == 409
    assert no_token.status_code == 401
    for reply in (malformed, invalid, foreign, unknown, unassign_unassigned):
        assert set(reply.json()["error"]) == {"code", "message", "details"}


def test_concurrent_assigns_over_http_leave_one_license_on_the_site(stack: LocalStack, partner: str) -> None:
    api = stack.client(partner)
    license_keys = [i["license_key"] for i in api.post("/v1/licenses", json={"product": "jetpack-boost", "quantity": 8}).json()["items"]]

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda k: api.put(f"/v1/licenses/{k}/site", json=SITE).status_code, license_keys))

    assert sorted(statuses) == [200] + [409] * 7
