"""The grouped estimate (``RebillingService.grouped``): the month's estimate computed license by license from the
licenses and their history, and its groups by client, site or product.

A month worked by hand first. Then, for any history of assignments, transfers, unassignments, relabellings and
revokes, every figure is checked against an oracle written here from the rules of docs/billing.md, not from the
code under test: it walks every calendar day of the month, takes each license's active part of that day (to date:
up to ``as_of``), gives the day to the last site the license held during that part (on the day it was unassigned,
the site it had just before), caps each license at its monthly price, and splits a license's money across its
sites by days, largest remainder first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partnerhub.clock import ManualClock
from partnerhub.domain.billing import PriceVersion
from partnerhub.domain.invoicing import InvoiceRecord
from partnerhub.domain.models import HistoryEvent, HistoryType, Labels, License, Product, Site, Source
from partnerhub.domain.periods import Period
from partnerhub.domain.rebilling import GroupedEstimate, RebillingService

BACKUP = PriceVersion("jetpack-backup", daily_price=17, monthly_price=495, effective_from=date(2024, 1, 1))
SCAN = PriceVersion("jetpack-scan", daily_price=14, monthly_price=395, effective_from=date(2024, 1, 1))
PRICES = {p.product: p for p in (BACKUP, SCAN)}
SITE_A = Site(site_id="a", site_url="https://a.example")
SITE_B = Site(site_id="b", site_url="https://b.example")
SITES = [SITE_A, SITE_B, Site(site_id="c", site_url="https://c.example")]
PERIODS = [Period(2028, 2), Period(2029, 2), Period(2029, 4), Period(2029, 3)]  # 29, 28, 30 and 31 days


class Portfolio:
    """The reads ``RebillingService`` needs, over licenses held in memory (the repository's filter included)."""

    def __init__(self, lives: list[tuple[License, list[HistoryEvent]]]) -> None:
        self.lives = lives

    def license_lives(
        self, partner_id: str, period: Period, *, after: str | None = None, page_size: int | None = None
    ) -> Iterator[tuple[License, list[HistoryEvent]]]:
        for license, history in self.lives:
            if license.issued_at < period.end and (license.revoked_at is None or license.revoked_at > period.start):
                yield license, history

    def tallies(self, partner_id: str, period: Period) -> object:
        raise AssertionError("the grouped estimate reads licenses, not tallies")

    def invoice_records(self, partner_id: str, first: Period, last: Period) -> dict[str, InvoiceRecord]:
        raise AssertionError("the grouped estimate reads no invoice")


class Catalog:
    def load(self) -> tuple[list[Product], list[PriceVersion]]:
        return [Product(product=p.product, name=p.product) for p in PRICES.values()], list(PRICES.values())


def grouped(lives: list[tuple[License, list[HistoryEvent]]], now: datetime, period: Period, by: str) -> GroupedEstimate:
    service = RebillingService(Portfolio(lives), Catalog(), ManualClock(now))  # type: ignore[arg-type]
    return service.grouped("p", period, by)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def figures(result: GroupedEstimate) -> dict[str | None, tuple[int, int, int, int]]:
    """Each group as (licenses, license_days, cost_to_date, projected_cost)."""
    return {g.key: (g.licenses, g.license_days, g.cost_to_date, g.projected_cost) for g in result.groups}


def license(
    n: int,
    price: PriceVersion,
    issued: datetime,
    *,
    site: Site | None = None,
    revoked: datetime | None = None,
    version: int = 1,
    client: str | None = None,
) -> License:
    """A portal license as stored: ``site``, ``client`` and ``revoked`` as they are now."""
    return License(
        partner_id="p",
        license_key=f"{price.product}_{n:024d}",
        product=price.product,
        product_name=price.product,
        source=Source.PORTAL,
        issued_at=issued,
        issued_by="u",
        revoked_at=revoked,
        site=site,
        version=version,
        client=client,
    )


# ------------------------------------------------------------------------------------------------ worked by hand
def april_2029() -> list[tuple[License, list[HistoryEvent]]]:
    """April 2029 (30 days). Backup 17 a day capped at 495, Scan 14 a day capped at 395.

    L1 Backup, issued 1 April 09:00 on site a for "Bakery", moved to site b on 11 April 10:00.
    L2 Scan, issued 5 April 08:00 for "Florist", never assigned, relabelled "Bakery" on 15 April 12:00.
    L3 Backup, issued 2 April 00:00 on site a for "Florist", revoked 10 April 12:00.
    """
    l1 = license(1, BACKUP, at("2029-04-01T09:00"), site=SITE_B, version=3, client="Bakery")
    h1 = [
        HistoryEvent(seq=2, type="assigned", at=at("2029-04-01T09:00"), actor="u", site=SITE_A),
        HistoryEvent(
            seq=3, type="transferred", at=at("2029-04-11T10:00"), actor="u", site=SITE_B, previous_site=SITE_A
        ),
    ]
    l2 = license(2, SCAN, at("2029-04-05T08:00"), version=2, client="Bakery")
    h2 = [
        HistoryEvent(
            seq=2,
            type="labelled",
            at=at("2029-04-15T12:00"),
            actor="u",
            labels=Labels(client="Bakery"),
            previous_labels=Labels(client="Florist"),
        )
    ]
    l3 = license(
        3, BACKUP, at("2029-04-02T00:00"), site=SITE_A, revoked=at("2029-04-10T12:00"), version=3, client="Florist"
    )
    h3 = [
        HistoryEvent(seq=2, type="assigned", at=at("2029-04-02T00:00"), actor="u", site=SITE_A),
        HistoryEvent(seq=3, type="revoked", at=at("2029-04-10T12:00"), actor="u", site=SITE_A),
    ]
    return [(l1, h1), (l2, h2), (l3, h3)]


# As of 20 April 12:00, license by license:
#   L1: days 1-20 to date = 20, 20 x 17 = 340; projected 1-30 = 30, 30 x 17 = 510 capped at 495.
#       Site a holds days 1-10 (the 11th ends on b), site b 11-20 to date and 11-30 projected.
#       To date 340 over a 10 : b 10 -> 170 + 170. Projected 495 over a 10 : b 20 -> 165 + 330 (no remainder).
#   L2: days 5-20 = 16, 16 x 14 = 224; projected 5-30 = 26, 26 x 14 = 364 (under 395). No site. Client now Bakery.
#   L3: days 2-10 = 9 (the 10th until noon), 9 x 17 = 153, projected the same. Site a. Revoked by now.
AS_OF = at("2029-04-20T12:00")


def test_the_estimate_of_a_month_worked_by_hand() -> None:
    # Given the April above, When the estimate is asked on 20 April at noon
    estimate = grouped(april_2029(), AS_OF, Period(2029, 4), "product").named.estimate

    # Then Backup: L1 and L3, 20 + 9 = 29 days, 340 + 153 = 493 to date, 495 + 153 = 648 projected,
    # 30 + 9 = 39 projected days; of the two only L1 is open (L3 was revoked), and it is on a site
    backup, scan = estimate.products
    assert (backup.product, backup.license_days, backup.cost_to_date) == ("jetpack-backup", 29, 493)
    assert (backup.projected_license_days, backup.projected_cost) == (39, 648)
    assert (backup.counts.total, backup.counts.assigned, backup.counts.unassigned) == (2, 1, 0)
    # And Scan: L2 alone, 16 days, 224 to date, 26 days and 364 projected, open and on no site
    assert (scan.product, scan.license_days, scan.cost_to_date) == ("jetpack-scan", 16, 224)
    assert (scan.projected_license_days, scan.projected_cost) == (26, 364)
    assert (scan.counts.total, scan.counts.assigned, scan.counts.unassigned) == (1, 0, 1)
    # And the totals: 45 days, 717 to date, 65 days and 1012 projected, 3 licenses
    totals = estimate.totals
    assert (totals.license_days, totals.cost_to_date, totals.projected_license_days) == (45, 717, 65)
    assert totals.projected_cost == 1012
    assert (totals.counts.total, totals.counts.assigned, totals.counts.unassigned) == (3, 1, 1)


def test_groups_of_a_month_worked_by_hand() -> None:
    period = Period(2029, 4)
    # By client, at 20 April noon: Bakery has L1 and L2 (relabelled on the 15th), Florist L3.
    # Bakery: 20 + 16 = 36 days, 340 + 224 = 564, projected 495 + 364 = 859. Florist: 9 days, 153, 153.
    assert figures(grouped(april_2029(), AS_OF, period, "client")) == {
        "Bakery": (2, 36, 564, 859),
        "Florist": (1, 9, 153, 153),
    }
    # By product: Backup L1 + L3 (29 days, 493, 648), Scan L2 (16, 224, 364).
    assert figures(grouped(april_2029(), AS_OF, period, "product")) == {
        "jetpack-backup": (2, 29, 493, 648),
        "jetpack-scan": (1, 16, 224, 364),
    }
    # By site: a license counts where its last projected day is (L1 on b, L2 on none, L3 on a); its days and
    # money go where they were. a: L1's 10 days and 170 (projected 165) plus L3's 9 and 153 -> 19, 323, 318.
    # b: L1's 10 days, 170, projected 330. No site: L2's 16 days, 224, 364. In key order, no site last.
    by_site = grouped(april_2029(), AS_OF, period, "site")
    assert figures(by_site) == {"a": (1, 19, 323, 318), "b": (1, 10, 170, 330), None: (1, 16, 224, 364)}
    assert [g.key for g in by_site.groups] == ["a", "b", None]


def test_once_the_month_is_over_to_date_is_the_whole_month() -> None:
    # Given the same licenses seen on 3 May: L1 and L2 ran to the end of April
    result = grouped(april_2029(), at("2029-05-03T08:00"), Period(2029, 4), "client")
    # Then to date is the projection: L1 30 days, 495; L2 26 days, 364; L3 9 days, 153
    totals = result.named.estimate.totals
    assert (totals.license_days, totals.cost_to_date, totals.projected_cost) == (65, 1012, 1012)
    # And the labels are those at April's end
    assert figures(result) == {"Bakery": (2, 56, 859, 859), "Florist": (1, 9, 153, 153)}


def test_a_relabelling_at_the_next_months_first_instant_belongs_to_the_next_month() -> None:
    # Given April as above, and L1 relabelled "Florist" at exactly 1 May 00:00
    lives = april_2029()
    l1, h1 = lives[0]
    relabel = HistoryEvent(
        seq=4,
        type="labelled",
        at=at("2029-05-01T00:00"),
        actor="u",
        labels=Labels(client="Florist"),
        previous_labels=Labels(client="Bakery"),
    )
    lives[0] = (l1.model_copy(update={"client": "Florist", "version": 4}), [*h1, relabel])
    # When April is asked at that very instant and two days later, Then L1's April is still Bakery's
    for now in (at("2029-05-01T00:00"), at("2029-05-03T08:00")):
        assert figures(grouped(lives, now, Period(2029, 4), "client")) == {
            "Bakery": (2, 56, 859, 859),
            "Florist": (1, 9, 153, 153),
        }
    # And May is Florist's from its first instant: on 3 May at 08:00 L1 has 3 days (51), projected 31 x 17 = 527
    # capped at 495; L2 (Bakery) 3 days (42), projected 31 x 14 = 434 capped at 395. L3 was revoked in April.
    assert figures(grouped(lives, at("2029-05-03T08:00"), Period(2029, 5), "client")) == {
        "Bakery": (1, 3, 42, 395),
        "Florist": (1, 3, 51, 495),
    }


# ------------------------------------------------------------------------------------------------ the oracle
@dataclass
class Life:
    """A license as a scenario made it, with the timelines the oracle reads (the service reads the history)."""

    license: License
    history: list[HistoryEvent]
    moves: list[tuple[datetime, str | None]] = field(default_factory=list)  # (when, site from then on)
    relabels: list[tuple[datetime, str | None]] = field(default_factory=list)  # (when, client from then on)
    first_client: str | None = None

    def site_at(self, instant: datetime, *, inclusive: bool = True) -> str | None:
        """The site held at ``instant`` (with ``inclusive``, after the moves made at that very instant)."""
        site = None
        for when, where in self.moves:
            if when < instant or (inclusive and when == instant):
                site = where
        return site

    def last_site_held(self, start: datetime, end: datetime) -> str | None:
        """The last site held during ``[start, end)``; None when none was (unassigned is no site)."""
        held = [self.site_at(start)]
        held += [self.site_at(when) for when in sorted({w for w, _ in self.moves if start < w < end})]
        sites = [site for site in held if site is not None]
        return sites[-1] if sites else None

    def client_at(self, instant: datetime, *, inclusive: bool) -> str | None:
        client = self.first_client
        for when, label in self.relabels:
            if when < instant or (inclusive and when == instant):
                client = label
        return client


def largest_remainder(amount: int, days: Counter[str | None]) -> dict[str | None, int]:
    """``amount`` over ``days`` in proportion, floor first; the cents left go to the largest remainders, then to
    more days, then in site order (no site first)."""
    total = sum(days.values())
    parts = {site: amount * n // total for site, n in days.items()}
    order = sorted(days, key=lambda s: (-(amount * days[s] % total), -days[s], s is not None, s or ""))
    for site in order[: amount - sum(parts.values())]:
        parts[site] += 1
    return parts


@dataclass
class Month:
    """One license's month as the rules say it goes."""

    product: str
    client: str | None
    to_date: Counter[str | None]  # site -> days to date
    projected: Counter[str | None]  # site -> days to the month's end
    last_site: str | None
    open_at_cut: bool
    assigned_at_cut: bool

    @property
    def cost_to_date(self) -> int:
        price = PRICES[self.product]
        return min(sum(self.to_date.values()) * price.daily_price, price.monthly_price)

    @property
    def projected_cost(self) -> int:
        price = PRICES[self.product]
        return min(sum(self.projected.values()) * price.daily_price, price.monthly_price)


def month_of(life: Life, period: Period, now: datetime) -> Month:
    issued, revoked = life.license.issued_at, life.license.revoked_at
    as_of = min(now, period.end)
    running = as_of < period.end  # asked during (or before) the month: what holds at as_of itself counts
    to_date: Counter[str | None] = Counter()
    projected: Counter[str | None] = Counter()
    last_site = None
    day = period.start
    while day < period.end:
        midnight = day + timedelta(days=1)
        start = max(day, issued)
        end = midnight if revoked is None else min(midnight, revoked)
        if start < end:  # active during the day: the day goes to the last site held during that part
            last_site = life.last_site_held(start, end)
            projected[last_site] += 1
        end_to_date = min(end, as_of)
        if start < end_to_date:
            to_date[life.last_site_held(start, end_to_date)] += 1
        day = midnight
    return Month(
        product=life.license.product,
        client=life.client_at(as_of, inclusive=running),
        to_date=to_date,
        projected=projected,
        last_site=last_site,
        open_at_cut=revoked is None or revoked > as_of,
        assigned_at_cut=life.site_at(as_of, inclusive=running) is not None,
    )


def expected_groups(months: list[Month], by: str) -> dict[str | None, tuple[int, int, int, int]]:
    groups: dict[str | None, list[int]] = {}

    def group(key: str | None) -> list[int]:
        return groups.setdefault(key, [0, 0, 0, 0])

    for m in months:
        if by == "site":
            group(m.last_site)[0] += 1
            for site, days in m.to_date.items():
                group(site)[1] += days
            if m.to_date:
                for site, cents in largest_remainder(m.cost_to_date, m.to_date).items():
                    group(site)[2] += cents
            for site, cents in largest_remainder(m.projected_cost, m.projected).items():
                group(site)[3] += cents
        else:
            figures_ = group(m.client if by == "client" else m.product)
            figures_[0] += 1
            figures_[1] += sum(m.to_date.values())
            figures_[2] += m.cost_to_date
            figures_[3] += m.projected_cost
    return {key: (n, days, cost, projected) for key, (n, days, cost, projected) in groups.items()}


@st.composite
def scenario(draw: st.DrawFn) -> tuple[Period, datetime, list[Life]]:
    """A month, the instant it is asked about (before, during or after it), and up to five licenses whose
    histories happen on an hourly grid around it, often at the month's first and last instants and an hour
    either side, so that events fall at and around midnight, and on the instant asked about."""
    period = draw(st.sampled_from(PERIODS))
    origin = period.start - timedelta(days=35)
    edges = [h + d for h in (35 * 24, (35 + period.days) * 24) for d in (-1, 0, 1)]
    hour = st.one_of(st.integers(min_value=0, max_value=(35 + period.days + 3) * 24), st.sampled_from(edges))
    now = origin + timedelta(hours=draw(hour))
    lives: list[Life] = []
    for n in range(draw(st.integers(min_value=1, max_value=5))):
        times = sorted(origin + timedelta(hours=h) for h in draw(st.lists(hour, min_size=1, max_size=6)))
        times = [t for t in times if t <= now]
        if not times:
            continue
        issued = times[0]
        first_client = draw(st.sampled_from([None, "Bakery", "Florist"]))
        history: list[HistoryEvent] = []
        moves: list[tuple[datetime, str | None]] = []
        relabels: list[tuple[datetime, str | None]] = []
        site: Site | None = None
        labels = Labels(client=first_client)
        revoked: datetime | None = None
        for when in times[1:]:
            seq = len(history) + 2
            kind: HistoryType = draw(st.sampled_from(["assigned", "unassigned", "labelled", "revoked"]))
            if kind == "revoked":
                history.append(HistoryEvent(seq=seq, type="revoked", at=when, actor="u", site=site))
                revoked = when
                break
            if kind == "assigned":
                target = draw(st.sampled_from(SITES))
                if site is not None and target.site_id == site.site_id:
                    continue
                moved: HistoryType = "transferred" if site is not None else "assigned"
                history.append(HistoryEvent(seq=seq, type=moved, at=when, actor="u", site=target, previous_site=site))
                site = target
                moves.append((when, target.site_id))
            elif kind == "unassigned" and site is not None:
                history.append(HistoryEvent(seq=seq, type="unassigned", at=when, actor="u", previous_site=site))
                site = None
                moves.append((when, None))
            elif kind == "labelled":
                new = Labels(client=draw(st.sampled_from([None, "Bakery", "Florist"])))
                if new == labels:
                    continue
                history.append(
                    HistoryEvent(seq=seq, type="labelled", at=when, actor="u", labels=new, previous_labels=labels)
                )
                labels = new
                relabels.append((when, new.client))
        price = draw(st.sampled_from(list(PRICES.values())))
        stored = license(n, price, issued, site=site, revoked=revoked, version=len(history) + 1, client=labels.client)
        life = Life(stored, history, moves, relabels, first_client)
        lives.append(life)
    return period, now, lives


@pytest.mark.parametrize("by", ["client", "site", "product"])
@settings(max_examples=200, deadline=None)
@given(case=scenario())
def test_any_history_gives_the_estimate_and_groups_the_rules_give(
    case: tuple[Period, datetime, list[Life]], by: str
) -> None:
    # Given any licenses and histories, When the grouped estimate is asked
    period, now, lives = case
    result = grouped([(life.license, life.history) for life in lives], now, period, by)

    # Then each license's month is what the day-by-day rules give (licenses with no day in the month are in no
    # figure: the repository hands over every license active in the month)
    months = [
        month_of(life, period, now)
        for life in lives
        if life.license.issued_at < period.end
        and (life.license.revoked_at is None or life.license.revoked_at > period.start)
    ]
    months = [m for m in months if m.projected]
    # And the estimate's products and totals are those months summed
    estimate = result.named.estimate
    by_product: dict[str, list[Month]] = {}
    for m in months:
        by_product.setdefault(m.product, []).append(m)
    assert [p.product for p in estimate.products] == sorted(by_product)
    for product in estimate.products:
        mine = by_product[product.product]
        assert product.license_days == sum(sum(m.to_date.values()) for m in mine)
        assert product.cost_to_date == sum(m.cost_to_date for m in mine)
        assert product.projected_license_days == sum(sum(m.projected.values()) for m in mine)
        assert product.projected_cost == sum(m.projected_cost for m in mine)
        assert product.counts.total == len(mine)
        assert product.counts.assigned == sum(m.open_at_cut and m.assigned_at_cut for m in mine)
        assert product.counts.unassigned == sum(m.open_at_cut and not m.assigned_at_cut for m in mine)
        assert (product.daily_price, product.monthly_price) == (
            PRICES[product.product].daily_price,
            PRICES[product.product].monthly_price,
        )
    totals = estimate.totals
    assert totals.license_days == sum(sum(m.to_date.values()) for m in months)
    assert totals.cost_to_date == sum(m.cost_to_date for m in months)
    assert totals.projected_cost == sum(m.projected_cost for m in months)
    assert totals.counts.total == len(months)
    # And the groups are the months grouped, in key order with no key last
    assert figures(result) == expected_groups(months, by)
    keys = [g.key for g in result.groups]
    assert keys == sorted(keys, key=lambda k: (k is None, k or ""))
