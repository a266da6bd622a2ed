"""The license function end to end against moto, fed the sample events in events/licenses/."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import boto3
import pytest

from partnerhub.clock import ManualClock, isoformat
from partnerhub.repository import keys
from partnerhub.repository.partners import DynamoPartnerRepository
from testkit.events import load_event
from testkit.partners import SeededPartners
from tests.integration.conftest import Function, Reply

SITE_A = {"site_id": "1001", "site_url": "https://bakery.example", "site_owner": "ann@bakery.example"}
SITE_B = {"site_id": "1002", "site_url": "https://florist.example"}


@pytest.fixture
def licenses(function: Callable[[str], Function]) -> Function:
    return function("licenses")


def issue(licenses: Function, partner: str, product: str = "jetpack-backup", quantity: int = 1, **kw: Any) -> Reply:
    return licenses(
        load_event("licenses/issue", partner_id=partner, body={"product": product, "quantity": quantity}, **kw)
    )


def issue_one(licenses: Function, partner: str, product: str = "jetpack-backup") -> str:
    reply = issue(licenses, partner, product, drop_headers=("idempotency-key",))
    assert reply.status == 201, reply.body
    return str(reply.body["items"][0]["license_key"])


def assign(licenses: Function, partner: str, key: str, site: dict[str, str], **kw: Any) -> Reply:
    return licenses(load_event("licenses/assign", partner_id=partner, path={"license_key": key}, body=site, **kw))


def detail(licenses: Function, partner: str, key: str) -> Reply:
    return licenses(load_event("licenses/get", partner_id=partner, path={"license_key": key}))


def listing(licenses: Function, partner: str, **query: str) -> Reply:
    return licenses(load_event("licenses/list", partner_id=partner, query=query))


class TestIssue:
    def test_issues_unassigned_licenses_with_unguessable_keys(
        self, licenses: Function, paying_partner: str, now: Any
    ) -> None:
        reply = issue(licenses, paying_partner, quantity=3)

        assert reply.status == 201
        items = reply.body["items"]
        assert len(items) == 3
        assert len({i["license_key"] for i in items}) == 3
        for item in items:
            assert item["license_key"].startswith("jetpack-backup_")
            assert len(item["license_key"].split("_", 1)[1]) >= 24
            assert item["status"] == "unassigned"
            assert item["source"] == "portal"
            assert item["product_name"] == "Jetpack VaultPress Backup"
            assert item["issued_at"] == "2026-11-10T12:00:00Z"
            assert item["site"] is None

    def test_issues_a_hundred_at_once(self, licenses: Function, paying_partner: str) -> None:
        reply = issue(licenses, paying_partner, quantity=100, drop_headers=("idempotency-key",))

        assert reply.status == 201
        assert len(reply.body["items"]) == 100
        counts = licenses(load_event("licenses/counts", partner_id=paying_partner)).body
        assert counts["all"] == 100 and counts["unassigned"] == 100

    @pytest.mark.parametrize("quantity", [0, 101, -1])
    def test_quantity_out_of_range_is_422_naming_the_field(
        self, licenses: Function, paying_partner: str, quantity: int
    ) -> None:
        reply = issue(licenses, paying_partner, quantity=quantity)

        assert reply.status == 422
        assert reply.body["error"]["code"] == "validation_error"
        assert any(d["field"] == "quantity" for d in reply.body["error"]["details"])

    def test_unknown_product_is_404(self, licenses: Function, paying_partner: str) -> None:
        # A well-formed slug the catalog does not hold names nothing: 404, as PUT /v1/prices/{product} answers
        reply = issue(licenses, paying_partner, product="no-such-product")

        assert reply.status == 404
        assert reply.body["error"]["code"] == "product_not_found"
        assert reply.body["error"]["details"][0]["field"] == "product"

    def test_malformed_json_is_400(self, licenses: Function, paying_partner: str) -> None:
        reply = licenses(load_event("licenses/issue", partner_id=paying_partner, raw_body='{"product": '))

        assert reply.status == 400
        assert reply.body["error"]["code"] == "malformed_request"

    def test_unknown_field_is_422(self, licenses: Function, paying_partner: str) -> None:
        body = {"product": "jetpack-backup", "quantity": 1, "colour": "blue"}
        reply = licenses(load_event("licenses/issue", partner_id=paying_partner, body=body))

        assert reply.status == 422
        assert reply.body["error"]["details"][0]["field"] == "colour"

    def test_without_a_payment_method_issuing_is_402(self, licenses: Function, partner_id: str) -> None:
        reply = issue(licenses, partner_id)

        assert reply.status == 402
        assert reply.body["error"]["code"] == "payment_method_required"
        assert listing(licenses, partner_id).body["items"] == []

    def test_with_a_past_due_invoice_issuing_is_402(
        self, licenses: Function, paying_partner: str, partners: DynamoPartnerRepository
    ) -> None:
        partners.mark_past_due(paying_partner, "in_123")

        reply = issue(licenses, paying_partner)

        assert reply.status == 402
        assert reply.body["error"]["code"] == "past_due_invoice"

    def test_same_idempotency_key_and_body_replays_the_first_response(
        self, licenses: Function, paying_partner: str
    ) -> None:
        first = issue(licenses, paying_partner, quantity=2, headers={"Idempotency-Key": "k-1"})
        second = issue(licenses, paying_partner, quantity=2, headers={"Idempotency-Key": "k-1"})

        assert second.status == first.status == 201
        assert second.body == first.body
        assert licenses(load_event("licenses/counts", partner_id=paying_partner)).body["all"] == 2

    def test_same_idempotency_key_with_another_body_is_422(self, licenses: Function, paying_partner: str) -> None:
        issue(licenses, paying_partner, quantity=2, headers={"Idempotency-Key": "k-2"})
        reply = issue(licenses, paying_partner, quantity=3, headers={"Idempotency-Key": "k-2"})

        assert reply.status == 422
        assert reply.body["error"]["code"] == "idempotency_key_reused"
        assert licenses(load_event("licenses/counts", partner_id=paying_partner)).body["all"] == 2

    def test_a_refused_request_can_be_retried_with_its_key_once_fixed(
        self, licenses: Function, partner_id: str, partners: DynamoPartnerRepository
    ) -> None:
        assert issue(licenses, partner_id, headers={"Idempotency-Key": "k-3"}).status == 402
        partners.set_has_payment_method(partner_id, True)

        assert issue(licenses, partner_id, headers={"Idempotency-Key": "k-3"}).status == 201

    def test_idempotency_keys_are_per_partner(
        self, licenses: Function, paying_partner: str, partners: DynamoPartnerRepository
    ) -> None:
        other = f"{paying_partner}-other"
        partners.set_has_payment_method(other, True)
        mine = issue(licenses, paying_partner, headers={"Idempotency-Key": "shared"})
        theirs = issue(licenses, other, headers={"Idempotency-Key": "shared"})

        assert mine.body["items"][0]["license_key"] != theirs.body["items"][0]["license_key"]


class TestAssignTransferUnassign:
    def test_assign_then_transfer_keeps_every_step_in_history(
        self, licenses: Function, paying_partner: str, clock: ManualClock, now: Any
    ) -> None:
        key = issue_one(licenses, paying_partner)
        clock.advance(timedelta(hours=1))
        assigned = assign(licenses, paying_partner, key, SITE_A)
        clock.advance(timedelta(days=2))
        moved = assign(licenses, paying_partner, key, SITE_B)

        assert assigned.status == 200 and assigned.body["status"] == "assigned"
        assert assigned.body["site"] == SITE_A
        assert assigned.body["links"]["view_site"] == SITE_A["site_url"]
        assert "bakery.example" in assigned.body["links"]["debug_site"]
        assert moved.status == 200 and moved.body["site"]["site_id"] == "1002"
        history = detail(licenses, paying_partner, key).body["history"]
        assert [h["type"] for h in history] == ["issued", "assigned", "transferred"]
        assert history[2]["previous_site"]["site_id"] == "1001"
        assert history[2]["at"] == "2026-11-12T13:00:00Z"
        assert history[1]["actor"] == f"user:user-of-{paying_partner}"

    def test_assigning_to_the_same_site_again_changes_nothing(self, licenses: Function, paying_partner: str) -> None:
        key = issue_one(licenses, paying_partner)
        assign(licenses, paying_partner, key, SITE_A)
        again = assign(licenses, paying_partner, key, SITE_A)

        assert again.status == 200
        assert [h["type"] for h in detail(licenses, paying_partner, key).body["history"]] == ["issued", "assigned"]

    def test_a_site_holds_one_active_license_per_product(self, licenses: Function, paying_partner: str) -> None:
        first, second = issue_one(licenses, paying_partner), issue_one(licenses, paying_partner)
        other_product = issue_one(licenses, paying_partner, "jetpack-scan")
        assign(licenses, paying_partner, first, SITE_A)

        clash = assign(licenses, paying_partner, second, SITE_A)

        assert clash.status == 409
        assert clash.body["error"]["code"] == "site_has_license"
        assert assign(licenses, paying_partner, other_product, SITE_A).status == 200
        assert detail(licenses, paying_partner, second).body["status"] == "unassigned"

    def test_unassign_frees_the_site(self, licenses: Function, paying_partner: str) -> None:
        first, second = issue_one(licenses, paying_partner), issue_one(licenses, paying_partner)
        assign(licenses, paying_partner, first, SITE_A)

        reply = licenses(load_event("licenses/unassign", partner_id=paying_partner, path={"license_key": first}))

        assert reply.status == 200 and reply.body["status"] == "unassigned" and reply.body["site"] is None
        assert assign(licenses, paying_partner, second, SITE_A).status == 200

    def test_unassigning_an_unassigned_license_is_409(self, licenses: Function, paying_partner: str) -> None:
        key = issue_one(licenses, paying_partner)

        reply = licenses(load_event("licenses/unassign", partner_id=paying_partner, path={"license_key": key}))

        assert reply.status == 409
        assert reply.body["error"]["code"] == "license_not_assigned"

    def test_past_due_blocks_assigning_but_sites_keep_their_licenses(
        self, licenses: Function, paying_partner: str, partners: DynamoPartnerRepository
    ) -> None:
        held, spare = issue_one(licenses, paying_partner), issue_one(licenses, paying_partner)
        assign(licenses, paying_partner, held, SITE_A)
        partners.mark_past_due(paying_partner, "in_9")

        blocked = assign(licenses, paying_partner, spare, SITE_B)

        assert blocked.status == 402 and blocked.body["error"]["code"] == "past_due_invoice"
        assert detail(licenses, paying_partner, held).body["status"] == "assigned"
        partners.clear_past_due(paying_partner, "in_9")
        assert assign(licenses, paying_partner, spare, SITE_B).status == 200

    @pytest.mark.parametrize(
        "site,field",
        [
            ({"site_url": "https://x.example"}, "site_id"),
            ({"site_id": "1", "site_url": "not a url"}, "site_url"),
            ({"site_id": "has space", "site_url": "https://x.example"}, "site_id"),
            ({"site_id": "1", "site_url": "https://-bad-.b\u00e4ckerei.example"}, "site_url"),
            ({"site_id": "1", "site_url": "https://x.example/" + "p" * 2031}, "site_url"),  # 2049 characters
            ({"site_id": "1", "site_owner": "o" * 201, "site_url": "https://x.example"}, "site_owner"),
        ],
    )
    def test_bad_site_is_422_naming_the_field(
        self, licenses: Function, paying_partner: str, site: dict[str, str], field: str
    ) -> None:
        key = issue_one(licenses, paying_partner)

        reply = assign(licenses, paying_partner, key, site)

        assert reply.status == 422
        assert any(d["field"] == field for d in reply.body["error"]["details"])


    def test_an_internationalised_site_url_is_stored_and_answered_in_its_ascii_form(
        self, licenses: Function, paying_partner: str
    ) -> None:
        # Given a site whose address has a German host name and an umlaut in its path
        key = issue_one(licenses, paying_partner)
        site = {"site_id": "2001", "site_url": "https://b\u00e4ckerei.example/\u00fcber-uns"}

        # When the license is assigned to it
        reply = assign(licenses, paying_partner, key, site)

        # Then it is the ASCII form a browser sends: the host in IDNA, the path percent-encoded as UTF-8
        # ("bäckerei" is "xn--bckerei-5wa" in Punycode; "ü" is C3 BC in UTF-8)
        ascii_form = "https://xn--bckerei-5wa.example/%C3%BCber-uns"
        assert reply.status == 200, reply.body
        assert reply.body["site"]["site_url"] == ascii_form
        assert detail(licenses, paying_partner, key).body["site"]["site_url"] == ascii_form
        assert ascii_form.split("/")[2] == "b\u00e4ckerei.example".encode("idna").decode()  # Python's own codec agrees

    def test_a_too_long_site_url_says_too_long(self, licenses: Function, paying_partner: str) -> None:
        key = issue_one(licenses, paying_partner)

        reply = assign(licenses, paying_partner, key, {"site_id": "1", "site_url": "https://x.example/" + "p" * 2031})

        assert reply.status == 422
        (problem,) = [d for d in reply.body["error"]["details"] if d["field"].endswith("site_url")]
        assert "too long: at most 2048 characters" in problem["reason"]


class TestRevoke:
    def test_revoke_releases_the_site_and_is_final(self, licenses: Function, paying_partner: str) -> None:
        key, other = issue_one(licenses, paying_partner), issue_one(licenses, paying_partner)
        assign(licenses, paying_partner, key, SITE_A)
        revoke = load_event("licenses/revoke", partner_id=paying_partner, path={"license_key": key})

        first = licenses(revoke)
        again = licenses(revoke)

        assert first.status == 200 and first.body["status"] == "revoked"
        assert again.status == 200 and again.body == first.body
        assert assign(licenses, paying_partner, key, SITE_B).status == 409
        assert assign(licenses, paying_partner, other, SITE_A).status == 200
        assert [h["type"] for h in detail(licenses, paying_partner, key).body["history"]] == [
            "issued",
            "assigned",
            "revoked",
        ]

    def test_revoked_before_ever_assigned(self, licenses: Function, paying_partner: str) -> None:
        key = issue_one(licenses, paying_partner)

        reply = licenses(load_event("licenses/revoke", partner_id=paying_partner, path={"license_key": key}))

        assert reply.body["status"] == "revoked" and reply.body["assigned_at"] is None


class TestReads:
    def test_unknown_and_foreign_licenses_are_404(self, licenses: Function, paying_partner: str) -> None:
        key = issue_one(licenses, paying_partner)
        stranger = f"{paying_partner}-stranger"

        assert detail(licenses, paying_partner, "jetpack-backup_" + "x" * 24).status == 404
        assert detail(licenses, paying_partner, "not-a-key").status == 404
        assert detail(licenses, stranger, key).status == 404
        assert assign(licenses, stranger, key, SITE_A).status == 404
        revoke = licenses(load_event("licenses/revoke", partner_id=stranger, path={"license_key": key}))
        assert revoke.status == 404 and revoke.body["error"]["code"] == "license_not_found"
        assert detail(licenses, paying_partner, key).body["status"] == "unassigned"

    def test_counts(self, licenses: Function, paying_partner: str) -> None:
        keys = [issue_one(licenses, paying_partner) for _ in range(3)]
        scan = issue_one(licenses, paying_partner, "jetpack-scan")
        assign(licenses, paying_partner, keys[0], SITE_A)
        assign(licenses, paying_partner, scan, SITE_A)
        licenses(load_event("licenses/revoke", partner_id=paying_partner, path={"license_key": keys[1]}))

        counts = licenses(load_event("licenses/counts", partner_id=paying_partner)).body

        assert {k: counts[k] for k in ("all", "assigned", "unassigned", "revoked", "not_revoked")} == {
            "all": 4,
            "assigned": 2,
            "unassigned": 1,
            "revoked": 1,
            "not_revoked": 3,
        }
        assert counts["products"]["jetpack-backup"] == {
            "all": 3,
            "assigned": 1,
            "unassigned": 1,
            "revoked": 1,
            "not_revoked": 2,
        }
        assert counts["products"]["jetpack-scan"]["assigned"] == 1

    def test_list_filters_by_status_and_product_and_searches(
        self, licenses: Function, paying_partner: str, clock: ManualClock, now: Any
    ) -> None:
        backup = [issue_one(licenses, paying_partner) for _ in range(2)]
        clock.advance(timedelta(minutes=1))
        scan = issue_one(licenses, paying_partner, "jetpack-scan")
        assign(licenses, paying_partner, backup[0], SITE_A)
        assign(licenses, paying_partner, scan, SITE_B)

        def keys(**q: str) -> list[str]:
            reply = listing(licenses, paying_partner, **q)
            assert reply.status == 200, reply.body
            return [i["license_key"] for i in reply.body["items"]]

        assert set(keys()) == {*backup, scan}
        assert keys()[0] == scan  # newest first by default
        assert set(keys(status="assigned")) == {backup[0], scan}
        assert keys(status="unassigned") == [backup[1]]
        assert set(keys(product="jetpack-backup")) == set(backup)
        assert keys(product="jetpack-scan", status="assigned") == [scan]
        assert keys(search="florist") == [scan]
        assert keys(search="1001") == [backup[0]]
        assert keys(search=backup[1][-10:]) == [backup[1]]
        assert keys(status="revoked") == []

    def test_list_pages_with_a_cursor(
        self, licenses: Function, paying_partner: str, clock: ManualClock, now: Any
    ) -> None:
        issued = []
        for _ in range(5):
            issued.append(issue_one(licenses, paying_partner))
            clock.advance(timedelta(seconds=1))

        seen: list[str] = []
        cursor = None
        while True:
            query = {"limit": "2", "order": "asc", **({"cursor": cursor} if cursor else {})}
            body = listing(licenses, paying_partner, **query).body
            seen += [i["license_key"] for i in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == issued

    @pytest.mark.parametrize(
        "query,field",
        [
            ({"limit": "0"}, "limit"),
            ({"limit": "101"}, "limit"),
            ({"status": "lost"}, "status"),
            ({"cursor": "garbage!"}, "cursor"),
            ({"status": "assigned", "sort": "revoked_at"}, "sort"),
            ({"order": "sideways"}, "order"),
        ],
    )
    def test_bad_list_queries_are_422(
        self, licenses: Function, paying_partner: str, query: dict[str, str], field: str
    ) -> None:
        reply = listing(licenses, paying_partner, **query)

        assert reply.status == 422, reply.body
        assert any(d["field"] == field for d in reply.body["error"]["details"])


class TestExternalLicenses:
    def test_operators_record_external_licenses_listed_but_marked(
        self, licenses: Function, paying_partner: str
    ) -> None:
        event = load_event("licenses/record_external", path={"partner_id": paying_partner})

        reply = licenses(event)

        assert reply.status == 201, reply.body
        assert reply.body["source"] == "external" and reply.body["status"] == "assigned"
        items = listing(licenses, paying_partner).body["items"]
        assert [i["source"] for i in items] == ["external"]

    def test_the_history_names_the_operator_who_recorded_it(self, licenses: Function, paying_partner: str) -> None:
        reply = licenses(load_event("licenses/record_external", path={"partner_id": paying_partner}))
        assert reply.status == 201, reply.body

        history = detail(licenses, paying_partner, reply.body["license_key"]).body["history"]

        # The sample operator token's sub claim.
        assert [(e["type"], e["actor"]) for e in history] == [
            ("issued", "operator:4c1f0e9a-2a4b-5d6e-9f10-1a2b3c4d5e6f")
        ]

    def test_a_key_another_partner_holds_is_refused_without_naming_it(
        self, licenses: Function, paying_partner: str, partners: SeededPartners
    ) -> None:
        other = f"agency-{uuid.uuid4().hex[:12]}"
        partners.set_has_payment_method(other, True)
        paid = issue_one(licenses, other, "jetpack-scan")

        reply = licenses(external(paying_partner, paid))

        assert reply.status == 409, reply.body
        assert reply.body["error"]["code"] == "license_exists"
        assert other not in json.dumps(reply.body)
        assert listing(licenses, paying_partner).body["items"] == []

    def test_a_key_from_before_uniqueness_items_is_found_in_the_directory(
        self, licenses: Function, paying_partner: str, partners: SeededPartners
    ) -> None:
        other = f"agency-{uuid.uuid4().hex[:12]}"
        partners.set_has_payment_method(other, True)
        assert partners.list_in_directory(other)
        paid = issue_one(licenses, other, "jetpack-scan")
        # A license written before keys had their uniqueness item: only the license item exists.
        table = os.environ["TABLE_NAME"]
        boto3.client("dynamodb").delete_item(
            TableName=table, Key={"PK": {"S": keys.license_key_pk(paid)}, "SK": {"S": keys.LICENSE_KEY_SK}}
        )

        reply = licenses(external(paying_partner, paid))

        assert reply.status == 409, reply.body
        assert reply.body["error"]["code"] == "license_exists"

    def test_a_new_key_recorded_twice_for_two_partners_is_refused_the_second_time(
        self, licenses: Function, paying_partner: str, partners: SeededPartners
    ) -> None:
        other = f"agency-{uuid.uuid4().hex[:12]}"
        partners.set_has_payment_method(other, True)
        key = "jetpack-scan_" + uuid.uuid4().hex[:26]
        assert licenses(external(paying_partner, key)).status == 201

        reply = licenses(external(other, key, site_id="2002"))

        assert reply.status == 409, reply.body
        assert reply.body["error"]["code"] == "license_exists"
        # Recording it again for its own partner is the same conflict, not a second license.
        again = licenses(external(paying_partner, key, site_id="2003"))
        assert again.status == 409 and again.body["error"]["code"] == "license_exists"

    def test_an_unknown_partner_is_404_and_nothing_is_written(self, licenses: Function, partner_id: str) -> None:
        reply = licenses(external(partner_id, None))

        assert reply.status == 404, reply.body
        assert reply.body["error"]["code"] == "partner_not_found"
        table = os.environ["TABLE_NAME"]
        found = boto3.client("dynamodb").query(
            TableName=table,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.partner_pk(partner_id)}},
        )
        assert found["Items"] == []

    def test_partners_cannot_record_external_licenses(self, licenses: Function, paying_partner: str) -> None:
        event = load_event(
            "licenses/record_external", partner_id=paying_partner, groups=(), path={"partner_id": paying_partner}
        )

        reply = licenses(event)

        assert reply.status == 403
        assert reply.body["error"]["code"] == "not_an_operator"


def external(partner: str, key: str | None, site_id: str = "2001") -> dict[str, Any]:
    body: dict[str, Any] = {"product": "jetpack-scan", "site": {"site_id": site_id, "site_url": "https://shop.example"}}
    if key is not None:
        body["license_key"] = key
    return load_event(
        "licenses/record_external", path={"partner_id": partner}, body=body, drop_headers=("idempotency-key",)
    )


def label(licenses: Function, partner: str, key: str, body: Any, **kw: Any) -> Reply:
    return licenses(load_event("licenses/label", partner_id=partner, path={"license_key": key}, body=body, **kw))


class TestLabels:
    def test_issue_labels_the_whole_order_and_patch_changes_it_with_history(
        self, licenses: Function, paying_partner: str, clock: ManualClock
    ) -> None:
        order = {"product": "jetpack-backup", "quantity": 2, "client": "Bakery on Main", "tags": ["retainer"]}
        reply = licenses(load_event("licenses/issue", partner_id=paying_partner, body=order))
        assert reply.status == 201, reply.body
        assert [(i["client"], i["tags"]) for i in reply.body["items"]] == [("Bakery on Main", ["retainer"])] * 2
        key = reply.body["items"][0]["license_key"]

        clock.advance(timedelta(hours=1))
        labelled_at = isoformat(clock.now())
        changed = label(licenses, paying_partner, key, {"client": "Florist"}, drop_headers=("idempotency-key",))
        assert changed.status == 200, changed.body
        assert (changed.body["client"], changed.body["tags"]) == ("Florist", ["retainer"])
        cleared = label(licenses, paying_partner, key, {"tags": None}, drop_headers=("idempotency-key",))
        assert (cleared.body["client"], cleared.body["tags"]) == ("Florist", [])

        history = detail(licenses, paying_partner, key).body["history"]
        assert [e["type"] for e in history] == ["issued", "labelled", "labelled"]
        assert history[1]["labels"] == {"client": "Florist", "tags": ["retainer"]}
        assert history[1]["previous_labels"] == {"client": "Bakery on Main", "tags": ["retainer"]}
        assert history[1]["at"] == labelled_at and history[1]["actor"].startswith("user:")

    def test_a_retry_with_the_same_key_replays_and_changes_nothing(
        self, licenses: Function, paying_partner: str
    ) -> None:
        key = issue_one(licenses, paying_partner)
        first = label(licenses, paying_partner, key, {"client": "Bakery"}, headers={"idempotency-key": "lbl-1"})
        label(licenses, paying_partner, key, {"client": "Other"}, drop_headers=("idempotency-key",))
        again = label(licenses, paying_partner, key, {"client": "Bakery"}, headers={"idempotency-key": "lbl-1"})
        reused = label(licenses, paying_partner, key, {"client": "Third"}, headers={"idempotency-key": "lbl-1"})

        assert first.status == again.status == 200 and again.body == first.body
        assert detail(licenses, paying_partner, key).body["client"] == "Other"
        assert reused.status == 422 and reused.body["error"]["code"] == "idempotency_key_reused"

    @pytest.mark.parametrize(
        "body,field",
        [
            ({"client": "x" * 101}, "client"),
            ({"client": ""}, "client"),
            ({"client": "tab\there"}, "client"),
            ({"tags": ["ok", "no!"]}, "tags.1"),
            ({"tags": [" padded"]}, "tags.0"),
            ({"tags": ["t"] * 11}, "tags"),
            ({"tags": ["a" * 41]}, "tags.0"),
            ({"tags": ["same", "same"]}, "tags"),
            ({"tags": "retainer"}, "tags"),
            ({"colour": "red"}, "colour"),
        ],
    )
    def test_bad_labels_are_422_naming_the_field_and_change_nothing(
        self, licenses: Function, paying_partner: str, body: dict[str, Any], field: str
    ) -> None:
        key = issue_one(licenses, paying_partner)

        reply = label(licenses, paying_partner, key, body, drop_headers=("idempotency-key",))

        assert reply.status == 422, reply.body
        assert field in [d["field"] for d in reply.body["error"]["details"]], reply.body
        assert detail(licenses, paying_partner, key).body["history"][-1]["type"] == "issued"

    def test_another_partners_license_is_404_and_a_revoked_one_can_be_labelled(
        self, licenses: Function, paying_partner: str
    ) -> None:
        key = issue_one(licenses, paying_partner)
        foreign = label(licenses, "agency-stranger", key, {"client": "Mine"}, drop_headers=("idempotency-key",))
        assert foreign.status == 404 and foreign.body["error"]["code"] == "license_not_found"

        licenses(load_event("licenses/revoke", partner_id=paying_partner, path={"license_key": key}))
        labelled = label(licenses, paying_partner, key, {"client": "Bakery"}, drop_headers=("idempotency-key",))
        assert labelled.status == 200 and labelled.body["status"] == "revoked" and labelled.body["client"] == "Bakery"

    def test_list_filters_by_client_and_tag_and_search_finds_the_client(
        self, licenses: Function, paying_partner: str, clock: ManualClock
    ) -> None:
        bakery = [issue_one(licenses, paying_partner) for _ in range(3)]
        florist = issue_one(licenses, paying_partner, "jetpack-scan")
        for key in bakery:
            label(licenses, paying_partner, key, {"client": "Bakery on Main"}, drop_headers=("idempotency-key",))
        label(licenses, paying_partner, bakery[0], {"tags": ["retainer", "q4"]}, drop_headers=("idempotency-key",))
        label(
            licenses, paying_partner, florist, {"client": "Florist", "tags": ["q4"]}, drop_headers=("idempotency-key",)
        )
        assign(licenses, paying_partner, bakery[1], SITE_A)

        def keys(**q: str) -> set[str]:
            reply = listing(licenses, paying_partner, **q)
            assert reply.status == 200, reply.body
            return {i["license_key"] for i in reply.body["items"]}

        assert keys(client="Bakery on Main") == set(bakery)
        assert keys(client="bakery on main") == set()  # the label is matched exactly
        assert keys(tag="q4") == {bakery[0], florist}
        assert keys(tag="q4", client="Florist") == {florist}
        assert keys(client="Bakery on Main", status="assigned") == {bakery[1]}
        assert keys(client="Bakery on Main", product="jetpack-scan") == set()
        assert keys(search="florist") == {florist}  # matched by its client label (no site)
        assert keys(search="on main", tag="retainer") == {bakery[0]}

        seen: list[str] = []
        cursor = None
        while True:
            query = {"client": "Bakery on Main", "limit": "1", **({"cursor": cursor} if cursor else {})}
            body = listing(licenses, paying_partner, **query).body
            seen += [i["license_key"] for i in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(bakery)

    @pytest.mark.parametrize("query,field", [({"tag": "no!"}, "tag"), ({"client": "x" * 101}, "client")])
    def test_bad_label_filters_are_422(
        self, licenses: Function, paying_partner: str, query: dict[str, str], field: str
    ) -> None:
        reply = listing(licenses, paying_partner, **query)
        assert reply.status == 422 and reply.body["error"]["details"][0]["field"] == field
