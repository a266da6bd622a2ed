"""The Stripe-Signature check: Stripe's scheme, against the injected clock, with a five-minute tolerance.

Requests are signed here as Stripe's documentation says Stripe signs them ("Verify the signature manually",
https://docs.stripe.com/webhooks#verify-manually): the header is ``t=<timestamp>,v1=<signature>``, the signature
the hex HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed with the endpoint's signing secret. :func:`documented_header`
computes it from that text alone, not from the product's code.

The last tests compare the check with the official SDK (``stripe.WebhookSignature``) at the real time: whatever
the SDK signs and accepts is accepted here, and whatever it rejects (tampered bodies, signatures, headers) is
rejected here too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
import stripe
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from partnerhub.errors import MalformedRequest
from partnerhub.payments.webhooks import InvalidSignature, parse_event, verify_signature

SECRET = "whsec_test_5ecret"
NOW = 1_796_084_400  # 2026-12-01T00:20:00Z, far from the wall clock on purpose
BODY = json.dumps({"id": "evt_1", "object": "event", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}})


def documented_signature(body: str, secret: str, timestamp: int) -> str:
    """Stripe's documented v1 signature: HMAC-SHA256 of ``"<timestamp>.<body>"`` with the secret, in hex."""
    return hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


def documented_header(body: str, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header Stripe documents: ``t=<timestamp>,v1=<signature>``."""
    return f"t={timestamp},v1={documented_signature(body, secret, timestamp)}"


def test_the_oracle_signs_as_stripes_sdk_signs() -> None:
    # The oracle above and Stripe's own SDK produce the same header for the same request.
    assert documented_header(BODY, SECRET, NOW) == stripe.WebhookSignature.generate_signature_header(BODY, SECRET, NOW)


def test_a_body_signed_with_the_secret_at_our_time_is_accepted() -> None:
    header = documented_header(BODY, SECRET, NOW)

    assert verify_signature(BODY.encode(), header, SECRET, now=NOW) == BODY


def test_a_header_may_carry_several_v1_signatures_one_of_them_valid() -> None:
    # While a signing secret is being rolled, Stripe signs with the old and the new one.
    old = documented_signature(BODY, "whsec_old", NOW)
    new = documented_signature(BODY, SECRET, NOW)

    assert verify_signature(BODY, f"t={NOW},v1={old},v1={new}", SECRET, now=NOW) == BODY
    assert verify_signature(BODY, f"t={NOW},v1={new},v1={old},v0=ignored", SECRET, now=NOW) == BODY


def test_a_tampered_body_is_rejected() -> None:
    header = documented_header(BODY, SECRET, NOW)

    with pytest.raises(InvalidSignature) as error:
        verify_signature(BODY.replace("in_1", "in_2"), header, SECRET, now=NOW)
    assert error.value.status == 400
    assert error.value.code == "invalid_signature"


def test_a_body_signed_with_another_secret_is_rejected() -> None:
    with pytest.raises(InvalidSignature):
        verify_signature(BODY, documented_header(BODY, "whsec_someone_else", NOW), SECRET, now=NOW)


def test_a_tampered_timestamp_is_rejected() -> None:
    signature = documented_signature(BODY, SECRET, NOW)

    with pytest.raises(InvalidSignature):
        verify_signature(BODY, f"t={NOW + 1},v1={signature}", SECRET, now=NOW)


@pytest.mark.parametrize("age", [-300, -1, 0, 1, 299, 300])
def test_timestamps_within_five_minutes_of_our_clock_either_way_are_accepted(age: int) -> None:
    header = documented_header(BODY, SECRET, NOW - age)

    assert verify_signature(BODY, header, SECRET, now=NOW) == BODY


@pytest.mark.parametrize("age", [301, 3600, 30 * 86400])
def test_stale_signatures_are_rejected(age: int) -> None:
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify_signature(BODY, documented_header(BODY, SECRET, NOW - age), SECRET, now=NOW)


@pytest.mark.parametrize("ahead", [301, 86400])
def test_signatures_from_the_future_beyond_the_tolerance_are_rejected(ahead: int) -> None:
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify_signature(BODY, documented_header(BODY, SECRET, NOW + ahead), SECRET, now=NOW)


def test_the_tolerance_is_measured_from_the_injected_clock_not_the_wall_clock() -> None:
    # Signed weeks in the "future" of the wall clock: fine when our (local stack) clock is there too.
    header = documented_header(BODY, SECRET, NOW)
    assert verify_signature(BODY, header, SECRET, now=NOW + 10) == BODY
    with pytest.raises(InvalidSignature):
        verify_signature(BODY, header, SECRET, now=int(time.time()))


@pytest.mark.parametrize("header", [None, ""])
def test_a_missing_header_is_rejected(header: str | None) -> None:
    with pytest.raises(InvalidSignature, match="missing"):
        verify_signature(BODY, header, SECRET, now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "v1=" + "0" * 64,  # no timestamp
        f"t=,v1={'0' * 64}",
        f"t=yesterday,v1={'0' * 64}",
        f"t={NOW}",  # no signature
        f"t={NOW},v0={'0' * 64}",  # only a scheme we do not accept
        f"t={NOW},v1",
        f"t={NOW};v1={'0' * 64}",
    ],
)
def test_a_malformed_header_is_rejected(header: str) -> None:
    with pytest.raises(InvalidSignature):
        verify_signature(BODY, header, SECRET, now=NOW)


def test_a_body_that_is_not_utf8_is_rejected() -> None:
    raw = b"\xff\xfe" + BODY.encode()
    header = f"t={NOW},v1=" + documented_signature(raw.decode("latin-1"), SECRET, NOW)

    with pytest.raises(InvalidSignature):
        verify_signature(raw, header, SECRET, now=NOW)


def test_an_empty_secret_is_a_configuration_error_never_a_pass() -> None:
    with pytest.raises(RuntimeError):
        verify_signature(BODY, documented_header(BODY, "", NOW), "", now=NOW)


def test_a_verified_body_must_still_be_a_stripe_event() -> None:
    assert parse_event(BODY)["id"] == "evt_1"
    for bad in ("{not json", "[]", json.dumps({"object": "event", "id": "evt_1"}), json.dumps({"id": 1})):
        with pytest.raises(MalformedRequest):
            parse_event(bad)


# ---------------------------------------------------------------- agreement with the official SDK


def _sdk_accepts(payload: str, header: str, secret: str) -> bool:
    try:
        stripe.WebhookSignature.verify_header(payload, header, secret, 300)
    except (stripe.SignatureVerificationError, TypeError, ValueError):
        return False
    return True


def _ours_accepts(payload: str, header: str, secret: str) -> bool:
    try:
        verify_signature(payload.encode(), header, secret, now=int(time.time()))
    except InvalidSignature:
        return False
    return True


payloads = st.text(min_size=0, max_size=300)
secrets_ = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40)
ages = st.integers(min_value=0, max_value=250)  # signed at the real time, give or take
SLOW = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(payload=payloads, secret=secrets_, age=ages)
@example(payload=BODY, secret=SECRET, age=0)
def test_what_the_sdk_signs_and_accepts_is_accepted(payload: str, secret: str, age: int) -> None:
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, int(time.time()) - age)

    assert _sdk_accepts(payload, header, secret)
    assert _ours_accepts(payload, header, secret)


@SLOW
@given(payload=payloads, secret=secrets_, age=ages, other_secret=secrets_, extra=st.integers(0, 2))
def test_extra_signatures_are_judged_alike(payload: str, secret: str, age: int, other_secret: str, extra: int) -> None:
    timestamp = int(time.time()) - age
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
    decoys = "".join(f",v1={documented_signature(payload + str(i), other_secret, timestamp)}" for i in range(extra))
    for candidate in (header + decoys, f"t={timestamp}{decoys},v1=" + header.split("v1=")[1]):
        assert _ours_accepts(payload, candidate, secret) == _sdk_accepts(payload, candidate, secret)


@st.composite
def tampered(draw: st.DrawFn) -> tuple[str, str, str]:
    """A correctly signed request, then one thing about it changed: body, header or secret."""
    payload = draw(payloads)
    secret = draw(secrets_)
    timestamp = int(time.time()) - draw(ages)
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
    how = draw(st.sampled_from(["body", "header_char", "header_cut", "timestamp", "secret", "stale", "scheme"]))
    if how == "body":
        position = draw(st.integers(0, len(payload)))
        payload = payload[:position] + draw(st.characters(blacklist_categories=["Cs"])) + payload[position:]
    elif how == "header_char":
        position = draw(st.integers(0, len(header) - 1))
        replacement = draw(st.characters(min_codepoint=32, max_codepoint=126).filter(lambda c: c != header[position]))
        header = header[:position] + replacement + header[position + 1 :]
    elif how == "header_cut":
        header = header[: draw(st.integers(0, len(header) - 1))]
    elif how == "timestamp":
        header = header.replace(f"t={timestamp}", f"t={timestamp - draw(st.integers(1, 200))}")
    elif how == "secret":
        secret = secret + draw(st.text(alphabet="abcdef0123456789", min_size=1, max_size=4))
    elif how == "stale":
        header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp - 400)
    else:
        header = header.replace("v1=", "v0=")
    return payload, header, secret


@SLOW
@given(case=tampered())
def test_what_the_sdk_rejects_is_rejected(case: tuple[str, str, str]) -> None:
    payload, header, secret = case
    # A header_char change may still leave a valid header (e.g. a digit of t kept its value): then both accept.
    if not _sdk_accepts(payload, header, secret):
        assert not _ours_accepts(payload, header, secret)
    else:
        assert _ours_accepts(payload, header, secret)
