"""The license lifecycle as pure rules and a service over an in-memory repository: no AWS, no network."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from partnerhub.clock import ManualClock
from partnerhub.domain.licenses import (
    UNCHANGED,
    Change,
    IssueOrder,
    LicenseService,
    ListQuery,
    Page,
    VersionConflict,
    check_standing,
    new_license_key,
    plan_assign,
    plan_label,
    plan_revoke,
    plan_unassign,
)
from partnerhub.domain.models import (
    LICENSE_KEY,
    HistoryEvent,
    Labels,
    License,
    LicenseCounts,
    LicenseStatus,
    Product,
    Site,
    Source,
    Standing,
)
from partnerhub.errors import Conflict, NotFound, PaymentRequired, ServiceUnavailable, ValidationFailed

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
BAKERY = Site(site_id="1001", site_url="https://bakery.example", site_owner="ann@bakery.example")
FLORIST = Site(site_id="1002", site_url="https://florist.example")


def a_license(**changes: object) -> License:
    base = License(
        partner_id="agency-1",
        license_key=new_license_key("jetpack-backup"),
        product="jetpack-backup",
        product_name="Jetpack VaultPress Backup",
        source=Source.PORTAL,
        issued_at=NOW,
        issued_by="user:ann",
        version=1,
    )
    return base.model_copy(update=changes)


class TestKeys:
    def test_keys_are_product_prefixed_unguessable_and_distinct(self) -> None:
        keys = {new_license_key("jetpack-scan") for _ in range(1000)}

        assert len(keys) == 1000
        assert all(LICENSE_KEY.match(key) and key.startswith("jetpack-scan_") for key in keys)


class TestPlans:
    def test_assigning_an_unassigned_license_claims_the_site_and_counts_it(self) -> None:
        license = a_license()

        change = plan_assign(license, BAKERY, NOW, "user:ann")

        assert change is not None
        assert change.after.status is LicenseStatus.ASSIGNED and change.after.version == 2
        assert change.event.type == "assigned" and change.event.seq == 2
        assert change.claim == BAKERY and change.release is None
        assert change.counters is not None and change.counters.assigned == 1
        assert change.requires_assignable

    def test_transferring_claims_the_new_site_releases_the_old_and_keeps_the_counts(self) -> None:
        license = a_license(site=BAKERY, assigned_at=NOW, version=2)

        change = plan_assign(license, FLORIST, NOW + timedelta(days=1), "user:ann")

        assert change is not None and change.event.type == "transferred"
        assert change.claim == FLORIST and change.release == BAKERY
        assert change.event.previous_site == BAKERY
        assert change.counters is None

    def test_assigning_to_the_same_site_again_is_no_change(self) -> None:
        license = a_license(site=BAKERY, assigned_at=NOW, version=2)

        assert plan_assign(license, Site(**BAKERY.model_dump()), NOW, "user:ann") is None

    def test_a_revoked_license_cannot_be_assigned_or_unassigned(self) -> None:
        revoked = a_license(revoked_at=NOW, version=2)

        with pytest.raises(Conflict) as assign:
            plan_assign(revoked, BAKERY, NOW, "user:ann")
        with pytest.raises(Conflict) as unassign:
            plan_unassign(revoked, NOW, "user:ann")
        assert assign.value.code == unassign.value.code == "license_revoked"

    def test_unassigning_an_unassigned_license_is_a_conflict(self) -> None:
        with pytest.raises(Conflict) as error:
            plan_unassign(a_license(), NOW, "user:ann")
        assert error.value.code == "license_not_assigned"

    def test_revoking_releases_the_site_and_revoking_again_changes_nothing(self) -> None:
        license = a_license(site=BAKERY, assigned_at=NOW, version=2)

        change = plan_revoke(license, NOW, "user:ann")

        assert change is not None and change.after.status is LicenseStatus.REVOKED
        assert change.release == BAKERY
        assert change.counters is not None and (change.counters.revoked, change.counters.assigned) == (1, -1)
        assert plan_revoke(change.after, NOW, "user:ann") is None


class TestStanding:
    def test_issuing_needs_a_payment_method_and_no_past_due_invoice(self) -> None:
        with pytest.raises(PaymentRequired) as no_card:
            check_standing(Standing(), issuing=True)
        with pytest.raises(PaymentRequired) as past_due:
            check_standing(Standing(has_payment_method=True, past_due_invoices=("in_1",)), issuing=True)

        assert no_card.value.code == "payment_method_required"
        assert past_due.value.code == "past_due_invoice"
        check_standing(Standing(has_payment_method=True), issuing=True)

    def test_assigning_needs_only_no_past_due_invoice(self) -> None:
        check_standing(Standing(), issuing=False)
        with pytest.raises(PaymentRequired):
            check_standing(Standing(past_due_invoices=("in_1",)), issuing=False)


@dataclass
class MemoryRepository:
    """The repository protocol over dicts; ``conflicts`` makes the next commits lose a race."""

    licenses: dict[str, License] = field(default_factory=dict)
    history: dict[str, list[HistoryEvent]] = field(default_factory=dict)
    conflicts: int = 0
    commits: int = 0

    def get_product(self, product: str) -> Product | None:
        return Product(product=product, name="Jetpack VaultPress Backup") if product == "jetpack-backup" else None

    def get_license(self, partner_id: str, license_key: str) -> License | None:
        found = self.licenses.get(license_key)
        return found if found is not None and found.partner_id == partner_id else None

    def get_license_with_history(self, partner_id: str, license_key: str) -> tuple[License, list[HistoryEvent]] | None:
        found = self.get_license(partner_id, license_key)
        return None if found is None else (found, list(self.history.get(license_key, [])))

    def issue(self, order: IssueOrder, *, require_payment_method: bool) -> tuple[License, ...]:
        for license in order.licenses:
            self.licenses[license.license_key] = license
        return order.licenses

    def commit(self, change: Change) -> None:
        if self.conflicts:
            self.conflicts -= 1
            raise VersionConflict()
        assert self.licenses[change.before.license_key].version == change.before.version
        self.commits += 1
        self.licenses[change.after.license_key] = change.after
        self.history.setdefault(change.after.license_key, []).append(change.event)

    def list_licenses(self, query: ListQuery) -> Page:
        return Page(
            items=[lic for lic in self.licenses.values() if lic.partner_id == query.partner_id], next_cursor=None
        )

    def counts(self, partner_id: str) -> LicenseCounts:
        return LicenseCounts()


@pytest.fixture
def repo() -> MemoryRepository:
    return MemoryRepository()


@pytest.fixture
def service(repo: MemoryRepository) -> LicenseService:
    return LicenseService(repo, ManualClock(NOW), sleep=lambda _: None)


class TestService:
    def test_issue_then_history_reads_like_the_product(self, service: LicenseService) -> None:
        (license,) = service.issue("agency-1", "jetpack-backup", 1, "user:ann", receipt_id="r1")
        service.assign("agency-1", license.license_key, BAKERY, "user:ann")
        service.assign("agency-1", license.license_key, FLORIST, "user:ann")
        service.revoke("agency-1", license.license_key, "user:ann")

        _, history = service.get("agency-1", license.license_key)

        assert [e.type for e in history] == ["issued", "assigned", "transferred", "revoked"]
        assert [e.seq for e in history] == [1, 2, 3, 4]

    @pytest.mark.parametrize("quantity", [0, 101])
    def test_quantity_out_of_range_is_refused_before_anything_is_written(
        self, service: LicenseService, repo: MemoryRepository, quantity: int
    ) -> None:
        with pytest.raises(ValidationFailed) as error:
            service.issue("agency-1", "jetpack-backup", quantity, "user:ann", receipt_id="r1")

        assert error.value.details[0]["field"] == "quantity"
        assert repo.licenses == {}

    def test_an_unknown_product_is_not_found_and_names_the_field(self, service: LicenseService) -> None:
        with pytest.raises(NotFound) as error:
            service.issue("agency-1", "no-such-thing", 1, "user:ann", receipt_id="r1")
        assert error.value.details[0]["field"] == "product"

    def test_another_partners_license_is_not_found(self, service: LicenseService) -> None:
        (license,) = service.issue("agency-1", "jetpack-backup", 1, "user:ann", receipt_id="r1")

        with pytest.raises(NotFound):
            service.assign("agency-2", license.license_key, BAKERY, "user:bob")
        with pytest.raises(NotFound):
            service.get("agency-2", license.license_key)

    def test_a_lost_race_is_replanned_on_fresh_state(self, service: LicenseService, repo: MemoryRepository) -> None:
        (license,) = service.issue("agency-1", "jetpack-backup", 1, "user:ann", receipt_id="r1")
        repo.conflicts = 3

        assigned = service.assign("agency-1", license.license_key, BAKERY, "user:ann")

        assert assigned.site == BAKERY and repo.commits == 1

    def test_endless_contention_becomes_a_503_to_retry(self, service: LicenseService, repo: MemoryRepository) -> None:
        (license,) = service.issue("agency-1", "jetpack-backup", 1, "user:ann", receipt_id="r1")
        repo.conflicts = 1000

        with pytest.raises(ServiceUnavailable) as error:
            service.assign("agency-1", license.license_key, BAKERY, "user:ann")

        assert error.value.status == 503 and error.value.retry_after >= 1
        assert repo.licenses[license.license_key].site is None


class TestLabels:
    def test_labels_given_at_issue_go_on_every_license_of_the_order(self, service: LicenseService) -> None:
        issued = service.issue(
            "agency-1", "jetpack-backup", 2, "user:ann", receipt_id="r1", labels=Labels(client="Bakery", tags=("q1",))
        )

        assert [(lic.client, lic.tags) for lic in issued] == [("Bakery", ("q1",)), ("Bakery", ("q1",))]

    def test_labelling_changes_only_what_is_given_and_is_recorded(
        self, service: LicenseService, repo: MemoryRepository
    ) -> None:
        (license,) = service.issue("agency-1", "jetpack-backup", 1, "user:ann", receipt_id="r1")

        service.label("agency-1", license.license_key, "Bakery", UNCHANGED, "user:ann")
        service.label("agency-1", license.license_key, UNCHANGED, ["q1", "retainer"], "user:bob")
        cleared = service.label("agency-1", license.license_key, None, UNCHANGED, "user:bob")

        assert (cleared.client, cleared.tags) == (None, ("q1", "retainer"))
        _, history = service.get("agency-1", license.license_key)
        labelled = [e for e in history if e.type == "labelled"]
        assert [(e.previous_labels, e.labels, e.actor) for e in labelled] == [
            (Labels(), Labels(client="Bakery"), "user:ann"),
            (Labels(client="Bakery"), Labels(client="Bakery", tags=("q1", "retainer")), "user:bob"),
            (Labels(client="Bakery", tags=("q1", "retainer")), Labels(tags=("q1", "retainer")), "user:bob"),
        ]

    def test_setting_the_same_labels_again_changes_nothing(
        self, service: LicenseService, repo: MemoryRepository
    ) -> None:
        (license,) = service.issue("agency-1", "jetpack-backup", 1, "user:ann", receipt_id="r1")
        service.label("agency-1", license.license_key, "Bakery", [], "user:ann")
        commits = repo.commits

        again = service.label("agency-1", license.license_key, "Bakery", UNCHANGED, "user:ann")

        assert repo.commits == commits and again.version == 2

    def test_a_revoked_license_can_still_be_labelled_and_stays_revoked(self) -> None:
        license = a_license(revoked_at=NOW, version=2)

        change = plan_label(license, Labels(client="Bakery"), NOW, "user:ann")

        assert change is not None
        assert change.after.status is LicenseStatus.REVOKED and change.after.client == "Bakery"
        assert (change.claim, change.release, change.counters, change.requires_assignable) == (None, None, None, False)

    def test_another_partners_license_cannot_be_labelled(self, service: LicenseService) -> None:
        (license,) = service.issue("agency-1", "jetpack-backup", 1, "user:ann", receipt_id="r1")

        with pytest.raises(NotFound):
            service.label("agency-2", license.license_key, "Mine", UNCHANGED, "user:bob")
