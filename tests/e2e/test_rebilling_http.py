"""Re-billing clients over HTTP against the local stack, in February 2029 (28 days), worked by hand.

Backup is 17 cents a day capped at 495, Scan 14 a day capped at 395. On 1 February 08:00 the partner issues
K1 and K2 (Backup, client "Bakery", tag "retainer") and K3 (Scan, no label) and assigns K1 to "shop". On
15 February 10:00 K1 moves to "blog", K2 is assigned to "shop" and K3 is labelled "Florist" / "q1". K2 is
revoked on 20 February 10:00.

| License | Days | Amount | By site |
|---|---|---|---|
| K1 | 28 | 28 x 17 = 476 | shop 1-14 (14): 238, blog 15-28 (14): 238 |
| K2 | 20 | 20 x 17 = 340 | none 1-14 (14): 340 x 14/20 = 238, shop 15-20 (6): 102 |
| K3 | 28 | 28 x 14 = 392 | none (28): 392 |

February's invoice: 1208 cents.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from tests.e2e.test_invoicing_http import with_card

if TYPE_CHECKING:
    from testkit.stack import ApiSession, LocalStack

PERIOD = "2029-02"


def issue(api: ApiSession, body: dict[str, Any]) -> list[str]:
    reply = api.post("/v1/licenses", json=body)
    assert reply.status_code == 201, reply.text
    return [item["license_key"] for item in reply.json()["items"]]


def assign(api: ApiSession, key: str, site: str) -> None:
    reply = api.put(f"/v1/licenses/{key}/site", json={"site_id": site, "site_url": f"https://{site}.example"})
    assert reply.status_code == 200, reply.text


def listed(api: ApiSession, **query: str) -> set[str]:
    reply = api.get("/v1/licenses", params=query)
    assert reply.status_code == 200, reply.text
    return {item["license_key"] for item in reply.json()["items"]}


def csv_rows(api: ApiSession, **query: str) -> list[dict[str, str]]:
    reply = api.get("/v1/billing/export", params={"period": PERIOD, **query})
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"].startswith("text/csv")
    assert reply.headers["Content-Disposition"] == f'attachment; filename="partnerhub-billing-{PERIOD}' + (
        '-by-site.csv"' if query else '.csv"'
    )
    assert "X-Next-Cursor" not in reply.headers
    return list(csv.DictReader(io.StringIO(reply.content.decode("utf-8"))))


def test_a_month_re_billed_by_client_and_site_adds_up_to_its_invoice(stack: LocalStack) -> None:
    # Given February 2029 as the module docstring tells it
    stack.set_clock("2029-02-01T08:00:00Z")
    partner, api = with_card(stack)
    k1, k2 = issue(api, {"product": "jetpack-backup", "quantity": 2, "client": "Bakery", "tags": ["retainer"]})
    (k3,) = issue(api, {"product": "jetpack-scan", "quantity": 1})
    assign(api, k1, "shop")
    stack.set_clock("2029-02-15T10:00:00Z")
    api = stack.client(partner)
    assign(api, k1, "blog")
    assign(api, k2, "shop")
    patched = api.patch(
        f"/v1/licenses/{k3}", json={"client": "Florist", "tags": ["q1"]}, headers={"Idempotency-Key": "k3-label"}
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["client"], patched.json()["tags"]) == ("Florist", ["q1"])
    replayed = api.patch(
        f"/v1/licenses/{k3}", json={"client": "Florist", "tags": ["q1"]}, headers={"Idempotency-Key": "k3-label"}
    )
    assert replayed.json() == patched.json()
    stack.set_clock("2029-02-20T10:00:00Z")
    api = stack.client(partner)
    assert api.post(f"/v1/licenses/{k2}/revoke").status_code == 200

    # The labels are on the licenses, in their history, and in the list's filters
    detail = api.get(f"/v1/licenses/{k3}").json()
    assert [e["type"] for e in detail["history"]] == ["issued", "labelled"]
    assert detail["history"][1]["at"] == "2029-02-15T10:00:00Z"
    assert detail["history"][1]["labels"] == {"client": "Florist", "tags": ["q1"]}
    assert listed(api, client="Bakery") == {k1, k2}
    assert listed(api, tag="q1") == {k3}
    assert listed(api, client="Bakery", status="revoked") == {k2}
    assert listed(api, search="florist") == {k3}
    bad = api.patch(f"/v1/licenses/{k1}", json={"tags": ["fine", "not fine!"]})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "tags.1"
    assert api.get("/v1/licenses", params={"tag": "bad!"}).status_code == 422
    stranger = stack.client(f"{partner}-stranger")
    assert stranger.patch(f"/v1/licenses/{k1}", json={"client": "Mine"}).status_code == 404

    # When February ends and month-end runs
    stack.set_clock("2029-03-01T00:20:00Z")
    run = stack.invoice_run(PERIOD)
    assert run["complete"] and run["failed"] == 0, run
    api = stack.client(partner)
    (invoice,) = [i for i in api.get("/v1/invoices").json()["items"] if i["period"] == PERIOD]
    assert invoice["total"] == 1208, api.get(f"/v1/invoices/{invoice['id']}").json()

    # Then the grouped estimates sum to the totals
    def groups(by: str) -> dict[Any, tuple[int, int, int]]:
        body = api.get("/v1/billing", params={"period": PERIOD, "group_by": by}).json()
        for name in ("license_days", "cost_to_date", "projected_cost"):
            assert sum(g[name] for g in body["groups"]) == body["totals"][name]
        assert sum(g["licenses"] for g in body["groups"]) == body["totals"]["counts"]["total"]
        return {g[by]: (g["licenses"], g["license_days"], g["cost_to_date"]) for g in body["groups"]}

    assert groups("client") == {"Bakery": (2, 48, 816), "Florist": (1, 28, 392)}
    assert groups("site") == {"shop": (1, 20, 340), "blog": (1, 14, 238), None: (1, 42, 630)}
    assert groups("product") == {"jetpack-backup": (2, 48, 816), "jetpack-scan": (1, 28, 392)}
    plain = api.get("/v1/billing", params={"period": PERIOD}).json()
    assert "groups" not in plain and plain["totals"]["cost_to_date"] == 1208

    # And the CSV statement, read back, adds up to the invoice, per license and per license and site
    rows = csv_rows(api)
    assert sorted(
        (r["license_key"], r["client"], r["tags"], r["site_id"], r["license_days"], r["amount"]) for r in rows
    ) == sorted(
        [
            (k1, "Bakery", "retainer", "blog", "28", "476"),
            (k2, "Bakery", "retainer", "shop", "20", "340"),
            (k3, "Florist", "q1", "", "28", "392"),
        ]
    )
    assert sum(int(r["amount"]) for r in rows) == invoice["total"]
    by_site = csv_rows(api, group_by="site")
    assert sorted((r["license_key"], r["site_id"], r["license_days"], r["amount"]) for r in by_site) == sorted(
        [
            (k1, "shop", "14", "238"),
            (k1, "blog", "14", "238"),
            (k2, "", "14", "238"),
            (k2, "shop", "6", "102"),
            (k3, "", "28", "392"),
        ]
    )
    assert sum(int(r["amount"]) for r in by_site) == invoice["total"]

    # And the billing history shows February's invoice and March's projection (K1 and K3 capped: 495 + 395)
    history = api.get("/v1/billing/history", params={"months": 3}).json()["items"]
    assert history[0] == {"period": "2029-03", "total": 890, "invoice_id": None, "status": "projected"}
    assert {k: history[1][k] for k in ("period", "total", "invoice_id")} == {
        "period": PERIOD,
        "total": 1208,
        "invoice_id": invoice["id"],
    }
    assert history[1]["status"] in ("open", "paid")
    assert history[2] == {"period": "2029-01", "total": 0, "invoice_id": None, "status": "none"}
    assert api.get("/v1/billing/history", params={"months": 25}).status_code == 422
