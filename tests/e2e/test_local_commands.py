"""The make targets that talk to the local stack, run as a newcomer runs them, against a stack started on ports that
are not the defaults: ``make seed`` and ``make invoice`` follow ``API_PORT``, ``make seed`` never starts a stack of its
own and writes nothing after the stack's clock, a month that has not ended is refused with a message (never a 500),
``make help`` lists every target, and the start banner's commands name what exists."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from testkit.stack import ApiSession, LocalStack, running_stack

ROOT = Path(__file__).resolve().parents[2]

# 1 December 2026, 00:30 UTC: before the 09:00 at which the seed issues each month's licenses, and before Stripe's
# first attempt (an hour after the month-end run). Everything the seed writes must be dated at or before it.
CLOCK = "2026-12-01T00:30:00Z"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make(*arguments: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``make <arguments>`` in the repository, as typed in a shell."""
    import os

    environment = {
        k: v for k, v in os.environ.items() if k not in ("API_PORT", "STRIPE_PORT", "MAKEFLAGS", "MAKELEVEL")
    }
    return subprocess.run(  # noqa: S603 - make, with our own arguments
        ["make", "--no-print-directory", *arguments],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**environment, **(env or {})},
        check=False,
    )


@pytest.fixture(scope="module")
def elsewhere(request: pytest.FixtureRequest) -> Iterator[tuple[LocalStack, int, int]]:
    """A stack on two ports that are not 3000 and 12111, its clock frozen at CLOCK."""
    api_port, stripe_port = free_port(), free_port()
    env = {"API_PORT": str(api_port), "STRIPE_PORT": str(stripe_port), "LOCAL_CLOCK_START": CLOCK}
    with running_stack(request, env) as stack:
        assert stack.api_url == f"http://127.0.0.1:{api_port}"
        assert stack.stripe_url == f"http://127.0.0.1:{stripe_port}"
        yield stack, api_port, stripe_port


def all_pages(api: ApiSession, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = api.get(path, params={"limit": "100", **({"cursor": cursor} if cursor else {})}).json()
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return items


@pytest.fixture(scope="module")
def seeded(elsewhere: tuple[LocalStack, int, int]) -> tuple[LocalStack, int, list[str], str]:
    """``make seed`` against that stack, on its API_PORT: the stack, the port, the agencies seeded, what it printed."""
    stack, api_port, _ = elsewhere
    done = make("seed", f"API_PORT={api_port}", "SIZE=1")
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = [ln for ln in done.stdout.splitlines() if "sign in as:" in ln]
    agencies = line.split("sign in as:")[1].strip().split(", ")
    assert len(agencies) == 3
    return stack, api_port, agencies, done.stdout


def test_make_seed_fills_the_stack_on_api_port(seeded: tuple[LocalStack, int, list[str], str]) -> None:
    stack, api_port, agencies, out = seeded
    assert f"seed: filling the running stack at http://127.0.0.1:{api_port}" in out
    # Three closed months invoiced for each agency
    for agency in agencies:
        periods = {invoice["period"] for invoice in all_pages(stack.client(agency), "/v1/invoices")}
        assert periods == {"2026-09", "2026-10", "2026-11"}, agency


def test_make_seed_writes_nothing_after_the_stacks_clock(seeded: tuple[LocalStack, int, list[str], str]) -> None:
    stack, _, agencies, out = seeded
    # The clock ends where it was
    assert stack.now() == CLOCK
    assert "the clock is back at 2026-12-01 00:30 UTC (frozen)" in out
    for agency in agencies:
        api = stack.client(agency)
        for license_ in all_pages(api, "/v1/licenses"):
            for field in ("issued_at", "assigned_at", "revoked_at"):
                assert license_[field] is None or license_[field] <= CLOCK, (agency, field, license_)
        for invoice in all_pages(api, "/v1/invoices"):
            assert invoice["created"] <= CLOCK, (agency, invoice)
            if invoice["period"] == "2026-11":
                # Made at 00:30 today: Stripe's first attempt is due at 01:30, after the clock, so it is not paid
                assert invoice["paid_at"] is None and invoice["status"] == "open", (agency, invoice)
            else:
                assert invoice["status"] == "paid" and invoice["paid_at"] <= CLOCK, (agency, invoice)
        # So December's cost to date is the same whichever way the Billing page splits it
        for group in ("product", "client"):
            estimate = api.get("/v1/billing", params={"period": "2026-12", "group_by": group}).json()
            split = sum(g["cost_to_date"] for g in estimate["groups"])
            assert split == estimate["totals"]["cost_to_date"], (agency, group, estimate)


def test_make_invoice_follows_api_port_and_rerunning_a_month_changes_nothing(
    seeded: tuple[LocalStack, int, list[str], str],
) -> None:
    stack, api_port, agencies, _ = seeded
    # Given November, already invoiced by the seed; When `make invoice` runs it again on the stack's port
    done = make("invoice", f"API_PORT={api_port}", "PERIOD=2026-11")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Invoicing 2026-11 on http://127.0.0.1:{api_port} ..." in done.stdout
    # Then each agency's line names its one November invoice, the same one as before
    for agency in agencies:
        (november,) = [i for i in all_pages(stack.client(agency), "/v1/invoices") if i["period"] == "2026-11"]
        lines = [ln for ln in done.stdout.splitlines() if ln.strip().startswith(agency)]
        assert len(lines) == 1, (agency, done.stdout)
        assert november["id"] in lines[0], lines[0]


def test_a_month_that_has_not_ended_is_refused_with_a_message(seeded: tuple[LocalStack, int, list[str], str]) -> None:
    stack, api_port, agencies, _ = seeded
    done = make("invoice", f"API_PORT={api_port}", "PERIOD=2026-12")
    assert done.returncode != 0
    assert (
        "Not invoiced: 2026-12 has not ended yet (it ends 2027-01-01T00:00:00Z); "
        "only a month that has ended can be invoiced"
    ) in done.stderr
    # The stack answered 409 and wrote nothing: no December invoice, no failure in its log
    refused = stack.anonymous.post("/_local/invoice-run", json={"period": "2026-12"})
    assert (refused.status_code, refused.json()["code"]) == (409, "period_not_ended")
    for agency in agencies:
        assert all(i["period"] != "2026-12" for i in all_pages(stack.client(agency), "/v1/invoices"))
    assert "Traceback" not in stack.log()


def test_make_operator_token_enrols_once_then_signs_in_with_the_code(
    elsewhere: tuple[LocalStack, int, int], tmp_path: Path
) -> None:
    stack, api_port, _ = elsewhere
    phone = {"LOCAL_OPERATORS_FILE": str(tmp_path / "operators.json")}
    # When `make operator-token` runs for an operator new to the stack, on the stack's port
    first = make("operator-token", f"API_PORT={api_port}", "OPERATOR=ops-cmd", env=phone)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "authenticator app enrolled" in first.stderr
    # Then the token it prints opens the operators' routes (the operator has TOTP MFA)
    token = first.stdout.strip().splitlines()[-1]
    reply = ApiSession(stack.api_url).get("/v1/operator/audit", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200, reply.text
    # And the stack now wants that operator's code, which the second run types from the secret it kept
    bare = stack.anonymous.post("/_local/token", json={"partner_id": "ops-cmd", "groups": ["operators"]})
    assert (bare.status_code, bare.json()["code"]) == (401, "mfa_code_required")
    second = make("operator-token", f"API_PORT={api_port}", "OPERATOR=ops-cmd", env=phone)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "enrolled" not in second.stderr
    again = second.stdout.strip().splitlines()[-1]
    assert ApiSession(stack.api_url).get("/v1/operator/audit", headers={"Authorization": f"Bearer {again}"}).ok


def test_make_seed_never_starts_a_stack_of_its_own(tmp_path: Path) -> None:
    # Given nothing listening on API_PORT, and a place where a stack would keep its state
    port = free_port()
    state = tmp_path / "state"
    done = make("seed", f"API_PORT={port}", "SIZE=1", env={"LOCAL_STATE_DIR": str(state)}, timeout=120)
    # Then it stops, says how to start one, and nothing was started or written
    assert done.returncode != 0
    assert f"seed: no local stack answers at http://127.0.0.1:{port}" in done.stderr
    assert "make run" in done.stderr
    assert not state.exists()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "something listens on the port after make seed"


def test_make_invoice_without_a_stack_says_how_to_start_one() -> None:
    port = free_port()
    done = make("invoice", f"API_PORT={port}", "PERIOD=2026-11", timeout=120)
    assert done.returncode != 0
    assert f"No local stack answers at http://127.0.0.1:{port}" in done.stderr


def test_make_help_lists_every_target() -> None:
    makefile = (ROOT / "Makefile").read_text()
    (phony,) = re.findall(r"^\.PHONY: (.*)$", makefile, re.M)
    listed = {line.split()[1] for line in make("help").stdout.splitlines() if line.strip().startswith("make ")}
    assert listed == set(phony.split())
    assert "e2e" in listed  # a name with a digit, once hidden by help's pattern


def test_the_banner_shows_commands_that_work_as_pasted() -> None:
    from local.stack import banner
    from partnerhub.clock import ManualClock, parse_instant

    running = SimpleNamespace(
        clock=ManualClock(parse_instant("2026-12-07T12:00:00Z")),
        api_url="http://127.0.0.1:3100",
        api_port=3100,
        stripe_url="http://127.0.0.1:12200",
        moto_url="http://127.0.0.1:5000",
    )
    text = banner(running)  # type: ignore[arg-type]
    # The month-end line bills the month that has ended (November), on the stack's port
    assert "make invoice API_PORT=3100 PERIOD=2026-11" in text
    # The operator's token comes with an authenticator app (the console wants one), on the stack's port
    assert "make operator-token API_PORT=3100" in text and "admin" not in text
    assert "curl -s -X POST http://127.0.0.1:3100/_local/token" in text
