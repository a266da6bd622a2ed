"""The local user pool's one-time passwords against the published test vectors: RFC 4226 appendix D (HOTP) and
RFC 6238 appendix B (TOTP, in its three hash modes), then the drift window the pool allows."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from local import totp

SHA1_SEED = b"12345678901234567890"
SHA256_SEED = b"12345678901234567890123456789012"
SHA512_SEED = b"1234567890" * 6 + b"1234"
SEEDS = {"sha1": SHA1_SEED, "sha256": SHA256_SEED, "sha512": SHA512_SEED}


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.mark.parametrize(
    ("counter", "expected"),
    list(
        enumerate(["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"])
    ),
)
def test_hotp_gives_rfc_4226s_values(counter: int, expected: str) -> None:
    assert totp.hotp(SHA1_SEED, counter) == expected


@pytest.mark.parametrize(
    ("seconds", "step", "mode", "expected"),
    [
        (59, 0x1, "sha1", "94287082"),
        (59, 0x1, "sha256", "46119246"),
        (59, 0x1, "sha512", "90693936"),
        (1111111109, 0x23523EC, "sha1", "07081804"),
        (1111111109, 0x23523EC, "sha256", "68084774"),
        (1111111109, 0x23523EC, "sha512", "25091201"),
        (1111111111, 0x23523ED, "sha1", "14050471"),
        (1111111111, 0x23523ED, "sha256", "67062674"),
        (1111111111, 0x23523ED, "sha512", "99943326"),
        (1234567890, 0x273EF07, "sha1", "89005924"),
        (1234567890, 0x273EF07, "sha256", "91819424"),
        (1234567890, 0x273EF07, "sha512", "93441116"),
        (2000000000, 0x3F940AA, "sha1", "69279037"),
        (2000000000, 0x3F940AA, "sha256", "90698825"),
        (2000000000, 0x3F940AA, "sha512", "38618901"),
        (20000000000, 0x27BC86AA, "sha1", "65353130"),
        (20000000000, 0x27BC86AA, "sha256", "77737706"),
        (20000000000, 0x27BC86AA, "sha512", "47863826"),
    ],
)
def test_totp_gives_rfc_6238s_values(seconds: int, step: int, mode: str, expected: str) -> None:
    # The time step is the RFC's T (Unix time in 30-second steps), and the code the RFC's 8 digits
    assert totp.step_of(at(seconds)) == step
    assert totp.hotp(SEEDS[mode], step, digits=8, digest=mode) == expected


SECRET = base64.b32encode(SHA1_SEED).decode()  # GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ, as an app would be given it


def test_an_apps_six_digits_are_the_last_six_of_the_rfcs_eight() -> None:
    assert SECRET == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert totp.code_at(SECRET, at(1111111109)) == "081804"
    assert totp.code_at(SECRET.lower(), at(59)) == "287082"  # an app may show the secret in either case


def test_a_code_is_accepted_in_its_step_and_one_step_either_side() -> None:
    # Given the code of the step of 1111111109 s (steps start at multiples of 30 s)
    code = "081804"
    step_start = 0x23523EC * 30
    # Then it is accepted anywhere in its step, and in the step before and after (clock drift)
    for seconds in (step_start, step_start + 29, step_start - 30, step_start + 59):
        assert totp.verify(SECRET, code, at(seconds)), seconds
    # And not two steps away
    for seconds in (step_start - 31, step_start + 60):
        assert not totp.verify(SECRET, code, at(seconds)), seconds


@pytest.mark.parametrize("typed", ["", "08180", "0818045", "08I804", "081 804", "-81804"])
def test_anything_but_six_digits_is_refused(typed: str) -> None:
    assert not totp.verify(SECRET, typed, at(1111111109))


def test_a_new_secret_is_32_base32_characters_and_never_the_same() -> None:
    first, second = totp.new_secret(), totp.new_secret()
    assert len(first) == 32 and first != second
    assert len(base64.b32decode(first)) == 20
