"""The HTTP API's authorizer with fakes: ID tokens verified as API Gateway's JWT authorizer did (signature by the
pool's key, issuer, audience, times on the injected clock), API keys refused or accepted without reading more than
one credential, the use recorded at most once a minute, and the answer's shape (``partnerhub.identity``)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import rsa

from local.events import LambdaContext
from partnerhub.authorizer import Authorizer, InvalidToken, UnknownUser, bearer
from partnerhub.clock import ManualClock
from partnerhub.cognito import CognitoTokens, UserPool
from partnerhub.composition import authorizer_handler
from partnerhub.domain.api_keys import Credential, secret_hash
from partnerhub.identity import Identity

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
POOL = UserPool(issuer="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test", audience="portal-client")
KID = "pool-key-1"
PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class PoolKeys:
    """The pool's JWKS as ``PyJWKClient`` answers from it."""

    def __init__(self, *, reachable: bool = True) -> None:
        self.reachable = reachable
        self.asked: list[str] = []

    def get_signing_key(self, kid: str) -> jwt.PyJWK:
        self.asked.append(kid)
        if not self.reachable:
            raise jwt.PyJWKClientConnectionError("Fail to fetch data from the url")
        if kid != KID:
            raise jwt.PyJWKClientError(f'Unable to find a signing key that matches: "{kid}"')
        return jwt.PyJWK.from_dict({**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(PRIVATE.public_key())), "kid": KID})


def token(
    *, key: Any = PRIVATE, headers: dict[str, Any] | None = None, algorithm: str = "RS256", **changes: Any
) -> str:
    issued = int(NOW.timestamp()) - 60
    claims: dict[str, Any] = {
        "sub": "4c1f0e9a-2a4b-5d6e-9f10-1a2b3c4d5e6f",
        "custom:partner_id": "agency-42",
        "cognito:groups": ["operators"],
        "email": "ada@agency.example",
        "cognito:username": "ada",
        "iss": POOL.issuer,
        "aud": POOL.audience,
        "token_use": "id",
        "auth_time": issued,
        "iat": issued,
        "exp": issued + 900,
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": KID, **(headers or {})})


def verify(text: str, at: datetime = NOW) -> dict[str, Any]:
    return dict(CognitoTokens(POOL, PoolKeys()).claims(text, at))


# -- ID tokens ---------------------------------------------------------------------------------------------------


def test_a_token_of_the_pool_is_accepted_with_its_claims() -> None:
    claims = verify(token())
    assert claims["custom:partner_id"] == "agency-42"
    assert claims["cognito:groups"] == ["operators"]


def test_an_access_token_names_the_client_in_client_id() -> None:
    assert verify(token(aud=None, client_id=POOL.audience, token_use="access"))["client_id"] == POOL.audience


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"}, "the issuer is not the user pool"),
        ({"aud": "another-client"}, "the audience is not the portal's app client"),
        ({"aud": None}, "the audience is not the portal's app client"),
        ({"exp": int(NOW.timestamp())}, "the token has expired"),
        ({"exp": None}, "the token has expired"),
        ({"nbf": int(NOW.timestamp()) + 1}, "the token is not valid yet"),
        ({"iat": int(NOW.timestamp()) + 1}, "the token was issued in the future"),
    ],
)
def test_a_token_failing_a_check_is_refused_saying_which(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidToken) as refused:
        verify(token(**changes))
    assert refused.value.reason == reason


def test_times_are_the_injected_clocks_not_the_wall_clocks() -> None:
    # A token from 2026 is valid in 2026 whatever today is, and expires on that clock
    fresh = token()
    assert verify(fresh, NOW)
    with pytest.raises(InvalidToken, match="expired"):
        verify(fresh, NOW + timedelta(minutes=15))


def test_a_token_signed_by_another_key_under_the_pools_kid_is_refused() -> None:
    with pytest.raises(InvalidToken) as refused:
        verify(token(key=OTHER))
    assert refused.value.reason == "the signature is invalid"


def test_a_token_naming_a_key_the_pool_does_not_have_is_refused() -> None:
    with pytest.raises(InvalidToken) as refused:
        verify(token(headers={"kid": "someone-elses"}))
    assert refused.value.reason == "no key of the user pool matches the token's kid"


def test_only_rs256_is_accepted() -> None:
    with pytest.raises(InvalidToken) as refused:
        verify(token(key="a shared secret of thirty-two bytes!", algorithm="HS256"))
    assert refused.value.reason == "the signing method is not RS256"


@pytest.mark.parametrize("text", ["not-a-jwt", "a.b.c", "", "eyJhbGciOiJub25lIn0.e30."])
def test_text_that_is_no_token_is_refused(text: str) -> None:
    with pytest.raises(InvalidToken):
        verify(text)


def test_keys_that_cannot_be_fetched_fail_the_request_instead_of_refusing_the_token() -> None:
    # A refusal is cached for a minute and signs people out: an outage of the pool's keys must not be one
    with pytest.raises(jwt.PyJWKClientConnectionError):
        CognitoTokens(POOL, PoolKeys(reachable=False)).claims(token(), NOW)


# -- the authorizer ----------------------------------------------------------------------------------------------

SECRET = "phk_AbCd1234" + "s3cr3t" * 5 + "xy"
PREFIX = "phk_AbCd1234"


class Tokens:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def claims(self, text: str, now: datetime) -> dict[str, Any]:
        self.seen.append(text)
        if text != "good-token":
            raise InvalidToken("the signature is invalid")
        return {"sub": "user-1", "custom:partner_id": "agency-42", "exp": int(now.timestamp()) + 900}


class Credentials:
    def __init__(self, *found: Credential, record_fails: bool = False) -> None:
        self.found = {PREFIX: found[0]} if found else {}
        self.reads: list[str] = []
        self.uses: list[tuple[str, datetime, datetime]] = []
        self.record_fails = record_fails

    def credential(self, prefix: str) -> Credential | None:
        self.reads.append(prefix)
        return self.found.get(prefix)

    def record_use(self, key_id: str, at: datetime, not_after: datetime) -> bool:
        if self.record_fails:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "UpdateItem")
        self.uses.append((key_id, at, not_after))
        self.found[PREFIX] = replace(self.found[PREFIX], last_used_at=at)
        return True


def stored(**changes: Any) -> Credential:
    values: dict[str, Any] = {
        "key_id": "key_AbCd1234",
        "partner_id": "agency-7",
        "scopes": ("read", "licenses"),
        "secret_hash": secret_hash(SECRET),
    }
    return Credential(**{**values, **changes})


class Directory:
    """The user pool's users and whether each has TOTP MFA enrolled (``AdminGetUser``), counting the questions."""

    def __init__(self, **enrolled: bool) -> None:
        self.enrolled = enrolled
        self.asked: list[str] = []

    def totp_enrolled(self, username: str) -> bool:
        self.asked.append(username)
        if username not in self.enrolled:
            raise UnknownUser(username)
        return self.enrolled[username]


def authorizer(credentials: Credentials, clock: ManualClock | None = None) -> Authorizer:
    return Authorizer(Tokens(), credentials, clock or ManualClock(NOW), Directory())


def test_bearer_takes_the_credential_out_of_the_header() -> None:
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer   abc ") == "abc"
    assert bearer("abc") == "abc"
    assert bearer(None) == ""


@pytest.mark.parametrize("header", [None, "", "Bearer ", "Bearer    "])
def test_no_credential_is_refused(header: str | None) -> None:
    assert authorizer(Credentials()).identify(header).kind == "refused"


@pytest.mark.parametrize("text", ["phk_short", "phk_" + "a" * 41, "phk_" + "-" * 40])
def test_a_malformed_key_is_refused_without_reading_anything(text: str) -> None:
    credentials = Credentials(stored())
    identity = authorizer(credentials).identify(f"Bearer {text}")
    assert (identity.kind, identity.reason) == ("refused", "the API key is malformed")
    assert credentials.reads == []


def test_an_unknown_key_costs_one_read() -> None:
    credentials = Credentials()
    identity = authorizer(credentials).identify(f"Bearer {SECRET}")
    assert (identity.kind, identity.reason) == ("refused", "the API key is not valid")
    assert credentials.reads == [PREFIX]


def test_a_key_with_a_known_prefix_and_another_secret_is_unknown() -> None:
    credentials = Credentials(stored())
    identity = authorizer(credentials).identify("Bearer " + PREFIX + "Z" * 32)
    assert (identity.kind, identity.reason) == ("refused", "the API key is not valid")
    assert credentials.uses == []


def test_revoked_and_expired_keys_are_refused_and_not_recorded_as_used() -> None:
    for found, reason in (
        (stored(revoked_at=NOW - timedelta(seconds=1)), "the API key has been revoked"),
        (stored(expires_at=NOW), "the API key has expired"),
    ):
        credentials = Credentials(found)
        identity = authorizer(credentials).identify(f"Bearer {SECRET}")
        assert (identity.kind, identity.reason) == ("refused", reason)
        assert credentials.uses == []


def test_a_live_key_is_its_partners_with_its_scopes_and_expiry() -> None:
    expires = NOW + timedelta(days=30)
    identity = authorizer(Credentials(stored(expires_at=expires))).identify(f"Bearer {SECRET}")
    assert identity == Identity(
        kind="api_key",
        subject="key_AbCd1234",
        partner_id="agency-7",
        scopes=("read", "licenses"),
        expires_ms=int(expires.timestamp() * 1000),
    )


def test_uses_are_recorded_at_most_once_a_minute() -> None:
    # Given a key used now, again 30 s later, then 61 s after the first
    clock = ManualClock(NOW)
    credentials = Credentials(stored())
    auth = authorizer(credentials, clock)
    auth.identify(f"Bearer {SECRET}")
    clock.advance(timedelta(seconds=30))
    auth.identify(f"Bearer {SECRET}")
    clock.advance(timedelta(seconds=31))
    auth.identify(f"Bearer {SECRET}")

    # Then two conditional writes: the first use, and the one a minute later, each refusing a use newer than a minute
    assert credentials.uses == [
        ("key_AbCd1234", NOW, NOW - timedelta(minutes=1)),
        ("key_AbCd1234", NOW + timedelta(seconds=61), NOW + timedelta(seconds=1)),
    ]


def test_a_failed_use_record_does_not_refuse_a_good_key() -> None:
    assert authorizer(Credentials(stored(), record_fails=True)).identify(f"Bearer {SECRET}").kind == "api_key"


def test_a_token_is_a_person_of_the_partner_its_claim_names() -> None:
    identity = authorizer(Credentials()).identify("Bearer good-token")
    assert (identity.kind, identity.subject, identity.partner_id) == ("person", "user-1", "agency-42")


def test_a_bad_token_is_refused_saying_why() -> None:
    identity = authorizer(Credentials()).identify("Bearer forged")
    assert (identity.kind, identity.reason) == ("refused", "invalid token: the signature is invalid")


# -- the context the functions read -------------------------------------------------------------------------------


def test_a_persons_context_keeps_the_claims_later_rules_need() -> None:
    claims = verify(token(amr=["pwd", "mfa"]))
    context = Identity.person(claims).context()
    assert context == {
        "kind": "person",
        "subject": "4c1f0e9a-2a4b-5d6e-9f10-1a2b3c4d5e6f",
        "partner_id": "agency-42",
        "groups": "operators",
        "email": "ada@agency.example",
        "username": "ada",
        "amr": "pwd mfa",
        "auth_time": claims["auth_time"],
        "expires_ms": claims["exp"] * 1000,
    }
    assert all(isinstance(v, str | int) for v in context.values()), "a simple response holds plain values only"
    assert Identity.from_context(context) == Identity.person(claims)


def test_a_context_read_back_as_text_is_the_same_identity() -> None:
    # API Gateway may hand numbers over as text
    identity = Identity.key("key_AbCd1234", "agency-7", ("read",), 1795248900000)
    as_text = {name: str(value) for name, value in identity.context().items()}
    assert Identity.from_context(as_text) == identity


def test_a_context_that_says_nothing_is_no_identity() -> None:
    assert Identity.from_context({}).kind == "refused"
    assert Identity.from_context({"kind": "root", "subject": "x"}).kind == "refused"


def test_the_handler_answers_a_simple_response_that_is_always_authorized() -> None:
    # Given the sample REQUEST event with an API key nobody holds
    event = json.loads((ROOT / "events" / "authorizer" / "api_key.json").read_text())
    credentials = Credentials()
    handler = authorizer_handler(Authorizer(Tokens(), credentials, ManualClock(NOW), Directory()))

    # When API Gateway invokes the authorizer
    answer = handler(event, LambdaContext("partnerhub-test-authorizer"))

    # Then the refusal travels in the context, for the function to answer 401 in the error shape
    assert answer == {"isAuthorized": True, "context": {"kind": "refused", "reason": "the API key is not valid"}}
    assert credentials.reads == [event["identitySource"][0].removeprefix("Bearer ")[:12]]


# -- operators' MFA ---------------------------------------------------------------------------------


class PeopleTokens:
    """Tokens by name: ``<username>:<groups>``, each a valid token of that user in those groups."""

    def claims(self, text: str, now: datetime) -> dict[str, Any]:
        username, _, groups = text.partition(":")
        claims: dict[str, Any] = {"sub": f"sub-{username}", "cognito:username": username, "exp": 2_000_000_000}
        if groups:
            claims["cognito:groups"] = groups.split(",")
        return claims


def people(directory: Directory) -> Authorizer:
    return Authorizer(PeopleTokens(), Credentials(), ManualClock(NOW), directory)


def test_an_operator_with_totp_enrolled_is_said_to_have_it() -> None:
    # Given Ada, an operator whose authenticator app is enrolled in the user pool
    directory = Directory(ada=True)
    # When her token is presented
    identity = people(directory).identify("Bearer ada:operators")
    # Then the answer says so, having asked the pool about Ada by her user name
    assert (identity.kind, identity.mfa) == ("person", "totp")
    assert identity.context()["mfa"] == "totp"
    assert directory.asked == ["ada"]


def test_an_operator_without_totp_is_said_to_have_none() -> None:
    directory = Directory(bob=False)
    identity = people(directory).identify("Bearer bob:operators")
    assert (identity.kind, identity.groups, identity.mfa) == ("person", ("operators",), "none")
    assert Identity.from_context(identity.context()).mfa == "none"


def test_a_partners_token_never_asks_the_pool() -> None:
    # Given a partner's user (in no group, or another group) the pool does not even know
    directory = Directory()
    # When their tokens are presented, they are people with nothing said of MFA, and the pool was never asked
    for token_text in ("Bearer carol:", "Bearer carol:billing"):
        identity = people(directory).identify(token_text)
        assert (identity.kind, identity.mfa) == ("person", None)
        assert "mfa" not in identity.context()
    assert directory.asked == []


def test_an_operators_token_whose_user_is_gone_is_refused() -> None:
    identity = people(Directory()).identify("Bearer dora:operators")
    assert (identity.kind, identity.reason) == ("refused", "invalid token: the user no longer exists")


def test_a_pool_that_cannot_answer_fails_the_request_instead_of_deciding() -> None:
    # Given a pool whose AdminGetUser is throttled
    class Throttled(Directory):
        def totp_enrolled(self, username: str) -> bool:
            raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "slow"}}, "AdminGetUser")

    # Then the authorizer raises: API Gateway answers 500 and caches nothing (neither a yes nor a no)
    with pytest.raises(ClientError):
        people(Throttled()).identify("Bearer ada:operators")


@pytest.mark.parametrize(
    ("context", "expected"),
    [({"mfa": "totp"}, "totp"), ({"mfa": "none"}, "none"), ({}, None), ({"mfa": "TOTP"}, None), ({"mfa": 1}, None)],
)
def test_only_the_authorizers_own_words_for_mfa_are_read_back(context: dict[str, Any], expected: str | None) -> None:
    identity = Identity.from_context({"kind": "person", "subject": "sub-ada", "groups": "operators", **context})
    assert identity.mfa == expected
