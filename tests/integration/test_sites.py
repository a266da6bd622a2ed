"""Connected sites and issuing to them, end to end against moto, fed the sample events in events/licenses/."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from partnerhub.clock import ManualClock, isoformat
from partnerhub.domain.periods import Period
from partnerhub.repository import keys
from partnerhub.repository.billing import DynamoBillingRepository
from testkit.events import load_event
from testkit.partners import SeededPartners
from tests.integration.conftest import Function, Reply

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import connect_assigned_sites  # scripts/ is not a package: found on the path set above

BAKERY = {"site_id": "1001", "site_url": "https://bakery.example", "site_owner": "ann@bakery.example"}
FLORIST = {"site_id": "1002", "site_url": "https://florist.example"}


@pytest.fixture
def licenses(function: Callable[[str], Function]) -> Function:
    return function("licenses")


def site(n: int) -> dict[str, str]:
    return {"site_id": f"s{n:04d}", "site_url": f"https://client-{n}.example"}


def connect(licenses: Function, partner: str, body: dict[str, Any], **kw: Any) -> Reply:
    kw.setdefault("drop_headers", ("idempotency-key",))
    return licenses(load_event("licenses/connect_site", partner_id=partner, body=body, **kw))


def sites(licenses: Function, partner: str, **query: str) -> Reply:
    return licenses(load_event("licenses/list_sites", partner_id=partner, query=query))


def disconnect(licenses: Function, partner: str, site_id: str, **kw: Any) -> Reply:
    kw.setdefault("drop_headers", ("idempotency-key",))
    return licenses(load_event("licenses/disconnect_site", partner_id=partner, path={"site_id": site_id}, **kw))


def issue(licenses: Function, partner: str, body: dict[str, Any], key: str | None = None) -> Reply:
    headers = {"Idempotency-Key": key} if key else None
    drop = () if key else ("idempotency-key",)
    return licenses(
        load_event("licenses/issue_to_sites", partner_id=partner, body=body, headers=headers, drop_headers=drop)
    )


def to_sites(product: str, *site_ids: str) -> dict[str, Any]:
    return {"product": product, "site_ids": list(site_ids)}


def assign(licenses: Function, partner: str, key: str, body: dict[str, str]) -> Reply:
    return licenses(load_event("licenses/assign", partner_id=partner, path={"license_key": key}, body=body))


def issue_one(licenses: Function, partner: str, product: str = "jetpack-backup") -> str:
    body = {"product": product, "quantity": 1}
    reply = licenses(load_event("licenses/issue", partner_id=partner, body=body, drop_headers=("idempotency-key",)))
    assert reply.status == 201, reply.body
    return str(reply.body["items"][0]["license_key"])


def counts(licenses: Function, partner: str) -> dict[str, Any]:
    return dict(licenses(load_event("licenses/counts", partner_id=partner)).body)


def held(listed: Reply) -> dict[str, list[tuple[str, str]]]:
    """Each listed site's licenses as (product, source)."""
    return {
        s["site_id"]: sorted((lic["product"], lic["source"]) for lic in s["licenses"]) for s in listed.body["items"]
    }


def claims(partner: str) -> list[dict[str, Any]]:
    """Every claim item of the partner (active licenses and reservations), straight from the table."""
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


class TestConnect:
    def test_a_connected_site_is_listed_and_connecting_again_updates_url_and_owner(
        self, licenses: Function, paying_partner: str, now: Any, clock: ManualClock
    ) -> None:
        # Given a site connected on the 10th
        first = connect(licenses, paying_partner, BAKERY)
        assert first.status == 200, first.body
        assert first.body == {
            **BAKERY,
            "connected_at": isoformat(now),
            "licenses": [],
            "links": {
                "view_site": "https://bakery.example",
                "debug_site": "https://jptools.wordpress.com/debug/?url=https%3A%2F%2Fbakery.example",
            },
        }

        # When it is connected again a day later with a new URL and no owner
        clock.advance(timedelta(days=1))
        again = connect(licenses, paying_partner, {"site_id": "1001", "site_url": "https://bakery-shop.example"})

        # Then it is one site, with the new URL, no owner, and connected since the first time
        assert again.status == 200, again.body
        listed = sites(licenses, paying_partner).body["items"]
        assert [(s["site_id"], s["site_url"], s["site_owner"], s["connected_at"]) for s in listed] == [
            ("1001", "https://bakery-shop.example", None, isoformat(now))
        ]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"site_id": "1001"}, "site_url"),
            ({"site_id": "a b", "site_url": "https://x.example"}, "site_id"),
            ({"site_id": "1001", "site_url": "ftp://x.example"}, "site_url"),
            ({"site_id": "1001", "site_url": "https://x.example", "site_owner": "o" * 201}, "site_owner"),
            ({"site_id": "1001", "site_url": "https://x.example", "extra": 1}, "extra"),
        ],
    )
    def test_a_bad_site_is_422_naming_the_field_and_connects_nothing(
        self, licenses: Function, paying_partner: str, body: dict[str, Any], field: str
    ) -> None:
        reply = connect(licenses, paying_partner, body)

        assert reply.status == 422, reply.body
        assert [d["field"] for d in reply.body["error"]["details"]] == [field]
        assert sites(licenses, paying_partner).body["items"] == []

    def test_an_internationalised_url_is_connected_in_the_ascii_form_assigning_gives_it(
        self, licenses: Function, paying_partner: str
    ) -> None:
        # Given a site connected with a German host name and an umlaut in its path
        # ("bäckerei" is "xn--bckerei-5wa" in Punycode; "ü" is C3 BC in UTF-8)
        ascii_form = "https://xn--bckerei-5wa.example/%C3%BCber-uns"
        typed = {"site_id": "2001", "site_url": "https://b\u00e4ckerei.example/\u00fcber-uns"}
        connected = connect(licenses, paying_partner, typed)

        # When a license is assigned to that site, its URL typed the same way
        key = issue_one(licenses, paying_partner)
        assigned = assign(licenses, paying_partner, key, typed)

        # Then both answer the one ASCII form, the site is listed once under it, and a search by it finds the site
        assert connected.status == 200, connected.body
        assert assigned.status == 200, assigned.body
        assert connected.body["site_url"] == assigned.body["site"]["site_url"] == ascii_form
        listed = sites(licenses, paying_partner, search="xn--bckerei").body["items"]
        assert [(s["site_id"], s["site_url"]) for s in listed] == [("2001", ascii_form)]
        assert listed[0]["links"]["view_site"] == ascii_form

    def test_assigning_a_license_connects_its_site_and_the_site_lists_it(
        self, licenses: Function, paying_partner: str
    ) -> None:
        key = issue_one(licenses, paying_partner)

        assert assign(licenses, paying_partner, key, BAKERY).status == 200

        listed = sites(licenses, paying_partner).body["items"]
        assert [(s["site_id"], s["site_url"], s["site_owner"]) for s in listed] == [
            ("1001", "https://bakery.example", "ann@bakery.example")
        ]
        assert listed[0]["licenses"] == [{"license_key": key, "product": "jetpack-backup", "source": "portal"}]

    def test_a_transfer_connects_the_new_site_and_the_old_one_stays_connected_holding_nothing(
        self, licenses: Function, paying_partner: str
    ) -> None:
        key = issue_one(licenses, paying_partner)
        assign(licenses, paying_partner, key, BAKERY)

        moved = assign(licenses, paying_partner, key, FLORIST)

        assert moved.status == 200, moved.body
        assert held(sites(licenses, paying_partner)) == {"1001": [], "1002": [("jetpack-backup", "portal")]}

    def test_assigning_to_the_same_site_with_a_new_url_updates_the_site(
        self, licenses: Function, paying_partner: str
    ) -> None:
        key = issue_one(licenses, paying_partner)
        assign(licenses, paying_partner, key, BAKERY)

        assign(licenses, paying_partner, key, {**BAKERY, "site_url": "https://new-bakery.example"})

        (listed,) = sites(licenses, paying_partner).body["items"]
        assert listed["site_url"] == "https://new-bakery.example"

    def test_an_operators_external_license_connects_its_site_and_is_listed_as_external(
        self, licenses: Function, paying_partner: str
    ) -> None:
        body = {"product": "jetpack-scan", "site": FLORIST}
        event = load_event("licenses/record_external", path={"partner_id": paying_partner}, body=body)

        recorded = licenses(event)

        assert recorded.status == 201, recorded.body
        assert held(sites(licenses, paying_partner)) == {"1002": [("jetpack-scan", "external")]}


class TestList:
    def test_search_matches_id_url_or_owner_in_any_case(self, licenses: Function, paying_partner: str) -> None:
        for body in (BAKERY, FLORIST, {"site_id": "77", "site_url": "https://dentist.example", "site_owner": "Bo"}):
            assert connect(licenses, paying_partner, body).status == 200
        key = issue_one(licenses, paying_partner)
        assign(licenses, paying_partner, key, FLORIST)

        def found(text: str) -> list[str]:
            return [s["site_id"] for s in sites(licenses, paying_partner, search=text).body["items"]]

        assert found("FLORIST") == ["1002"]
        assert found("ann@") == ["1001"]
        assert found("77") == ["77"]
        assert found("example") == ["1001", "1002", "77"]
        assert found("nowhere") == []
        # The site found keeps its licenses; a site filtered out lends it none.
        assert held(sites(licenses, paying_partner, search="florist")) == {"1002": [("jetpack-backup", "portal")]}

    def test_pages_follow_the_cursor_each_site_with_all_its_licenses(
        self, licenses: Function, paying_partner: str
    ) -> None:
        # Given seven sites, every other one holding two products
        expected: dict[str, list[tuple[str, str]]] = {}
        for n in range(7):
            connect(licenses, paying_partner, site(n))
            expected[site(n)["site_id"]] = []
            if n % 2 == 0:
                for product in ("jetpack-backup", "jetpack-scan"):
                    assign(licenses, paying_partner, issue_one(licenses, paying_partner, product), site(n))
                    expected[site(n)["site_id"]].append((product, "portal"))

        # When they are read three at a time
        seen: dict[str, list[tuple[str, str]]] = {}
        cursor: str | None = None
        pages = 0
        while True:
            query = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
            page = sites(licenses, paying_partner, **query)
            assert page.status == 200, page.body
            assert len(page.body["items"]) <= 3
            seen |= held(page)
            pages += 1
            cursor = page.body["next_cursor"]
            if cursor is None:
                break

        # Then every site comes once, in site id order, with every license it holds
        assert pages == 3
        assert seen == {k: sorted(v) for k, v in expected.items()}

    def test_a_cursor_names_only_a_position_never_another_partners_sites(
        self, licenses: Function, paying_partner: str, partners: SeededPartners
    ) -> None:
        other = f"agency-{uuid.uuid4().hex[:12]}"
        for n in range(3):
            connect(licenses, paying_partner, site(n))
        connect(licenses, other, site(9))
        cursor = sites(licenses, paying_partner, limit="1").body["next_cursor"]

        page = sites(licenses, other, cursor=cursor)

        assert [s["site_id"] for s in page.body["items"]] == [site(9)["site_id"]]

    @pytest.mark.parametrize(
        ("query", "field"),
        [({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"), ({"limit": "0"}, "limit"), ({"search": "x" * 201}, "search")],
    )
    def test_bad_queries_are_422_naming_the_field(
        self, licenses: Function, paying_partner: str, query: dict[str, str], field: str
    ) -> None:
        reply = sites(licenses, paying_partner, **query)

        assert reply.status == 422, reply.body
        assert [d["field"] for d in reply.body["error"]["details"]] == [field]


class TestDisconnect:
    def test_a_site_without_licenses_is_disconnected_and_then_unknown(
        self, licenses: Function, paying_partner: str
    ) -> None:
        connect(licenses, paying_partner, BAKERY)

        gone = disconnect(licenses, paying_partner, "1001")

        assert gone.status == 204 and gone.body in ("", None)
        assert sites(licenses, paying_partner).body["items"] == []
        again = disconnect(licenses, paying_partner, "1001")
        assert again.status == 404 and again.body["error"]["code"] == "site_not_found"

    def test_a_site_holding_a_license_is_409_naming_it_until_the_license_leaves(
        self, licenses: Function, paying_partner: str
    ) -> None:
        key = issue_one(licenses, paying_partner)
        assign(licenses, paying_partner, key, BAKERY)

        refused = disconnect(licenses, paying_partner, "1001")

        assert refused.status == 409, refused.body
        assert refused.body["error"]["code"] == "site_has_licenses"
        assert [d["license_key"] for d in refused.body["error"]["details"]] == [key]
        assert held(sites(licenses, paying_partner)) == {"1001": [("jetpack-backup", "portal")]}
        # A revoked license no longer holds the site.
        licenses(load_event("licenses/revoke", partner_id=paying_partner, path={"license_key": key}))
        assert disconnect(licenses, paying_partner, "1001").status == 204

    def test_another_partners_site_is_404_and_stays_connected(self, licenses: Function, paying_partner: str) -> None:
        connect(licenses, paying_partner, BAKERY)

        reply = disconnect(licenses, f"agency-{uuid.uuid4().hex[:12]}", "1001")

        assert reply.status == 404 and reply.body["error"]["code"] == "site_not_found"
        assert [s["site_id"] for s in sites(licenses, paying_partner).body["items"]] == ["1001"]

    def test_a_malformed_site_id_is_404(self, licenses: Function, paying_partner: str) -> None:
        reply = disconnect(licenses, paying_partner, "not%20a%20site")

        assert reply.status == 404 and reply.body["error"]["code"] == "site_not_found"

    def test_a_retry_with_the_same_key_replays_the_204(self, licenses: Function, paying_partner: str) -> None:
        connect(licenses, paying_partner, BAKERY)
        headers = {"Idempotency-Key": "disconnect-1"}

        first = disconnect(licenses, paying_partner, "1001", headers=headers, drop_headers=())
        again = disconnect(licenses, paying_partner, "1001", headers=headers, drop_headers=())

        assert (first.status, again.status) == (204, 204)


class TestIssueToSites:
    def test_one_license_to_each_site_assigned_at_once(self, licenses: Function, paying_partner: str, now: Any) -> None:
        # Given three connected sites
        for n in range(3):
            connect(licenses, paying_partner, site(n))

        # When one Backup license is issued to each, labelled
        body = to_sites("jetpack-backup", "s0002", "s0000", "s0001") | {"client": "Bakery", "tags": ["q4"]}
        reply = issue(licenses, paying_partner, body)

        # Then each is assigned to its site, in the order asked, from the moment it was issued
        assert reply.status == 201, reply.body
        items = reply.body["items"]
        assert [(i["site"]["site_id"], i["site"]["site_url"]) for i in items] == [
            ("s0002", "https://client-2.example"),
            ("s0000", "https://client-0.example"),
            ("s0001", "https://client-1.example"),
        ]
        assert {(i["status"], i["issued_at"], i["assigned_at"], i["client"]) for i in items} == {
            ("assigned", isoformat(now), isoformat(now), "Bakery")
        }
        assert held(sites(licenses, paying_partner)) == {
            s: [("jetpack-backup", "portal")] for s in ("s0000", "s0001", "s0002")
        }
        assert counts(licenses, paying_partner)["assigned"] == 3
        history = licenses(
            load_event("licenses/get", partner_id=paying_partner, path={"license_key": items[0]["license_key"]})
        ).body["history"]
        assert [(e["type"], e["site"]["site_id"]) for e in history] == [("issued", "s0002")]
        assert [c for c in claims(paying_partner) if "reserved_until" in c] == []

    def test_an_order_to_sites_keeps_when_the_partner_became_billable(
        self, licenses: Function, paying_partner: str, now: Any, clock: ManualClock
    ) -> None:
        # Given a partner whose first license was issued on the 10th (the registry's since)
        issue_one(licenses, paying_partner)
        connect(licenses, paying_partner, BAKERY)

        # When a month later it issues to a connected site
        clock.advance(timedelta(days=31))
        assert issue(licenses, paying_partner, to_sites("jetpack-scan", "1001")).status == 201

        # Then the registry still says since the 10th: billable in the month of its first license, not before
        billing = DynamoBillingRepository(os.environ["TABLE_NAME"], boto3.client("dynamodb"))
        assert paying_partner in set(billing.billable_partners(Period.containing(now).end))
        assert paying_partner not in set(billing.billable_partners(Period.containing(now).start))

    def test_an_order_to_sites_first_makes_the_partner_billable_since_then(
        self, licenses: Function, paying_partner: str, now: Any
    ) -> None:
        # Given a partner that never issued, with a connected site
        connect(licenses, paying_partner, BAKERY)

        # When its first order goes to that site
        assert issue(licenses, paying_partner, to_sites("jetpack-scan", "1001")).status == 201

        # Then it is billable from that instant on: in the registry for this month, not for the month before
        billing = DynamoBillingRepository(os.environ["TABLE_NAME"], boto3.client("dynamodb"))
        assert paying_partner in set(billing.billable_partners(Period.containing(now).end))
        assert paying_partner not in set(billing.billable_partners(Period.containing(now).start))

    def test_a_hundred_sites_at_once(self, licenses: Function, paying_partner: str) -> None:
        ids = [site(n)["site_id"] for n in range(100)]
        for n in range(100):
            connect(licenses, paying_partner, site(n))

        reply = issue(licenses, paying_partner, to_sites("jetpack-scan", *ids))

        assert reply.status == 201, reply.body
        assert [i["site"]["site_id"] for i in reply.body["items"]] == ids
        listed = sites(licenses, paying_partner, limit="100")
        assert held(listed) == {s: [("jetpack-scan", "portal")] for s in ids}
        assert {k: counts(licenses, paying_partner)[k] for k in ("all", "assigned")} == {"all": 100, "assigned": 100}

    def test_sites_holding_the_product_are_each_named_and_nothing_is_issued(
        self, licenses: Function, paying_partner: str
    ) -> None:
        for n in range(5):
            connect(licenses, paying_partner, site(n))
        for n in (1, 3):
            assign(licenses, paying_partner, issue_one(licenses, paying_partner), site(n))
        before = counts(licenses, paying_partner)

        reply = issue(licenses, paying_partner, to_sites("jetpack-backup", *(site(n)["site_id"] for n in range(5))))

        assert reply.status == 409, reply.body
        assert reply.body["error"]["code"] == "site_has_license"
        assert [d["site_id"] for d in reply.body["error"]["details"]] == ["s0001", "s0003"]
        assert counts(licenses, paying_partner) == before
        assert len(claims(paying_partner)) == 2
        # Another product on the same sites is fine.
        assert issue(licenses, paying_partner, to_sites("jetpack-scan", "s0001", "s0003")).status == 201

    def test_sites_not_connected_are_each_named_and_nothing_is_issued(
        self, licenses: Function, paying_partner: str
    ) -> None:
        connect(licenses, paying_partner, site(0))
        other = f"agency-{uuid.uuid4().hex[:12]}"
        connect(licenses, other, site(1))  # another partner's site is not this partner's

        reply = issue(licenses, paying_partner, to_sites("jetpack-backup", "s0000", "s0001", "nope"))

        assert reply.status == 404, reply.body
        assert reply.body["error"]["code"] == "site_not_found"
        assert [d["site_id"] for d in reply.body["error"]["details"]] == ["s0001", "nope"]
        assert counts(licenses, paying_partner)["all"] == 0
        assert claims(paying_partner) == []

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"product": "jetpack-backup", "site_ids": []}, "site_ids"),
            ({"product": "jetpack-backup", "site_ids": ["a", "a"]}, "site_ids"),
            ({"product": "jetpack-backup", "site_ids": [f"s{n}" for n in range(101)]}, "site_ids"),
            ({"product": "jetpack-backup", "site_ids": ["not a site"]}, "site_ids.0"),
            ({"product": "jetpack-backup", "site_ids": ["a"], "quantity": 1}, "body"),
        ],
    )
    def test_a_bad_list_of_sites_is_422_and_issues_nothing(
        self, licenses: Function, paying_partner: str, body: dict[str, Any], field: str
    ) -> None:
        reply = issue(licenses, paying_partner, body)

        assert reply.status == 422, reply.body
        assert [d["field"] for d in reply.body["error"]["details"]] == [field]
        assert counts(licenses, paying_partner)["all"] == 0

    def test_without_a_payment_method_it_is_402_and_reserves_nothing(self, licenses: Function, partner_id: str) -> None:
        connect(licenses, partner_id, site(0))

        reply = issue(licenses, partner_id, to_sites("jetpack-backup", "s0000"))

        assert reply.status == 402 and reply.body["error"]["code"] == "payment_method_required"
        assert claims(partner_id) == []

    def test_with_a_past_due_invoice_it_is_402(
        self, licenses: Function, paying_partner: str, partners: SeededPartners
    ) -> None:
        connect(licenses, paying_partner, site(0))
        partners.mark_past_due(paying_partner, "in_overdue")

        reply = issue(licenses, paying_partner, to_sites("jetpack-backup", "s0000"))

        assert reply.status == 402 and reply.body["error"]["code"] == "past_due_invoice"

    def test_the_same_key_replays_and_another_body_with_it_is_422(
        self, licenses: Function, paying_partner: str
    ) -> None:
        for n in range(2):
            connect(licenses, paying_partner, site(n))

        first = issue(licenses, paying_partner, to_sites("jetpack-backup", "s0000"), key="to-sites-1")
        again = issue(licenses, paying_partner, to_sites("jetpack-backup", "s0000"), key="to-sites-1")
        other = issue(licenses, paying_partner, to_sites("jetpack-backup", "s0001"), key="to-sites-1")

        assert first.status == again.status == 201 and again.body == first.body
        assert other.status == 422 and other.body["error"]["code"] == "idempotency_key_reused"
        assert counts(licenses, paying_partner)["all"] == 1


class TestMigration:
    def test_sites_assigned_before_sites_existed_are_connected_once_with_their_history(
        self, licenses: Function, paying_partner: str, now: Any, clock: ManualClock, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # Given licenses assigned, moved and freed as before sites existed: no site items, claims without a source
        moved, freed = issue_one(licenses, paying_partner), issue_one(licenses, paying_partner, "jetpack-scan")
        assign(licenses, paying_partner, moved, BAKERY)
        clock.advance(timedelta(days=2))
        assign(licenses, paying_partner, moved, FLORIST)
        assign(licenses, paying_partner, freed, {"site_id": "1003", "site_url": "https://cafe.example"})
        licenses(load_event("licenses/unassign", partner_id=paying_partner, path={"license_key": freed}))
        dynamodb, table = boto3.client("dynamodb"), os.environ["TABLE_NAME"]
        for site_id in ("1001", "1002", "1003"):
            dynamodb.delete_item(
                TableName=table, Key={"PK": {"S": keys.partner_pk(paying_partner)}, "SK": {"S": keys.site_sk(site_id)}}
            )
        for claim in claims(paying_partner):
            dynamodb.update_item(
                TableName=table,
                Key={"PK": claim["PK"], "SK": claim["SK"]},
                UpdateExpression="REMOVE #source, #type",
                ExpressionAttributeNames={"#source": "source", "#type": "type"},
            )
        assert sites(licenses, paying_partner).body["items"] == []

        # When the migration runs (twice)
        connect_assigned_sites.main([paying_partner])
        connect_assigned_sites.main([paying_partner])

        # Then every site ever assigned is connected since its first assignment, holding what it holds now
        listed = sites(licenses, paying_partner).body["items"]
        later = isoformat(now + timedelta(days=2))
        assert [(s["site_id"], s["site_url"], s["connected_at"]) for s in listed] == [
            ("1001", "https://bakery.example", isoformat(now)),
            ("1002", "https://florist.example", later),
            ("1003", "https://cafe.example", later),
        ]
        assert held(sites(licenses, paying_partner)) == {"1001": [], "1002": [("jetpack-backup", "portal")], "1003": []}
        assert all(c["source"]["S"] == "portal" for c in claims(paying_partner))
        printed = capsys.readouterr().out.splitlines()
        assert printed == [
            f"{paying_partner}\t3 sites connected\t1 claims stamped",
            f"{paying_partner}\t0 sites connected\t0 claims stamped",
        ]


class TestListBounds:
    def test_a_search_reads_at_most_five_pages_and_a_listed_site_cut_off_gets_all_its_licenses(
        self, licenses: Function, paying_partner: str, now: Any
    ) -> None:
        from partnerhub import clients
        from partnerhub.domain.models import Site
        from partnerhub.repository.sites import DynamoSiteRepository

        # Given a repository reading at least 10 items a page, 49 sites a search will not match, then the one it
        # will, holding two licenses: five reads of 10 items end on that site, before its licenses
        client = clients.dynamodb()
        repository = DynamoSiteRepository(os.environ["TABLE_NAME"], client, read_items=10)
        for n in range(49):
            repository.connect(paying_partner, Site(site_id=f"s{n:04d}", site_url=f"https://client-{n}.example"), now)
        wanted = {"site_id": "s0049", "site_url": "https://wanted.example"}
        keys_held = []
        for product in ("jetpack-backup", "jetpack-scan"):
            key = issue_one(licenses, paying_partner, product)
            assert assign(licenses, paying_partner, key, wanted).status == 200
            keys_held.append(key)
        queries = count_queries(client)

        # When the partner searches for it, one a page
        first = repository.list_sites(paying_partner, "wanted", 1, None)

        # Then the page has it with both licenses, read in five pages and one more for the cut-off site's claims
        assert [(s.site.site_id, sorted(lic.license_key for lic in s.licenses)) for s in first.items] == [
            ("s0049", sorted(keys_held))
        ]
        assert queries() == 6
        # and the cursor goes on after it: nothing more
        rest = repository.list_sites(paying_partner, "wanted", 1, first.next_cursor)
        assert (rest.items, rest.next_cursor) == ([], None)


def count_queries(client: Any) -> Callable[[], int]:
    """How many Query calls ``client`` makes from now on."""
    made = [0]

    def counted(**_: Any) -> None:
        made[0] += 1

    client.meta.events.register("before-call.dynamodb.Query", counted)
    return lambda: made[0]
