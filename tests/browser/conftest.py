"""Browser tests: the portal, served by a local stack, driven in Debian's Chromium (headless) by Playwright.

The stack is started once for the session (like the end-to-end tests' ``stack``, but in its own subprocess, so
moving the clock here never disturbs the end-to-end tests). Each test gets a fresh browser context and page,
signed in as a fresh partner. Every page a test visits can be saved with ``portal.screenshot(name)`` under
``tests/browser/screenshots/`` (gitignored).
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from testkit import mfa  # noqa: E402
from testkit.stack import LocalStack, running_stack  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
EXPORT_PART_BYTES = 400
PREVIEW_PAGE_SIZE = 2  # partners a month-end dry-run page computes: a dry run spans several pages


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(here):
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(
                    pytest.mark.skip(reason="/usr/bin/chromium is missing: `make browser-deps` installs it")
                )


@pytest.fixture(scope="session")
def portal_stack(request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    """A local stack of the browser tests' own. Its billing statement comes in parts of at most 400 bytes
    (a few licenses each), and the month-end dry run in pages of two partners, so the portal's joining of the
    parts and of the pages is exercised with a handful of licenses and partners."""
    env = {"EXPORT_MAX_BYTES": str(EXPORT_PART_BYTES), "OPERATOR_PREVIEW_PAGE_SIZE": str(PREVIEW_PAGE_SIZE)}
    with running_stack(request, env) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class Portal:
    """One signed-in browser tab on the portal, with the steps the tests speak in."""

    def __init__(self, page: Any, stack: LocalStack, test_name: str) -> None:
        self.page = page
        self.stack = stack
        self.test_name = test_name
        self.partner_id = ""
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def open(self, route: str = "licenses") -> None:
        self.page.goto(f"{self.stack.api_url}/#/{route}")

    def sign_in(self, partner_id: str | None = None, *, operator: bool = False, enrolled: bool = True) -> str:
        """Sign in through the local sign-in form, as a newcomer would. An operator has an authenticator app
        enrolled first (the console wants one: ``testkit.mfa``) and types its code when the form asks, unless
        ``enrolled=False`` (an operator who has not set one up yet). A partner lands on Licenses, an operator on
        the console's Partners page (or on Security, until it has an app)."""
        from playwright.sync_api import expect

        self.partner_id = partner_id or f"agency-{uuid.uuid4().hex[:10]}"
        if operator and enrolled:
            self.stack.sign_in(self.partner_id, ["operators"])  # enrols on the first sign-in
        self.open()
        self.page.get_by_label("Partner id").fill(self.partner_id)
        if operator:
            self.page.get_by_label("Operator").check()
        self.page.get_by_role("button", name="Sign in").click()
        if self.partner_id in self.stack.totp_secrets:
            self.type_authenticator_code()
        # an operator without an authenticator app is sent to Security before the console
        landing = ("Partners" if enrolled else "Security") if operator else "Licenses"
        expect(self.page.get_by_role("heading", level=1, name=landing, exact=True)).to_be_visible()
        return self.partner_id

    def type_authenticator_code(self) -> None:
        """The sign-in form asks for the authenticator's code: type the one the app shows now (pyotp, stack clock)."""
        code = self.page.get_by_label("Authenticator code")
        code.wait_for()
        code.fill(mfa.code_now(self.stack.api_url, self.stack.totp_secrets[self.partner_id]))
        self.page.get_by_role("button", name="Sign in").click()

    def navigate(self, link: str, heading: str | None = None) -> None:
        """Follow a sidebar link and wait for its page."""
        from playwright.sync_api import expect

        self.page.get_by_role("navigation", name="Licensing").get_by_role("link", name=link, exact=True).click()
        expect(self.page.get_by_role("heading", level=1, name=heading or link)).to_be_visible()
        self.settled()

    def settled(self) -> None:
        """No request of the portal's is still running (the page has finished rendering)."""
        self.page.wait_for_load_state("networkidle")

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower()).strip('-')}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def api(self) -> Any:
        """An API session for this partner (for Given steps the portal has no page for, and for checks)."""
        return self.stack.client(self.partner_id)


@pytest.fixture
def portal(browser: Any, portal_stack: LocalStack, request: pytest.FixtureRequest) -> Iterator[Portal]:
    context = browser.new_context(viewport=LAPTOP, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    tab = Portal(page, portal_stack, request.node.name)
    try:
        yield tab
        assert tab.errors == [], f"the page raised: {tab.errors}"
    finally:
        context.close()


@pytest.fixture
def phone(browser: Any, portal_stack: LocalStack, request: pytest.FixtureRequest) -> Iterator[Portal]:
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    tab = Portal(context.new_page(), portal_stack, request.node.name)
    try:
        yield tab
    finally:
        context.close()
