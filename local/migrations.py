"""The one-off migrations a kept state (``.local/state``, e.g. from an earlier ``make seed``) may need, run by the
stack when it loads a snapshot written before them. A snapshot lists the migrations its data has had
(``local/persistence.py``), so each runs once. Each is the deployed migration's own code (``docs/runbook.md``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

CONNECTED_SITES = "connected-sites"
MIGRATIONS = (CONNECTED_SITES,)
"""Every migration this code knows; a snapshot it writes has had them all."""


def run_pending(applied: Iterable[str], log: Callable[[str], None] = print) -> list[str]:
    """Run every migration the loaded data has not had; the names of those run."""
    done = set(applied)
    pending = [name for name in MIGRATIONS if name not in done]
    for name in pending:
        if name == CONNECTED_SITES:
            _connect_assigned_sites(log)
    return pending


def _connect_assigned_sites(log: Callable[[str], None]) -> None:
    from partnerhub import clients
    from partnerhub.domain.sites import connect_assigned_sites
    from partnerhub.repository.licenses import DynamoLicenseRepository
    from partnerhub.repository.sites import DynamoSiteRepository

    table, dynamodb = os.environ["TABLE_NAME"], clients.dynamodb()
    sites = DynamoSiteRepository(table, dynamodb)
    done = list(connect_assigned_sites(sites.partners(), DynamoLicenseRepository(table, dynamodb), sites))
    connected = sum(n for _, n, _ in done)
    sites_text = f"{connected} site{'' if connected == 1 else 's'}"
    log(f"local: migration {CONNECTED_SITES}: {sites_text} connected from licenses assigned before sites existed")
