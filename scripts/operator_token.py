"""Print an operator's ID token for the running local stack, the operator's authenticator app enrolled.

    make operator-token                          (ops-1, on API_PORT, default 3000)
    make operator-token API_PORT=3100 OPERATOR=ops-2

The API refuses operators' routes to an operator without TOTP MFA (403 mfa_required, docs/security.md), so the
first time an operator id is used on a stack, this enrols an authenticator app for it through the local user pool's
Cognito API, as the portal's Security page does, and keeps the secret in ``.local/operators.json`` (this
machine's "phone"; ``LOCAL_OPERATORS_FILE`` names another file); afterwards it signs in with the app's current code
on the stack clock. A restarted stack has forgotten its enrolments: the operator is enrolled again, with a new
secret.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from local import totp  # noqa: E402 - scripts/ is not a package
from local.ports import api_url  # noqa: E402

API = api_url()
SECRETS = Path(os.environ.get("LOCAL_OPERATORS_FILE") or ROOT / ".local" / "operators.json")
TARGET = "AWSCognitoIdentityProviderService."


def cognito(action: str, body: dict[str, Any]) -> Any:
    headers = {"x-amz-target": TARGET + action, "content-type": "application/x-amz-json-1.1"}
    reply = requests.post(f"{API}/_local/cognito-idp", json=body, headers=headers, timeout=30)
    if reply.status_code != 200:
        raise SystemExit(f"{action}: {reply.status_code} {reply.text}")
    return reply.json()


def code_now(secret: str) -> str:
    now = requests.get(f"{API}/_local/clock", timeout=10).json()["now"]
    return totp.code_at(secret, datetime.fromisoformat(now))


def sign_in(operator: str, secret: str | None) -> requests.Response:
    body: dict[str, Any] = {"partner_id": operator, "groups": ["operators"]}
    if secret:
        body["totp"] = code_now(secret)
    return requests.post(f"{API}/_local/token", json=body, timeout=30)


def main(argv: list[str]) -> int:
    operator = argv[1] if len(argv) > 1 and argv[1] else "ops-1"
    try:
        requests.get(f"{API}/_local/clock", timeout=5).raise_for_status()
    except requests.RequestException:
        print(f"No local stack answers at {API}. Start it with `make run` (the same API_PORT).", file=sys.stderr)
        return 1
    secrets: dict[str, str] = json.loads(SECRETS.read_text()) if SECRETS.exists() else {}
    reply = sign_in(operator, secrets.get(operator))
    if reply.status_code != 200:
        print(
            f"{operator} has an authenticator app this command does not hold ({reply.json().get('message')}): "
            "sign in with its code in the portal, or use another OPERATOR id.",
            file=sys.stderr,
        )
        return 1
    tokens = reply.json()
    me = cognito("GetUser", {"AccessToken": tokens["access_token"]})
    if "SOFTWARE_TOKEN_MFA" not in (me.get("UserMFASettingList") or []):
        secret = cognito("AssociateSoftwareToken", {"AccessToken": tokens["access_token"]})["SecretCode"]
        cognito("VerifySoftwareToken", {"AccessToken": tokens["access_token"], "UserCode": code_now(secret)})
        settings = {"Enabled": True, "PreferredMfa": True}
        cognito("SetUserMFAPreference", {"AccessToken": tokens["access_token"], "SoftwareTokenMfaSettings": settings})
        secrets[operator] = secret
        SECRETS.parent.mkdir(parents=True, exist_ok=True)
        SECRETS.write_text(json.dumps(secrets, indent=2) + "\n")
        SECRETS.chmod(0o600)
        print(f"{operator}: authenticator app enrolled (its secret kept in {SECRETS})", file=sys.stderr)
        reply = sign_in(operator, secret)
        reply.raise_for_status()
        tokens = reply.json()
    print(tokens["token"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
