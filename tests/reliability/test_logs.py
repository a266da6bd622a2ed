"""No personal data in logs: after a partner saves its company contact and assigns licenses to sites with
named owners, none of those values appears anywhere in what the stack printed (handler logs, request log)."""

from __future__ import annotations

import uuid

from tests.reliability.conftest import LocalStack, issue

CONTACT = {
    "name": f"Bakery Digital {uuid.uuid4().hex[:6]}",
    "contact_first_name": f"Rosalind{uuid.uuid4().hex[:6]}",
    "contact_last_name": f"Quenneville{uuid.uuid4().hex[:6]}",
    "website": "https://bakery-digital.example",
    "address_line1": f"{uuid.uuid4().hex[:6]} Rue du Four",
    "city": "Lyon",
    "country": "FR",
    "postal_code": "69002",
}


def test_company_contact_and_site_owners_never_reach_the_logs(stack: LocalStack, paying_partner: str) -> None:
    api = stack.client(paying_partner)
    saved = api.put("/v1/company", json=CONTACT)
    assert saved.status_code == 200, saved.text
    secrets_in_play = [CONTACT["contact_first_name"], CONTACT["contact_last_name"], CONTACT["address_line1"]]
    owner = f"owner-{uuid.uuid4().hex[:8]}@client.example"
    key = issue(api, 1)[0]["license_key"]
    assigned = api.put(
        f"/v1/licenses/{key}/site",
        json={"site_id": "s-1", "site_url": "https://private-client.example", "site_owner": owner},
    )
    assert assigned.status_code == 200, assigned.text
    assert api.get(f"/v1/licenses/{key}").json()["site"]["site_owner"] == owner
    secrets_in_play.append(owner)

    log = stack.log()

    assert paying_partner in log  # the logs do name the partner: they are being captured
    leaked = [value for value in secrets_in_play if value in log]
    assert leaked == []


def test_api_keys_never_reach_the_logs(stack: LocalStack, paying_partner: str) -> None:
    # Given a key made, used well, used outside its scope, revoked and used again, and a near miss of it
    person = stack.client(paying_partner)
    made = person.post("/v1/api-keys", json={"name": "log probe", "scopes": ["read"]})
    assert made.status_code == 201, made.text
    secret, key_id = made.json()["secret"], made.json()["id"]
    near_miss = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for credential in (secret, near_miss):
        stack.anonymous.get("/v1/licenses/counts", headers={"Authorization": f"Bearer {credential}"})
    stack.anonymous.post("/v1/licenses", json={}, headers={"Authorization": f"Bearer {secret}"})
    assert person.delete(f"/v1/api-keys/{key_id}").status_code == 200

    log = stack.log()

    # Then the logs name the key by its id (they are being captured), never by what would let anyone use it
    assert key_id in log
    assert secret not in log and near_miss not in log
    assert secret[12:] not in log  # not even the part after the public prefix
