"""Partners as operators look them up: by id or company name, with their standing, license counts, invoices and
how many API keys and webhook endpoints they hold (never the keys or the endpoints)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from partnerhub.domain.accounts import Company
from partnerhub.domain.api_keys import KeyCounts
from partnerhub.domain.models import LicenseCounts, Standing
from partnerhub.errors import NotFound

if TYPE_CHECKING:  # a type only: the functions that read partner records need not load the invoicing domain
    from partnerhub.domain.invoicing import InvoiceRecord


@dataclass(frozen=True, slots=True)
class PartnerOverview:
    partner_id: str
    company_name: str | None
    standing: Standing
    licenses: LicenseCounts
    company: Company | None = None
    stripe_customer_id: str | None = None


@dataclass(frozen=True, slots=True)
class OverviewPage:
    items: list[PartnerOverview]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class PartnerDetail:
    """One partner as an operator's page shows it."""

    overview: PartnerOverview
    invoices: list[InvoiceRecord]
    api_keys: KeyCounts
    webhook_endpoints: int


class Directory(Protocol):
    def find(self, search: str | None, limit: int, cursor: str | None) -> OverviewPage:
        """Listed partners by id, those whose id or company name contains ``search`` (any case)."""
        ...

    def overview(self, partner_id: str) -> PartnerOverview | None:
        """One partner, or None when the system has no record of it."""
        ...


class PartnerDirectoryService:
    def __init__(
        self,
        directory: Directory,
        invoices: Callable[[str], list[InvoiceRecord]],
        api_keys: Callable[[str], KeyCounts],
        webhook_endpoints: Callable[[str], int],
    ) -> None:
        self._directory = directory
        self._invoices = invoices
        self._api_keys = api_keys
        self._webhook_endpoints = webhook_endpoints

    def find(self, search: str | None, limit: int, cursor: str | None) -> OverviewPage:
        return self._directory.find(search.strip() if search else None, limit, cursor)

    def detail(self, partner_id: str) -> PartnerDetail:
        """The partner with its company, counts, invoices (newest first), API keys by status and how many webhook
        endpoints it has; 404 for a partner never seen."""
        found = self._directory.overview(partner_id)
        if found is None:
            raise NotFound("no such partner", code="partner_not_found")
        return PartnerDetail(
            found, self._invoices(partner_id), self._api_keys(partner_id), self._webhook_endpoints(partner_id)
        )
