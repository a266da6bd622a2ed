"""Seeds the local stack: the product catalog with its first price versions."""

from __future__ import annotations

import os

from partnerhub import clients
from partnerhub.clock import Clock
from partnerhub.domain.catalog import PRICES, PRODUCTS
from partnerhub.repository.catalog import DynamoCatalogRepository


def seed(clock: Clock) -> None:
    """Write the catalog into the table named by TABLE_NAME (idempotent: kept prices are not overwritten)."""
    del clock  # the catalog's first prices predate any clock the stack may be set to
    DynamoCatalogRepository(os.environ["TABLE_NAME"], clients.dynamodb()).seed(PRODUCTS, PRICES)
    print(f"local: seeded {len(PRODUCTS)} products")
