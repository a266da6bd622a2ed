"""The license lifecycle: issue, assign, transfer, unassign, revoke.

Each command is planned by a pure function (state in, :class:`Change` out) and committed by the
repository in one DynamoDB transaction guarded by the license's version. A lost race surfaces as
:class:`VersionConflict`; :class:`LicenseService` re-reads and re-plans, so every change that answers
success is recorded in the history in order.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Protocol

from partnerhub import retry
from partnerhub.clock import Clock
from partnerhub.domain.audit import AuditEntry
from partnerhub.domain.conflicts import TransientConflict, VersionConflict
from partnerhub.domain.models import (
    LICENSE_KEY,
    HistoryEvent,
    HistoryType,
    Labels,
    License,
    LicenseCounts,
    LicenseStatus,
    Product,
    Site,
    Source,
    Standing,
)
from partnerhub.domain.sites import RESERVATION, Claim, check_site_order
from partnerhub.errors import Conflict, DomainError, NotFound, PaymentRequired, ServiceUnavailable, ValidationFailed

MAX_ISSUE = 100
_BASE62 = string.digits + string.ascii_letters
_KEY_LENGTH = 24  # 24 base62 characters: about 143 bits of randomness


def new_license_key(product: str) -> str:
    """A fresh, unguessable key: ``<product>_<24 random base62 chars>``, drawn from ``secrets`` at call time."""
    return f"{product}_{''.join(secrets.choice(_BASE62) for _ in range(_KEY_LENGTH))}"


class Unchanged(Enum):
    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED
"""A label the command leaves as it is (absent from the request)."""


@dataclass(frozen=True)
class CounterDelta:
    """Changes to a partner's per-product license counters."""

    product: str
    issued: int = 0
    assigned: int = 0
    revoked: int = 0


@dataclass(frozen=True)
class Change:
    """One license change, ready for the repository to commit atomically."""

    before: License
    after: License
    event: HistoryEvent
    claim: Site | None = None  # a site to claim for (after.product)
    release: Site | None = None  # a site whose claim to release
    connect: Site | None = None  # a site the change connects to the partner (or whose URL and owner it updates)
    counters: CounterDelta | None = None
    requires_assignable: bool = False  # the partner must have no past-due invoice


@dataclass(frozen=True)
class IssueOrder:
    partner_id: str
    receipt_id: str
    product: Product
    licenses: tuple[License, ...]
    source: Source = Source.PORTAL
    claims: tuple[Site, ...] = field(default_factory=tuple)
    audit: AuditEntry | None = None  # an operator's order: its audit entry, written with the licenses


@dataclass(frozen=True)
class SiteOrder:
    """One license of ``product`` to each of the licenses' sites, all or nothing (``docs/data-model.md``).

    ``reserved_until``: when the order's reservations of the sites lapse; ``abandoned_generation``: the receipt's
    generation when an earlier try of this order was found abandoned (None: no receipt yet)."""

    partner_id: str
    receipt_id: str
    product: Product
    licenses: tuple[License, ...]
    reserved_until: datetime
    abandoned_generation: int | None = None

    @property
    def sites(self) -> tuple[Site, ...]:
        return tuple(lic.site for lic in self.licenses if lic.site is not None)


@dataclass(frozen=True)
class IssueReceipt:
    """An issue order as its receipt records it: the licenses it issued (``license_keys``, and for an order to
    sites each key's site) once committed; an order abandoned before committing has none, and an
    ``abandoned_generation`` that moves each time one of its lapsed reservations is released."""

    license_keys: tuple[str, ...] = ()
    sites: tuple[Site, ...] = ()
    issued_at: datetime | None = None
    issued_by: str | None = None
    abandoned_generation: int = 0

    @property
    def committed(self) -> bool:
        return bool(self.license_keys)


@dataclass(frozen=True)
class Page:
    items: list[License]
    next_cursor: str | None


@dataclass(frozen=True)
class ListQuery:
    partner_id: str
    status: str = "all"
    product: str | None = None
    search: str | None = None
    client: str | None = None
    tag: str | None = None
    sort: str = "issued_at"
    descending: bool = True
    limit: int = 50
    cursor: str | None = None


class LicenseRepository(Protocol):
    """What the lifecycle needs from storage (implemented over DynamoDB in ``partnerhub.repository``)."""

    def get_product(self, product: str) -> Product | None: ...

    def get_license(self, partner_id: str, license_key: str) -> License | None: ...

    def get_license_with_history(
        self, partner_id: str, license_key: str
    ) -> tuple[License, list[HistoryEvent]] | None: ...

    def issue(self, order: IssueOrder, *, require_payment_method: bool) -> tuple[License, ...]: ...

    def commit(self, change: Change) -> None: ...

    def list_licenses(self, query: ListQuery) -> Page: ...

    def counts(self, partner_id: str) -> LicenseCounts: ...

    def key_held_elsewhere(self, license_key: str, partner_id: str) -> bool: ...

    def standing(self, partner_id: str) -> Standing: ...

    # Orders to sites
    def issue_receipt(self, partner_id: str, receipt_id: str) -> IssueReceipt | None: ...

    def connected_sites(self, partner_id: str, site_ids: Sequence[str]) -> dict[str, Site]: ...

    def site_claims(self, partner_id: str, site_ids: Sequence[str], product: str) -> dict[str, Claim]: ...

    def release_lapsed(self, partner_id: str, claim: Claim) -> bool: ...

    def release_reservations(self, partner_id: str, receipt_id: str, claims: Sequence[Claim]) -> None: ...

    def issue_to_sites(self, order: SiteOrder) -> tuple[License, ...]: ...

    def finish_site_order(self, order: SiteOrder) -> tuple[License, ...]: ...


def _event(before: License, kind: HistoryType, at: datetime, actor: str, **sites: Site | None) -> HistoryEvent:
    return HistoryEvent(seq=before.version + 1, type=kind, at=at, actor=actor, **sites)


def plan_assign(license: License, site: Site, now: datetime, actor: str) -> Change | None:
    """Assign an unassigned license, or transfer an assigned one to ``site``. ``None``: already on that site."""
    if license.status is LicenseStatus.REVOKED:
        raise Conflict("the license is revoked and cannot be assigned", code="license_revoked")
    if license.site is not None and license.site.site_id == site.site_id:
        if license.site.model_dump() == site.model_dump():
            return None
        # Same site, new URL or owner: an update of the record, not a transfer.
        after = license.model_copy(update={"site": site, "version": license.version + 1})
        event = _event(license, "assigned", now, actor, site=site)
        return Change(license, after, event, connect=site, requires_assignable=True)
    transfer = license.site is not None
    after = license.model_copy(update={"site": site, "assigned_at": now, "version": license.version + 1})
    kind: HistoryType = "transferred" if transfer else "assigned"
    return Change(
        before=license,
        after=after,
        event=_event(license, kind, now, actor, site=site, previous_site=license.site),
        claim=site,
        release=license.site,
        connect=site,
        counters=None if transfer else CounterDelta(license.product, assigned=1),
        requires_assignable=True,
    )


def plan_unassign(license: License, now: datetime, actor: str) -> Change:
    if license.status is LicenseStatus.REVOKED:
        raise Conflict("the license is revoked", code="license_revoked")
    if license.site is None:
        raise Conflict("the license is not assigned to a site", code="license_not_assigned")
    after = license.model_copy(update={"site": None, "assigned_at": None, "version": license.version + 1})
    return Change(
        before=license,
        after=after,
        event=_event(license, "unassigned", now, actor, previous_site=license.site),
        release=license.site,
        counters=CounterDelta(license.product, assigned=-1),
    )


def plan_revoke(license: License, now: datetime, actor: str) -> Change | None:
    """Revoke for good. ``None`` when already revoked: revoking again changes nothing."""
    if license.status is LicenseStatus.REVOKED:
        return None
    after = license.model_copy(update={"revoked_at": now, "version": license.version + 1})
    return Change(
        before=license,
        after=after,
        event=_event(license, "revoked", now, actor, site=license.site),
        release=license.site,
        counters=CounterDelta(license.product, revoked=1, assigned=-1 if license.site is not None else 0),
    )


def plan_label(license: License, labels: Labels, now: datetime, actor: str) -> Change | None:
    """Set the license's client label and tags. ``None``: they are already so.

    A revoked license may still be labelled: its past months are still billed on to a client, and
    the history keeps what it was labelled before. Labels touch no site claim, counter or tally, and
    are allowed with a past-due invoice (they change nothing that is billed)."""
    if license.labels == labels:
        return None
    after = license.model_copy(update={"client": labels.client, "tags": labels.tags, "version": license.version + 1})
    event = HistoryEvent(
        seq=license.version + 1,
        type="labelled",
        at=now,
        actor=actor,
        labels=labels,
        previous_labels=license.labels,
    )
    return Change(before=license, after=after, event=event)


def issued_event(license: License) -> HistoryEvent:
    """The first history event, implied by the license record itself (with the site it went to at once, if any)."""
    return HistoryEvent(seq=1, type="issued", at=license.issued_at, actor=license.issued_by, site=license.issued_to)


class LicenseService:
    """The license commands, over a repository and a clock. No boto3 and no Stripe here."""

    def __init__(
        self,
        repository: LicenseRepository,
        clock: Clock,
        *,
        max_attempts: int = 30,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._repo = repository
        self._clock = clock
        self._max_attempts = max_attempts
        self._sleep = sleep

    # Queries -----------------------------------------------------------------------------------
    def get(self, partner_id: str, license_key: str) -> tuple[License, list[HistoryEvent]]:
        found = self._repo.get_license_with_history(partner_id, license_key) if _is_key(license_key) else None
        if found is None:
            raise NotFound("no such license", code="license_not_found")
        license, history = found
        return license, [issued_event(license), *history]

    def list(self, query: ListQuery) -> Page:
        return self._repo.list_licenses(query)

    def counts(self, partner_id: str) -> LicenseCounts:
        return self._repo.counts(partner_id)

    # Commands ----------------------------------------------------------------------------------
    def issue(
        self,
        partner_id: str,
        product: str,
        quantity: int,
        actor: str,
        receipt_id: str,
        labels: Labels | None = None,
    ) -> tuple[License, ...]:
        """Issue ``quantity`` licenses, each with ``labels``. ``receipt_id`` makes a retried order finish
        instead of issuing twice."""
        if not 1 <= quantity <= MAX_ISSUE:
            raise ValidationFailed(
                "quantity out of range", details=[{"field": "quantity", "reason": f"must be 1..{MAX_ISSUE}"}]
            )
        found = self._product(product)
        now = self._clock.now()
        licenses = tuple(
            License(
                partner_id=partner_id,
                license_key=new_license_key(found.product),
                product=found.product,
                product_name=found.name,
                source=Source.PORTAL,
                issued_at=now,
                issued_by=actor,
                version=1,
                client=labels.client if labels else None,
                tags=labels.tags if labels else (),
            )
            for _ in range(quantity)
        )
        order = IssueOrder(partner_id=partner_id, receipt_id=receipt_id, product=found, licenses=licenses)
        return self._retrying(lambda: self._repo.issue(order, require_payment_method=True))

    def issue_to_sites(
        self,
        partner_id: str,
        product: str,
        site_ids: Sequence[str],
        actor: str,
        receipt_id: str,
        labels: Labels | None = None,
    ) -> tuple[License, ...]:
        """Issue one license of ``product`` to each of ``site_ids`` (connected sites), assigned at once: every one
        or none. ``receipt_id`` makes a retried order finish what it started (``docs/data-model.md``)."""
        if not 1 <= len(site_ids) <= MAX_ISSUE or len(set(site_ids)) != len(site_ids):
            raise ValidationFailed(
                "site_ids must name 1 to 100 different sites",
                details=[{"field": "site_ids", "reason": f"1..{MAX_ISSUE} distinct site ids"}],
            )
        found = self._product(product)

        def attempt() -> tuple[License, ...]:
            now = self._clock.now()
            receipt = self._repo.issue_receipt(partner_id, receipt_id)
            if receipt is not None and receipt.committed:
                return self._repo.finish_site_order(_order_of_receipt(partner_id, receipt_id, found, receipt, labels))
            standing = self._repo.standing(partner_id)
            connected = self._repo.connected_sites(partner_id, site_ids)
            claims = self._repo.site_claims(partner_id, site_ids, found.product)
            own = [c for c in claims.values() if c.pending and c.order == receipt_id]
            try:
                check_standing(standing, issuing=True)
                check = check_site_order(receipt_id, site_ids, connected, claims, now)
                committed = [c.site_id for c in check.lapsed if not self._repo.release_lapsed(partner_id, c)]
                if committed:
                    check_site_order(receipt_id, site_ids, connected, claims, now, held_by_committed=committed)
            except DomainError:
                # Refused: this order's own reservations from an earlier, interrupted try go too.
                self._repo.release_reservations(partner_id, receipt_id, own)
                raise
            licenses = tuple(
                License(
                    partner_id=partner_id,
                    license_key=new_license_key(found.product),
                    product=found.product,
                    product_name=found.name,
                    source=Source.PORTAL,
                    issued_at=now,
                    issued_by=actor,
                    assigned_at=now,
                    site=connected[site_id],
                    issued_to=connected[site_id],
                    version=1,
                    client=labels.client if labels else None,
                    tags=labels.tags if labels else (),
                )
                for site_id in site_ids
            )
            order = SiteOrder(
                partner_id=partner_id,
                receipt_id=receipt_id,
                product=found,
                licenses=licenses,
                reserved_until=now + RESERVATION,
                abandoned_generation=None if receipt is None else receipt.abandoned_generation,
            )
            return self._repo.issue_to_sites(order)

        return self._retrying(attempt)

    def record_external(
        self,
        partner_id: str,
        product: str,
        site: Site,
        actor: str,
        license_key: str | None,
        receipt_id: str,
        audit: AuditEntry | None = None,
    ) -> License:
        """Record a license a partner's connected site holds but that was bought elsewhere (never billed);
        ``audit`` is written in the same transaction."""
        found = self._product(product)
        if license_key is not None and not (_is_key(license_key) and license_key.startswith(f"{found.product}_")):
            raise ValidationFailed(
                "invalid license key",
                details=[{"field": "license_key", "reason": f"must look like {found.product}_<24+ base62 chars>"}],
            )
        if license_key is not None and self._repo.key_held_elsewhere(license_key, partner_id):
            # Never which partner: a key is unique across every partner (the transaction's uniqueness item
            # guards a race; this look also covers keys written before those items existed).
            raise Conflict("that license key is already recorded for another partner", code="license_exists")
        now = self._clock.now()
        license = License(
            partner_id=partner_id,
            license_key=license_key or new_license_key(found.product),
            product=found.product,
            product_name=found.name,
            source=Source.EXTERNAL,
            issued_at=now,
            issued_by=actor,
            assigned_at=now,
            site=site,
            issued_to=site,
            version=1,
        )
        order = IssueOrder(
            partner_id=partner_id,
            receipt_id=receipt_id,
            product=found,
            licenses=(license,),
            source=Source.EXTERNAL,
            claims=(site,),
            audit=audit,
        )
        return self._retrying(lambda: self._repo.issue(order, require_payment_method=False))[0]

    def assign(self, partner_id: str, license_key: str, site: Site, actor: str) -> License:
        return self._change(partner_id, license_key, lambda lic, now: plan_assign(lic, site, now, actor))

    def unassign(self, partner_id: str, license_key: str, actor: str) -> License:
        return self._change(partner_id, license_key, lambda lic, now: plan_unassign(lic, now, actor))

    def revoke(self, partner_id: str, license_key: str, actor: str) -> License:
        return self._change(partner_id, license_key, lambda lic, now: plan_revoke(lic, now, actor))

    def label(
        self,
        partner_id: str,
        license_key: str,
        client: str | Unchanged | None,
        tags: Sequence[str] | Unchanged | None,
        actor: str,
    ) -> License:
        """Change the client label and/or the tags; ``UNCHANGED`` leaves one as it is, ``None`` clears it."""

        def plan(lic: License, now: datetime) -> Change | None:
            labels = Labels(
                client=lic.client if isinstance(client, Unchanged) else client,
                tags=lic.tags if isinstance(tags, Unchanged) else tuple(tags or ()),
            )
            return plan_label(lic, labels, now, actor)

        return self._change(partner_id, license_key, plan)

    # Internals ---------------------------------------------------------------------------------
    def _product(self, product: str) -> Product:
        found = self._repo.get_product(product)
        if found is None:
            raise NotFound(
                "no such product",
                code="product_not_found",
                details=[{"field": "product", "reason": "not in the catalog"}],
            )
        return found

    def _load(self, partner_id: str, license_key: str) -> License:
        license = self._repo.get_license(partner_id, license_key) if _is_key(license_key) else None
        if license is None:
            raise NotFound("no such license", code="license_not_found")
        return license

    def _change(self, partner_id: str, license_key: str, plan: Callable[[License, datetime], Change | None]) -> License:
        def attempt() -> License:
            license = self._load(partner_id, license_key)
            change = plan(license, self._clock.now())
            if change is None:
                return license
            self._repo.commit(change)
            return change.after

        return self._retrying(attempt)

    def _retrying[T](self, attempt: Callable[[], T]) -> T:
        policy = retry.on_conflict((VersionConflict, TransientConflict), attempts=self._max_attempts, sleep=self._sleep)
        try:
            return policy(attempt)
        except (VersionConflict, TransientConflict) as error:
            raise ServiceUnavailable(
                "the license is changing too fast; try again", code="contention", retry_after=1
            ) from error


def _order_of_receipt(
    partner_id: str, receipt_id: str, product: Product, receipt: IssueReceipt, labels: Labels | None
) -> SiteOrder:
    """The committed order a receipt records, to finish it (the labels are the request's: a retry is the same
    request)."""
    assert receipt.issued_at is not None and receipt.issued_by is not None
    licenses = tuple(
        License(
            partner_id=partner_id,
            license_key=key,
            product=product.product,
            product_name=product.name,
            source=Source.PORTAL,
            issued_at=receipt.issued_at,
            issued_by=receipt.issued_by,
            assigned_at=receipt.issued_at,
            site=site,
            issued_to=site,
            version=1,
            client=labels.client if labels else None,
            tags=labels.tags if labels else (),
        )
        for key, site in zip(receipt.license_keys, receipt.sites, strict=True)
    )
    return SiteOrder(partner_id, receipt_id, product, licenses, reserved_until=receipt.issued_at + RESERVATION)


def check_standing(standing: Standing, *, issuing: bool) -> None:
    """Refuse with 402 when the partner's standing does not allow the command (the rule is Standing's)."""
    if not standing.can_assign:
        raise PaymentRequired(
            "an invoice is past due: pay it to issue or assign licenses",
            code="past_due_invoice",
            details=[{"invoice": invoice_id} for invoice_id in standing.past_due_invoices],
        )
    if issuing and not standing.can_issue:  # with no invoice past due, only the payment method is missing
        raise PaymentRequired("add a payment method before issuing licenses", code="payment_method_required")


def _is_key(license_key: str) -> bool:
    return bool(LICENSE_KEY.match(license_key))


__all__: Sequence[str] = (
    "UNCHANGED",
    "Change",
    "CounterDelta",
    "IssueOrder",
    "IssueReceipt",
    "LicenseRepository",
    "LicenseService",
    "ListQuery",
    "Page",
    "SiteOrder",
    "TransientConflict",
    "VersionConflict",
    "check_standing",
    "new_license_key",
    "plan_assign",
    "plan_label",
    "plan_revoke",
    "plan_unassign",
)
