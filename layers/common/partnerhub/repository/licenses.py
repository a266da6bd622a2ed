"""Licenses, their history, site claims and counters in the single table.

Every change is one TransactWriteItems: the license (guarded by its version), a history item, the
site claims and the partner's counters, so concurrent commands can never lose an update or put two
active licenses of one product on one site.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from botocore.exceptions import ClientError

from partnerhub import cursors
from partnerhub.domain.licenses import (
    Change,
    IssueOrder,
    IssueReceipt,
    ListQuery,
    Page,
    SiteOrder,
    TransientConflict,
    VersionConflict,
    check_standing,
)
from partnerhub.domain.models import (
    HistoryEvent,
    Labels,
    License,
    LicenseCounts,
    Product,
    Site,
    Source,
    Standing,
)
from partnerhub.domain.sites import Claim
from partnerhub.domain.tallies import TallyChange, assignment_tally, issue_tally, revoke_tally
from partnerhub.errors import Conflict, NotFound, ValidationFailed
from partnerhub.repository import keys
from partnerhub.repository.audit import audit_put
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
from partnerhub.repository.partners import (
    count_licenses,
    license_counts_from_item,
    profile_key,
    require_can_assign,
    require_can_issue,
    standing_from_item,
)
from partnerhub.repository.sites import (
    NEW_CLAIM,
    claim_delete,
    claim_item,
    claim_of,
    claim_put,
    connect_update,
    connected_sites,
    reservation_delete,
    site_claims,
    touch_update,
)
from partnerhub.repository.tallies import tally_updates

_MAX_TRANSACTION_ITEMS = 100
_RECEIPT_TTL = timedelta(days=7)
_SITES_PER_RESERVATION = _MAX_TRANSACTION_ITEMS // 2  # a reservation is two items: the claim and the site
_OWN_RESERVATION = f"{NEW_CLAIM} OR (#order = :r AND attribute_exists(reserved_until))"
_KEY_EXISTS = "that license key already exists (held by this or another partner)"
_SEARCH_READ_BUDGET = 5  # queries per page when a filter (search, client, tag) thins the results
_STATUS_SORT = {"all": "issued_at", "unassigned": "issued_at", "assigned": "assigned_at", "revoked": "revoked_at"}


def sort_field_for(status: str) -> str:
    """The one sort order each status view is indexed by."""
    return _STATUS_SORT[status]


class DynamoLicenseRepository(TableRepository):
    # Reads ------------------------------------------------------------------------------------
    def get_product(self, product: str) -> Product | None:
        item = self._get(keys.CATALOG, keys.product_sk(product))
        return None if item is None else Product(product=item["product"], name=item["name"])

    def get_license(self, partner_id: str, license_key: str) -> License | None:
        item = self._get(keys.partner_pk(partner_id), keys.license_sk(license_key), consistent=True)
        return None if item is None else license_from_item(item)

    def get_license_with_history(self, partner_id: str, license_key: str) -> tuple[License, list[HistoryEvent]] | None:
        items = list(
            self._query(
                KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
                ExpressionAttributeValues=values(
                    pk=keys.partner_pk(partner_id),
                    lo=keys.license_sk(license_key),
                    hi=keys.history_sk_upper(license_key),
                ),
                ConsistentRead=True,
            )
        )
        head = next((i for i in items if i["SK"] == keys.license_sk(license_key)), None)
        if head is None:
            return None
        history = [history_from_item(i) for i in items if i["SK"] != keys.license_sk(license_key)]
        return license_from_item(head), history

    def counts(self, partner_id: str) -> LicenseCounts:
        """Kept as counters on the partner's record by every command: one GetItem, whatever the partner's size."""
        return license_counts_from_item(self._get(keys.partner_pk(partner_id), keys.PROFILE))

    def list_licenses(self, query: ListQuery) -> Page:
        index, partition, sort_attr = _index_for(query)
        expected_sort = sort_field_for(query.status)
        if query.sort != expected_sort:
            raise ValidationFailed(
                "unsupported sort for this status",
                details=[{"field": "sort", "reason": f"status={query.status} lists by {expected_sort}"}],
            )
        start = _decode_cursor(query.cursor, query.partner_id, index, partition, sort_attr)
        params: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": f"{index}PK = :pk",
            "ExpressionAttributeValues": values(pk=partition),
            "ScanIndexForward": not query.descending,
        }
        filters: list[str] = []
        if query.search:
            filters.append("contains(search_text, :q)")
            params["ExpressionAttributeValues"] |= values(q=query.search.lower())
        if query.client is not None:
            filters.append("client = :c")
            params["ExpressionAttributeValues"] |= values(c=query.client)
        if query.tag is not None:
            filters.append("contains(tags, :t)")
            params["ExpressionAttributeValues"] |= values(t=query.tag)
        if filters:
            params["FilterExpression"] = " AND ".join(filters)
        # A filter thins the pages: read up to a budget of them; without one, one read with DynamoDB's Limit.
        filtered = bool(filters)
        params["Limit"] = max(query.limit, 100) if filtered else query.limit
        reads = _SEARCH_READ_BUDGET if filtered else 1
        if start:
            params["ExclusiveStartKey"] = start
        found: list[Item] = []
        last_key: dict[str, Any] | None = start
        for answer in islice(pages(self._read, TableName=self._table, **params), reads):
            batch = [deserialize(i) for i in answer.get("Items", [])]
            room = query.limit - len(found)
            if len(batch) > room:
                found.extend(batch[:room])
                last_key = _key_of(found[-1], index)
                break
            found.extend(batch)
            last_key = answer.get("LastEvaluatedKey")
            if last_key is None or len(found) >= query.limit:
                break
        cursor = _encode_cursor(last_key, index) if last_key else None
        return Page(items=[license_from_item(i) for i in found], next_cursor=cursor)

    def standing(self, partner_id: str) -> Standing:
        return standing_from_item(self._get(keys.partner_pk(partner_id), keys.PROFILE))

    # Writes -----------------------------------------------------------------------------------
    def issue(self, order: IssueOrder, *, require_payment_method: bool) -> tuple[License, ...]:
        licenses = order.licenses
        head: list[dict[str, Any]] = [self._receipt_put(order)]
        head.append(self._counters_update(order, len(_first_chunk(order, licenses)), require_payment_method))
        if order.source is Source.PORTAL:
            head.append(billable_update(self._table, order.partner_id, order.licenses[0].issued_at))
            head += tally_updates(
                self._table, order.partner_id, _issue_tally(order, len(_first_chunk(order, licenses)))
            )
        for site in order.claims:
            head.append(self._claim_put(order.partner_id, site, licenses[0]))
        # The sites an operator's license is recorded on are connected in the same transaction.
        head += [connect_update(self._table, order.partner_id, site, licenses[0].issued_at) for site in order.claims]
        # An operator's order carries its audit entry, written last in the first transaction.
        tail: list[dict[str, Any]] = [dict(audit_put(self._table, order.audit))] if order.audit is not None else []
        chunks = _chunks(licenses, (_MAX_TRANSACTION_ITEMS - len(head) - len(tail)) // 2, _rest_chunk(order))
        try:
            self._transact([*head, *(put for lic in chunks[0] for put in self._license_puts(lic)), *tail])
        except ClientError as error:
            reasons = cancellation_reasons(error)
            if not reasons:
                raise
            failed = {i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"}
            claims_from = len(head) - 2 * len(order.claims)
            if 0 in failed:
                # The order was taken before (a retry after a crash): finish it with its own licenses.
                licenses = _licenses_from_receipt(deserialize(reasons[0].get("Item", {})), order)
                chunks = _chunks(licenses, len(_first_chunk(order, licenses)), _rest_chunk(order))
            elif 1 in failed:
                item = reasons[1].get("Item")
                if item is None and order.source is not Source.PORTAL:
                    raise NotFound("no such partner", code="partner_not_found") from error
                _refuse(standing_from_item(deserialize(item) if item else None), issuing=True)
            elif failed & set(range(claims_from, claims_from + len(order.claims))):
                at = min(failed & set(range(claims_from, claims_from + len(order.claims))))
                self._settle_claim(order.partner_id, reasons[at], licenses[0].issued_at)
                raise Conflict(
                    "that site already holds an active license of this product", code="site_has_license"
                ) from error
            elif failed:
                raise Conflict(_KEY_EXISTS, code="license_exists") from error
            else:
                raise TransientConflict() from error
        for chunk in chunks[1:]:
            items = [self._chunk_counter_update(order, len(chunk))]
            if order.source is Source.PORTAL:
                items += tally_updates(self._table, order.partner_id, _issue_tally(order, len(chunk), claims=0))
            items += [put for lic in chunk for put in self._license_puts(lic)]
            try:
                self._transact(items)
            except ClientError as error:
                reasons = cancellation_reasons(error)
                if not any(r.get("Code") == "ConditionalCheckFailed" for r in reasons[1:]):
                    raise TransientConflict() from error
                # Already written by the attempt that crashed: the chunk is done.
        return licenses

    def commit(self, change: Change) -> None:
        partner_id = change.after.partner_id
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(license_item(change.after)),
                    "ConditionExpression": "version = :v",
                    "ExpressionAttributeValues": values(v=change.before.version),
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(history_item(change.after, change.event)),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
        ]
        claim_at = partner_at = -1
        if change.claim is not None:
            claim_at = len(items)
            items.append(self._claim_put(partner_id, change.claim, change.after))
        if change.release is not None:
            items.append(
                claim_delete(
                    self._table, partner_id, change.release.site_id, change.after.product, change.after.license_key
                )
            )
        if change.connect is not None:
            items.append(connect_update(self._table, partner_id, change.connect, change.event.at))
        if change.counters is not None or change.requires_assignable:
            partner_at = len(items)
            items.append(self._partner_change(partner_id, change))
        tally = _change_tally(change)
        if tally is not None:
            items += tally_updates(self._table, partner_id, tally)
        try:
            self._transact(items)
        except ClientError as error:
            reasons = cancellation_reasons(error)
            if not reasons:
                raise
            failed = {i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"}
            if 0 in failed:
                # The license moved on since we read it (possibly by this very change, applied by an
                # earlier try whose answer was lost): re-read and re-plan before judging anything else.
                raise VersionConflict() from error
            if partner_at in failed:
                item = reasons[partner_at].get("Item")
                _refuse(standing_from_item(deserialize(item) if item else None), issuing=False)
            if claim_at in failed:
                self._settle_claim(partner_id, reasons[claim_at], change.event.at)
                raise Conflict(
                    "that site already holds an active license of this product", code="site_has_license"
                ) from error
            if failed:
                raise VersionConflict() from error
            raise TransientConflict() from error

    # Orders to sites ---------------------------------------------------------------------------
    # An order of n licenses to n sites writes 4n items (license, key, claim, site) and more, in several
    # transactions: it is made all or nothing by deciding everything that can refuse it before the one
    # transaction that commits it. 1. Reserve every site's claim (two items a site, 50 sites a transaction, in site
    # id order): a reservation names the order and lapses after RESERVATION; the sites must be connected. 2. Commit:
    # the receipt (condition: new), the standing and counters, the tallies and the first licenses. 3. Write the
    # other licenses, each turning its reservation into the claim it holds. Nothing after the commit can be refused,
    # so a crash after it is finished by the retry (from the receipt); a crash before leaves only reservations, which
    # the retry takes over, or which lapse and are released by whoever meets them, marking the receipt abandoned in
    # the same transaction so that the order can never commit afterwards.

    def issue_receipt(self, partner_id: str, receipt_id: str) -> IssueReceipt | None:
        item = self._get(keys.partner_pk(partner_id), keys.issue_receipt_sk(receipt_id), consistent=True)
        if item is None:
            return None
        return IssueReceipt(
            license_keys=tuple(item.get("license_keys") or ()),
            sites=tuple(Site(**site) for site in item.get("sites") or ()),
            issued_at=unstamp(item.get("issued_at")),
            issued_by=item.get("issued_by"),
            abandoned_generation=int(item.get("abandoned_gen", 0)),
        )

    def connected_sites(self, partner_id: str, site_ids: Sequence[str]) -> dict[str, Site]:
        return connected_sites(self._client, self._table, partner_id, site_ids)

    def site_claims(self, partner_id: str, site_ids: Sequence[str], product: str) -> dict[str, Claim]:
        return site_claims(self._client, self._table, partner_id, site_ids, product)

    def release_lapsed(self, partner_id: str, claim: Claim) -> bool:
        """Release a lapsed reservation, marking its order's receipt abandoned in the same transaction (condition:
        the order has not committed), so that the order can never commit after it. True when released (or it was
        gone already); False when the order had committed: the site is the order's."""
        assert claim.order is not None and claim.reserved_until is not None
        tombstone = {
            "Update": {
                "TableName": self._table,
                "Key": serialize({"PK": keys.partner_pk(partner_id), "SK": keys.issue_receipt_sk(claim.order)}),
                "UpdateExpression": "SET #ttl = :ttl ADD abandoned_gen :one",
                "ConditionExpression": "attribute_not_exists(license_keys)",
                "ExpressionAttributeNames": {"#ttl": "ttl"},
                "ExpressionAttributeValues": values(ttl=int((claim.reserved_until + _RECEIPT_TTL).timestamp()), one=1),
            }
        }
        try:
            self._transact([tombstone, {"Delete": reservation_delete(self._table, partner_id, claim)}])
        except ClientError as error:
            reasons = cancellation_reasons(error)
            if not reasons:
                raise
            if reasons[0].get("Code") == "ConditionalCheckFailed":
                return False
            if reasons[1].get("Code") == "ConditionalCheckFailed":
                return True  # released or taken since: whoever reads it next sees what it is now
            raise TransientConflict() from error
        return True

    def release_reservations(self, partner_id: str, receipt_id: str, claims: Sequence[Claim]) -> None:
        """Release this order's reservations of the claims' sites (where they are still its reservations)."""
        for claim in claims:
            try:
                self._call(
                    "delete_item",
                    TableName=self._table,
                    Key=serialize(
                        {"PK": keys.partner_pk(partner_id), "SK": keys.site_claim_sk(claim.site_id, claim.product)}
                    ),
                    ConditionExpression="#order = :r AND attribute_exists(reserved_until)",
                    ExpressionAttributeNames={"#order": "order"},
                    ExpressionAttributeValues=values(r=receipt_id),
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise

    def issue_to_sites(self, order: SiteOrder) -> tuple[License, ...]:
        """Reserve, commit, write (see above). A lost race is :class:`TransientConflict`: the service reads again
        and either goes on (this order's reservations are its own to take again) or refuses, naming the sites."""
        self._reserve(order)
        first, rest = _site_chunks(order.licenses)
        items: list[dict[str, Any]] = [
            self._receipt_put(order),
            self._site_counters(order, len(first), require_payment_method=True),
            billable_update(self._table, order.partner_id, order.licenses[0].issued_at),
            *tally_updates(self._table, order.partner_id, _site_tally(order, len(first))),
        ]
        head = len(items)
        items += [put for lic in first for put in self._site_license_puts(order, lic)]
        try:
            self._transact(items)
        except ClientError as error:
            reasons = cancellation_reasons(error)
            if not reasons:
                raise
            failed = {i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"}
            if 0 in failed:
                # Committed by another try of this order (the retry finishes it), or abandoned since it was read.
                raise TransientConflict() from error
            if 1 in failed:
                self.release_reservations(order.partner_id, order.receipt_id, _claims_of(order))
                item = reasons[1].get("Item")
                _refuse(standing_from_item(deserialize(item) if item else None), issuing=True)
            if any((i - head) % _PER_SITE_LICENSE in (0, 1) for i in failed if i >= head):
                self.release_reservations(order.partner_id, order.receipt_id, _claims_of(order))
                raise Conflict(_KEY_EXISTS, code="license_exists") from error
            raise TransientConflict() from error
        self._write_site_chunks(order, rest)
        return order.licenses

    def finish_site_order(self, order: SiteOrder) -> tuple[License, ...]:
        """Write what a committed order (its first licenses are written with its receipt) has not written yet."""
        self._write_site_chunks(order, _site_chunks(order.licenses)[1])
        return order.licenses

    def _reserve(self, order: SiteOrder) -> None:
        by_site = sorted(order.licenses, key=lambda lic: lic.site.site_id if lic.site else "")
        for start in range(0, len(by_site), _SITES_PER_RESERVATION):
            items: list[dict[str, Any]] = []
            for lic in by_site[start : start + _SITES_PER_RESERVATION]:
                assert lic.site is not None
                reservation = claim_item(
                    order.partner_id, lic.site.site_id, lic, order=order.receipt_id, reserved_until=order.reserved_until
                )
                items.append(claim_put(self._table, reservation, _OWN_RESERVATION, values(r=order.receipt_id)))
                items.append(touch_update(self._table, order.partner_id, lic.site.site_id))
            try:
                self._transact(items)
            except ClientError as error:
                if not cancellation_reasons(error):
                    raise
                # A site was taken, reserved or disconnected since it was read: read again and judge.
                raise TransientConflict() from error

    def _write_site_chunks(self, order: SiteOrder, chunks: Sequence[Sequence[License]]) -> None:
        for chunk in chunks:
            items = [
                self._site_counters(order, len(chunk), require_payment_method=False),
                *tally_updates(self._table, order.partner_id, _site_tally(order, len(chunk))),
            ]
            head = len(items)
            items += [put for lic in chunk for put in self._site_license_puts(order, lic)]
            try:
                self._transact(items)
            except ClientError as error:
                reasons = cancellation_reasons(error)
                written = reasons[head].get("Code") == "ConditionalCheckFailed" if len(reasons) > head else False
                if not written:
                    raise TransientConflict() from error
                # Written by the try that crashed after it: the chunk is done.

    def _site_counters(self, order: SiteOrder, n: int, *, require_payment_method: bool) -> dict[str, Any]:
        update = count_licenses(
            self._table,
            order.partner_id,
            order.product.product,
            {"issued": n, "assigned": n},
            set_partner_id=require_payment_method,
        )
        if not require_payment_method:
            return {"Update": update}
        update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return {"Update": require_can_issue(update)}

    def _site_license_puts(self, order: SiteOrder, license: License) -> list[dict[str, Any]]:
        """The license, its key's item, and its reservation turned into the claim it holds."""
        assert license.site is not None
        claim = claim_item(order.partner_id, license.site.site_id, license, order=order.receipt_id)
        confirm = claim_put(self._table, claim, "#order = :r", values(r=order.receipt_id))
        return [*self._license_puts(license), confirm]

    # The migration -----------------------------------------------------------------------------
    def lives(self, partner_id: str) -> Iterator[tuple[License, list[HistoryEvent]]]:
        """Every license of the partner with its history, in key order (pattern 21; for the one-off migration)."""
        current: tuple[License, list[HistoryEvent]] | None = None
        for item in self._query(
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues=values(
                pk=keys.partner_pk(partner_id), lo=keys.license_sk(""), hi=keys.LICENSES_UPPER
            ),
            ConsistentRead=True,
        ):
            if item.get("type") == "license":
                if current is not None:
                    yield current
                current = (license_from_item(item), [])
            elif item.get("type") == "history" and current is not None:
                current[1].append(history_from_item(item))
        if current is not None:
            yield current

    # Item builders -----------------------------------------------------------------------------
    def _receipt_put(self, order: IssueOrder | SiteOrder) -> dict[str, Any]:
        first = order.licenses[0]
        source = Source.PORTAL if isinstance(order, SiteOrder) else order.source
        # An order to sites found abandoned before (a lapsed reservation of it was released) commits only if no
        # reservation of it was released since: the generation it read is still the receipt's.
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(PK)"}
        if isinstance(order, SiteOrder) and order.abandoned_generation is not None:
            condition = {
                "ConditionExpression": "abandoned_gen = :g",
                "ExpressionAttributeValues": values(g=order.abandoned_generation),
            }
        return {
            "Put": {
                "TableName": self._table,
                "Item": serialize(
                    {
                        "PK": keys.partner_pk(order.partner_id),
                        "SK": keys.issue_receipt_sk(order.receipt_id),
                        "license_keys": [lic.license_key for lic in order.licenses],
                        "sites": [lic.site.model_dump(exclude_none=True) for lic in order.licenses if lic.site]
                        if isinstance(order, SiteOrder)
                        else None,
                        "product": order.product.product,
                        "product_name": order.product.name,
                        "source": source.value,
                        "issued_at": stamp(first.issued_at),
                        "issued_by": first.issued_by,
                        "ttl": int((first.issued_at + _RECEIPT_TTL).timestamp()),
                    }
                ),
                **condition,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _counters_update(self, order: IssueOrder, issued: int, require_payment_method: bool) -> dict[str, Any]:
        update = count_licenses(
            self._table,
            order.partner_id,
            order.product.product,
            {"issued": issued, "assigned": len(order.claims)},
            set_partner_id=True,
        )
        update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        if require_payment_method:
            return {"Update": require_can_issue(update)}
        if order.source is not Source.PORTAL:
            # An operator records licenses only for a partner that exists: one with a PROFILE item.
            update["ConditionExpression"] = "attribute_exists(PK)"
        return {"Update": update}

    def _chunk_counter_update(self, order: IssueOrder, issued: int) -> dict[str, Any]:
        return {"Update": count_licenses(self._table, order.partner_id, order.product.product, {"issued": issued})}

    def _partner_change(self, partner_id: str, change: Change) -> dict[str, Any]:
        if change.counters is None:
            check = {
                "TableName": self._table,
                "Key": profile_key(partner_id),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
            return {"ConditionCheck": require_can_assign(check) if change.requires_assignable else check}
        delta = change.counters
        update = count_licenses(
            self._table, partner_id, delta.product, {"assigned": delta.assigned, "revoked": delta.revoked}
        )
        update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return {"Update": require_can_assign(update) if change.requires_assignable else update}

    def _claim_put(self, partner_id: str, site: Site, license: License) -> dict[str, Any]:
        return claim_put(self._table, claim_item(partner_id, site.site_id, license), NEW_CLAIM)

    def _settle_claim(self, partner_id: str, reason: dict[str, Any], now: datetime) -> None:
        """A claim put found the site's claim taken. When that was a lapsed reservation (an order that died
        before committing), release it and try again (:class:`TransientConflict`); otherwise return: the site
        holds the product."""
        item = reason.get("Item")
        if item is None:
            raise TransientConflict()  # gone since: try again
        claim = claim_of(deserialize(item))
        if claim.lapsed(now) and self.release_lapsed(partner_id, claim):
            raise TransientConflict()

    def _license_puts(self, license: License) -> tuple[dict[str, Any], dict[str, Any]]:
        """The license, and its key's uniqueness item: a key is held by one partner only, across every partner."""
        held = {
            "PK": keys.license_key_pk(license.license_key),
            "SK": keys.LICENSE_KEY_SK,
            "partner_id": license.partner_id,
            "source": license.source.value,
        }
        return (
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(license_item(license)),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(held),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
        )

    def key_held_elsewhere(self, license_key: str, partner_id: str) -> bool:
        """Whether another partner holds ``license_key``. Its uniqueness item answers for every license written
        since keys have one; a license from before has none, so every listed partner's ``LICENSE#{key}`` item is
        read too (BatchGetItem, 100 partners a call): an operator records external licenses rarely, and a key
        the portal issues is random (about 143 bits), so only an operator's own key needs the look."""
        item = self._get(keys.license_key_pk(license_key), keys.LICENSE_KEY_SK, consistent=True)
        if item is not None:
            return str(item["partner_id"]) != partner_id
        others = [pid for pid in self._directory_partners() if pid != partner_id]
        wanted = [serialize({"PK": keys.partner_pk(pid), "SK": keys.license_sk(license_key)}) for pid in others]
        held = batch_get(self._client, self._table, wanted, ConsistentRead=True, ProjectionExpression="PK")
        return next(held, None) is not None

    def _directory_partners(self) -> Iterator[str]:
        for item in self._query(
            IndexName=keys.GSI_LICENSES,
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues=values(pk=keys.PARTNER_DIRECTORY),
            ProjectionExpression="partner_id",
        ):
            yield str(item["partner_id"])

    # Plumbing ----------------------------------------------------------------------------------
    def _get(self, pk: str, sk: str, *, consistent: bool = False) -> Item | None:
        response = self._call(
            "get_item", TableName=self._table, Key=serialize({"PK": pk, "SK": sk}), ConsistentRead=consistent
        )
        item = response.get("Item")
        return None if item is None else deserialize(item)

    def _query(self, **params: Any) -> Iterator[Item]:
        return items(self._read, TableName=self._table, **params)

    def _read(self, **params: Any) -> Any:
        return self._call("query", **params)

    def _transact(self, items: list[dict[str, Any]]) -> None:
        self._call("transact_write_items", TransactItems=items)

    def _call(self, operation: str, **params: Any) -> Any:
        try:
            return getattr(self._client, operation)(**params)
        except ClientError as error:
            raise_if_throttled(error)
            if error_code(error) == "TransactionConflictException":
                raise TransientConflict() from error
            raise


# Item mapping ------------------------------------------------------------------------------------
def billable_item(partner_id: str, since: datetime | None = None) -> Item:
    """The partner's entry in the billable-partner registry (sparse, sharded in GSI1), written with every portal
    issue and never removed: the month-end planner reads the registry, never the licenses. ``since``: the first
    portal issue's instant (an entry written before it was kept has none: billable in every month)."""
    item: Item = {
        "PK": keys.partner_pk(partner_id),
        "SK": keys.billable_sk(),
        "partner_id": partner_id,
        "GSI1PK": keys.billable_gsi_pk(keys.billable_shard(partner_id)),
        "GSI1SK": partner_id,
    }
    return item | ({"since": stamp(since)} if since is not None else {})


def billable_update(table: str, partner_id: str, issued_at: datetime) -> dict[str, Any]:
    """The registry entry as an issue's transaction writes it: ``since`` is set by the first issue and kept."""
    entry = billable_item(partner_id, issued_at)
    return {
        "Update": {
            "TableName": table,
            "Key": serialize({"PK": entry["PK"], "SK": entry["SK"]}),
            "UpdateExpression": "SET partner_id = :pid, GSI1PK = :gsi_pk, GSI1SK = :pid, "
            "#since = if_not_exists(#since, :since)",
            "ExpressionAttributeNames": {"#since": "since"},
            "ExpressionAttributeValues": values(pid=partner_id, gsi_pk=entry["GSI1PK"], since=entry["since"]),
        }
    }


def license_item(license: License) -> Item:
    pid, key = license.partner_id, license.license_key
    status = license.status.value
    issued = keys.time_sort_key(stamp(license.issued_at), key)
    by_status = keys.time_sort_key(stamp(license.status_at), key)
    site = license.site.model_dump(exclude_none=True) if license.site else None
    searchable = [key, license.site.site_url, license.site.site_id] if license.site else [key]
    if license.client:
        searchable.append(license.client)
    search = " ".join(searchable).lower()
    return {
        "PK": keys.partner_pk(pid),
        "SK": keys.license_sk(key),
        "type": "license",
        "partner_id": pid,
        "license_key": key,
        "product": license.product,
        "product_name": license.product_name,
        "source": license.source.value,
        "status": status,
        "issued_at": stamp(license.issued_at),
        "issued_by": license.issued_by,
        "assigned_at": stamp(license.assigned_at) if license.assigned_at else None,
        "revoked_at": stamp(license.revoked_at) if license.revoked_at else None,
        "site": site,
        "version": license.version,
        "client": license.client,
        "tags": list(license.tags),
        "issued_to": license.issued_to.model_dump(exclude_none=True) if license.issued_to else None,
        "search_text": search,
        "GSI1PK": keys.licenses_gsi_pk(pid),
        "GSI1SK": issued,
        "GSI2PK": keys.status_gsi_pk(pid, status),
        "GSI2SK": by_status,
        "GSI3PK": keys.product_gsi_pk(pid, license.product),
        "GSI3SK": issued,
        "GSI4PK": keys.product_status_gsi_pk(pid, license.product, status),
        "GSI4SK": by_status,
        **_billing_keys(license),
    }


def _billing_keys(license: License) -> Item:
    """GSI5 is sparse: external licenses are never billed, so the billing read never sees them."""
    if license.source is not Source.PORTAL:
        return {}
    revoked = stamp(license.revoked_at) if license.revoked_at else keys.ACTIVE
    return {
        "GSI5PK": keys.billing_gsi_pk(license.partner_id),
        "GSI5SK": keys.time_sort_key(revoked, license.license_key),
    }


def license_from_item(item: Item) -> License:
    """A license read back from the table: validated when it was written, so not validated again
    (``model_construct``; the types are set here). A list page builds fifty of these."""
    site = item.get("site")
    issued_to = item.get("issued_to")
    return License.model_construct(
        partner_id=item["partner_id"],
        license_key=item["license_key"],
        product=item["product"],
        product_name=item["product_name"],
        source=Source(item["source"]),
        issued_at=_instant(item["issued_at"]),
        issued_by=item["issued_by"],
        assigned_at=unstamp(item.get("assigned_at")),
        revoked_at=unstamp(item.get("revoked_at")),
        site=Site.model_construct(site_id=site["site_id"], site_url=site["site_url"], site_owner=site.get("site_owner"))
        if site
        else None,
        version=int(item["version"]),
        client=item.get("client"),
        tags=tuple(item.get("tags") or ()),
        issued_to=Site.model_construct(
            site_id=issued_to["site_id"], site_url=issued_to["site_url"], site_owner=issued_to.get("site_owner")
        )
        if issued_to
        else None,
    )


def history_item(license: License, event: HistoryEvent) -> Item:
    return {
        "PK": keys.partner_pk(license.partner_id),
        "SK": keys.history_sk(license.license_key, event.seq),
        "type": "history",
        "seq": event.seq,
        "event": event.type,
        "at": stamp(event.at),
        "actor": event.actor,
        "site": event.site.model_dump(exclude_none=True) if event.site else None,
        "previous_site": event.previous_site.model_dump(exclude_none=True) if event.previous_site else None,
        **({"labels": _labels_item(event.labels)} if event.labels is not None else {}),
        **({"previous_labels": _labels_item(event.previous_labels)} if event.previous_labels is not None else {}),
    }


def _labels_item(labels: Labels) -> Item:
    return {"client": labels.client, "tags": list(labels.tags)}


def labels_from_item(item: Item | None) -> Labels | None:
    if item is None:
        return None
    return Labels(client=item.get("client"), tags=tuple(item.get("tags") or ()))


def history_from_item(item: Item) -> HistoryEvent:
    return HistoryEvent(
        seq=item["seq"],
        type=item["event"],
        at=_instant(item["at"]),
        actor=item["actor"],
        site=Site(**item["site"]) if item.get("site") else None,
        previous_site=Site(**item["previous_site"]) if item.get("previous_site") else None,
        labels=labels_from_item(item.get("labels")),
        previous_labels=labels_from_item(item.get("previous_labels")),
    )


# Helpers -----------------------------------------------------------------------------------------
def _instant(text: str) -> datetime:
    instant = unstamp(text)
    assert instant is not None
    return instant


def _refuse(standing: Standing, *, issuing: bool) -> None:
    check_standing(standing, issuing=issuing)
    # The condition failed although the standing allows it now: it changed under us; retry.
    raise TransientConflict()


def _first_chunk(order: IssueOrder, licenses: Sequence[License]) -> Sequence[License]:
    # Receipt, counters, claims and their sites; a portal order adds its billable marker and its two billing tallies.
    # Each license takes two items: itself and its key's uniqueness item.
    head = 2 + (3 if order.source is Source.PORTAL else 0) + 2 * len(order.claims) + (order.audit is not None)
    return licenses[: (_MAX_TRANSACTION_ITEMS - head) // 2]


def _rest_chunk(order: IssueOrder) -> int:
    """Licenses per later transaction (two items each): beside the counters, a portal order updates its two
    tallies."""
    return (_MAX_TRANSACTION_ITEMS - (3 if order.source is Source.PORTAL else 1)) // 2


def _issue_tally(order: IssueOrder, quantity: int, claims: int | None = None) -> TallyChange:
    first = order.licenses[0]
    return issue_tally(first.product, first.issued_at, quantity, len(order.claims) if claims is None else claims)


def _change_tally(change: Change) -> TallyChange | None:
    """What a change of a portal license does to the billing tallies, if anything (a transfer does nothing)."""
    before, after = change.before, change.after
    if after.source is not Source.PORTAL:
        return None
    if before.revoked_at is None and after.revoked_at is not None:
        return revoke_tally(after.product, after.issued_at, after.revoked_at, was_assigned=before.site is not None)
    if change.counters is not None and change.counters.assigned:
        return assignment_tally(after.product, after.issued_at, change.event.at, change.counters.assigned)
    return None


_SITE_HEAD = 5  # receipt, counters, billable marker, two tallies
_SITE_REST_HEAD = 3  # counters, two tallies
_PER_SITE_LICENSE = 3  # license, key, claim


def _site_chunks(licenses: Sequence[License]) -> tuple[Sequence[License], list[Sequence[License]]]:
    """An order to sites: the licenses written with its receipt, then the later transactions' licenses."""
    chunks = _chunks(
        licenses,
        (_MAX_TRANSACTION_ITEMS - _SITE_HEAD) // _PER_SITE_LICENSE,
        (_MAX_TRANSACTION_ITEMS - _SITE_REST_HEAD) // _PER_SITE_LICENSE,
    )
    return chunks[0], chunks[1:]


def _site_tally(order: SiteOrder, n: int) -> TallyChange:
    first = order.licenses[0]
    return issue_tally(first.product, first.issued_at, n, n)


def _claims_of(order: SiteOrder) -> list[Claim]:
    return [
        Claim(lic.site.site_id, lic.product, lic.license_key, lic.source, order.receipt_id, order.reserved_until)
        for lic in order.licenses
        if lic.site is not None
    ]


def _chunks(licenses: Sequence[License], first: int, rest: int) -> list[Sequence[License]]:
    chunks = [licenses[:first]]
    for start in range(first, len(licenses), rest):
        chunks.append(licenses[start : start + rest])
    return chunks


def _licenses_from_receipt(receipt: Item, order: IssueOrder) -> tuple[License, ...]:
    if not receipt.get("license_keys"):
        # The receipt of an order to sites that was abandoned: the key was used for another request.
        raise ValidationFailed(
            "this Idempotency-Key was used with a different request body",
            code="idempotency_key_reused",
            details=[{"field": "Idempotency-Key", "in": "header", "reason": "reused with another body"}],
        )
    issued_at = unstamp(receipt["issued_at"])
    assert issued_at is not None
    template = order.licenses[0]
    return tuple(
        template.model_copy(
            update={
                "license_key": key,
                "issued_at": issued_at,
                "issued_by": receipt["issued_by"],
                "assigned_at": issued_at if template.assigned_at else None,
            }
        )
        for key in receipt["license_keys"]
    )


def _index_for(query: ListQuery) -> tuple[str, str, str]:
    pid = query.partner_id
    if query.product is None and query.status == "all":
        return keys.GSI_LICENSES, keys.licenses_gsi_pk(pid), "GSI1SK"
    if query.product is None:
        return keys.GSI_BY_STATUS, keys.status_gsi_pk(pid, query.status), "GSI2SK"
    if query.status == "all":
        return keys.GSI_BY_PRODUCT, keys.product_gsi_pk(pid, query.product), "GSI3SK"
    return keys.GSI_BY_PRODUCT_STATUS, keys.product_status_gsi_pk(pid, query.product, query.status), "GSI4SK"


def _key_of(item: Item, index: str) -> dict[str, Any]:
    return serialize({name: item[name] for name in ("PK", "SK", f"{index}PK", f"{index}SK")})


def _encode_cursor(last_key: dict[str, Any], index: str) -> str:
    plain = deserialize(last_key)
    return cursors.encode({"i": index, "s": plain[f"{index}SK"], "k": plain["SK"]})


def _decode_cursor(
    cursor: str | None, partner_id: str, index: str, partition: str, sort_attr: str
) -> dict[str, Any] | None:
    """A cursor names only a position; the partition is always rebuilt from the caller's own partner id."""
    if not cursor:
        return None
    payload = cursors.decode(cursor)
    sort_value, sk = payload.get("s"), payload.get("k")
    if payload.get("i") != index or not (isinstance(sort_value, str) and isinstance(sk, str)):
        raise cursors.invalid()
    if not sk.startswith(keys.license_sk("")) or len(sk) > 200:
        raise cursors.invalid()
    return serialize({"PK": keys.partner_pk(partner_id), "SK": sk, f"{index}PK": partition, sort_attr: sort_value})
