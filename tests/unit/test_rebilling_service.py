"""The grouped estimate, computed license by license from the licenses and their history, is the very estimate
the tallies give (what ``GET /v1/billing`` answers without ``group_by``), and its groups sum to its totals,
for any history of assignments, transfers, unassignments, relabellings and revokes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from partnerhub.clock import ManualClock
from partnerhub.domain.billing import PriceVersion, estimate_from_tallies
from partnerhub.domain.invoicing import InvoiceRecord
from partnerhub.domain.models import HistoryEvent, HistoryType, Labels, License, Product, Site, Source
from partnerhub.domain.periods import Period
from partnerhub.domain.rebilling import RebillingService
from partnerhub.domain.tallies import tallies_of

PRICES = [
    PriceVersion("jetpack-backup", daily_price=17, monthly_price=495, effective_from=date(2024, 1, 1)),
    PriceVersion("jetpack-scan", daily_price=14, monthly_price=395, effective_from=date(2024, 1, 1)),
]
PERIODS = [Period(2028, 2), Period(2029, 2), Period(2029, 4), Period(2029, 3)]
SITES = [Site(site_id=s, site_url=f"https://{s}.example") for s in ("a", "b", "c")]


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
        raise AssertionError("not used here")

    def invoice_records(self, partner_id: str, first: Period, last: Period) -> dict[str, InvoiceRecord]:
        raise AssertionError("not used here")


class Catalog:
    def load(self) -> tuple[list[Product], list[PriceVersion]]:
        return [Product(product=p.product, name=p.product) for p in PRICES], PRICES


@st.composite
def scenario(draw: st.DrawFn) -> tuple[Period, datetime, list[tuple[License, list[HistoryEvent]]]]:
    period = draw(st.sampled_from(PERIODS))
    origin = period.start - timedelta(days=35)
    span_hours = (35 + period.days + 3) * 24
    hour = st.integers(min_value=0, max_value=span_hours)
    now = origin + timedelta(hours=draw(hour))
    lives: list[tuple[License, list[HistoryEvent]]] = []
    for n in range(draw(st.integers(min_value=1, max_value=5))):
        times = sorted(origin + timedelta(hours=h) for h in draw(st.lists(hour, min_size=1, max_size=6)))
        times = [t for t in times if t <= now]
        if not times:
            continue
        issued = times[0]
        site: Site | None = None
        labels = Labels()
        revoked: datetime | None = None
        history: list[HistoryEvent] = []
        for at in times[1:]:
            seq = len(history) + 2
            kind: HistoryType = draw(st.sampled_from(["assigned", "unassigned", "labelled", "revoked"]))
            if kind == "revoked":
                history.append(HistoryEvent(seq=seq, type="revoked", at=at, actor="u", site=site))
                revoked = at
                break
            if kind == "assigned":
                target = draw(st.sampled_from(SITES))
                if site is not None and target.site_id == site.site_id:
                    continue
                moved: HistoryType = "transferred" if site is not None else "assigned"
                history.append(HistoryEvent(seq=seq, type=moved, at=at, actor="u", site=target, previous_site=site))
                site = target
            elif kind == "unassigned" and site is not None:
                history.append(HistoryEvent(seq=seq, type="unassigned", at=at, actor="u", previous_site=site))
                site = None
            elif kind == "labelled":
                new = Labels(client=draw(st.sampled_from([None, "Bakery", "Florist"])))
                if new == labels:
                    continue
                history.append(
                    HistoryEvent(seq=seq, type="labelled", at=at, actor="u", labels=new, previous_labels=labels)
                )
                labels = new
        product = draw(st.sampled_from(PRICES)).product
        license = License(
            partner_id="p",
            license_key=f"{product}_{n:024d}",
            product=product,
            product_name=product,
            source=Source.PORTAL,
            issued_at=issued,
            issued_by="u",
            revoked_at=revoked,
            site=site,
            version=len(history) + 1,
            client=labels.client,
        )
        lives.append((license, history))
    return period, now, lives


@settings(max_examples=200, deadline=None)
@given(scenario(), st.sampled_from(["client", "site", "product"]))
def test_the_grouped_estimate_is_the_tallies_estimate_and_its_groups_sum_to_it(case, by) -> None:  # type: ignore[no-untyped-def]
    period, now, lives = case
    service = RebillingService(Portfolio(lives), Catalog(), ManualClock(now))  # type: ignore[arg-type]

    grouped = service.grouped("p", period, by)

    # The tallies the license commands would have kept for these histories (the repository's own rebuild rules)
    months, running = tallies_of(
        (lic.product, lic.issued_at, [(e.type, e.at) for e in history if e.type != "labelled"])
        for lic, history in lives
    )
    as_of = min(now, period.end)
    exact: dict[str, int] = {}
    for lic, _ in lives:
        if lic.issued_at == as_of and (lic.revoked_at is None or lic.revoked_at > as_of):
            exact[lic.product] = exact.get(lic.product, 0) + 1
    expected = estimate_from_tallies(months, running, PRICES, period, as_of, exact)
    assert grouped.named.estimate == expected
    totals = expected.totals
    groups = grouped.groups
    assert sum(g.licenses for g in groups) == totals.counts.total
    assert sum(g.license_days for g in groups) == totals.license_days
    assert sum(g.cost_to_date for g in groups) == totals.cost_to_date
    assert sum(g.projected_cost for g in groups) == totals.projected_cost
