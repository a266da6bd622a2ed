"""Connect every site a partner's licenses were ever assigned to (connected since the first assignment, with the URL
and owner it was last given), and stamp each site claim with its license's source: the migration for licenses
assigned before sites existed. Safe to re-run: a site connected since keeps what it has.

    TABLE_NAME=partnerhub-prod PYTHONPATH=layers/common python scripts/connect_assigned_sites.py [partner ...]

Without partner ids it reads every partner's record with a one-off Scan (never on a request path).
"""

from __future__ import annotations

import os
import sys

from partnerhub import clients
from partnerhub.domain.sites import connect_assigned_sites
from partnerhub.repository.licenses import DynamoLicenseRepository
from partnerhub.repository.sites import DynamoSiteRepository


def main(argv: list[str]) -> int:
    table, dynamodb = os.environ["TABLE_NAME"], clients.dynamodb()
    sites = DynamoSiteRepository(table, dynamodb)
    partners = argv or sites.partners()
    for partner_id, connected, stamped in connect_assigned_sites(
        partners, DynamoLicenseRepository(table, dynamodb), sites
    ):
        print(f"{partner_id}\t{connected} sites connected\t{stamped} claims stamped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
