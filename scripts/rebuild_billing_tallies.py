"""Rebuild every billable partner's billing tallies from its licenses: the migration for licenses issued
before the tallies existed. Safe to re-run; a partner whose licenses change meanwhile is simply done again.

    TABLE_NAME=partnerhub-prod PYTHONPATH=layers/common python scripts/rebuild_billing_tallies.py [partner ...]
"""

from __future__ import annotations

import os
import sys

from partnerhub import clients
from partnerhub.repository.billing import DynamoBillingRepository
from partnerhub.repository.tallies import DynamoTallyRepository, TalliesMoved


def main(argv: list[str]) -> int:
    dynamodb = clients.dynamodb()
    tallies = DynamoTallyRepository(os.environ["TABLE_NAME"], dynamodb)
    partners = argv or list(DynamoBillingRepository(os.environ["TABLE_NAME"], dynamodb).billable_partners())
    for partner_id in partners:
        for _ in range(10):
            try:
                written = tallies.rebuild(partner_id)
            except TalliesMoved:
                continue
            print(f"{partner_id}\t{written} items")
            break
        else:
            print(f"{partner_id}\tbusy: run it again", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
