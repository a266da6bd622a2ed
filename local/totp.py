"""Time-based one-time passwords (RFC 6238), as an authenticator app computes them and Cognito checks them.

The local user pool checks the codes people type on the STACK clock (moving the clock moves the codes, as it would
for a phone whose clock moved), with Cognito's defaults: HMAC-SHA1, 30-second steps, 6 digits, a base32 secret.
A code of the step before or after is accepted too (RFC 6238 section 5.2: one step of clock drift).
"""

from __future__ import annotations

import base64
import hmac
import secrets
from datetime import datetime

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
SECRET_BYTES = 20  # 160 bits, the HMAC-SHA1 key size RFC 4226 recommends; 32 base32 characters


def new_secret() -> str:
    """A fresh shared secret in base32 without padding (what ``AssociateSoftwareToken`` returns as ``SecretCode``)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    text = secret.strip().replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def hotp(key: bytes, counter: int, digits: int = DIGITS, digest: str = "sha1") -> str:
    """RFC 4226's HOTP: the dynamically truncated HMAC of the 8-byte counter, its last ``digits`` decimal digits."""
    mac = hmac.new(key, counter.to_bytes(8, "big"), digest).digest()
    offset = mac[-1] & 0x0F
    number = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def step_of(at: datetime) -> int:
    """The time step ``T`` of RFC 6238 at ``at`` (Unix time, T0 = 0, X = 30 s)."""
    return int(at.timestamp()) // STEP_SECONDS


def code_at(secret: str, at: datetime) -> str:
    """The code an authenticator app shows for ``secret`` at ``at``."""
    return hotp(_key(secret), step_of(at))


def verify(secret: str, code: str, at: datetime) -> bool:
    """Whether ``code`` is the code of ``at``'s step or of the step either side of it (compared in constant time)."""
    typed = code.strip()
    if len(typed) != DIGITS or not typed.isdigit():
        return False
    key = _key(secret)
    step = step_of(at)
    found = False
    for counter in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        found |= hmac.compare_digest(hotp(key, counter), typed)
    return found


__all__ = ["code_at", "hotp", "new_secret", "step_of", "verify"]
