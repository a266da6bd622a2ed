"""``make seed SIZE=...``: fill the local stack with demo agencies, through the product's own API.

Each agency gets its company details, a card (two for some), and a few months of work: licenses
issued month by month, most of them assigned to client sites (which connects them), some moved, unassigned
or revoked, a few sites connected ahead of their licenses and an order issued straight to sites, and
every closed month invoiced by month-end invoicing (``/_local/invoice-run``), as the scheduler would.
All of it goes through the HTTP API and the ``/_local`` controls, so what is seeded is what the
product itself writes.

SIZE: ``small`` (3 agencies, 10 to 120 licenses), ``medium`` (5 agencies, up to 1,000), ``large``
(6 agencies, up to 10,000), or a number: one agency with that many licenses and two small ones.

It fills the stack running on ``API_PORT`` (default 3000; ``make run`` starts it), and refuses to start one of
its own: a second stack on the same saved state would overwrite it. The clock is moved back to the start of the
history and then forward month by month, never past where it was: everything is written at or before the stack's
clock, which ends where it was (frozen there). Each month's licenses are issued on the 1st at 09:00 and worked on
(assigned, moved, freed, revoked) on the 10th, so none is revoked the moment it was issued; each month-end run is
followed by the clock moving past Stripe's automatic payment attempt an hour later, so an invoice is paid on the day
it was made, as it would be. Where the clock is earlier than one of those instants (on the 1st before 09:00, say)
that step happens at the clock instead, or (the work, the payment attempt) not yet.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "layers" / "common"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from local.ports import api_url  # noqa: E402 - after the repository root is on sys.path

PRODUCTS = ("jetpack-backup", "jetpack-scan", "jetpack-boost", "jetpack-security")
SIZES = {
    "small": [10, 40, 120],
    "medium": [10, 60, 250, 500, 1000],
    "large": [10, 100, 500, 1000, 2500, 10_000],
}
NAMES = [
    ("Bakery Web Studio", "Ann", "Baker", "San Francisco", "CA"),
    ("Harbor Digital", "Ben", "Okafor", "Seattle", "WA"),
    ("Pine & Pixel", "Chloe", "Martin", "Portland", "OR"),
    ("Northwind Agency", "Dev", "Patel", "Chicago", "IL"),
    ("Lighthouse Sites", "Eva", "Rossi", "Boston", "MA"),
    ("Summit Web Works", "Femi", "Adeyemi", "Denver", "CO"),
]
MONTHS = 3  # of history before the current month
BATCH = 100  # licenses per issue request (the API's largest order)
WORK_DAY = timedelta(days=9)  # licenses are worked on the 10th, nine days after they are issued
ATTEMPT = timedelta(hours=1, minutes=5)  # past Stripe's automatic payment attempt, an hour after finalization


class Stack:
    """The running stack's HTTP API and local controls."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.until: datetime | None = None  # the clock is never set past this (the stack's clock when seeding began)

    def alive(self) -> bool:
        try:
            return self.http.get(f"{self.url}/_local/health", timeout=3).status_code == 200
        except requests.RequestException:
            return False

    def control(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 60) -> Any:
        reply = self.http.request(method, f"{self.url}/_local/{path}", json=body, timeout=timeout)
        if reply.status_code != 200:
            raise SystemExit(f"seed: /_local/{path} answered {reply.status_code}: {reply.text[:300]}")
        return reply.json()

    def now(self) -> datetime:
        return datetime.fromisoformat(self.control("GET", "clock")["now"].replace("Z", "+00:00"))

    def set_clock(self, instant: datetime) -> None:
        if self.until is not None and instant > self.until:
            raise SystemExit(f"seed: refusing to move the clock past {self.until:%Y-%m-%dT%H:%M:%SZ} (to {instant})")
        self.control("POST", "clock", {"now": instant.strftime("%Y-%m-%dT%H:%M:%SZ")})

    def agency(self, partner_id: str) -> Agency:
        token = self.control("POST", "token", {"partner_id": partner_id})["token"]
        return Agency(self, partner_id, token)


class Agency:
    """One partner, calling the API with its own token (refreshed as the clock moves)."""

    def __init__(self, stack: Stack, partner_id: str, token: str) -> None:
        self.stack = stack
        self.partner_id = partner_id
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.unassigned: list[str] = []
        self.assigned: list[str] = []

    def call(self, method: str, path: str, ok: tuple[int, ...] = (200, 201), **kwargs: Any) -> Any:
        reply = self.http.request(method, f"{self.stack.url}{path}", timeout=120, **kwargs)
        if reply.status_code not in ok:
            answer = f"{reply.status_code}: {reply.text[:300]}"
            raise SystemExit(f"seed: {method} {path} for {self.partner_id} answered {answer}")
        return reply.json() if reply.content else None


def _progress(label: str, done: int, total: int) -> None:
    width = 30
    filled = int(width * done / max(1, total))
    end = "\n" if done >= total else ""
    print(f"\r  {label:<34} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}", end=end, flush=True)


def _month_start(instant: datetime, back: int) -> datetime:
    month = instant.year * 12 + instant.month - 1 - back
    return datetime(month // 12, month % 12 + 1, 1, 9, 0, tzinfo=UTC)


def seed(stack: Stack, sizes: list[int], rng: random.Random) -> None:
    end = stack.now()
    stack.until = end  # every record is written at or before the stack's clock
    tag = f"{end:%m%d}{rng.randrange(16**4):04x}"
    plan = []
    for n, licenses in enumerate(sizes):
        name, first, last, city, state = NAMES[n % len(NAMES)]
        plan.append((f"agency-{tag}-{n + 1}", licenses, name, first, last, city, state))
    print(f"seed: {len(plan)} agencies ({', '.join(f'{p[1]:,}' for p in plan)} licenses), {MONTHS} months of history")
    started = time.monotonic()
    stack.set_clock(_month_start(end, MONTHS))
    agencies = []
    for partner_id, _, name, first, last, city, state in plan:
        agency = stack.agency(partner_id)
        company = {
            "name": f"{name} LLC",
            "contact_first_name": first,
            "contact_last_name": last,
            "website": f"https://{name.lower().replace(' & ', '-').replace(' ', '')}.example",
            "address_line1": f"{rng.randrange(1, 400)} Main Street",
            "city": city,
            "state": state,
            "country": "US",
            "postal_code": f"{rng.randrange(10000, 99999)}",
        }
        agency.call("PUT", "/v1/company", json=company, headers={"Idempotency-Key": f"{partner_id}-company"})
        agency.call("POST", "/v1/payment-methods", json={"payment_method_id": "pm_card_visa"})
        if rng.random() < 0.4:
            agency.call("POST", "/v1/payment-methods", json={"payment_method_id": "pm_card_mastercard"})
        agencies.append(agency)
    print(f"  {len(agencies)} agencies with company details and cards")

    for back in range(MONTHS, -1, -1):
        # The 1st at 09:00, or the clock when it is earlier (the current month, seeded on its 1st before 09:00)
        month = min(_month_start(end, back), end)
        if stack.now() < month:  # (after a month-end run the clock is already past the 1st's attempt)
            stack.set_clock(month)
        # Tokens are checked against the stack clock: one per agency each time it moves.
        agencies = [_renew(stack, a) for a in agencies]
        for agency, (_, total, *_rest) in zip(agencies, plan, strict=True):
            _issue(agency, _shares(total)[MONTHS - back], rng, f"{agency.partner_id} {month:%Y-%m}")
        # The month's work comes later than the issuing (never a license revoked the instant it was issued);
        # when the clock leaves no time after the issuing, it has not happened yet.
        work_at = max(stack.now(), min(month + WORK_DAY, end))
        if work_at > month:
            stack.set_clock(work_at)
            agencies = [_renew(stack, a) for a in agencies]
            for agency in agencies:
                _work(agency, rng)
        if back > 0:
            closing = min(_month_start(end, back - 1), end)  # the month has ended by then: end is in a later month
            stack.set_clock(closing)
            summary = stack.control("POST", "invoice-run", {"period": f"{month:%Y-%m}"}, timeout=900)
            print(f"  invoiced {month:%Y-%m}: {_summary(summary)}")
            # Stripe charges a finalized invoice an hour later: move the clock past that attempt and let the
            # payments land before the next month is worked, unless the attempt falls after the stack's clock.
            if closing + ATTEMPT <= end:
                stack.set_clock(closing + ATTEMPT)
                _settle([_renew(stack, a) for a in agencies])
            else:
                print(f"  Stripe's first attempt on these invoices is due after the clock ({end:%Y-%m-%d %H:%M} UTC)")
    stack.set_clock(end)
    print(f"seed: done in {time.monotonic() - started:.0f} s; the clock is back at {end:%Y-%m-%d %H:%M} UTC (frozen)")
    print("  sign in as: " + ", ".join(a.partner_id for a in agencies))


def _settle(agencies: list[Agency], timeout: float = 60) -> None:
    """Wait until no agency has an open invoice still waiting for its automatic attempt (paid, or failed)."""
    deadline = time.monotonic() + timeout
    for agency in agencies:
        while time.monotonic() < deadline:
            waiting = [
                invoice
                for invoice in agency.call("GET", "/v1/invoices", params={"status": "open"}).get("items", [])
                if not invoice.get("last_payment_error")
            ]
            if not waiting:
                break
            time.sleep(0.5)
        else:
            print(f"  seed: {agency.partner_id} still has an unpaid invoice after {timeout:.0f} s; going on")
            return


def _shares(total: int) -> list[int]:
    """Licenses issued per month, oldest first: half in the first month, the rest spread over the others."""
    first = total - (total // 2) if MONTHS else total
    rest = [(total // 2) // MONTHS + (1 if n < (total // 2) % MONTHS else 0) for n in range(MONTHS)]
    return [first, *rest]


def _renew(stack: Stack, agency: Agency) -> Agency:
    fresh = stack.agency(agency.partner_id)
    fresh.unassigned, fresh.assigned = agency.unassigned, agency.assigned
    return fresh


def _issue(agency: Agency, count: int, rng: random.Random, label: str) -> None:
    done = 0
    while done < count:
        quantity = min(BATCH, count - done)
        body = {"product": rng.choice(PRODUCTS), "quantity": quantity}
        key = f"{label}-{done}".replace(" ", "-")  # a retried run replays instead of issuing twice
        issued = agency.call("POST", "/v1/licenses", json=body, headers={"Idempotency-Key": key})
        agency.unassigned.extend(item["license_key"] for item in issued["items"])
        done += quantity
        _progress(f"issue {label}", done, count)


def _work(agency: Agency, rng: random.Random) -> None:
    """Assign most new licenses to client sites (a sample of them for big agencies); move, free and revoke a few."""
    rng.shuffle(agency.unassigned)
    to_assign = agency.unassigned[: min(len(agency.unassigned) * 3 // 4, 150)]
    for n, key in enumerate(to_assign):
        agency.call("PUT", f"/v1/licenses/{key}/site", json=_client_site(rng))
        agency.unassigned.remove(key)
        agency.assigned.append(key)
        if n % 10 == 0 or n == len(to_assign) - 1:
            _progress(f"assign {agency.partner_id}", n + 1, len(to_assign))
    for _ in range(min(3, len(agency.assigned) // 20)):
        key = agency.assigned.pop(rng.randrange(len(agency.assigned)))
        agency.call("DELETE", f"/v1/licenses/{key}/site")
        agency.unassigned.append(key)
    for _ in range(min(2, len(agency.unassigned) // 10)):
        key = agency.unassigned.pop(rng.randrange(len(agency.unassigned)))
        agency.call("POST", f"/v1/licenses/{key}/revoke")
    # Client sites connected ahead of their licenses (as a site's plugin connects it), and an order issued straight to
    # two of them; the third stays connected without a license.
    connected = [agency.call("POST", "/v1/sites", json=_client_site(rng))["site_id"] for _ in range(3)]
    order = {"product": rng.choice(PRODUCTS), "site_ids": connected[:2]}
    issued = agency.call("POST", "/v1/licenses", json=order)
    agency.assigned.extend(item["license_key"] for item in issued["items"])


def _client_site(rng: random.Random) -> dict[str, str]:
    site = rng.randrange(10**8, 10**9)
    client = rng.choice(["bakery", "florist", "dentist", "bike-shop", "law-firm", "yoga", "cafe", "garage"])
    return {"site_id": str(site), "site_url": f"https://{client}-{site % 10000}.example"}


def _summary(summary: dict[str, Any]) -> str:
    shown = {k: v for k, v in summary.items() if isinstance(v, (int, str, float)) and k != "period"}
    return ", ".join(f"{k} {v}" for k, v in list(shown.items())[:6]) or "done"


def _sizes(size: str) -> list[int]:
    if size in SIZES:
        return SIZES[size]
    try:
        count = int(size.replace(",", "").replace("_", ""))
    except ValueError:
        raise SystemExit(f"seed: SIZE is small, medium, large or a license count, not {size!r}") from None
    if not 1 <= count <= 100_000:
        raise SystemExit("seed: a license count between 1 and 100,000")
    return [10, 40, count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make seed", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--size", default="small")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a new one each time)")
    args = parser.parse_args(argv)
    sizes = _sizes(args.size)
    rng = random.Random(args.seed)  # noqa: S311 - demo data, not secrets
    stack = Stack(api_url())
    if not stack.alive():
        # Never a stack of its own: one started here would share `make run`'s saved state and overwrite it.
        print(
            f"seed: no local stack answers at {stack.url}. Start it with `make run` in another terminal "
            "(the same API_PORT for both), then run `make seed` again.",
            file=sys.stderr,
        )
        return 1
    print(f"seed: filling the running stack at {stack.url}")
    seed(stack, sizes, rng)
    return 0


if __name__ == "__main__":
    sys.exit(main())
