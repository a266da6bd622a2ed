"""Two-step sign-in in the browser: an operator without an authenticator app is sent to Security before the console,
scans (reads) the secret, types the app's code and reaches the console; the next sign-in asks for the code. A
partner may turn it on from Security. The code is computed by this test with the standard library's HMAC per
RFC 6238, independent of the portal and of the local user pool."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import uuid

from partnerhub.clock import parse_instant
from tests.browser.conftest import Portal


def rfc6238(secret: str, unix_seconds: int) -> str:
    """The 6-digit TOTP of a base32 secret at a Unix time: HMAC-SHA1 of the 30-second step, dynamic truncation."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", unix_seconds // 30), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return f"{(struct.unpack('>I', mac[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def app_code(portal: Portal, secret: str) -> str:
    """What an authenticator app holding ``secret`` shows at the stack clock's now."""
    return rfc6238(secret, int(parse_instant(portal.stack.now()).timestamp()))


def test_an_operator_enrols_an_authenticator_before_the_console(portal: Portal) -> None:
    from playwright.sync_api import expect

    page = portal.page
    # Given an operator who has never set up an authenticator app
    operator = portal.sign_in(f"ops-{uuid.uuid4().hex[:6]}", operator=True, enrolled=False)

    # When they open the console, they are sent to Security first, told why
    page.get_by_role("navigation", name="Licensing").get_by_role("link", name="Manage Prices").click()
    expect(page.get_by_role("heading", level=1, name="Security")).to_be_visible()
    expect(page).to_have_url(re.compile(r"#/security\?next=operator%2Fprices$"))
    expect(page.get_by_text("Operators must turn on two-step sign-in")).to_be_visible()
    expect(page.locator("[data-mfa=off]")).to_be_visible()

    # When they set up an app: a QR code and the key as text
    page.get_by_role("button", name="Set up an authenticator app").click()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    secret = page.locator("code.secret").get_attribute("data-secret") or ""
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    assert page.locator("code.secret").inner_text().replace(" ", "") == secret
    portal.screenshot("security-enrol")

    # A wrong code is refused, saying so, and nothing is turned on
    code = page.get_by_label("6-digit code from the app")
    right = app_code(portal, secret)
    code.fill(f"{(int(right) + 500_000) % 1_000_000:06d}")
    page.get_by_role("button", name="Verify and turn on").click()
    expect(page.get_by_text("That code is not the one the app shows now")).to_be_visible()

    # When they type the code the app shows now
    code.fill(app_code(portal, secret))
    page.get_by_role("button", name="Verify and turn on").click()

    # Then they reach the console, whose data the API now gives them
    expect(page.get_by_role("heading", level=1, name="Manage Prices")).to_be_visible()
    expect(page).to_have_url(re.compile(r"#/operator/prices$"))
    expect(page.locator("tr[data-product=jetpack-boost]")).to_be_visible()
    portal.settled()

    # And the next sign-in asks for the app's code
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Partner id").fill(operator)
    page.get_by_label("Operator").check()
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("This account has an authenticator app")).to_be_visible()
    page.get_by_label("Authenticator code").fill(app_code(portal, secret))
    page.get_by_role("button", name="Sign in").click()
    # (an operator lands on the console's Partners page)
    expect(page.get_by_role("heading", level=1, name="Partners", exact=True)).to_be_visible()
    portal.navigate("Audit Log")
    expect(page.get_by_text("Operators must turn on two-step sign-in")).to_have_count(0)


def test_a_partner_may_turn_it_on_from_security(portal: Portal) -> None:
    from playwright.sync_api import expect

    page = portal.page
    # Given a partner's user, whom nothing obliges
    portal.sign_in()
    portal.navigate("Security")
    expect(page.locator("[data-mfa=off]")).to_be_visible()
    expect(page.get_by_text("Operators must turn on")).to_have_count(0)

    # When they set up an app and type its code
    page.get_by_role("button", name="Set up an authenticator app").click()
    secret = page.locator("code.secret").get_attribute("data-secret") or ""
    page.get_by_label("6-digit code from the app").fill(app_code(portal, secret))
    page.get_by_role("button", name="Verify and turn on").click()

    # Then Security says it is on, and the user pool asks for the code at the next sign-in
    expect(page.locator("[data-mfa=on]")).to_be_visible()
    reply = portal.stack.anonymous.post("/_local/token", json={"partner_id": portal.partner_id})
    assert (reply.status_code, reply.json()["code"]) == (401, "mfa_code_required")
