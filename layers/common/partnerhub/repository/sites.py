"""Connected sites and their claims in the single table.

This module owns two item shapes under the partner's partition, and every write of them goes through it:

* the **site** ``SITE#{site_id}``: URL, owner, when it was connected, ``search_text`` and a version ``v`` that moves
  with every connection and every claim made on the site (disconnecting is conditioned on it);
* the site's **claims** ``SITE#{site_id}#PRODUCT#{product}``: the active license of a product on the site, or an
  order's reservation of it (``order``, ``reserved_until``).

A site's claims sort right after it, so one Query reads sites with what they hold. The license commands add this
module's pieces (:func:`connect_update`, :func:`touch_update`, :func:`claim_put`, :func:`claim_delete`) to their
own transactions (``repository/licenses.py``); the site commands use :class:`DynamoSiteRepository`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from partnerhub import cursors
from partnerhub.domain.conflicts import TransientConflict, VersionConflict
from partnerhub.domain.models import SITE_ID, License, Site, Source
from partnerhub.domain.sites import Claim, ConnectedSite, HeldLicense, SitePage, SiteSeen, SiteState
from partnerhub.repository import keys
from partnerhub.repository.dynamo import (
    Item,
    TableRepository,
    batch_get,
    deserialize,
    error_code,
    pages,
    raise_if_throttled,
    serialize,
    stamp,
    unstamp,
    values,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_SITE = "site"
_CLAIM = "claim"
_READS = 5  # queries per page at most (a search thins the pages; claims of sites not matched are read too)


def site_key(partner_id: str, site_id: str) -> dict[str, Any]:
    return serialize({"PK": keys.partner_pk(partner_id), "SK": keys.site_sk(site_id)})


def claim_key(partner_id: str, site_id: str, product: str) -> dict[str, Any]:
    return serialize({"PK": keys.partner_pk(partner_id), "SK": keys.site_claim_sk(site_id, product)})


def _search_text(site: Site) -> str:
    return " ".join(part for part in (site.site_id, site.site_url, site.site_owner) if part).lower()


def connect_update(table: str, partner_id: str, site: Site, now: datetime) -> dict[str, Any]:
    """The transaction piece that connects ``site`` (or, connected already, gives it this URL and owner)."""
    expression = (
        "SET #type = :type, partner_id = :pid, site_id = :id, site_url = :url, search_text = :s, "
        "connected_at = if_not_exists(connected_at, :now)"
    )
    attribute_values = values(
        type=_SITE, pid=partner_id, id=site.site_id, url=site.site_url, s=_search_text(site), now=stamp(now), one=1
    )
    if site.site_owner is not None:
        expression += ", site_owner = :owner"
        attribute_values |= values(owner=site.site_owner)
    expression += " ADD v :one"
    if site.site_owner is None:
        expression += " REMOVE site_owner"
    return {
        "Update": {
            "TableName": table,
            "Key": site_key(partner_id, site.site_id),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": {"#type": "type"},
            "ExpressionAttributeValues": attribute_values,
        }
    }


def touch_update(table: str, partner_id: str, site_id: str) -> dict[str, Any]:
    """The transaction piece of a claim made on a connected site: the site must be connected (condition), and its
    version moves, so a disconnect that read it before fails."""
    return {
        "Update": {
            "TableName": table,
            "Key": site_key(partner_id, site_id),
            "UpdateExpression": "ADD v :one",
            "ConditionExpression": "attribute_exists(PK)",
            "ExpressionAttributeValues": values(one=1),
        }
    }


def claim_item(
    partner_id: str,
    site_id: str,
    license: License,
    *,
    order: str | None = None,
    reserved_until: datetime | None = None,
) -> Item:
    """The claim of ``license``'s product on the site: held by ``license``, or reserved for it by ``order`` until
    ``reserved_until``."""
    return {
        "PK": keys.partner_pk(partner_id),
        "SK": keys.site_claim_sk(site_id, license.product),
        "type": _CLAIM,
        "license_key": license.license_key,
        "site_id": site_id,
        "product": license.product,
        "source": license.source.value,
        "order": order,
        "reserved_until": stamp(reserved_until) if reserved_until else None,
    }


def claim_put(table: str, item: Item, condition: str, condition_values: dict[str, Any] | None = None) -> dict[str, Any]:
    """A transaction Put of a claim item (:func:`claim_item`) under ``condition``; a failed condition hands back the
    claim that was there (a lapsed reservation is released, then the command tried again)."""
    put: dict[str, Any] = {
        "TableName": table,
        "Item": serialize(item),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {"#order": "order"} if "#order" in condition else None,
        "ExpressionAttributeValues": condition_values,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    return {"Put": {k: v for k, v in put.items() if v is not None}}


NEW_CLAIM = "attribute_not_exists(PK)"
"""A claim made by a command: the site holds no license of the product, and no order reserves it."""


def claim_delete(table: str, partner_id: str, site_id: str, product: str, license_key: str) -> dict[str, Any]:
    """The transaction piece releasing the claim ``license_key`` holds (and only that one)."""
    return {
        "Delete": {
            "TableName": table,
            "Key": claim_key(partner_id, site_id, product),
            "ConditionExpression": "license_key = :k",
            "ExpressionAttributeValues": values(k=license_key),
        }
    }


def reservation_delete(table: str, partner_id: str, claim: Claim) -> dict[str, Any]:
    """The piece releasing ``claim``, a reservation, if it is still that very reservation."""
    assert claim.order is not None and claim.reserved_until is not None
    return {
        "TableName": table,
        "Key": claim_key(partner_id, claim.site_id, claim.product),
        "ConditionExpression": "#order = :o AND reserved_until = :u",
        "ExpressionAttributeNames": {"#order": "order"},
        "ExpressionAttributeValues": values(o=claim.order, u=stamp(claim.reserved_until)),
    }


def is_site(item: Item) -> bool:
    return item.get("type") == _SITE


def is_claim(item: Item) -> bool:
    """Claims written before sites existed carry no ``type``; every claim names its license."""
    return not is_site(item) and "license_key" in item


def site_of(item: Item) -> Site:
    return Site.model_construct(site_id=item["site_id"], site_url=item["site_url"], site_owner=item.get("site_owner"))


def connected_site_of(item: Item, licenses: Sequence[HeldLicense] = ()) -> ConnectedSite:
    connected = unstamp(item.get("connected_at"))
    assert connected is not None
    return ConnectedSite(site=site_of(item), connected_at=connected, licenses=tuple(licenses), version=int(item["v"]))


def claim_of(item: Item) -> Claim:
    # Claims written before sites were stamped with their license's source (the migration stamps them) were
    # portal licenses' or external ones'; both are active licenses the site holds.
    return Claim(
        site_id=item["site_id"],
        product=item["product"],
        license_key=item["license_key"],
        source=Source(item.get("source", Source.PORTAL.value)),
        order=item.get("order"),
        reserved_until=unstamp(item.get("reserved_until")),
    )


def _held(claim: Claim) -> HeldLicense:
    return HeldLicense(license_key=claim.license_key, product=claim.product, source=claim.source)


def connected_sites(client: DynamoDBClient, table: str, partner_id: str, site_ids: Sequence[str]) -> dict[str, Site]:
    """Which of ``site_ids`` are connected, with their URL and owner (BatchGetItem, consistent)."""
    wanted = [site_key(partner_id, site_id) for site_id in dict.fromkeys(site_ids)]
    return {item["site_id"]: site_of(item) for item in batch_get(client, table, wanted, ConsistentRead=True)}


def site_claims(
    client: DynamoDBClient, table: str, partner_id: str, site_ids: Sequence[str], product: str
) -> dict[str, Claim]:
    """The claims of ``product`` on ``site_ids`` that exist (BatchGetItem, consistent)."""
    wanted = [claim_key(partner_id, site_id, product) for site_id in dict.fromkeys(site_ids)]
    return {item["site_id"]: claim_of(item) for item in batch_get(client, table, wanted, ConsistentRead=True)}


class DynamoSiteRepository(TableRepository):
    """The site commands' storage: list, read one with its claims, connect, disconnect; and the migration's writes.

    ``read_items``: the fewest items a page read asks DynamoDB for (``Limit``); the list reads more for a long page.
    """

    def __init__(self, table_name: str, client: DynamoDBClient, *, read_items: int = 100) -> None:
        super().__init__(table_name, client)
        self._read_items = read_items

    def list_sites(self, partner_id: str, search: str | None, limit: int, cursor: str | None) -> SitePage:
        """A page of sites in site id order, each with its active licenses.

        One Query of the partner's ``SITE#`` range read in DynamoDB pages of a few hundred items (at most
        ``_READS`` of them): sites and claims interleave, a site's claims right after it. A search is a filter on
        the sites' ``search_text`` that lets every claim through; claims of sites it filtered out are dropped here.
        The page ends before the first site beyond ``limit``; when the reads run out first, the cursor names the
        last site reached, and the claims of a listed site cut off by the last read are read on their own."""
        after = _decode_cursor(cursor)
        pk = keys.partner_pk(partner_id)
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": values(
                pk=pk, lo=keys.site_claims_upper(after) if after else keys.SITE_CLAIM_PREFIX, hi=keys.SITES_UPPER
            ),
            "Limit": min(1000, max(self._read_items, (limit + 1) * 4)),
        }
        if search:
            params["FilterExpression"] = "contains(search_text, :q) OR attribute_exists(license_key)"
            params["ExpressionAttributeValues"] |= values(q=search)
        found: list[Item] = []
        held: dict[str, list[HeldLicense]] = {}
        full = False
        last_key: dict[str, Any] | None = None
        for answer in islice(pages(self._read, **params), _READS):
            for raw in answer.get("Items", ()):
                item = deserialize(raw)
                if is_site(item):
                    if len(found) == limit:
                        full = True
                        break
                    found.append(item)
                    held[item["site_id"]] = []
                elif is_claim(item):
                    claim = claim_of(item)
                    if found and found[-1]["site_id"] == claim.site_id and not claim.pending:
                        held[claim.site_id].append(_held(claim))
            last_key = answer.get("LastEvaluatedKey")
            if full or last_key is None:
                break
        if full:
            next_cursor: str | None = _encode_cursor(found[-1]["site_id"])
        elif last_key is not None:
            # The reads ran out: go on from where they stopped; a listed site cut off there gets its claims now.
            reached = keys.site_id_of_sk(deserialize(last_key)["SK"])
            if found and found[-1]["site_id"] == reached:
                held[reached] = [_held(c) for c in self._claims(partner_id, reached) if not c.pending]
            next_cursor = _encode_cursor(reached)
        else:
            next_cursor = None
        return SitePage([connected_site_of(i, held[i["site_id"]]) for i in found], next_cursor)

    def site_state(self, partner_id: str, site_id: str) -> SiteState | None:
        """The site with every claim it has (one consistent Query of its own range)."""
        head: Item | None = None
        claims: list[Claim] = []
        for item in self._range(partner_id, site_id):
            if is_site(item):
                head = item
            elif is_claim(item):
                claims.append(claim_of(item))
        if head is None:
            return None
        active = [_held(c) for c in claims if not c.pending]
        return SiteState(site=connected_site_of(head, active), reservations=tuple(c for c in claims if c.pending))

    def connect(self, partner_id: str, site: Site, now: datetime) -> None:
        update = connect_update(self._table, partner_id, site, now)["Update"]
        self._call("update_item", **update)

    def disconnect(self, partner_id: str, site_id: str, version: int) -> None:
        try:
            self._call(
                "delete_item",
                TableName=self._table,
                Key=site_key(partner_id, site_id),
                ConditionExpression="v = :v",
                ExpressionAttributeValues=values(v=version),
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                raise VersionConflict() from error
            raise

    # The migration ---------------------------------------------------------------------------------------
    def connect_seen(self, partner_id: str, seen: Sequence[SiteSeen]) -> int:
        """Connect every site of ``seen`` that is not connected yet (a site connected since keeps what it has);
        the number connected."""
        connected = 0
        for entry in seen:
            item = {
                "PK": keys.partner_pk(partner_id),
                "SK": keys.site_sk(entry.site.site_id),
                "type": _SITE,
                "partner_id": partner_id,
                "site_id": entry.site.site_id,
                "site_url": entry.site.site_url,
                "site_owner": entry.site.site_owner,
                "search_text": _search_text(entry.site),
                "connected_at": stamp(entry.connected_at),
                "v": 1,
            }
            try:
                self._call(
                    "put_item",
                    TableName=self._table,
                    Item=serialize(item),
                    ConditionExpression="attribute_not_exists(PK)",
                )
                connected += 1
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
        return connected

    def stamp_claim_sources(self, partner_id: str, sources: Mapping[str, Source]) -> int:
        """Give each claim without a ``source`` its license's (``sources``: license key → source); the number
        stamped."""
        stamped = 0
        for item in self._items(
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues=values(
                pk=keys.partner_pk(partner_id), lo=keys.SITE_CLAIM_PREFIX, hi=keys.SITES_UPPER
            ),
            FilterExpression="attribute_exists(license_key) AND attribute_not_exists(#source)",
            ExpressionAttributeNames={"#source": "source"},
            ConsistentRead=True,
        ):
            source = sources.get(item["license_key"])
            if source is None:
                continue
            try:
                self._call(
                    "update_item",
                    TableName=self._table,
                    Key=serialize({"PK": item["PK"], "SK": item["SK"]}),
                    UpdateExpression="SET #source = :s, #type = :claim",
                    ConditionExpression="license_key = :k",
                    ExpressionAttributeNames={"#source": "source", "#type": "type"},
                    ExpressionAttributeValues=values(s=source.value, claim=_CLAIM, k=item["license_key"]),
                )
                stamped += 1
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
        return stamped

    def partners(self) -> Iterator[str]:
        """Every partner with a record (every license command keeps its counters there). A Scan: for the one-off
        migration only, never on a request path."""
        for item in self._scan_items(
            FilterExpression="SK = :profile",
            ExpressionAttributeValues=values(profile=keys.PROFILE),
            ProjectionExpression="PK",
        ):
            yield keys.partner_of_pk(str(item["PK"]))

    # Plumbing ----------------------------------------------------------------------------------------------
    def _claims(self, partner_id: str, site_id: str) -> list[Claim]:
        return [claim_of(i) for i in self._range(partner_id, site_id) if is_claim(i)]

    def _range(self, partner_id: str, site_id: str) -> Iterator[Item]:
        return self._items(
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues=values(
                pk=keys.partner_pk(partner_id), lo=keys.site_sk(site_id), hi=keys.site_claims_upper(site_id)
            ),
            ConsistentRead=True,
        )

    def _scan_items(self, **params: Any) -> Iterator[Item]:
        for answer in pages(self._client.scan, TableName=self._table, **params):
            for raw in answer.get("Items", ()):
                yield deserialize(raw)

    def _read(self, **params: Any) -> Any:
        return self._call("query", **params)

    def _call(self, operation: str, **params: Any) -> Any:
        try:
            return getattr(self._client, operation)(**params)
        except ClientError as error:
            raise_if_throttled(error)
            if error_code(error) == "TransactionConflictException":
                raise TransientConflict() from error
            raise


def _encode_cursor(site_id: str) -> str:
    return cursors.encode({"after": site_id})


def _decode_cursor(cursor: str | None) -> str | None:
    """A cursor names only the site id to go on after; the partition is always the caller's own."""
    if not cursor:
        return None
    value = cursors.decode(cursor).get("after")
    if not isinstance(value, str) or not SITE_ID.match(value):
        raise cursors.invalid()
    return value


__all__ = [
    "NEW_CLAIM",
    "DynamoSiteRepository",
    "claim_delete",
    "claim_item",
    "claim_of",
    "claim_put",
    "connect_update",
    "connected_sites",
    "is_claim",
    "is_site",
    "reservation_delete",
    "site_claims",
    "touch_update",
]
