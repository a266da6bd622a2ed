"""Request and response bodies of the license routes (the OpenAPI document is generated from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, model_validator
from pydantic_core import PydanticCustomError

from partnerhub.clock import isoformat
from partnerhub.domain.licenses import MAX_ISSUE
from partnerhub.domain.models import (
    LICENSE_KEY,
    ClientLabel,
    HistoryEvent,
    HistoryType,
    Labels,
    License,
    ProductSlug,
    Site,
    SiteId,
    Tags,
)
from partnerhub.schemas.types import URL_PATTERN, WHOLE_NUMBER, published

Instant = Annotated[datetime, PlainSerializer(isoformat, return_type=str)]

DEBUG_SITE = "https://jptools.wordpress.com/debug/?url="


def _distinct_sites(site_ids: list[str]) -> list[str]:
    if len(set(site_ids)) != len(site_ids):
        raise ValueError("site_ids must not repeat a site")
    return site_ids


SiteIds = Annotated[
    list[SiteId],
    Field(min_length=1, max_length=MAX_ISSUE, json_schema_extra={"uniqueItems": True}),
    AfterValidator(_distinct_sites),
]


class IssueRequest(BaseModel):
    """``{"product", "quantity"?, "site_ids"?, "client"?, "tags"?}``: a product of the catalog (``GET /v1/prices``;
    another slug is 404); ``quantity`` unassigned licenses (default 1), or one license assigned to each of
    ``site_ids`` (connected sites), never both; ``client`` and ``tags`` label every license of the order."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"not": {"required": ["quantity", "site_ids"]}})

    product: ProductSlug
    quantity: Annotated[int, Field(strict=True, ge=1, le=MAX_ISSUE), WHOLE_NUMBER] = 1
    site_ids: SiteIds | None = None
    client: ClientLabel | None = None
    tags: Tags = Field(default_factory=list)

    @model_validator(mode="after")
    def _quantity_or_sites(self) -> IssueRequest:
        if self.site_ids is not None and "quantity" in self.model_fields_set:
            raise PydanticCustomError(
                "quantity_or_site_ids", "give quantity or site_ids, not both (one license goes to each site)"
            )
        return self

    @property
    def labels(self) -> Labels:
        return Labels(client=self.client, tags=tuple(self.tags))


class LabelRequest(BaseModel):
    """``{"client"?, "tags"?}``: a field left out stays as it is; ``null`` clears it (``tags`` becomes ``[]``)."""

    model_config = ConfigDict(extra="forbid")

    client: ClientLabel | None = None
    tags: Tags | None = None


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

    @classmethod
    def of(cls, site: Site | None) -> Links:
        return cls(
            view_site=site.site_url if site else None,
            debug_site=f"{DEBUG_SITE}{quote(site.site_url, safe='')}" if site else None,
        )


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
    client: str | None
    tags: list[str]
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
            client=license.client,
            tags=list(license.tags),
            links=Links.of(site),
        )


class LabelsOut(BaseModel):
    client: str | None
    tags: list[str]

    @classmethod
    def of(cls, labels: Labels | None) -> LabelsOut | None:
        return None if labels is None else cls(client=labels.client, tags=list(labels.tags))


class HistoryOut(BaseModel):
    """One event. A ``labelled`` event carries the ``labels`` set and the ``previous_labels``."""

    type: HistoryType
    at: Instant
    actor: str
    site: Site | None = None
    previous_site: Site | None = None
    labels: LabelsOut | None = None
    previous_labels: LabelsOut | None = None

    @classmethod
    def of(cls, event: HistoryEvent) -> HistoryOut:
        return cls(
            type=event.type,
            at=event.at,
            actor=event.actor,
            site=event.site,
            previous_site=event.previous_site,
            labels=LabelsOut.of(event.labels),
            previous_labels=LabelsOut.of(event.previous_labels),
        )


class LicenseDetail(LicenseOut):
    history: list[HistoryOut]


class LicenseList(BaseModel):
    items: list[LicenseOut]
    next_cursor: str | None = None
