"""Connected sites: the sites a partner's licenses go to, and what each holds.

A site is connected to a partner when a license is assigned to it, when an operator records an external license
on it, or when the partner (or, later, a site's plugin with an API key) connects it; connecting again updates its
URL and owner. It stays connected until the partner disconnects it, which is refused while it holds an active
license. Sites are the partner's own: two partners may connect a site of the same id, and never learn of each other.

What a site holds is its **claims**, one per product: the lock that keeps one active license of a product on a
site (``docs/data-model.md``). An order that issues licenses to sites first *reserves* its claims (a claim naming
the order and a time it lapses at), then commits; a reservation of an order that crashed before committing
lapses, and whoever finds it lapsed releases it (``LicenseRepository.release_lapsed``).

Pure: no I/O, no wall clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from partnerhub import retry
from partnerhub.clock import Clock
from partnerhub.domain.conflicts import TransientConflict, VersionConflict
from partnerhub.domain.models import HistoryEvent, License, Site, Source
from partnerhub.errors import Conflict, NotFound, ServiceUnavailable

RESERVATION = timedelta(minutes=2)
"""How long an order's reservation of a site holds before it lapses: far beyond the longest an order can take
between reserving and committing (the function's timeout is 10 s)."""


@dataclass(frozen=True)
class Claim:
    """A site's claim for one product: an active license, or an order's reservation (``reserved_until``)."""

    site_id: str
    product: str
    license_key: str
    source: Source
    order: str | None = None  # the receipt of the order that issued (or reserves) it
    reserved_until: datetime | None = None

    @property
    def pending(self) -> bool:
        """A reservation: the order has not written the license yet."""
        return self.reserved_until is not None

    def lapsed(self, now: datetime) -> bool:
        """A reservation whose order had every chance to commit by now."""
        return self.reserved_until is not None and self.reserved_until <= now


@dataclass(frozen=True)
class HeldLicense:
    """An active license on a site, as the site lists it."""

    license_key: str
    product: str
    source: Source


@dataclass(frozen=True)
class ConnectedSite:
    site: Site
    connected_at: datetime
    licenses: tuple[HeldLicense, ...] = ()
    version: int = 1  # moves with every connection and every claim of the site: disconnecting is guarded by it


@dataclass(frozen=True)
class SiteState:
    """A site with every claim it has: its active licenses, and reservations of orders not yet written."""

    site: ConnectedSite
    reservations: tuple[Claim, ...] = ()


@dataclass(frozen=True)
class SitePage:
    items: list[ConnectedSite]
    next_cursor: str | None


@dataclass(frozen=True)
class SiteSeen:
    """A site a partner's licenses were on, as their history shows it (the migration connects these)."""

    site: Site
    connected_at: datetime


class SiteRepository(Protocol):
    """What the site commands need from storage (implemented over DynamoDB in ``repository/sites.py``)."""

    def list_sites(self, partner_id: str, search: str | None, limit: int, cursor: str | None) -> SitePage: ...

    def site_state(self, partner_id: str, site_id: str) -> SiteState | None: ...

    def connect(self, partner_id: str, site: Site, now: datetime) -> None: ...

    def disconnect(self, partner_id: str, site_id: str, version: int) -> None:
        """Remove the site if its version is still ``version``; :class:`VersionConflict` otherwise."""
        ...


class Reservations(Protocol):
    """Releasing a lapsed reservation: the order's receipt is marked abandoned in the same transaction, so the
    order can never commit afterwards (implemented by the license repository, which owns receipts)."""

    def release_lapsed(self, partner_id: str, claim: Claim) -> bool:
        """True when released (or already gone); False when its order committed: the claim is the order's."""
        ...


def check_disconnect(state: SiteState, now: datetime) -> list[Claim]:
    """Refuse to disconnect a site that holds an active license, or one being issued to it (409
    ``site_has_licenses``, each named). Returns the lapsed reservations to release first."""
    held = [
        {"license_key": lic.license_key, "product": lic.product, "reason": "active on this site"}
        for lic in state.site.licenses
    ]
    held += [
        {"product": claim.product, "reason": "a license is being issued to this site"}
        for claim in state.reservations
        if not claim.lapsed(now)
    ]
    if held:
        raise Conflict(
            "the site holds active licenses: revoke or move them first", code="site_has_licenses", details=held
        )
    return [claim for claim in state.reservations if claim.lapsed(now)]


@dataclass(frozen=True)
class SiteOrderCheck:
    """What an order to issue to ``site_ids`` finds: claims it must release first (lapsed reservations of other
    orders) and its own earlier reservations (a retry after a crash)."""

    lapsed: list[Claim]
    own: list[Claim]


def check_site_order(
    receipt_id: str,
    site_ids: Sequence[str],
    connected: Mapping[str, Site],
    claims: Mapping[str, Claim],
    now: datetime,
    held_by_committed: Iterable[str] = (),
) -> SiteOrderCheck:
    """The rules of issuing one license to each of ``site_ids``, all or nothing: every site must be connected
    (404 ``site_not_found`` naming each that is not), and none may hold the product already, or be reserved for
    it by another order (409 ``site_has_license`` naming each that does). ``held_by_committed``: sites whose
    lapsed reservation belongs to an order that did commit (it holds the site)."""
    missing = [site_id for site_id in site_ids if site_id not in connected]
    if missing:
        raise NotFound(
            "not every site is connected to your account",
            code="site_not_found",
            details=[{"field": "site_ids", "site_id": s, "reason": "is not connected"} for s in missing],
        )
    committed = set(held_by_committed)
    held: list[dict[str, str]] = []
    lapsed: list[Claim] = []
    own: list[Claim] = []
    for site_id in site_ids:
        claim = claims.get(site_id)
        if claim is None:
            continue
        if claim.pending and claim.order == receipt_id:
            own.append(claim)
        elif claim.lapsed(now) and site_id not in committed:
            lapsed.append(claim)
        else:
            reason = (
                "is being issued one by another order" if claim.pending else "holds an active license of this product"
            )
            held.append({"field": "site_ids", "site_id": site_id, "reason": reason})
    if held:
        raise Conflict(
            "some sites already hold an active license of this product", code="site_has_license", details=held
        )
    return SiteOrderCheck(lapsed=lapsed, own=own)


def sites_of(lives: Iterable[tuple[License, list[HistoryEvent]]]) -> list[SiteSeen]:
    """Every site the licenses were ever on, connected since the first time one of them got there, with the URL
    and owner it was last given (what assigning then would have connected, had sites existed)."""
    first: dict[str, datetime] = {}
    last: dict[str, tuple[datetime, Site]] = {}

    def saw(site: Site | None, at: datetime | None) -> None:
        if site is None or at is None:
            return
        if site.site_id not in first or at < first[site.site_id]:
            first[site.site_id] = at
        if site.site_id not in last or at >= last[site.site_id][0]:
            last[site.site_id] = (at, site)

    for license, history in lives:
        if license.issued_to is not None:
            saw(license.issued_to, license.issued_at)
        for event in history:
            if event.type in ("assigned", "transferred"):
                saw(event.site, event.at)
        saw(license.site, license.assigned_at)
    return [SiteSeen(site=last[site_id][1], connected_at=first[site_id]) for site_id in sorted(first)]


class LicenseLives(Protocol):
    def lives(self, partner_id: str) -> Iterable[tuple[License, list[HistoryEvent]]]: ...


class SiteBackfill(Protocol):
    def connect_seen(self, partner_id: str, seen: Sequence[SiteSeen]) -> int: ...

    def stamp_claim_sources(self, partner_id: str, sources: Mapping[str, Source]) -> int: ...


def connect_assigned_sites(
    partner_ids: Iterable[str], licenses: LicenseLives, sites: SiteBackfill
) -> Iterator[tuple[str, int, int]]:
    """The migration for licenses assigned before sites existed, partner by partner: connect every site the
    partner's licenses were ever on (:func:`sites_of`; a site connected since keeps what it has), and stamp each
    site claim with its license's source. Safe to run again. Yields (partner, sites connected, claims stamped)."""
    for partner_id in partner_ids:
        lives = list(licenses.lives(partner_id))
        connected = sites.connect_seen(partner_id, sites_of(lives))
        stamped = sites.stamp_claim_sources(partner_id, {lic.license_key: lic.source for lic, _ in lives})
        yield partner_id, connected, stamped


class SiteService:
    """The site commands, over the site repository, the reservations and a clock."""

    def __init__(
        self,
        repository: SiteRepository,
        reservations: Reservations,
        clock: Clock,
        *,
        max_attempts: int = 30,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._repo = repository
        self._reservations = reservations
        self._clock = clock
        self._max_attempts = max_attempts
        self._sleep = sleep

    def list(self, partner_id: str, search: str | None, limit: int, cursor: str | None) -> SitePage:
        return self._repo.list_sites(partner_id, search.lower() if search else None, limit, cursor)

    def connect(self, partner_id: str, site: Site) -> ConnectedSite:
        """Connect ``site``, or update its URL and owner when it is connected already."""

        def attempt() -> ConnectedSite:
            self._repo.connect(partner_id, site, self._clock.now())
            state = self._repo.site_state(partner_id, site.site_id)
            if state is None:  # disconnected between the two calls: connect it again
                raise TransientConflict()
            return state.site

        return self._retrying(attempt)

    def disconnect(self, partner_id: str, site_id: str) -> None:
        def attempt() -> None:
            state = self._repo.site_state(partner_id, site_id)
            if state is None:
                raise NotFound("no such site", code="site_not_found")
            for claim in check_disconnect(state, self._clock.now()):
                if not self._reservations.release_lapsed(partner_id, claim):
                    raise Conflict(
                        "the site holds active licenses: revoke or move them first",
                        code="site_has_licenses",
                        details=[{"product": claim.product, "reason": "a license is being issued to this site"}],
                    )
                raise TransientConflict()  # read the site again, without the lapsed reservation
            self._repo.disconnect(partner_id, site_id, state.site.version)

        self._retrying(attempt)

    def _retrying[T](self, attempt: Callable[[], T]) -> T:
        policy = retry.on_conflict((VersionConflict, TransientConflict), attempts=self._max_attempts, sleep=self._sleep)
        try:
            return policy(attempt)
        except (VersionConflict, TransientConflict) as error:
            raise ServiceUnavailable("the site is changing too fast; try again", code="contention") from error


__all__: Sequence[str] = (
    "RESERVATION",
    "Claim",
    "ConnectedSite",
    "HeldLicense",
    "Reservations",
    "SiteOrderCheck",
    "SitePage",
    "SiteRepository",
    "SiteSeen",
    "SiteService",
    "SiteState",
    "check_disconnect",
    "check_site_order",
    "connect_assigned_sites",
    "sites_of",
)
