"""Re-billing rules: license-days by site, client labels at a period's end, and cent-exact splits.

Hand-worked examples first, then properties checked against a day-by-day simulation written here (it walks
every calendar day and looks at every site held during it), never against the functions under test.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partnerhub.domain.billing import Period, PriceVersion, license_days
from partnerhub.domain.models import HistoryEvent, Labels, Site
from partnerhub.domain.splits import (
    LicenseMonth,
    Move,
    group_totals,
    labels_at,
    moves_of,
    share_of,
    site_days,
    split,
)

BACKUP = PriceVersion("jetpack-backup", daily_price=17, monthly_price=495, effective_from=Period(2020, 1).first_day)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------- worked by hand
def test_a_february_of_moves_gives_each_day_to_the_site_held_at_its_end() -> None:
    # Given a license issued 1 Feb 2029 09:00 (28 days), assigned to A on the 3rd, moved to B on the 10th,
    # unassigned on the 20th at noon and revoked on the 25th at 08:00
    moves = [Move(at("2029-02-03T10:00"), "A"), Move(at("2029-02-10T15:00"), "B"), Move(at("2029-02-20T12:00"), None)]
    period = Period(2029, 2)
    # When its days are put to sites
    days = site_days(at("2029-02-01T09:00"), at("2029-02-25T08:00"), moves, period.start, period.end)
    # Then: 1-2 Feb unassigned; 3-9 A (7: the 3rd ends on A); 10-20 B (11: the 10th ends on B, the 20th was
    # unassigned, so it goes to the site it had just before); 21-25 unassigned (5: revoked on the 25th, unassigned)
    assert days.days == {None: 2 + 5, "A": 7, "B": 11}
    assert days.total == 25
    assert days.last is None
    # And 25 x 17 = 425 cents (under the cap), split 7:11:7 of 25 -> 119, 187, 119
    assert split(425, days.days) == {None: 119, "A": 119, "B": 187}


def test_a_capped_march_is_split_by_largest_remainder() -> None:
    # Given a license on A from before March 2029 and moved to B on 11 March 09:00 (31 days)
    period = Period(2029, 3)
    moves = [Move(at("2029-02-20T10:00"), "A"), Move(at("2029-03-11T09:00"), "B")]
    days = site_days(at("2029-02-20T09:00"), None, moves, period.start, period.end)
    assert days.days == {"A": 10, "B": 21}
    assert days.last == "B"
    # 31 x 17 = 527 -> capped at 495. 495 x 10 / 31 = 159 r 21; 495 x 21 / 31 = 335 r 10: the cent left goes to A.
    assert split(495, days.days) == {"A": 160, "B": 335}


def test_ties_go_to_the_larger_weight_then_in_key_order() -> None:
    assert split(100, {"c": 1, "b": 1, "a": 1}) == {"a": 34, "b": 33, "c": 33}
    assert split(100, {"c": 1, None: 1, "a": 1}) == {None: 34, "a": 33, "c": 33}
    # 10 over 1:2 -> 3.33 and 6.67: the larger remainder (the 2) takes the cent
    assert split(10, {"x": 1, "y": 2}) == {"x": 3, "y": 7}
    # 5 over 1:1:2 -> 1.25, 1.25, 2.5 (remainders 1, 1, 2 of 4): the one cent left goes to z
    assert split(5, {"x": 1, "y": 1, "z": 2}) == {"x": 1, "y": 1, "z": 3}


def test_a_split_refuses_money_over_no_days() -> None:
    assert split(0, {}) == {}
    with pytest.raises(ValueError):
        split(1, {"a": 0})
    with pytest.raises(ValueError):
        split(-1, {"a": 1})


def test_a_move_at_midnight_belongs_wholly_to_the_new_day() -> None:
    # Moved from A to B at exactly 5 April 00:00: the 4th ended on A, the 5th is B's from its first instant.
    period = Period(2029, 4)
    moves = [Move(at("2029-03-01T00:00"), "A"), Move(at("2029-04-05T00:00"), "B")]
    days = site_days(at("2029-03-01T00:00"), at("2029-04-06T00:00"), moves, period.start, period.end)
    assert days.days == {"A": 4, "B": 1}
    # Unassigned at 5 April 00:00 and revoked at noon: the 5th was unassigned all its active part.
    moves = [Move(at("2029-03-01T00:00"), "A"), Move(at("2029-04-05T00:00"), None)]
    days = site_days(at("2029-03-01T00:00"), at("2029-04-05T12:00"), moves, period.start, period.end)
    assert days.days == {"A": 4, None: 1}


def test_to_date_the_current_day_goes_to_the_last_site_held_so_far() -> None:
    # As of 10 May 2029 12:00, moved A -> B at 11:00 today: today counts for B; the projection runs B to the end
    period = Period(2029, 5)
    moves = [Move(at("2029-05-01T08:00"), "A"), Move(at("2029-05-10T11:00"), "B")]
    license = LicenseMonth("k", "jetpack-backup", at("2029-05-01T08:00"), None, tuple(moves), "Bakery")
    share = share_of(license, BACKUP, period.start, period.end, at("2029-05-10T12:00"))
    assert share.to_date.days == {"A": 9, "B": 1}
    assert share.cost_to_date == 170  # 10 x 17
    assert share.cost_to_date_by_site() == {"A": 153, "B": 17}
    assert share.projected.days == {"A": 9, "B": 22}
    assert share.projected_cost == 495  # 31 x 17 = 527, capped
    # 495 x 9 / 31 = 143 r 22; 495 x 22 / 31 = 351 r 9: 494, the cent to A
    assert share.projected_cost_by_site() == {"A": 144, "B": 351}


def test_history_gives_site_moves_and_past_labels() -> None:
    a = Site(site_id="184", site_url="https://a.example")
    a_new_url = Site(site_id="184", site_url="https://a2.example")
    b = Site(site_id="185", site_url="https://b.example")
    history = [
        HistoryEvent(seq=2, type="assigned", at=at("2029-03-02T10:00"), actor="u", site=a),
        HistoryEvent(seq=3, type="assigned", at=at("2029-03-03T10:00"), actor="u", site=a_new_url),
        HistoryEvent(
            seq=4,
            type="labelled",
            at=at("2029-03-05T10:00"),
            actor="u",
            labels=Labels(client="Bakery", tags=("q1",)),
            previous_labels=Labels(),
        ),
        HistoryEvent(seq=5, type="transferred", at=at("2029-03-09T10:00"), actor="u", site=b, previous_site=a),
        HistoryEvent(
            seq=6,
            type="labelled",
            at=at("2029-04-01T00:00"),
            actor="u",
            labels=Labels(client="Florist"),
            previous_labels=Labels(client="Bakery", tags=("q1",)),
        ),
        HistoryEvent(seq=7, type="unassigned", at=at("2029-04-03T10:00"), actor="u", previous_site=b),
    ]
    # A new URL for the same site is no move
    assert moves_of(history) == [
        Move(at("2029-03-02T10:00"), "184"),
        Move(at("2029-03-09T10:00"), "185"),
        Move(at("2029-04-03T10:00"), None),
    ]
    current = Labels(client="Florist")
    # At March's end (1 April 00:00, exclusive) the relabelling made at that instant is not yet in force
    assert labels_at(current, history, Period(2029, 3).end, inclusive=False) == Labels(client="Bakery", tags=("q1",))
    # As of that very instant (asked then), it is
    assert labels_at(current, history, Period(2029, 3).end, inclusive=True) == current
    assert labels_at(current, history, at("2029-03-04T00:00"), inclusive=False) == Labels()


def test_groups_by_site_count_each_license_once_and_split_its_money() -> None:
    period = Period(2029, 3)
    one = LicenseMonth(
        "k1",
        "jetpack-backup",
        at("2029-02-20T09:00"),
        None,
        (Move(at("2029-02-20T10:00"), "A"), Move(at("2029-03-11T09:00"), "B")),
        "Bakery",
    )
    two = LicenseMonth("k2", "jetpack-backup", at("2029-03-01T09:00"), at("2029-03-05T09:00"), (), None)
    shares = [share_of(lic, BACKUP, period.start, period.end, period.end) for lic in (one, two)]
    by_site = {
        g.key: (g.licenses, g.license_days, g.cost_to_date, g.projected_cost) for g in group_totals(shares, "site")
    }
    # k1: A 10 days 160 cents, B 21 days 335 cents, counted at B (its last day); k2: 5 days unassigned, 85 cents
    assert by_site == {"A": (0, 10, 160, 160), "B": (1, 21, 335, 335), None: (1, 5, 85, 85)}
    by_client = {g.key: (g.licenses, g.license_days, g.cost_to_date) for g in group_totals(shares, "client")}
    assert by_client == {"Bakery": (1, 31, 495), None: (1, 5, 85)}
    assert [g.key for g in group_totals(shares, "client")] == ["Bakery", None]


# ---------------------------------------------------------------------------------------------- properties
# Months of 28, 29, 30 and 31 days around a leap February.
PERIODS = [Period(2028, 2), Period(2029, 2), Period(2029, 4), Period(2029, 3), Period(2028, 12)]
SITES = st.sampled_from(["A", "B", "C", None])


def instants_near(period: Period) -> st.SearchStrategy[datetime]:
    """Instants from 40 days before the period to 3 days after it, favouring day boundaries and the
    microsecond before one, where an off-by-one in the day arithmetic would show."""
    origin = period.start - timedelta(days=40)
    span = 40 + period.days + 3
    day = st.integers(min_value=0, max_value=span)
    return st.one_of(
        day.map(lambda d: origin + timedelta(days=d)),
        day.map(lambda d: origin + timedelta(days=d, microseconds=-1)),
        st.integers(min_value=0, max_value=span * 24 * 60).map(lambda m: origin + timedelta(minutes=m)),
    )


@st.composite
def lives(draw: st.DrawFn, period: Period) -> tuple[datetime, datetime | None, list[Move]]:
    """A license's life: issued, maybe revoked, and any moves (assignments, transfers, unassignments) between."""
    points = sorted(draw(st.lists(instants_near(period), min_size=1, max_size=10)))
    issued = points[0]
    revoked = points[-1] if len(points) > 1 and draw(st.booleans()) else None
    inner = [p for p in points[1:] if revoked is None or p < revoked]
    moves = [Move(p, draw(SITES)) for p in inner]
    return issued, revoked, moves


@st.composite
def scenarios(
    draw: st.DrawFn, licenses: int
) -> tuple[Period, list[tuple[datetime, datetime | None, list[Move]]], datetime]:
    period = draw(st.sampled_from(PERIODS))
    portfolio = draw(st.lists(lives(period), min_size=1, max_size=licenses))
    as_of = draw(instants_near(period))
    return period, portfolio, as_of


def simulate(issued: datetime, revoked: datetime | None, moves: list[Move], start: datetime, end: datetime) -> Counter:
    """The oracle: for every calendar day, the sites held during its active part; the day goes to the last
    one that is a site (none when it held none)."""
    return Counter(simulate_days(issued, revoked, moves, start, end))


def simulate_days(
    issued: datetime, revoked: datetime | None, moves: list[Move], start: datetime, end: datetime
) -> list[str | None]:
    """The site of each active day, in day order."""
    counts: list[str | None] = []
    day = start
    while day < end:
        lo = max(day, start, issued)
        hi = min(day + timedelta(days=1), end, revoked or end)
        if lo < hi:
            # the site after all the moves at an instant (two moves at one instant leave only the second)
            settled = {m.at: m.site for m in moves}
            before = [site for instant, site in settled.items() if instant <= lo]
            held = [before[-1] if before else None] + [site for instant, site in settled.items() if lo < instant < hi]
            sites = [s for s in held if s is not None]
            counts.append(sites[-1] if sites else None)
        day += timedelta(days=1)
    return counts


@settings(max_examples=500, deadline=None)
@given(scenarios(licenses=1), st.booleans())
def test_days_by_site_match_a_day_by_day_simulation(scenario, to_date) -> None:  # type: ignore[no-untyped-def]
    period, [(issued, revoked, moves)], as_of = scenario
    end = min(period.end, max(as_of, period.start)) if to_date else period.end
    found = site_days(issued, revoked, moves, period.start, end)
    expected = simulate(issued, revoked, moves, period.start, end)
    assert found.days == {k: v for k, v in expected.items() if v}
    by_day = simulate_days(issued, revoked, moves, period.start, end)
    assert found.last == (by_day[-1] if by_day else None)
    # the days per license are its license-days
    assert found.total == sum(expected.values())
    if end == period.end:
        assert found.total == license_days(issued, revoked, period)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=10**9),
    st.dictionaries(SITES, st.integers(min_value=0, max_value=31), min_size=1),
)
def test_a_split_sums_exactly_and_stays_within_a_cent_of_the_proportion(amount, weights) -> None:  # type: ignore[no-untyped-def]
    total = sum(weights.values())
    if total == 0:
        return
    parts = split(amount, weights)
    assert sum(parts.values()) == amount
    for key, weight in weights.items():
        assert abs(parts[key] * total - amount * weight) < total  # floor or ceiling of the exact share


@settings(max_examples=200, deadline=None)
@given(scenarios(licenses=6), st.sampled_from(["client", "site", "product"]))
def test_groups_sum_exactly_to_the_licenses_however_they_moved(scenario, by) -> None:  # type: ignore[no-untyped-def]
    period, portfolio, as_of = scenario
    clients = ["Bakery", "Florist", None]
    licenses = [
        LicenseMonth(f"k{i}", "jetpack-backup", issued, revoked, tuple(moves), clients[i % 3])
        for i, (issued, revoked, moves) in enumerate(portfolio)
    ]
    shares = [share_of(lic, BACKUP, period.start, period.end, as_of) for lic in licenses]
    groups = group_totals(shares, by)
    # Expected totals from the simulation: days to date and projected, each license capped on its own
    to_date_end = min(period.end, max(as_of, period.start))
    expected_days = expected_to_date = expected_projected = expected_licenses = 0
    for issued, revoked, moves in portfolio:
        done = sum(simulate(issued, revoked, moves, period.start, to_date_end).values())
        whole = sum(simulate(issued, revoked, moves, period.start, period.end).values())
        expected_days += done
        expected_to_date += min(done * 17, 495)
        expected_projected += min(whole * 17, 495)
        expected_licenses += 1 if whole else 0
    assert sum(g.license_days for g in groups) == expected_days
    assert sum(g.cost_to_date for g in groups) == expected_to_date
    assert sum(g.projected_cost for g in groups) == expected_projected
    assert sum(g.licenses for g in groups) == expected_licenses
