"""Create a partner's portal user: what `make partner-user` runs. The user pool has no self sign-up.

    python scripts/partner_user.py --stage prod --email someone@agency.example --partner-id agency-1 [--operator]

The user gets ``custom:partner_id`` (the claim the API reads the tenant from; it cannot be changed later)
and Cognito e-mails a temporary password. ``--operator`` also puts the user in the ``operators`` group.
Running it again for the same user and partner changes nothing (and can add the group); the same e-mail
with another partner id is refused.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

import boto3
from deploy import stack_outputs, stage_config  # scripts/ is on sys.path: it holds this script

PARTNER_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
OPERATORS = "operators"


def attribute(user: dict[str, Any], name: str) -> str | None:
    attributes = user.get("UserAttributes") or user.get("Attributes") or []
    return next((item["Value"] for item in attributes if item["Name"] == name), None)


def ensure_user(cognito: Any, user_pool_id: str, email: str, partner_id: str, operator: bool) -> str:
    """Create the user (or find the same one); returns "created" or "exists"."""
    if not PARTNER_ID.match(partner_id):
        raise SystemExit(f"partner id {partner_id!r}: 1 to 64 letters, digits and . _ : -")
    try:
        cognito.admin_create_user(
            UserPoolId=user_pool_id,
            Username=email,
            UserAttributes=[
                {"Name": "email", "Value": email},
                {"Name": "email_verified", "Value": "true"},
                {"Name": "custom:partner_id", "Value": partner_id},
            ],
            DesiredDeliveryMediums=["EMAIL"],
        )
        outcome = "created"
    except cognito.exceptions.UsernameExistsException:
        existing = attribute(cognito.admin_get_user(UserPoolId=user_pool_id, Username=email), "custom:partner_id")
        if existing != partner_id:
            raise SystemExit(f"{email} already exists for partner {existing!r}, not {partner_id!r}") from None
        outcome = "exists"
    if operator:
        cognito.admin_add_user_to_group(UserPoolId=user_pool_id, Username=email, GroupName=OPERATORS)
    return outcome


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--partner-id", required=True)
    parser.add_argument("--operator", action="store_true", help="also add the user to the operators group")
    args = parser.parse_args(argv)
    config = stage_config(args.stage)
    session = boto3.session.Session(region_name=config.region)
    outputs = stack_outputs(session.client("cloudformation"), config.stack_name)
    if outputs is None:
        raise SystemExit(f"{config.stack_name} does not exist: run make deploy STAGE={config.stage} first")
    outcome = ensure_user(
        session.client("cognito-idp"), outputs["UserPoolId"], args.email, args.partner_id, args.operator
    )
    group = f", group {OPERATORS}" if args.operator else ""
    print(f"{args.email}: {outcome} (partner {args.partner_id}{group}); sign in at {outputs['PortalUrl']}")


if __name__ == "__main__":
    main()
