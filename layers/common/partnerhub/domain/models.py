"""Plain models shared by the domain, the repository and the API."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

PRODUCT_SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
LICENSE_KEY = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*_[A-Za-z0-9]{24,64}$")
PARTNER_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

ProductSlug = Annotated[str, StringConstraints(pattern=PRODUCT_SLUG, min_length=1, max_length=64)]


_PCHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})"
HTTP_URL = (
    r"[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]{1,5})?"
    rf"(?:/{_PCHAR}*)*(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?"
)
"""An absolute http(s) URI (RFC 3986): an ASCII host name, an optional port, then path, query and fragment with
every other character percent-encoded. Also the ``pattern`` the OpenAPI document publishes."""


MAX_URL = 2048
# What RFC 3986 allows as it is in a path, and in a query or fragment; anything else is percent-encoded.
_PATH_SAFE = "/-._~!$&'()*+,;=:@%"
_QUERY_SAFE = _PATH_SAFE + "?"


def ascii_url(value: object) -> object:
    """An internationalised URL in its ASCII form, as a browser sends it: the host name in IDNA (UTS #46, as the
    WHATWG URL standard applies it: ``bäckerei.example`` → ``xn--bckerei-5wa.example``), any other non-ASCII
    character percent-encoded as UTF-8. An ASCII URL, or anything but a string, is returned as it is."""
    if not isinstance(value, str) or value.isascii():
        return value
    parts = urlsplit(value)
    host, colon, port = parts.netloc.partition(":")  # no user info, no IP literal: HTTP_URL allows neither
    if not host.isascii():
        import idna  # only for a non-ASCII host name: partnerhub.priming loads it ahead of requests

        try:
            host = idna.encode(host, uts46=True, transitional=False).decode("ascii")
        except idna.IDNAError as error:
            raise ValueError(f"the host name is not a valid internationalised domain name: {error}") from error
    netloc = f"{host}{colon}{port}"
    return urlunsplit(
        (
            parts.scheme,
            netloc,
            quote(parts.path, safe=_PATH_SAFE),
            quote(parts.query, safe=_QUERY_SAFE),
            quote(parts.fragment, safe=_QUERY_SAFE),
        )
    )


def prime() -> None:
    """Load what :func:`ascii_url` imports on first use (``partnerhub.priming``: ahead of requests)."""
    import idna  # noqa: F401


def _check_url(value: str) -> str:
    if len(value) > MAX_URL:
        raise ValueError(f"too long: at most {MAX_URL} characters (its ASCII form has {len(value)})")
    if not re.fullmatch(HTTP_URL, value):
        raise ValueError("must be an absolute http(s) URL (RFC 3986: ASCII, other characters percent-encoded)")
    return value


HttpUrlText = Annotated[str, BeforeValidator(ascii_url), AfterValidator(_check_url)]
"""An absolute http(s) URL: an internationalised one is taken in its ASCII form (:func:`ascii_url`), which is what
is stored and answered (a site's URL wherever it is named: assigning, issuing to sites, connecting a site)."""
SITE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
SiteId = Annotated[str, StringConstraints(pattern=SITE_ID.pattern)]

MAX_CLIENT = 100
MAX_TAGS = 10
CLIENT_PATTERN = r"^[^\x00-\x1f\x7f]+$"
"""A client label: 1..100 characters, none of them a control character."""
TAG_PATTERN = r"^[A-Za-z0-9_.-](?:[A-Za-z0-9 _.-]{0,38}[A-Za-z0-9_.-])?$"
"""A tag: 1..40 letters, digits, spaces, ``_``, ``.`` or ``-``, not beginning or ending with a space."""

ClientLabel = Annotated[str, StringConstraints(pattern=CLIENT_PATTERN, min_length=1, max_length=MAX_CLIENT)]
Tag = Annotated[str, StringConstraints(pattern=TAG_PATTERN, min_length=1, max_length=40)]


def _distinct(tags: list[str]) -> list[str]:
    if len(set(tags)) != len(tags):
        raise ValueError("tags must not repeat")
    return tags


Tags = Annotated[
    list[Tag], Field(max_length=MAX_TAGS, json_schema_extra={"uniqueItems": True}), AfterValidator(_distinct)
]


class LicenseStatus(StrEnum):
    ASSIGNED = "assigned"
    UNASSIGNED = "unassigned"
    REVOKED = "revoked"


class Source(StrEnum):
    PORTAL = "portal"
    EXTERNAL = "external"


class Site(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    site_id: SiteId
    site_url: HttpUrlText
    site_owner: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None


HistoryType = Literal["issued", "assigned", "transferred", "unassigned", "revoked", "labelled"]


class Labels(BaseModel):
    """A license's re-billing labels: the client it is billed on to, and free tags."""

    model_config = ConfigDict(frozen=True)

    client: str | None = None
    tags: tuple[str, ...] = ()


class HistoryEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    type: HistoryType
    at: datetime
    actor: str
    site: Site | None = None
    previous_site: Site | None = None
    labels: Labels | None = None  # "labelled": the labels set
    previous_labels: Labels | None = None  # "labelled": the labels before


class License(BaseModel):
    """A license as stored. ``version`` orders every change; history event ``seq`` equals the version it made."""

    model_config = ConfigDict(frozen=True)

    partner_id: str
    license_key: str
    product: str
    product_name: str
    source: Source
    issued_at: datetime
    issued_by: str
    assigned_at: datetime | None = None
    revoked_at: datetime | None = None
    site: Site | None = None
    version: int = Field(ge=1)
    client: str | None = None
    tags: tuple[str, ...] = ()
    issued_to: Site | None = None  # the site it was issued (or recorded) on, when it went to one at once

    @property
    def labels(self) -> Labels:
        return Labels(client=self.client, tags=self.tags)

    @property
    def status(self) -> LicenseStatus:
        if self.revoked_at is not None:
            return LicenseStatus.REVOKED
        if self.site is not None:
            return LicenseStatus.ASSIGNED
        return LicenseStatus.UNASSIGNED

    @property
    def status_at(self) -> datetime:
        """When the license entered its current status (the sort key of status views)."""
        if self.revoked_at is not None:
            return self.revoked_at
        if self.site is not None and self.assigned_at is not None:
            return self.assigned_at
        return self.issued_at


class Product(BaseModel):
    model_config = ConfigDict(frozen=True)

    product: str
    name: str


class Standing(BaseModel):
    """What license commands need to know of a partner's account, kept on the partner's record."""

    model_config = ConfigDict(frozen=True)

    has_payment_method: bool = False
    past_due_invoices: tuple[str, ...] = ()

    @property
    def can_issue(self) -> bool:
        return self.has_payment_method and not self.past_due_invoices

    @property
    def can_assign(self) -> bool:
        return not self.past_due_invoices


class Counts(BaseModel):
    all: int = 0
    assigned: int = 0
    unassigned: int = 0
    revoked: int = 0
    not_revoked: int = 0


class LicenseCounts(Counts):
    products: dict[str, Counts] = Field(default_factory=dict)
