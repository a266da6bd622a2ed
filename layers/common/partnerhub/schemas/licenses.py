"""Request and response bodies of the license routes (the OpenAPI document is generated from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from partnerhub.clock import isoformat
from partnerhub.domain.licenses import MAX_ISSUE
from partnerhub.domain.models import LICENSE_KEY, HistoryEvent, HistoryType, License, ProductSlug, Site
from partnerhub.schemas.types import URL_PATTERN, WHOLE_NUMBER, published

Instant = Annotated[datetime, PlainSerializer(isoformat, return_type=str)]

DEBUG_SITE = "https://jptools.wordpress.com/debug/?url="


class IssueRequest(BaseModel):
    """``{"product", "quantity"?}``: a product of the catalog (``GET /v1/prices``; another slug is 404)."""

    model_config = ConfigDict(extra="forbid")

    product: ProductSlug
    quantity: Annotated[int, Field(strict=True, ge=1, le=MAX_ISSUE), WHOLE_NUMBER] = 1


_SITE_URL = {"format": "uri", "pattern": URL_PATTERN, "maxLength": 2048}


class SiteRequest(Site):
    """A site as a request names it: ``site_url`` is an absolute http(s) URL of at most 2048 characters."""

    model_config = ConfigDict(json_schema_extra=published(site_url=_SITE_URL))


class AssignRequest(SiteRequest):
    """``{"site_id", "site_url", "site_owner"?}``"""


class ExternalLicenseRequest(BaseModel):
    """``license_key`` is optional (one is made up if absent) and, when given, has the shape of every key."""

    model_config = ConfigDict(extra="forbid")

    product: ProductSlug
    license_key: Annotated[str, Field(pattern=LICENSE_KEY.pattern, max_length=100)] | None = None
    site: SiteRequest


class Links(BaseModel):
    view_site: str | None
    debug_site: str | None


class LicenseOut(BaseModel):
    license_key: str
    product: str
    product_name: str
    status: str
    source: str
    issued_at: Instant
    assigned_at: Instant | None
    revoked_at: Instant | None
    site: Site | None
    links: Links

    @classmethod
    def of(cls, license: License) -> LicenseOut:
        site = license.site
        return cls(
            license_key=license.license_key,
            product=license.product,
            product_name=license.product_name,
            status=license.status.value,
            source=license.source.value,
            issued_at=license.issued_at,
            assigned_at=license.assigned_at,
            revoked_at=license.revoked_at,
            site=site,
            links=Links(
                view_site=site.site_url if site else None,
                debug_site=f"{DEBUG_SITE}{quote(site.site_url, safe='')}" if site else None,
            ),
        )


class HistoryOut(BaseModel):
    type: HistoryType
    at: Instant
    actor: str
    site: Site | None = None
    previous_site: Site | None = None

    @classmethod
    def of(cls, event: HistoryEvent) -> HistoryOut:
        return cls(type=event.type, at=event.at, actor=event.actor, site=event.site, previous_site=event.previous_site)


class LicenseDetail(LicenseOut):
    history: list[HistoryOut]


class LicenseList(BaseModel):
    items: list[LicenseOut]
    next_cursor: str | None = None
