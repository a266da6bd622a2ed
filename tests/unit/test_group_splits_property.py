"""Money always adds up: every ``group_by`` split of the estimate sums to its totals, and those totals are the plain
estimate's (the Billing page's product table), for any data, records dated after ``as_of`` included (a clock
moved back over licenses written on a later one, as ``make seed`` on an earlier stack clock leaves).

The oracle is independent of the code under test: it walks every day of the month license by license, finds the
site each day belongs to and the client of each license's month from the SPEC's sentences ("Re-billing clients"),
caps each license's amount, and splits it across sites by largest remainder with fractions. Nothing of
``partnerhub.domain.splits`` or of the billing engine is used to compute an expected figure.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from partnerhub.clock import ManualClock
from partnerhub.domain.billing import PriceVersion
from partnerhub.domain.estimates import EstimateService
from partnerhub.domain.models import HistoryEvent, Labels, License, Product, Site
from partnerhub.domain.periods import Period
from partnerhub.domain.rebilling import RebillingService
from partnerhub.domain.tallies import MonthTally, RunningTally, TallyChange, assignment_tally, issue_tally, revoke_tally
from partnerhub.repository.billing import Tallies

PRICES = {"backup": (17, 495), "scan": (14, 395)}
PRODUCTS = [Product(product=slug, name=slug.title()) for slug in PRICES]
BASE = datetime(2026, 3, 1, tzinfo=UTC)
PERIODS = [Period(2026, 2), Period(2026, 3), Period(2026, 4)]
SITES = ["site-a", "site-b", "site-c"]
CLIENTS = ["Bakery", "Florist", None]


@dataclass
class _Life:
    """One license as the commands made it: its events in time order."""

    key: str
    product: str
    issued_at: datetime
    events: list[tuple[str, datetime, str | None]] = field(default_factory=list)  # (kind, at, site or client)

    @property
    def revoked_at(self) -> datetime | None:
        return next((at for kind, at, _ in self.events if kind == "revoke"), None)


instants = st.builds(
    lambda days, hour: BASE + timedelta(days=days, hours=hour),
    st.integers(min_value=-40, max_value=70),
    st.sampled_from([0, 0, 7, 9, 23]),
)
steps = st.one_of(
    st.just(timedelta(0)),
    st.integers(min_value=0, max_value=20).map(lambda d: timedelta(days=d)),
    st.sampled_from([timedelta(microseconds=1), timedelta(hours=5), timedelta(hours=13)]),
)
event_kinds = st.tuples(
    steps,
    st.sampled_from(["assign", "assign", "unassign", "label", "revoke"]),
    st.sampled_from(SITES),
    st.sampled_from(CLIENTS),
)


@st.composite
def lives(draw: st.DrawFn) -> list[_Life]:
    found = []
    for n in range(draw(st.integers(min_value=1, max_value=5))):
        life = _Life(f"{n:02d}", draw(st.sampled_from(sorted(PRICES))), draw(instants))
        at = life.issued_at
        for step, kind, site, client in draw(st.lists(event_kinds, max_size=6)):
            at += step
            life.events.append((kind, at, site if kind == "assign" else client))
            if kind == "revoke":
                break
        found.append(life)
    return found


# -------------------------------------------------------------------------- what the product reads


def _history(life: _Life) -> tuple[License, list[HistoryEvent]]:
    history: list[HistoryEvent] = []
    site: Site | None = None
    client: str | None = None
    for seq, (kind, at, value) in enumerate(life.events, start=1):
        if kind == "assign":
            new = Site(site_id=str(value), site_url=f"https://{value}.example")
            history.append(
                HistoryEvent(
                    seq=seq,
                    type="transferred" if site else "assigned",
                    at=at,
                    actor="t",
                    site=new,
                    previous_site=site,
                )
            )
            site = new
        elif kind == "unassign" and site is not None:
            history.append(HistoryEvent(seq=seq, type="unassigned", at=at, actor="t", previous_site=site))
            site = None
        elif kind == "label":
            history.append(
                HistoryEvent(
                    seq=seq,
                    type="labelled",
                    at=at,
                    actor="t",
                    labels=Labels(client=value),
                    previous_labels=Labels(client=client),
                )
            )
            client = value
        elif kind == "revoke":
            history.append(HistoryEvent(seq=seq, type="revoked", at=at, actor="t"))
    license = License(
        partner_id="p",
        license_key=f"{life.product}_{life.key:0>24}",
        product=life.product,
        product_name=life.product.title(),
        source="portal",
        issued_at=life.issued_at,
        issued_by="t",
        revoked_at=life.revoked_at,
        site=site,
        version=1,
        client=client,
    )
    return license, history


def _tallies(all_lives: list[_Life]) -> Tallies:
    """The tallies the license commands kept, event by event (whatever the clock said afterwards)."""
    tallies = Tallies()

    def apply(change: TallyChange) -> None:
        tallies.months.setdefault(change.period, {}).setdefault(change.product, MonthTally()).apply(change)
        tallies.running.setdefault(change.product, RunningTally()).apply(change)

    for life in all_lives:
        apply(issue_tally(life.product, life.issued_at, 1))
        assigned = False
        for kind, at, _ in life.events:
            if kind == "assign" and not assigned:
                assigned = True
                apply(assignment_tally(life.product, life.issued_at, at, +1))
            elif kind == "unassign" and assigned:
                assigned = False
                apply(assignment_tally(life.product, life.issued_at, at, -1))
            elif kind == "revoke":
                apply(revoke_tally(life.product, life.issued_at, at, was_assigned=assigned))
    return tallies


class _Reads:
    """The billing reads over the lives, as the repository answers them."""

    def __init__(self, all_lives: list[_Life]) -> None:
        self.lives = all_lives
        self.kept = _tallies(all_lives)

    def license_lives(
        self, partner_id: str, period: Period, *, after: str | None = None, page_size: int | None = None
    ) -> Iterator[tuple[License, list[HistoryEvent]]]:
        for life in self.lives:
            revoked = life.revoked_at
            if life.issued_at < period.end and (revoked is None or revoked > period.start):
                yield _history(life)

    def tallies(self, partner_id: str, period: Period) -> Tallies:
        return self.kept

    def issued_later_that_day(self, partner_id: str, instant: datetime) -> dict[str, int]:
        found: dict[str, int] = {}
        for life in self.lives:
            same_day = life.issued_at.date() == instant.date() and life.issued_at >= instant
            if same_day and (life.revoked_at is None or life.revoked_at > life.issued_at):
                found[life.product] = found.get(life.product, 0) + 1
        return found

    def invoice_records(self, partner_id: str, first: Period, last: Period) -> dict[str, object]:
        return {}


class _Catalog:
    def load(self) -> tuple[list[Product], list[PriceVersion]]:
        prices = [PriceVersion(p, daily, monthly, date(2025, 1, 1)) for p, (daily, monthly) in PRICES.items()]
        return list(PRODUCTS), prices


# -------------------------------------------------------------------------- the oracle


def _site_at(life: _Life, instant: datetime) -> str | None:
    """The site the license is on at ``instant`` (the last of the moves at or before it)."""
    site: str | None = None
    for kind, at, value in life.events:
        if at > instant:
            break
        if kind == "assign":
            site = value
        elif kind == "unassign":
            site = None
    return site


def _days(life: _Life, start: datetime, end: datetime) -> list[str | None]:
    """The site of each day of ``[start, end)`` the license was active on: the last site it held during the
    active part of the day (a day it held none belongs to none)."""
    owners: list[str | None] = []
    day = start
    while day < end:
        low = max(day, life.issued_at, start)
        high = min(day + timedelta(days=1), end, life.revoked_at or end)
        if low < high:
            moments = [low, *sorted({at for kind, at, _ in life.events if low < at < high and kind != "label"})]
            held = [s for s in (_site_at(life, m) for m in moments) if s is not None]
            owners.append(held[-1] if held else None)
        day += timedelta(days=1)
    return owners


def _client(life: _Life, cut: datetime, inclusive: bool) -> str | None:
    client: str | None = None
    for kind, at, value in life.events:
        if kind == "label" and (at <= cut if inclusive else at < cut):
            client = value
    return client


def _largest_remainder(amount: int, weights: dict[str | None, int]) -> dict[str | None, int]:
    total = sum(weights.values())
    exact = {key: Fraction(amount * weight, total) for key, weight in weights.items()}
    parts = {key: int(share) for key, share in exact.items()}  # floor: the shares are not negative
    order = sorted(weights, key=lambda k: (-(exact[k] - parts[k]), -weights[k], k is not None, k or ""))
    for key in order[: amount - sum(parts.values())]:
        parts[key] += 1
    return parts


@dataclass
class _Group:
    licenses: int = 0
    license_days: int = 0
    cost_to_date: int = 0
    projected_cost: int = 0


def _oracle(all_lives: list[_Life], period: Period, now: datetime, by: str) -> dict[str | None, _Group]:
    as_of = min(now, period.end)
    to_date_end = min(period.end, max(as_of, period.start))
    groups: dict[str | None, _Group] = {}
    for life in all_lives:
        daily, monthly = PRICES[life.product]
        projected = _days(life, period.start, period.end)
        if not projected:
            continue
        done = _days(life, period.start, to_date_end)
        cost, whole = min(len(done) * daily, monthly), min(len(projected) * daily, monthly)
        if by == "site":
            groups.setdefault(projected[-1], _Group()).licenses += 1
            for days, amount, field_name in ((done, cost, "cost_to_date"), (projected, whole, "projected_cost")):
                weights: dict[str | None, int] = {}
                for site in days:
                    weights[site] = weights.get(site, 0) + 1
                for site, cents in (_largest_remainder(amount, weights) if days else {}).items():
                    group = groups.setdefault(site, _Group())
                    setattr(group, field_name, getattr(group, field_name) + cents)
            for site in done:
                groups.setdefault(site, _Group()).license_days += 1
            continue
        key = _client(life, as_of, as_of < period.end) if by == "client" else life.product
        group = groups.setdefault(key, _Group())
        group.licenses += 1
        group.license_days += len(done)
        group.cost_to_date += cost
        group.projected_cost += whole
    return groups


# -------------------------------------------------------------------------- the property


@settings(max_examples=250, deadline=None)
@given(
    lives(),
    st.sampled_from(PERIODS),
    st.builds(
        lambda days, hour: BASE + timedelta(days=days, hours=hour),
        st.integers(min_value=-35, max_value=75),
        st.sampled_from([0, 7, 9, 23]),
    ),
)
def test_every_grouping_sums_to_the_totals_and_the_totals_are_the_estimates(
    all_lives: list[_Life], period: Period, now: datetime
) -> None:
    # Given licenses whose issues, moves, labels and revocations may fall after the clock's now
    reads, clock = _Reads(all_lives), ManualClock(now)
    plain = EstimateService(reads, _Catalog(), clock).estimate("p", period).estimate.totals
    for by in ("client", "site", "product"):
        # When the month is grouped
        grouped = RebillingService(reads, _Catalog(), clock).grouped("p", period, by)
        totals = grouped.named.estimate.totals
        got = {g.key: _Group(g.licenses, g.license_days, g.cost_to_date, g.projected_cost) for g in grouped.groups}
        # Then the groups are the oracle's, license-day by license-day
        assert got == _oracle(all_lives, period, now, by), by
        # And they sum to the grouped totals, which are the plain estimate's
        sums = (
            sum(g.licenses for g in got.values()),
            sum(g.license_days for g in got.values()),
            sum(g.cost_to_date for g in got.values()),
            sum(g.projected_cost for g in got.values()),
        )
        grouped_totals = (totals.counts.total, totals.license_days, totals.cost_to_date, totals.projected_cost)
        plain_totals = (plain.counts.total, plain.license_days, plain.cost_to_date, plain.projected_cost)
        assert sums == grouped_totals == plain_totals, by


def test_the_walk_that_found_15_48_against_13_58() -> None:
    # Given a backup license issued at 09:00 on 23 March, and the clock moved back to 07:00 that day (the license
    # was written on a later clock), plus one scan license active since 5 March
    backup = _Life("01", "backup", datetime(2026, 3, 23, 9, tzinfo=UTC))
    scan = _Life(
        "02", "scan", datetime(2026, 3, 5, tzinfo=UTC), [("label", datetime(2026, 3, 6, tzinfo=UTC), "Bakery")]
    )
    reads, clock = _Reads([backup, scan]), ManualClock(datetime(2026, 3, 23, 7, tzinfo=UTC))
    # When March is estimated plainly and by client
    plain = EstimateService(reads, _Catalog(), clock).estimate("p").estimate.totals
    by_client = RebillingService(reads, _Catalog(), clock).grouped("p", None, "client")
    # Then both say the same to date: the scan license's 5..23 March, 19 x 14 = 266 cents; nothing for the backup
    # license, which was not active before 07:00
    assert plain.cost_to_date == sum(g.cost_to_date for g in by_client.groups) == 19 * 14
