"""The product catalog seeded at start: at least five products with their first price version."""

from __future__ import annotations

from datetime import date

from partnerhub.domain.billing import PriceVersion
from partnerhub.domain.models import Product

# Daily and monthly prices in cents. The monthly price caps a license's month; at these prices it bites
# after 29 days (Backup), 30 days (Scan, Boost) and so on, so 31-day months show the cap at work.
_LAUNCH = date(2024, 1, 1)
_CATALOG: tuple[tuple[str, str, int, int], ...] = (
    ("jetpack-backup", "Jetpack VaultPress Backup", 17, 495),
    ("jetpack-scan", "Jetpack Scan", 14, 395),
    ("jetpack-anti-spam", "Jetpack Akismet Anti-spam", 7, 195),
    ("jetpack-boost", "Jetpack Boost", 10, 295),
    ("jetpack-videopress", "Jetpack VideoPress", 14, 395),
    ("jetpack-security", "Jetpack Security", 34, 995),
    ("jetpack-complete", "Jetpack Complete", 67, 1995),
)

PRODUCTS: tuple[Product, ...] = tuple(Product(product=slug, name=name) for slug, name, _, _ in _CATALOG)
PRICES: tuple[PriceVersion, ...] = tuple(
    PriceVersion(product=slug, daily_price=daily, monthly_price=monthly, effective_from=_LAUNCH)
    for slug, _, daily, monthly in _CATALOG
)
