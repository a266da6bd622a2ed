"""Re-billing: which site each license-day belongs to, which client each license-month belongs to, and how a
license's capped amount is split across its sites, to the cent.

Pure: no I/O, no wall clock, no floats. The rules (SPEC "Re-billing clients", ``docs/billing.md``):

* A license-day belongs to the site the license was on at the end of that UTC day. On the day it was
  unassigned or revoked, that is the site it had just before; a day on which it was unassigned throughout
  belongs to no site (``None``). Put in one rule: a day belongs to the *last site the license held during
  its active part of that day* (``None`` if it held none). The active part of day ``D`` is ``[D 00:00,
  D+1 00:00)`` clipped to ``[issued_at, revoked_at)`` and to the window being billed.
* A license's month belongs to its client label at the period's end (or at ``as_of`` for the current month).
* A license's amount (``min(days * daily_price, monthly_price)``, the cap applying per license) is split across
  its sites in proportion to its days there, by largest remainder (:func:`split`), so the parts always sum to
  the amount.

Sites are given by their id (``str``) and unassigned by ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from partnerhub.domain.billing import PriceVersion
from partnerhub.domain.models import HistoryEvent, Labels

__all__ = [
    "Group",
    "LicenseMonth",
    "Move",
    "SiteDays",
    "group_totals",
    "labels_at",
    "moves_of",
    "site_days",
    "split",
]

SiteKey = str | None


@dataclass(frozen=True, slots=True)
class Move:
    """At ``at`` the license went to ``site`` (``None``: unassigned)."""

    at: datetime
    site: SiteKey


@dataclass(frozen=True, slots=True)
class SiteDays:
    """A license's days in a window by site, and the site its last day belongs to."""

    days: dict[SiteKey, int]
    last: SiteKey

    @property
    def total(self) -> int:
        return sum(self.days.values())


def _midnight(day: date, like: datetime) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=like.tzinfo)


def site_days(
    issued_at: datetime,
    revoked_at: datetime | None,
    moves: Sequence[Move],
    start: datetime,
    end: datetime,
) -> SiteDays:
    """The days of the window ``[start, end)`` on which the license was active, by the site each belongs to.

    ``moves`` are the license's site changes in time order (the site at issue is ``None``: a portal license is
    issued unassigned). Instants are in UTC. Days are counted as :func:`partnerhub.domain.billing.license_days`
    counts them, so the days by site sum to the license-days of the window. O(days with a move), not O(days).
    """
    lo = max(start, issued_at)
    hi = end if revoked_at is None else min(end, revoked_at)
    if lo >= hi:
        return SiteDays({}, None)
    first_day = lo.date()
    last_day = hi.date() if (hi.hour or hi.minute or hi.second or hi.microsecond) else hi.date() - timedelta(days=1)
    counts: dict[SiteKey, int] = {}

    def add(site: SiteKey, days: int) -> None:
        if days > 0:
            counts[site] = counts.get(site, 0) + days

    current: SiteKey = None
    index = 0
    while index < len(moves) and moves[index].at <= lo:
        current = moves[index].site
        index += 1
    day = first_day
    last_held = current  # the last site held during `day` so far (None: none yet)
    for position in range(index, len(moves)):
        move = moves[position]
        if move.at >= hi:
            break
        if position + 1 < len(moves) and moves[position + 1].at == move.at:
            continue  # superseded at the same instant: that site was never held
        move_day = move.at.date()
        if move_day != day:
            add(last_held, 1)  # close `day`
            add(current, (move_day - day).days - 1)  # whole days between, on `current` throughout
            day = move_day
            # `current` was held during the new day before the move, unless the move came at its very start.
            last_held = current if move.at > _midnight(move_day, move.at) else None
        current = move.site
        if current is not None:
            last_held = current
    add(last_held, 1)
    add(current, (last_day - day).days)
    final = current if last_day > day else last_held
    return SiteDays(counts, final)


def split[K](amount: int, weights: Mapping[K, int]) -> dict[K, int]:
    """``amount`` cents split in proportion to ``weights`` by largest remainder; the parts sum to ``amount``.

    Each key first gets ``floor(amount * w / W)``; the cents left over (fewer than the number of keys) go one
    each to the largest remainders ``amount * w mod W``, ties to the larger weight, then in key order
    (``None`` first). Keys of weight 0 get 0. All weights 0 (or none) with an amount is an error.
    """
    if amount < 0:
        raise ValueError(f"amount must not be negative, got {amount}")
    total = sum(weights.values())
    if any(w < 0 for w in weights.values()):
        raise ValueError("weights must not be negative")
    if total == 0:
        if amount:
            raise ValueError("cannot split an amount over no weight")
        return dict.fromkeys(weights, 0)
    parts = {key: amount * w // total for key, w in weights.items()}
    left = amount - sum(parts.values())
    order = sorted(
        weights,
        key=lambda k: (-(amount * weights[k] % total), -weights[k], k is not None, "" if k is None else str(k)),
    )
    for key in order[:left]:
        parts[key] += 1
    return parts


def moves_of(history: Iterable[HistoryEvent]) -> list[Move]:
    """The site changes a license's history records, in order (an update of a site's URL is no move)."""
    moves: list[Move] = []
    current: SiteKey = None
    for event in sorted(history, key=lambda e: e.seq):
        if event.type in ("assigned", "transferred"):
            target = event.site.site_id if event.site is not None else None
        elif event.type == "unassigned":
            target = None
        else:
            continue
        if target != current:
            moves.append(Move(event.at, target))
            current = target
    return moves


def labels_at(current: Labels, history: Iterable[HistoryEvent], cut: datetime, *, inclusive: bool) -> Labels:
    """The labels a license had at ``cut``: the current ones with every later change undone.

    With ``inclusive`` a change made at ``cut`` itself counts (``as_of``, the moment of asking); without, it
    does not (a period's end, which is the next month's first instant)."""
    labels = current
    for event in sorted(history, key=lambda e: e.seq, reverse=True):
        if event.type != "labelled" or event.previous_labels is None:
            continue
        after = event.at > cut if inclusive else event.at >= cut
        if not after:
            break
        labels = event.previous_labels
    return labels


@dataclass(frozen=True, slots=True)
class LicenseMonth:
    """One license as the re-billing rules need it for one month."""

    license_key: str
    product: str
    issued_at: datetime
    revoked_at: datetime | None
    moves: tuple[Move, ...]
    client: str | None  # at the period's end, or at as_of
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LicenseShare:
    """A license's month: its days and amounts to date and projected, overall and by site."""

    license: LicenseMonth
    price: PriceVersion | None
    to_date: SiteDays
    projected: SiteDays
    cost_to_date: int
    projected_cost: int

    def cost_to_date_by_site(self) -> dict[SiteKey, int]:
        return split(self.cost_to_date, self.to_date.days)

    def projected_cost_by_site(self) -> dict[SiteKey, int]:
        return split(self.projected_cost, self.projected.days)


def share_of(
    license: LicenseMonth, price: PriceVersion | None, start: datetime, end: datetime, as_of: datetime
) -> LicenseShare:
    """A license's share of the month ``[start, end)`` as seen at ``as_of``; the amounts capped per license."""
    projected = site_days(license.issued_at, license.revoked_at, license.moves, start, end)
    to_date = site_days(license.issued_at, license.revoked_at, license.moves, start, min(end, max(as_of, start)))
    if price is None:
        return LicenseShare(license, None, to_date, projected, 0, 0)
    cap = price.monthly_price
    return LicenseShare(
        license=license,
        price=price,
        to_date=to_date,
        projected=projected,
        cost_to_date=min(to_date.total * price.daily_price, cap),
        projected_cost=min(projected.total * price.daily_price, cap),
    )


@dataclass(slots=True)
class Group:
    """One line of ``groups``: ``licenses`` counts each license once, in the group of its month (its client,
    its product, or the site its last projected day belongs to); days and amounts are split by site."""

    key: SiteKey
    licenses: int = 0
    license_days: int = 0
    cost_to_date: int = 0
    projected_cost: int = 0


def group_totals(shares: Iterable[LicenseShare], by: str) -> list[Group]:
    """``shares`` grouped by ``client``, ``product`` or ``site``, sorted by key (``None`` last).

    Every field of the groups sums to the same field over the licenses (``licenses``: those with a projected
    day), whatever the grouping: by site, each license's amounts are split by :func:`split`."""
    groups: dict[SiteKey, Group] = {}

    def group(key: SiteKey) -> Group:
        found = groups.get(key)
        if found is None:
            found = groups[key] = Group(key)
        return found

    for share in shares:
        if share.projected.total == 0:
            continue
        if by == "site":
            group(share.projected.last).licenses += 1
            for site, days in share.to_date.days.items():
                group(site).license_days += days
            for site, cents in share.cost_to_date_by_site().items():
                group(site).cost_to_date += cents
            for site, cents in share.projected_cost_by_site().items():
                group(site).projected_cost += cents
            continue
        key = share.license.client if by == "client" else share.license.product
        found = group(key)
        found.licenses += 1
        found.license_days += share.to_date.total
        found.cost_to_date += share.cost_to_date
        found.projected_cost += share.projected_cost
    return sorted(groups.values(), key=lambda g: (g.key is None, g.key or ""))
