"""Request and response bodies of the site routes (the OpenAPI document is generated from these)."""

from __future__ import annotations

from pydantic import BaseModel

from partnerhub.domain.sites import ConnectedSite
from partnerhub.schemas.licenses import Instant, Links, SiteRequest


class ConnectSiteRequest(SiteRequest):
    """``{"site_id", "site_url", "site_owner"?}``: connecting a connected site again gives it this URL and owner
    (an owner left out is cleared)."""


class HeldLicenseOut(BaseModel):
    license_key: str
    product: str
    source: str


class SiteOut(BaseModel):
    site_id: str
    site_url: str
    site_owner: str | None
    connected_at: Instant
    licenses: list[HeldLicenseOut]
    links: Links

    @classmethod
    def of(cls, connected: ConnectedSite) -> SiteOut:
        site = connected.site
        return cls(
            site_id=site.site_id,
            site_url=site.site_url,
            site_owner=site.site_owner,
            connected_at=connected.connected_at,
            licenses=[
                HeldLicenseOut(license_key=lic.license_key, product=lic.product, source=lic.source.value)
                for lic in connected.licenses
            ],
            links=Links.of(site),
        )


class SiteList(BaseModel):
    items: list[SiteOut]
    next_cursor: str | None = None
