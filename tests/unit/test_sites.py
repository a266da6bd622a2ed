"""Connected sites as pure rules, and the site and issue-to-sites services over in-memory ports: no AWS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from partnerhub.clock import ManualClock
from partnerhub.domain.conflicts import VersionConflict
from partnerhub.domain.licenses import (
    IssueReceipt,
    LicenseService,
    SiteOrder,
    new_license_key,
    plan_assign,
    plan_revoke,
    plan_unassign,
)
from partnerhub.domain.models import HistoryEvent, License, Product, Site, Source, Standing
from partnerhub.domain.sites import (
    RESERVATION,
    Claim,
    ConnectedSite,
    HeldLicense,
    SitePage,
    SiteService,
    SiteState,
    check_disconnect,
    check_site_order,
    sites_of,
)
from partnerhub.errors import Conflict, NotFound, PaymentRequired, ValidationFailed

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
BAKERY = Site(site_id="1001", site_url="https://bakery.example", site_owner="ann@bakery.example")
FLORIST = Site(site_id="1002", site_url="https://florist.example")
BACKUP = Product(product="jetpack-backup", name="Jetpack VaultPress Backup")


def a_license(**changes: object) -> License:
    base = License(
        partner_id="agency-1",
        license_key=new_license_key("jetpack-backup"),
        product="jetpack-backup",
        product_name=BACKUP.name,
        source=Source.PORTAL,
        issued_at=NOW,
        issued_by="user:ann",
        version=1,
    )
    return base.model_copy(update=changes)


def active(site_id: str) -> Claim:
    return Claim(site_id, "jetpack-backup", "jetpack-backup_" + "a" * 24, Source.PORTAL)


def reserved(site_id: str, order: str, until: datetime) -> Claim:
    return Claim(site_id, "jetpack-backup", "jetpack-backup_" + "b" * 24, Source.PORTAL, order, until)


class TestOrderRules:
    def test_every_site_not_connected_is_named(self) -> None:
        with pytest.raises(NotFound) as error:
            check_site_order("r1", ["1001", "9", "1002", "8"], {"1001": BAKERY, "1002": FLORIST}, {}, NOW)

        assert error.value.code == "site_not_found"
        assert [d["site_id"] for d in error.value.details] == ["9", "8"]

    def test_every_site_holding_the_product_or_reserved_by_another_order_is_named(self) -> None:
        connected = {s: Site(site_id=s, site_url=f"https://{s}.example") for s in ("a", "b", "c", "d")}
        claims = {"b": active("b"), "d": reserved("d", "someone-else", NOW + timedelta(seconds=1))}

        with pytest.raises(Conflict) as error:
            check_site_order("r1", ["a", "b", "c", "d"], connected, claims, NOW)

        assert error.value.code == "site_has_license"
        assert [(d["site_id"], d["reason"]) for d in error.value.details] == [
            ("b", "holds an active license of this product"),
            ("d", "is being issued one by another order"),
        ]

    def test_its_own_reservations_and_lapsed_ones_of_others_do_not_refuse_it(self) -> None:
        connected = {s: Site(site_id=s, site_url=f"https://{s}.example") for s in ("a", "b", "c")}
        mine = reserved("a", "r1", NOW + timedelta(seconds=30))
        lapsed = reserved("b", "crashed", NOW)  # lapses at this very instant
        check = check_site_order("r1", ["a", "b", "c"], connected, {"a": mine, "b": lapsed}, NOW)

        assert (check.own, check.lapsed) == ([mine], [lapsed])

    def test_a_lapsed_reservation_of_an_order_that_committed_holds_the_site(self) -> None:
        connected = {"b": Site(site_id="b", site_url="https://b.example")}
        lapsed = reserved("b", "committed-order", NOW - timedelta(minutes=5))

        with pytest.raises(Conflict) as error:
            check_site_order("r1", ["b"], connected, {"b": lapsed}, NOW, held_by_committed=["b"])

        assert [d["site_id"] for d in error.value.details] == ["b"]


class TestDisconnectRules:
    def test_a_site_holding_licenses_is_refused_naming_each(self) -> None:
        key = new_license_key("jetpack-scan")
        state = SiteState(
            ConnectedSite(BAKERY, NOW, (HeldLicense(key, "jetpack-scan", Source.EXTERNAL),)),
            (reserved("1001", "o", NOW + timedelta(seconds=5)),),
        )

        with pytest.raises(Conflict) as error:
            check_disconnect(state, NOW)

        assert error.value.code == "site_has_licenses"
        assert [(d.get("license_key"), d["product"]) for d in error.value.details] == [
            (key, "jetpack-scan"),
            (None, "jetpack-backup"),
        ]

    def test_a_free_site_goes_and_lapsed_reservations_are_released_first(self) -> None:
        lapsed = reserved("1001", "o", NOW)

        assert check_disconnect(SiteState(ConnectedSite(BAKERY, NOW), (lapsed,)), NOW) == [lapsed]
        assert check_disconnect(SiteState(ConnectedSite(BAKERY, NOW)), NOW) == []


class TestAssignmentsConnectSites:
    def test_assigning_transferring_and_updating_a_site_connect_it(self) -> None:
        assigned = plan_assign(a_license(), BAKERY, NOW, "user:ann")
        assert assigned is not None and assigned.connect == BAKERY
        on_bakery = assigned.after
        moved = plan_assign(on_bakery, FLORIST, NOW, "user:ann")
        assert moved is not None and moved.connect == FLORIST
        renamed = Site(site_id="1001", site_url="https://new.example")
        updated = plan_assign(on_bakery, renamed, NOW, "user:ann")
        assert updated is not None and (updated.connect, updated.claim) == (renamed, None)

    def test_unassigning_and_revoking_connect_nothing(self) -> None:
        on_bakery = a_license(site=BAKERY, assigned_at=NOW)

        unassigned = plan_unassign(on_bakery, NOW, "user:ann")
        revoked = plan_revoke(on_bakery, NOW, "user:ann")

        assert unassigned.connect is None and revoked is not None and revoked.connect is None


class TestSitesOfHistory:
    def test_every_site_ever_assigned_connected_since_its_first_assignment_with_its_last_url(self) -> None:
        # Given one license assigned to the bakery on the 1st, moved to the florist on the 5th, and a second license
        # assigned to the bakery (under a new URL) on the 8th, then unassigned
        day = lambda d: datetime(2026, 10, d, 9, 0, tzinfo=UTC)  # noqa: E731
        new_bakery = Site(site_id="1001", site_url="https://bakery-shop.example")
        first = a_license(site=FLORIST, assigned_at=day(5), version=3)
        first_history = [
            HistoryEvent(seq=2, type="assigned", at=day(1), actor="user:ann", site=BAKERY),
            HistoryEvent(seq=3, type="transferred", at=day(5), actor="user:ann", site=FLORIST, previous_site=BAKERY),
        ]
        second = a_license(version=3)
        second_history = [
            HistoryEvent(seq=2, type="assigned", at=day(8), actor="user:ann", site=new_bakery),
            HistoryEvent(seq=3, type="unassigned", at=day(9), actor="user:ann", previous_site=new_bakery),
        ]

        seen = sites_of([(first, first_history), (second, second_history)])

        # Then both sites are connected: the bakery since the 1st with its URL of the 8th, the florist since the 5th
        assert [(s.site, s.connected_at) for s in seen] == [(new_bakery, day(1)), (FLORIST, day(5))]

    def test_a_license_issued_to_a_site_connected_it_when_issued(self) -> None:
        issued = a_license(site=BAKERY, issued_to=BAKERY, assigned_at=NOW)

        assert [(s.site, s.connected_at) for s in sites_of([(issued, [])])] == [(BAKERY, NOW)]


# -- the site service --------------------------------------------------------------------------------------


@dataclass
class MemorySites:
    states: dict[str, SiteState] = field(default_factory=dict)
    conflicts: int = 0
    disconnected: list[str] = field(default_factory=list)

    def list_sites(self, partner_id: str, search: str | None, limit: int, cursor: str | None) -> SitePage:
        return SitePage([s.site for s in self.states.values()], None)

    def site_state(self, partner_id: str, site_id: str) -> SiteState | None:
        return self.states.get(site_id)

    def connect(self, partner_id: str, site: Site, now: datetime) -> None:
        self.states[site.site_id] = SiteState(ConnectedSite(site, now))

    def disconnect(self, partner_id: str, site_id: str, version: int) -> None:
        if self.conflicts:
            self.conflicts -= 1
            raise VersionConflict()
        self.disconnected.append(site_id)
        del self.states[site_id]


@dataclass
class MemoryReservations:
    sites: MemorySites
    committed: set[str] = field(default_factory=set)
    released: list[Claim] = field(default_factory=list)

    def release_lapsed(self, partner_id: str, claim: Claim) -> bool:
        if claim.order in self.committed:
            return False
        self.released.append(claim)
        state = self.sites.states[claim.site_id]
        self.sites.states[claim.site_id] = SiteState(state.site, tuple(r for r in state.reservations if r != claim))
        return True


@pytest.fixture
def memory_sites() -> MemorySites:
    return MemorySites()


@pytest.fixture
def reservations(memory_sites: MemorySites) -> MemoryReservations:
    return MemoryReservations(memory_sites)


@pytest.fixture
def site_service(memory_sites: MemorySites, reservations: MemoryReservations) -> SiteService:
    return SiteService(memory_sites, reservations, ManualClock(NOW), sleep=lambda _: None)


class TestSiteService:
    def test_a_lapsed_reservation_is_released_before_the_site_goes(
        self, site_service: SiteService, memory_sites: MemorySites, reservations: MemoryReservations
    ) -> None:
        lapsed = reserved("1001", "crashed", NOW - timedelta(seconds=1))
        memory_sites.states["1001"] = SiteState(ConnectedSite(BAKERY, NOW), (lapsed,))

        site_service.disconnect("agency-1", "1001")

        assert reservations.released == [lapsed] and memory_sites.disconnected == ["1001"]

    def test_a_lapsed_reservation_of_a_committed_order_keeps_the_site(
        self, site_service: SiteService, memory_sites: MemorySites, reservations: MemoryReservations
    ) -> None:
        memory_sites.states["1001"] = SiteState(
            ConnectedSite(BAKERY, NOW), (reserved("1001", "done", NOW - timedelta(seconds=1)),)
        )
        reservations.committed.add("done")

        with pytest.raises(Conflict) as error:
            site_service.disconnect("agency-1", "1001")

        assert error.value.code == "site_has_licenses" and memory_sites.disconnected == []

    def test_a_site_that_changed_meanwhile_is_read_again(
        self, site_service: SiteService, memory_sites: MemorySites
    ) -> None:
        memory_sites.states["1001"] = SiteState(ConnectedSite(BAKERY, NOW))
        memory_sites.conflicts = 2

        site_service.disconnect("agency-1", "1001")

        assert memory_sites.disconnected == ["1001"]

    def test_an_unknown_site_is_not_found(self, site_service: SiteService) -> None:
        with pytest.raises(NotFound) as error:
            site_service.disconnect("agency-1", "nope")
        assert error.value.code == "site_not_found"

    def test_connecting_answers_the_site_as_stored(self, site_service: SiteService) -> None:
        connected = site_service.connect("agency-1", BAKERY)

        assert (connected.site, connected.connected_at, connected.licenses) == (BAKERY, NOW, ())


# -- issuing to sites: the service's decisions -------------------------------------------------------------


@dataclass
class OrderRepository:
    """The reads an order to sites makes, as given; the writes it asks for, recorded."""

    connected: dict[str, Site] = field(default_factory=dict)
    claims: dict[str, Claim] = field(default_factory=dict)
    receipt: IssueReceipt | None = None
    account: Standing = field(default_factory=lambda: Standing(has_payment_method=True))
    committed_orders: set[str] = field(default_factory=set)
    orders: list[SiteOrder] = field(default_factory=list)
    finished: list[SiteOrder] = field(default_factory=list)
    released: list[Claim] = field(default_factory=list)
    lapsed_released: list[Claim] = field(default_factory=list)

    def get_product(self, product: str) -> Product | None:
        return BACKUP if product == BACKUP.product else None

    def standing(self, partner_id: str) -> Standing:
        return self.account

    def issue_receipt(self, partner_id: str, receipt_id: str) -> IssueReceipt | None:
        return self.receipt

    def connected_sites(self, partner_id: str, site_ids: Sequence[str]) -> dict[str, Site]:
        return {s: self.connected[s] for s in site_ids if s in self.connected}

    def site_claims(self, partner_id: str, site_ids: Sequence[str], product: str) -> dict[str, Claim]:
        return {s: self.claims[s] for s in site_ids if s in self.claims}

    def release_lapsed(self, partner_id: str, claim: Claim) -> bool:
        if claim.order in self.committed_orders:
            return False
        self.lapsed_released.append(claim)
        return True

    def release_reservations(self, partner_id: str, receipt_id: str, claims: Sequence[Claim]) -> None:
        self.released.extend(claims)

    def issue_to_sites(self, order: SiteOrder) -> tuple[License, ...]:
        self.orders.append(order)
        return order.licenses

    def finish_site_order(self, order: SiteOrder) -> tuple[License, ...]:
        self.finished.append(order)
        return order.licenses


@pytest.fixture
def orders() -> OrderRepository:
    repo = OrderRepository()
    repo.connected = {"1001": BAKERY, "1002": FLORIST}
    return repo


@pytest.fixture
def issuing(orders: OrderRepository) -> LicenseService:
    return LicenseService(orders, ManualClock(NOW), sleep=lambda _: None)  # type: ignore[arg-type]


def order_of(service: LicenseService, site_ids: list[str], receipt_id: str = "r1") -> tuple[License, ...]:
    return service.issue_to_sites("agency-1", "jetpack-backup", site_ids, "user:ann", receipt_id)


class TestIssueToSites:
    def test_each_license_goes_to_its_site_as_connected_and_reserves_until_the_reservation_lapses(
        self, issuing: LicenseService, orders: OrderRepository
    ) -> None:
        issued = order_of(issuing, ["1002", "1001"])

        (order,) = orders.orders
        assert [lic.site for lic in issued] == [FLORIST, BAKERY]
        assert {(lic.issued_at, lic.assigned_at, lic.issued_to == lic.site) for lic in issued} == {(NOW, NOW, True)}
        assert order.reserved_until == NOW + RESERVATION and order.abandoned_generation is None

    @pytest.mark.parametrize("site_ids", [[], ["1001", "1001"], [str(n) for n in range(101)]])
    def test_an_empty_repeated_or_too_long_list_is_refused_before_any_read(
        self, issuing: LicenseService, orders: OrderRepository, site_ids: list[str]
    ) -> None:
        with pytest.raises(ValidationFailed) as error:
            order_of(issuing, site_ids)

        assert error.value.details[0]["field"] == "site_ids" and orders.orders == []

    def test_a_committed_order_is_finished_from_its_receipt_not_issued_again(
        self, issuing: LicenseService, orders: OrderRepository
    ) -> None:
        keys = (new_license_key("jetpack-backup"), new_license_key("jetpack-backup"))
        before = NOW - timedelta(seconds=20)
        orders.receipt = IssueReceipt(keys, (BAKERY, FLORIST), before, "user:ann")

        finished = order_of(issuing, ["1001", "1002"])

        assert orders.orders == []
        assert [(lic.license_key, lic.site, lic.issued_at) for lic in finished] == [
            (keys[0], BAKERY, before),
            (keys[1], FLORIST, before),
        ]

    def test_an_abandoned_order_commits_only_on_the_generation_it_read(
        self, issuing: LicenseService, orders: OrderRepository
    ) -> None:
        orders.receipt = IssueReceipt(abandoned_generation=2)

        order_of(issuing, ["1001"])

        assert orders.orders[0].abandoned_generation == 2

    def test_a_refused_order_lets_go_of_its_own_earlier_reservations(
        self, issuing: LicenseService, orders: OrderRepository
    ) -> None:
        mine = reserved("1001", "r1", NOW + timedelta(seconds=30))
        orders.claims = {"1001": mine, "1002": active("1002")}

        with pytest.raises(Conflict):
            order_of(issuing, ["1001", "1002"])

        assert orders.released == [mine] and orders.orders == []

    def test_without_a_payment_method_it_is_402_and_lets_go_of_its_reservations(
        self, issuing: LicenseService, orders: OrderRepository
    ) -> None:
        mine = reserved("1001", "r1", NOW + timedelta(seconds=30))
        orders.claims = {"1001": mine}
        orders.account = Standing(has_payment_method=False)

        with pytest.raises(PaymentRequired):
            order_of(issuing, ["1001"])

        assert orders.released == [mine]

    def test_lapsed_reservations_of_other_orders_are_released_first(
        self, issuing: LicenseService, orders: OrderRepository
    ) -> None:
        lapsed = reserved("1002", "crashed", NOW - timedelta(seconds=1))
        orders.claims = {"1002": lapsed}

        order_of(issuing, ["1001", "1002"])

        assert orders.lapsed_released == [lapsed] and len(orders.orders) == 1

    def test_a_lapsed_reservation_of_a_committed_order_refuses_naming_its_site(
        self, issuing: LicenseService, orders: OrderRepository
    ) -> None:
        orders.claims = {"1002": reserved("1002", "done", NOW - timedelta(seconds=1))}
        orders.committed_orders.add("done")

        with pytest.raises(Conflict) as error:
            order_of(issuing, ["1001", "1002"])

        assert [d["site_id"] for d in error.value.details] == ["1002"] and orders.orders == []
