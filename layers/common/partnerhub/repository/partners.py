"""The partner's record: standing (payment method, past-due invoices), counters, Stripe customer, company, cards.

The card mirror is one ``CARD#{pm}`` item per saved card plus ``primary_card``/``cards_version`` on the record.
This module owns the ``PROFILE`` item: the other repositories write it only through the transaction pieces
below (:func:`profile_key`, :func:`count_licenses`, :func:`require_can_issue`, :func:`require_can_assign`,
:func:`mark_past_due`) and read its counters through :func:`license_counts_from_item`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from partnerhub import cursors
from partnerhub.domain.accounts import Card, CardBook, Company, ConcurrentChange
from partnerhub.domain.models import PARTNER_ID, Counts, LicenseCounts, Standing
from partnerhub.domain.partner_directory import OverviewPage, PartnerOverview
from partnerhub.repository import keys
from partnerhub.repository.dynamo import (
    Item,
    TableRepository,
    batch_get,
    cancellation_reasons,
    deserialize,
    error_code,
    items,
    pages,
    raise_if_throttled,
    serialize,
    stamp,
    unstamp,
    values,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

# The standing rule, written once as the conditions DynamoDB checks on the PROFILE item; Standing.can_issue and
# Standing.can_assign (domain/models.py) state the same rule for what is read.
CAN_ASSIGN = "attribute_not_exists(past_due)"
CAN_ISSUE = f"has_payment_method = :standing_payment_method AND {CAN_ASSIGN}"


def profile_key(partner_id: str) -> dict[str, Any]:
    """The key of the partner's PROFILE item."""
    return serialize({"PK": keys.partner_pk(partner_id), "SK": keys.PROFILE})


def counter_name(product: str, counter: str) -> str:
    """The PROFILE attribute counting a product's licenses: ``issued``, ``assigned`` or ``revoked``."""
    return f"n#{product}#{counter}"


def count_licenses(
    table: str, partner_id: str, product: str, deltas: dict[str, int], *, set_partner_id: bool = False
) -> dict[str, Any]:
    """The transaction Update adding ``deltas`` (counter -> change, each one written even when 0) to the product's
    license counters on the PROFILE item; ``set_partner_id`` also stamps the partner id on a new record."""
    names = {f"#{counter}": counter_name(product, counter) for counter in deltas}
    adds = ", ".join(f"#{counter} :{counter}" for counter in deltas)
    attribute_values = dict(deltas) | ({"p": partner_id} if set_partner_id else {})
    return {
        "TableName": table,
        "Key": profile_key(partner_id),
        "UpdateExpression": ("SET partner_id = :p " if set_partner_id else "") + f"ADD {adds}",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values(**attribute_values),
    }


def license_counts_from_item(item: Item | None) -> LicenseCounts:
    """The license counts kept on the PROFILE item, per product and in total."""
    raw: dict[str, dict[str, int]] = {}
    for name, value in (item or {}).items():
        if name.startswith("n#"):
            _, product, counter = name.split("#", 2)
            raw.setdefault(product, {})[counter] = value
    per_product = {p: _counts(c) for p, c in sorted(raw.items())}
    total = {counter: sum(c.get(counter, 0) for c in raw.values()) for counter in ("issued", "assigned", "revoked")}
    return LicenseCounts(**_counts(total).model_dump(), products=per_product)


def _counts(counters: dict[str, int]) -> Counts:
    issued, assigned, revoked = (counters.get(name, 0) for name in ("issued", "assigned", "revoked"))
    return Counts(
        all=issued,
        assigned=assigned,
        unassigned=issued - revoked - assigned,
        revoked=revoked,
        not_revoked=issued - revoked,
    )


def require_can_issue(update: dict[str, Any]) -> dict[str, Any]:
    """``update`` (a transaction's Update of the PROFILE item) made conditional on the partner being able to issue:
    a payment method on file and no past-due invoice."""
    attribute_values = update.get("ExpressionAttributeValues", {}) | values(standing_payment_method=True)
    return {**update, "ConditionExpression": CAN_ISSUE, "ExpressionAttributeValues": attribute_values}


def require_can_assign(operation: dict[str, Any]) -> dict[str, Any]:
    """``operation`` (an Update or ConditionCheck of the PROFILE item) made conditional on no past-due invoice."""
    return {**operation, "ConditionExpression": CAN_ASSIGN}


def mark_past_due(table: str, partner_id: str, invoice_id: str, *, past_due: bool) -> dict[str, Any]:
    """The transaction piece adding ``invoice_id`` to the partner's past-due set, or (``past_due=False``) removing
    it; removing the last one removes the attribute, which is what the standing conditions test."""
    verb = "ADD" if past_due else "DELETE"
    return {
        "Update": {
            "TableName": table,
            "Key": profile_key(partner_id),
            "UpdateExpression": f"{verb} past_due :i SET partner_id = :pid",
            "ExpressionAttributeValues": {":i": {"SS": [invoice_id]}, ":pid": {"S": partner_id}},
        }
    }


def standing_from_item(item: Item | None) -> Standing:
    if not item:
        return Standing()
    return Standing(
        has_payment_method=bool(item.get("has_payment_method", False)),
        past_due_invoices=tuple(sorted(item.get("past_due", ()))),
    )


_DIRECTORY_READS = 5  # queries per directory page when a search thins the results


def _directory_key(partner_id: str) -> dict[str, str]:
    return {"PK": keys.partner_pk(partner_id), "SK": keys.DIRECTORY}


def _directory_index_key(partner_id: str) -> dict[str, str]:
    return {"GSI1PK": keys.PARTNER_DIRECTORY, "GSI1SK": partner_id}


def directory_update(table: str, partner_id: str, company_name: str | None = None) -> TransactWriteItemTypeDef:
    """The transaction piece that lists the partner in the directory (GSI1 ``PARTNERS``), with its company name
    when given. Written when the partner gets its Stripe customer and whenever it saves its company; an entry
    never leaves the directory."""
    expression = "SET GSI1PK = :d, GSI1SK = :pid, partner_id = :pid, "
    if company_name is None:
        expression += "search_text = if_not_exists(search_text, :s)"
        text = partner_id.casefold()
    else:
        expression += "search_text = :s, company_name = :n"
        text = f"{partner_id}\n{company_name}".casefold()
    attribute_values = values(d=keys.PARTNER_DIRECTORY, pid=partner_id, s=text)
    if company_name is not None:
        attribute_values |= values(n=company_name)
    return {
        "Update": {
            "TableName": table,
            "Key": serialize(_directory_key(partner_id)),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": attribute_values,
        }
    }


def overview_from(entry: Item, profile: Item | None, *, full: bool = False) -> PartnerOverview:
    """A partner as operators see it, from its directory entry and its PROFILE item."""
    saved = (profile or {}).get("company") or {}
    company = Company.model_validate(saved) if full and saved else None
    customer = (profile or {}).get("stripe_customer_id")
    name = entry.get("company_name") or saved.get("name")
    return PartnerOverview(
        partner_id=str(entry["partner_id"]),
        company_name=str(name) if name else None,
        standing=standing_from_item(profile),
        licenses=license_counts_from_item(profile),
        company=company if full else None,
        stripe_customer_id=str(customer) if full and customer else None,
    )


@dataclass(frozen=True)
class DirectoryPage:
    items: list[Item]
    next_cursor: str | None


def _encode_directory_cursor(partner_id: str) -> str:
    return cursors.encode({"partner_id": partner_id})


def _decode_directory_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    value = cursors.decode(cursor).get("partner_id")
    partner_id = str(value)
    if value is None or not PARTNER_ID.match(partner_id):
        raise cursors.invalid()
    return partner_id


class DynamoPartnerRepository(TableRepository):
    def profile(self, partner_id: str) -> Item:
        response = self._client.get_item(TableName=self._table, Key=self._key(partner_id), ConsistentRead=True)
        return deserialize(response.get("Item", {}))

    def standing(self, partner_id: str) -> Standing:
        return standing_from_item(self.profile(partner_id))

    # Stripe customer ------------------------------------------------------------------------------
    def stripe_customer_id(self, partner_id: str) -> str | None:
        found = self.profile(partner_id).get("stripe_customer_id")
        return str(found) if found else None

    def claim_stripe_customer(self, partner_id: str, customer_id: str) -> str:
        """Record the partner's customer (and the pointer webhooks resolve) unless another one is recorded."""
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": self._key(partner_id),
                            "UpdateExpression": "SET stripe_customer_id = :c, partner_id = :pid",
                            "ConditionExpression": (
                                "attribute_not_exists(stripe_customer_id) OR stripe_customer_id = :c"
                            ),
                            "ExpressionAttributeValues": values(c=customer_id, pid=partner_id),
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": serialize(
                                {
                                    "PK": keys.stripe_customer_pk(customer_id),
                                    "SK": keys.POINTER,
                                    "partner_id": partner_id,
                                }
                            ),
                        }
                    },
                    directory_update(self._table, partner_id),
                ]
            )
        except ClientError as error:
            raise_if_throttled(error)
            if not any(r.get("Code") == "ConditionalCheckFailed" for r in cancellation_reasons(error)):
                raise
            recorded = self.stripe_customer_id(partner_id)
            if recorded is None:  # pragma: no cover - the condition only fails when one is recorded
                raise
            return recorded
        return customer_id

    def partner_of_stripe_customer(self, customer_id: str) -> str | None:
        response = self._client.get_item(
            TableName=self._table,
            Key=serialize({"PK": keys.stripe_customer_pk(customer_id), "SK": keys.POINTER}),
        )
        found = response.get("Item")
        return str(deserialize(found)["partner_id"]) if found else None

    # Cards ----------------------------------------------------------------------------------------
    def card_book(self, partner_id: str) -> CardBook:
        """The card mirror. The record is read before the cards, so a commit planned from a stale
        pair of reads fails its version condition instead of writing stale cards."""
        profile = self.profile(partner_id)
        cards = [
            card_from_item(item)
            for item in self._items(
                KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
                ExpressionAttributeValues=values(pk=keys.partner_pk(partner_id), prefix=keys.CARD_PREFIX),
                ConsistentRead=True,
            )
        ]
        cards.sort(key=lambda card: (card.added_at, card.id))
        primary = profile.get("primary_card")
        customer = profile.get("stripe_customer_id")
        return CardBook(
            cards=tuple(cards),
            primary=str(primary) if primary else None,
            version=int(profile.get("cards_version", 0)),
            customer_id=str(customer) if customer else None,
        )

    def primary_card(self, partner_id: str) -> str | None:
        """The primary card's id, from the partner's record alone (no query of the cards)."""
        primary = self.profile(partner_id).get("primary_card")
        return str(primary) if primary else None

    def commit_cards(self, partner_id: str, before: CardBook, after: CardBook) -> None:
        """Write the card items and the record's standing in one transaction guarded by the book's version."""
        after_ids = {card.id for card in after.cards}
        expression = "SET cards_version = :next, has_payment_method = :has, partner_id = :pid"
        attribute_values = values(next=before.version + 1, has=after.has_payment_method, pid=partner_id)
        if after.primary is not None:
            expression += ", primary_card = :primary"
            attribute_values |= values(primary=after.primary)
        else:
            expression += " REMOVE primary_card"
        if before.version:
            condition = "cards_version = :version"
            attribute_values |= values(version=before.version)
        else:
            condition = "attribute_not_exists(cards_version)"
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": self._key(partner_id),
                    "UpdateExpression": expression,
                    "ConditionExpression": condition,
                    "ExpressionAttributeValues": attribute_values,
                }
            }
        ]
        known = {card.id: card for card in before.cards}
        items += [
            {"Put": {"TableName": self._table, "Item": serialize(card_item(partner_id, card))}}
            for card in after.cards
            if known.get(card.id) != card  # new, or changed in Stripe (e.g. a renewed expiry)
        ]
        items += [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": serialize({"PK": keys.partner_pk(partner_id), "SK": keys.card_sk(card.id)}),
                }
            }
            for card in before.cards
            if card.id not in after_ids
        ]
        try:
            self._client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as error:
            raise_if_throttled(error)
            conflicted = error_code(error) == "TransactionConflictException" or any(
                r.get("Code") in ("ConditionalCheckFailed", "TransactionConflict") for r in cancellation_reasons(error)
            )
            if conflicted:
                raise ConcurrentChange() from error
            raise

    # Company --------------------------------------------------------------------------------------
    def company(self, partner_id: str) -> Company | None:
        saved = self.profile(partner_id).get("company")
        return Company.model_validate(saved) if saved else None

    def save_company(self, partner_id: str, company: Company, at: datetime) -> None:
        """The company on the record, and its name in the partner's directory entry (operators search it)."""
        self._client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": self._key(partner_id),
                        "UpdateExpression": "SET company = :c, company_updated_at = :at, partner_id = :pid",
                        "ExpressionAttributeValues": values(
                            c=company.model_dump(mode="json", exclude_none=True), at=stamp(at), pid=partner_id
                        ),
                    }
                },
                directory_update(self._table, partner_id, company.name),
            ]
        )

    # The directory (operators) ----------------------------------------------------------------------
    def directory_page(self, search: str | None, limit: int, cursor: str | None) -> DirectoryPage:
        """Partners by id (``Query GSI1 PK = PARTNERS``), those whose id or company name contains ``search``
        (case-insensitive); at most :data:`_DIRECTORY_READS` reads per page, then a cursor."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": keys.GSI_LICENSES,
            "KeyConditionExpression": "GSI1PK = :pk",
            "ExpressionAttributeValues": values(pk=keys.PARTNER_DIRECTORY),
            "Limit": max(limit, 100) if search else limit + 1,
        }
        if search:
            params["FilterExpression"] = "contains(search_text, :q)"
            params["ExpressionAttributeValues"] |= values(q=search.casefold())
        start = _decode_directory_cursor(cursor)
        if start is not None:
            params["ExclusiveStartKey"] = serialize(_directory_key(start) | _directory_index_key(start))
        found: list[Item] = []
        last_read: str | None = None
        for answer in itertools.islice(pages(self._client.query, **params), _DIRECTORY_READS):
            found += [deserialize(i) for i in answer.get("Items", [])]
            evaluated = answer.get("LastEvaluatedKey")
            last_read = str(deserialize(evaluated)["GSI1SK"]) if evaluated else None
            if len(found) > limit:
                break
        if len(found) > limit:
            found = found[:limit]
            return DirectoryPage(found, _encode_directory_cursor(str(found[-1]["partner_id"])))
        return DirectoryPage(found, _encode_directory_cursor(last_read) if last_read else None)

    def directory_entry(self, partner_id: str) -> Item | None:
        response = self._client.get_item(
            TableName=self._table, Key=serialize(_directory_key(partner_id)), ConsistentRead=True
        )
        found = response.get("Item")
        return deserialize(found) if found else None

    def profiles(self, partner_ids: list[str]) -> dict[str, Item]:
        """The PROFILE items of up to 100 partners (one BatchGetItem, unprocessed keys asked again)."""
        wanted = [self._key(pid) for pid in dict.fromkeys(partner_ids)]
        found = batch_get(self._client, self._table, wanted, ConsistentRead=True)
        return {keys.partner_of_pk(str(item["PK"])): item for item in found}

    def list_in_directory(self, partner_id: str) -> bool:
        """Write the partner's directory entry from its record (the migration); False when it has no record."""
        profile = self.profile(partner_id)
        if not profile:
            return False
        saved = profile.get("company") or {}
        name = str(saved["name"]) if saved.get("name") else None
        update = directory_update(self._table, partner_id, name)["Update"]
        self._client.update_item(**update)
        return True

    def partners_with_a_customer(self) -> Iterator[str]:
        """Every partner that has a Stripe customer, from the customer pointers. A Scan: for the one-off
        migration script only, never on a request path."""
        for item in items(
            self._client.scan,
            TableName=self._table,
            FilterExpression="begins_with(PK, :prefix) AND SK = :pointer",
            ExpressionAttributeValues=values(prefix=keys.stripe_customer_pk(""), pointer=keys.POINTER),
            ProjectionExpression="partner_id",
        ):
            yield str(item["partner_id"])

    # the Directory port of domain/partner_directory.py
    def find(self, search: str | None, limit: int, cursor: str | None) -> OverviewPage:
        page = self.directory_page(search, limit, cursor)
        ids = [str(item["partner_id"]) for item in page.items]
        profiles = self.profiles(ids)
        return OverviewPage(
            [overview_from(entry, profiles.get(pid)) for pid, entry in zip(ids, page.items, strict=True)],
            page.next_cursor,
        )

    def overview(self, partner_id: str) -> PartnerOverview | None:
        entry = self.directory_entry(partner_id)
        profile = self.profile(partner_id)
        if entry is None and not profile:
            return None
        return overview_from(entry or {"partner_id": partner_id}, profile, full=True)

    def _update(self, partner_id: str, expression: str, attribute_values: dict[str, Any]) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=self._key(partner_id),
            UpdateExpression=expression,
            ExpressionAttributeValues=attribute_values | values(pid=partner_id),
        )

    @staticmethod
    def _key(partner_id: str) -> dict[str, Any]:
        return profile_key(partner_id)


def card_item(partner_id: str, card: Card) -> Item:
    return {
        "PK": keys.partner_pk(partner_id),
        "SK": keys.card_sk(card.id),
        "payment_method_id": card.id,
        "brand": card.brand,
        "last4": card.last4,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "added_at": stamp(card.added_at),
    }


def card_from_item(item: Item) -> Card:
    added_at = unstamp(item["added_at"])
    assert added_at is not None
    return Card(
        id=str(item["payment_method_id"]),
        brand=str(item["brand"]),
        last4=str(item["last4"]),
        exp_month=int(item["exp_month"]),
        exp_year=int(item["exp_year"]),
        added_at=added_at,
    )
