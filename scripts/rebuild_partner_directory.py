"""List every partner that has a Stripe customer in the operators' partner directory, with its company name:
the migration for partners who got their customer before the directory existed. Safe to re-run.

    TABLE_NAME=partnerhub-prod PYTHONPATH=layers/common python scripts/rebuild_partner_directory.py [partner ...]
"""

from __future__ import annotations

import os
import sys

from partnerhub import clients
from partnerhub.repository.partners import DynamoPartnerRepository


def main(argv: list[str]) -> int:
    partners = DynamoPartnerRepository(os.environ["TABLE_NAME"], clients.dynamodb())
    for partner_id in argv or list(partners.partners_with_a_customer()):
        listed = partners.list_in_directory(partner_id)
        print(f"{partner_id}\t{'listed' if listed else 'no record'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
