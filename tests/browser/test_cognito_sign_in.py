"""The deployed portal's sign-in: Cognito's authorization-code grant with PKCE, renewal with the refresh
token, sign-out. The portal's files are served as CloudFront would serve them after `make deploy` (config.js
filled in, and the Content-Security-Policy of the template's response headers policy, resolved for this test's
stack: a violation the browser reports fails the test); the hosted sign-in pages, the token endpoint and the API
are played by this test, which checks PKCE itself (SHA-256 of the verifier, RFC 7636) instead of trusting the
portal's arithmetic."""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.deploy.cfn import STACK_ID, portal_content_security_policy

ROOT = Path(__file__).resolve().parents[2]
PORTAL = "https://portal.example"
# The stack's sign-in domain: the stage and the first group of the stack's id (never the account id)
COGNITO = "https://partnerhub-prod-7f3e2a10.auth.us-east-1.amazoncognito.com"
COGNITO_API = "https://cognito-idp.us-east-1.amazonaws.com"  # the user pool's JSON API (the user's own calls)
CSP = portal_content_security_policy(STACK_ID)
CLIENT_ID = "portalclient123"
CONFIG = (
    "export const config = "
    + json.dumps(
        {
            "apiUrl": PORTAL,
            "cognito": {
                "region": "us-east-1",
                "userPoolId": "us-east-1_Test",
                "clientId": CLIENT_ID,
                "domain": COGNITO,
            },
        }
    )
    + ";"
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def id_token(partner_id: str, serial: int) -> str:
    claims = {"sub": "user-1", "custom:partner_id": partner_id, "cognito:groups": [], "serial": serial}
    return ".".join([b64url(b'{"alg":"RS256"}'), b64url(json.dumps(claims).encode()), b64url(b"signature")])


@dataclass
class FakeCognito:
    """The hosted sign-in page, the token and revoke endpoints, and the API, as this test plays them."""

    authorize: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    revoked: list[dict[str, str]] = field(default_factory=list)
    logout: list[dict[str, str]] = field(default_factory=list)
    api_tokens: list[str] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    expired: set[str] = field(default_factory=set)
    blocked: list[str] = field(default_factory=list)  # what the Content-Security-Policy refused
    user_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # the Cognito API's calls
    totp_on: bool = False

    def portal(self, route: Any) -> None:
        path = urlsplit(route.request.url).path
        if path.startswith("/v1/"):
            self.api(route)
            return
        name = "index.html" if path == "/" else path.lstrip("/")
        headers = {"content-security-policy": CSP}  # as the distribution's response headers policy adds it
        if name == "config.js":
            route.fulfill(status=200, content_type="text/javascript", headers=headers, body=CONFIG)
            return
        file = ROOT / "portal" / name
        if not file.is_file():
            route.fulfill(status=404, body="not found")
            return
        kind = "text/javascript" if file.suffix == ".js" else mimetypes.guess_type(file.name)[0] or "text/plain"
        route.fulfill(status=200, content_type=kind, headers=headers, body=file.read_bytes())

    def api(self, route: Any) -> None:
        token = (route.request.headers.get("authorization") or "").removeprefix("Bearer ")
        self.api_tokens.append(token)
        if token not in self.issued or token in self.expired:
            route.fulfill(status=401, content_type="application/json", body='{"message": "Unauthorized"}')
        elif urlsplit(route.request.url).path == "/v1/account":
            body = {"partner_id": "agency-7", "has_payment_method": True, "past_due_invoices": []}
            route.fulfill(status=200, content_type="application/json", body=json.dumps(body))
        else:
            route.fulfill(status=200, content_type="application/json", body='{"items": [], "next_cursor": null}')

    def cognito(self, route: Any) -> None:
        url = urlsplit(route.request.url)
        cors = {"access-control-allow-origin": PORTAL}
        if url.path == "/oauth2/authorize":
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            self.authorize.append(query)
            back = urlencode({"code": f"code-{len(self.authorize)}", "state": query["state"]})
            route.fulfill(status=302, headers={"location": f"{query['redirect_uri']}?{back}"})
        elif url.path == "/oauth2/token":
            form = {k: v[0] for k, v in parse_qs(route.request.post_data or "").items()}
            self.token_requests.append(form)
            token = id_token("agency-7", len(self.issued))
            self.issued.append(token)
            body = {"id_token": token, "access_token": "access", "expires_in": 900, "token_type": "Bearer"}
            if form["grant_type"] == "authorization_code":
                body["refresh_token"] = "refresh-1"
            route.fulfill(status=200, headers=cors, content_type="application/json", body=json.dumps(body))
        elif url.path == "/oauth2/revoke":
            self.revoked.append({k: v[0] for k, v in parse_qs(route.request.post_data or "").items()})
            route.fulfill(status=200, headers=cors, body="")
        elif url.path == "/logout":
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            self.logout.append(query)
            # Cognito answers 302 to logout_uri. Chromium sometimes lets the request that follows a redirect
            # fulfilled here escape routing (to DNS, for a host that does not exist), so the fake sends the
            # browser back with a page instead: the portal sees the same navigation to logout_uri.
            back = json.dumps(query["logout_uri"])
            route.fulfill(status=200, content_type="text/html", body=f"<script>location.replace({back})</script>")
        else:
            route.fulfill(status=404, body="")


    def user_api(self, route: Any) -> None:
        """Cognito's JSON API as the user's access token calls it: GetUser, then an authenticator app's enrolment."""
        cors = {
            "access-control-allow-origin": PORTAL,
            "access-control-allow-headers": "content-type, x-amz-target, x-amz-user-agent",
            "access-control-allow-methods": "POST",
        }
        if route.request.method == "OPTIONS":
            route.fulfill(status=200, headers=cors, body="")
            return
        action = (route.request.headers.get("x-amz-target") or "").removeprefix("AWSCognitoIdentityProviderService.")
        body = json.loads(route.request.post_data or "{}")
        self.user_calls.append((action, body))
        answer: dict[str, Any] = {}
        if action == "GetUser":
            answer = {"Username": "user-1", "UserAttributes": [{"Name": "email", "Value": "ada@agency.example"}]}
            if self.totp_on:
                answer["UserMFASettingList"] = ["SOFTWARE_TOKEN_MFA"]
        elif action == "AssociateSoftwareToken":
            answer = {"SecretCode": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"}
        elif action == "VerifySoftwareToken":
            answer = {"Status": "SUCCESS"}
        elif action == "SetUserMFAPreference":
            self.totp_on = body["SoftwareTokenMfaSettings"] == {"Enabled": True, "PreferredMfa": True}
        route.fulfill(status=200, headers=cors, content_type="application/x-amz-json-1.1", body=json.dumps(answer))


@pytest.fixture
def deployed(browser: Any) -> Iterator[tuple[Any, FakeCognito]]:
    fake = FakeCognito()
    context = browser.new_context()
    context.set_default_timeout(15_000)
    context.route(f"{PORTAL}/**", fake.portal)
    context.route(f"{COGNITO}/**", fake.cognito)
    context.route(f"{COGNITO_API}/**", fake.user_api)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Chromium reports each thing the Content-Security-Policy blocked on the console
    page.on("console", lambda message: "Content Security Policy" in message.text and fake.blocked.append(message.text))
    try:
        yield page, fake
        assert errors == [], errors
        assert fake.blocked == [], fake.blocked
    finally:
        context.close()


def sign_in(page: Any, fake: FakeCognito) -> None:
    from playwright.sync_api import expect

    page.goto(f"{PORTAL}/#/billing")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who-name")).to_have_text("Partner agency-7")


def test_sign_in_uses_the_code_grant_with_a_pkce_verifier_that_matches_its_challenge(
    deployed: tuple[Any, FakeCognito],
) -> None:
    page, fake = deployed
    # When a partner signs in on the deployed portal
    sign_in(page, fake)
    # Then the hosted page was asked for a code (never a token in the URL), with an S256 challenge
    (asked,) = fake.authorize
    assert asked["response_type"] == "code"
    assert asked["client_id"] == CLIENT_ID
    assert asked["redirect_uri"] == f"{PORTAL}/"  # the callback URL the template registers
    assert asked["code_challenge_method"] == "S256"
    # (aws.cognito.signin.user.admin: the access token may enrol an authenticator app, test_security_... below)
    assert set(asked["scope"].split()) == {"openid", "email", "aws.cognito.signin.user.admin"}
    # And the code was redeemed once, with the verifier whose SHA-256 is that challenge
    (redeemed,) = fake.token_requests
    assert redeemed["grant_type"] == "authorization_code"
    assert redeemed["code"] == "code-1"
    assert redeemed["client_id"] == CLIENT_ID and redeemed["redirect_uri"] == f"{PORTAL}/"
    assert 43 <= len(redeemed["code_verifier"]) <= 128
    assert b64url(hashlib.sha256(redeemed["code_verifier"].encode()).digest()) == asked["code_challenge"]
    # And the API is called with the ID token, the code is gone from the address bar, the page kept
    assert fake.api_tokens and set(fake.api_tokens) == {fake.issued[0]}
    assert page.url == f"{PORTAL}/#/billing"


def test_an_answer_with_a_foreign_state_is_refused(deployed: tuple[Any, FakeCognito]) -> None:
    from playwright.sync_api import expect

    page, fake = deployed
    # Given a sign-in started here, and a forged return carrying another state
    page.goto(f"{PORTAL}/")
    page.evaluate(
        """() => sessionStorage.setItem("partnerhub.pkce", JSON.stringify({verifier: "v".repeat(43), state: "mine", hash: "#/licenses"}))"""
    )
    page.goto(f"{PORTAL}/?code=stolen&state=theirs")
    # Then no code is redeemed and nobody is signed in
    expect(page.get_by_role("alert")).to_contain_text("does not match a sign-in started here")
    assert fake.token_requests == []
    assert page.evaluate("() => sessionStorage.getItem('partnerhub.session')") is None
    assert "code=" not in page.url


def test_an_expired_id_token_is_renewed_with_the_refresh_token(deployed: tuple[Any, FakeCognito]) -> None:
    from playwright.sync_api import expect

    page, fake = deployed
    sign_in(page, fake)
    # Given the ID token has expired
    fake.expired.add(fake.issued[0])
    # When the partner opens another page
    page.goto(f"{PORTAL}/#/prices")
    expect(page.get_by_role("heading", level=1, name="Prices")).to_be_visible()
    page.wait_for_load_state("networkidle")
    # Then the portal renewed the ID token quietly and is still signed in
    renewals = [r for r in fake.token_requests if r["grant_type"] == "refresh_token"]
    assert renewals and renewals[0]["refresh_token"] == "refresh-1"
    assert fake.api_tokens[-1] == fake.issued[-1] != fake.issued[0]
    expect(page.locator("#who-name")).to_have_text("Partner agency-7")


def test_sign_out_revokes_the_refresh_token_and_ends_the_hosted_session(deployed: tuple[Any, FakeCognito]) -> None:
    from playwright.sync_api import expect

    page, fake = deployed
    sign_in(page, fake)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    # The revoke call and the hosted logout may land just after the page shows signed out: let the page's
    # requests reach the fake (Playwright dispatches routes while it waits), for at most 5 s.
    for _ in range(100):
        if fake.revoked and fake.logout:
            break
        page.wait_for_timeout(50)
    assert fake.revoked == [{"token": "refresh-1", "client_id": CLIENT_ID}]
    assert fake.logout == [{"client_id": CLIENT_ID, "logout_uri": f"{PORTAL}/"}]
    # The hosted logout sends the browser back to the portal: read its storage once that page has loaded.
    page.wait_for_url(f"{PORTAL}/")
    page.wait_for_load_state("load")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('partnerhub.session')") is None


def test_the_portal_runs_under_its_content_security_policy(deployed: tuple[Any, FakeCognito]) -> None:
    from playwright.sync_api import expect

    page, fake = deployed
    # The sign-in domain the page must reach is the one the policy names
    assert f"{COGNITO} " in CSP
    # When a partner signs in and goes through the pages that need no card entry (Stripe.js is not reachable here)
    sign_in(page, fake)
    for route, heading in (("licenses", "Licenses"), ("prices", "Prices"), ("invoices", "Invoices")):
        page.goto(f"{PORTAL}/#/{route}")
        expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
        page.wait_for_load_state("networkidle")
    # Then nothing the portal does was blocked (the fixture fails on any report)
    assert fake.blocked == []
    # And the policy is in force: a script injected inline does not run, and the browser says why
    ran = page.evaluate(
        """() => { const s = document.createElement("script"); s.textContent = "window.injected = true";
                   document.head.append(s); return window.injected === true; }"""
    )
    assert ran is False
    page.wait_for_timeout(100)
    assert len(fake.blocked) == 1 and "script-src" in fake.blocked[0], fake.blocked
    fake.blocked.clear()


def test_security_enrols_an_authenticator_app_with_cognitos_api_under_the_csp(deployed: tuple[Any, FakeCognito]) -> None:
    from playwright.sync_api import expect

    page, fake = deployed
    # Given a partner signed in on the deployed portal (its Content-Security-Policy in force)
    sign_in(page, fake)
    # When they open Security and set up an authenticator app
    page.get_by_role("navigation", name="Licensing").get_by_role("link", name="Security").click()
    expect(page.locator("[data-mfa=off]")).to_be_visible()
    page.get_by_role("button", name="Set up an authenticator app").click()
    # Then the QR code is drawn in the page (nothing the CSP refuses: the fixture fails on any violation)
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    expect(page.locator("code.secret")).to_have_text("GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ")
    # When they type the app's code, it is verified, TOTP turned on, and Security says so
    page.get_by_label("6-digit code from the app").fill("287082")
    page.get_by_role("button", name="Verify and turn on").click()
    expect(page.locator("[data-mfa=on]")).to_be_visible()
    # Every call went to the region's Cognito API with the access token the sign-in gave, in this order
    actions = [action for action, _ in fake.user_calls]
    assert actions[:4] == ["GetUser", "AssociateSoftwareToken", "VerifySoftwareToken", "SetUserMFAPreference"]
    assert all(body["AccessToken"] == "access" for _, body in fake.user_calls)
    assert fake.user_calls[2][1]["UserCode"] == "287082"
    # And the ID token was renewed (the API's cached answer for the old one may still say "no MFA")
    assert [r["grant_type"] for r in fake.token_requests][-1] == "refresh_token"
