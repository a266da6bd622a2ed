"""Webhook endpoints of agencies: what may be subscribed, which URLs and addresses are allowed, signing secrets
and their rotation, and the service behind ``/v1/webhook-endpoints``.

Pure: no I/O, no wall clock. The addresses a URL's host resolves to are judged here (:func:`address_refusal`);
resolving them is the adapter's (``partnerhub.outbound.addresses``), at creation and again at every delivery.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from partnerhub import retry
from partnerhub.clock import Clock
from partnerhub.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed

EVENT_TYPES = (
    "license.issued",
    "license.assigned",
    "license.transferred",
    "license.unassigned",
    "license.revoked",
    "license.updated",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "invoice.voided",
    "invoice.marked_uncollectible",
    "payment_method.added",
    "payment_method.removed",
    "account.standing_changed",
)
"""Every event type an endpoint may subscribe to (SPEC "Webhooks to agencies")."""

EVENT_PREFIXES = tuple(sorted({t.split(".", 1)[0] for t in EVENT_TYPES}))
ALL_EVENTS = "*"
MAX_ENDPOINTS = 10
MAX_URL = 2048
MAX_DESCRIPTION = 200
MAX_FILTERS = len(EVENT_TYPES) + len(EVENT_PREFIXES) + 1
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix Standard Webhooks gives every secret, not a secret
SECRET_BYTES = 32  # Standard Webhooks asks for 24 to 64 random bytes
SECRET_OVERLAP = timedelta(hours=24)
"""After a rotation the old secret keeps signing beside the new one this long."""


def filter_refusal(entry: str) -> str | None:
    """Why ``entry`` cannot be an event filter (None when it can): an exact type, ``<prefix>.*`` or ``*``."""
    if entry == ALL_EVENTS or entry in EVENT_TYPES:
        return None
    if entry.endswith(".*") and entry[:-2] in EVENT_PREFIXES:
        return None
    prefixes = ", ".join(f"{p}.*" for p in EVENT_PREFIXES)
    return f"not an event type: use one of the types in the docs, a prefix ({prefixes}) or *"


def matches(filters: Iterable[str], event_type: str) -> bool:
    """Whether an endpoint subscribed to ``filters`` receives ``event_type``."""
    prefix = event_type.split(".", 1)[0]
    return any(f in (ALL_EVENTS, event_type, f"{prefix}.*") for f in filters)


# -- URLs and addresses -----------------------------------------------------------------------------------------

CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
"""Cloud metadata services (EC2's IPv4 and IPv6 addresses): never, not even on the local stack."""
LOCAL_LOOPBACK = ipaddress.ip_address("127.0.0.1")
"""The one address the local stack (and only it) may deliver to."""

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_refusal(text: str, *, allow_local: bool = False) -> str | None:
    """Why a delivery may not go to the address ``text`` (None when it may): every address that is not public
    unicast, named by kind. An IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4) is judged by that
    too. ``allow_local`` (the local stack's setting) allows ``127.0.0.1`` and nothing else."""
    try:
        address: Address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_refusal(str(embedded), allow_local=allow_local)
            if inner is not None or address.ipv4_mapped is not None:
                return inner
    if address in METADATA:
        return "a cloud metadata address"
    if allow_local and address == LOCAL_LOOPBACK:
        return None
    checks: Sequence[tuple[bool, str]] = (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (isinstance(address, ipaddress.IPv4Address) and address in CGNAT, "a carrier-grade NAT address"),
        (address.is_multicast, "a multicast address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


class Target(BaseModel):
    """Where a URL sends: scheme, host (as written, lower case), port and the request target (path and query)."""

    model_config = ConfigDict(frozen=True)

    scheme: str
    host: str
    port: int
    target: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def parse_url(url: str, *, allow_local: bool = False) -> Target:
    """The target of an endpoint URL, or :class:`ValueError` saying why it cannot be one: an absolute ``https``
    URL (``http`` only where ``allow_local``: the local stack), a host, no user name or password, a port in
    range, at most 2048 characters. Its addresses are judged separately (:func:`address_refusal`)."""
    if len(url) > MAX_URL:
        raise ValueError(f"at most {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) > 126 for c in url):
        raise ValueError("no spaces, control or non-ASCII characters (percent-encode them)")
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_local else ("https",)
    if parts.scheme.lower() not in schemes:
        raise ValueError("must be an https:// URL" if not allow_local else "must be an https:// or http:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user name or password")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError("must name a host")
    if port == 0:
        raise ValueError("the port must be a number from 1 to 65535")
    scheme = parts.scheme.lower()
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80), target=target)


HostCheck = Callable[[str, int], str | None]
"""Resolves a host and judges every address it has: why it is refused, or None (``outbound.addresses``)."""


# -- endpoints and secrets --------------------------------------------------------------------------------------


class SigningSecret(BaseModel):
    """A secret endpoints' deliveries are signed with; ``expires_at`` is set once a newer one replaced it."""

    model_config = ConfigDict(frozen=True)

    value: str
    created_at: datetime
    expires_at: datetime | None = None

    def live(self, at: datetime) -> bool:
        return self.expires_at is None or at < self.expires_at


class Endpoint(BaseModel):
    """A partner's webhook endpoint, as stored. ``version`` orders every change."""

    model_config = ConfigDict(frozen=True)

    partner_id: str
    endpoint_id: str
    url: str
    events: tuple[str, ...]
    description: str | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    failing_since: datetime | None = None
    created_at: datetime
    updated_at: datetime
    secrets: tuple[SigningSecret, ...]
    version: int = 1

    def signing_secrets(self, at: datetime) -> list[str]:
        """The secrets a delivery at ``at`` is signed with, newest first."""
        return [s.value for s in self.secrets if s.live(at)]

    def wants(self, event_type: str) -> bool:
        return self.enabled and matches(self.events, event_type)


def new_secret() -> str:
    """``whsec_`` and the base64 of 32 random bytes, as Standard Webhooks spells a secret."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def rotated(current: Sequence[SigningSecret], fresh: str, at: datetime) -> tuple[SigningSecret, ...]:
    """The secrets after a rotation at ``at``: the fresh one first; each older one still live keeps signing for
    :data:`SECRET_OVERLAP` more at most; expired ones are dropped."""
    ending = at + SECRET_OVERLAP
    kept = tuple(
        s.model_copy(update={"expires_at": min(s.expires_at or ending, ending)}) for s in current if s.live(at)
    )
    return (SigningSecret(value=fresh, created_at=at), *kept)


def endpoint_id_for(receipt_id: str) -> str:
    """The endpoint a create request makes: from its receipt, so a retried request makes the same one."""
    digest = hashlib.sha256(f"webhook-endpoint\n{receipt_id}".encode()).digest()
    return "we_" + base62(digest)[:24]


def base62(data: bytes) -> str:
    """``data`` as base62 digits (ids that are safe in a URL path and in a key)."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, digit = divmod(number, 62)
        out.append(alphabet[digit])
    return "".join(reversed(out)) or "0"


# -- the service --------------------------------------------------------------------------------------------------


class EndpointConflict(Exception):
    """The endpoint changed since it was read (its version moved); re-read and re-plan."""


class EndpointStore(Protocol):
    def create(self, endpoint: Endpoint, limit: int) -> Endpoint:
        """Store a new endpoint (counted against ``limit``); an endpoint with its id already stored is returned as
        it is (a retried create). :class:`~partnerhub.errors.Conflict` when the partner has ``limit`` already."""
        ...

    def endpoints(self, partner_id: str) -> list[Endpoint]: ...

    def endpoint(self, partner_id: str, endpoint_id: str) -> Endpoint | None: ...

    def save(self, before: Endpoint, after: Endpoint) -> None:
        """Write ``after`` if the stored endpoint is still ``before`` (its version), else :class:`EndpointConflict`."""
        ...

    def delete(self, endpoint: Endpoint) -> None: ...


UNCHANGED = object()
"""A field a PATCH left out."""


class WebhookEndpointService:
    """Create, list, change, rotate and delete a partner's endpoints. A URL is checked when saved (its shape and
    every address its host resolves to); it is checked again at every delivery."""

    def __init__(
        self,
        store: EndpointStore,
        host_check: HostCheck,
        clock: Clock,
        *,
        allow_local: bool = False,
        secret: Callable[[], str] = new_secret,
        max_attempts: int = 5,
    ) -> None:
        self._store = store
        self._host_check = host_check
        self._clock = clock
        self._allow_local = allow_local
        self._secret = secret
        self._max_attempts = max_attempts

    def list(self, partner_id: str) -> list[Endpoint]:
        return sorted(self._store.endpoints(partner_id), key=lambda e: (e.created_at, e.endpoint_id))

    def get(self, partner_id: str, endpoint_id: str) -> Endpoint:
        found = self._store.endpoint(partner_id, endpoint_id)
        if found is None:
            raise NotFound("no such webhook endpoint", code="webhook_endpoint_not_found")
        return found

    def create(
        self, partner_id: str, url: str, events: Sequence[str], description: str | None, receipt_id: str
    ) -> tuple[Endpoint, str]:
        """A new endpoint and its signing secret (shown this once). At most :data:`MAX_ENDPOINTS` per partner."""
        self._check_url(url)
        now = self._clock.now()
        secret = self._secret()
        endpoint = Endpoint(
            partner_id=partner_id,
            endpoint_id=endpoint_id_for(receipt_id),
            url=url,
            events=_distinct(events),
            description=description,
            created_at=now,
            updated_at=now,
            secrets=(SigningSecret(value=secret, created_at=now),),
        )
        stored = self._store.create(endpoint, MAX_ENDPOINTS)
        return stored, stored.secrets[0].value

    def update(
        self,
        partner_id: str,
        endpoint_id: str,
        *,
        url: str | object = UNCHANGED,
        events: Sequence[str] | object = UNCHANGED,
        enabled: bool | object = UNCHANGED,
        description: str | object | None = UNCHANGED,
    ) -> Endpoint:
        """Change what was given. Enabling an endpoint clears why it was disabled and its run of failures."""
        if isinstance(url, str):
            self._check_url(url)

        def plan(current: Endpoint) -> Endpoint:
            changes: dict[str, object] = {}
            if isinstance(url, str):
                changes["url"] = url
            if events is not UNCHANGED:
                changes["events"] = _distinct(events)  # type: ignore[arg-type]
            if description is not UNCHANGED:
                changes["description"] = description
            if enabled is True and not current.enabled:
                changes |= {"enabled": True, "disabled_reason": None, "disabled_at": None, "failing_since": None}
            elif enabled is False and current.enabled:
                changes |= {"enabled": False, "disabled_reason": None, "disabled_at": self._clock.now()}
            return current.model_copy(update=changes)

        return self._change(partner_id, endpoint_id, plan)

    def rotate(self, partner_id: str, endpoint_id: str) -> tuple[Endpoint, str]:
        """A new signing secret (shown this once); the one it replaces signs beside it for 24 hours."""
        fresh = self._secret()
        now = self._clock.now()
        changed = self._change(
            partner_id,
            endpoint_id,
            lambda current: current.model_copy(update={"secrets": rotated(current.secrets, fresh, now)}),
        )
        return changed, fresh

    def delete(self, partner_id: str, endpoint_id: str) -> None:
        self._store.delete(self.get(partner_id, endpoint_id))

    def _change(self, partner_id: str, endpoint_id: str, plan: Callable[[Endpoint], Endpoint]) -> Endpoint:
        def attempt() -> Endpoint:
            current = self.get(partner_id, endpoint_id)
            planned = plan(current)
            if planned == current:
                return current
            after = planned.model_copy(update={"updated_at": self._clock.now(), "version": current.version + 1})
            self._store.save(current, after)
            return after

        try:
            return retry.on_conflict((EndpointConflict,), attempts=self._max_attempts)(attempt)
        except EndpointConflict as error:
            raise ServiceUnavailable(
                "the webhook endpoint is changing too fast; try again", code="contention", retry_after=1
            ) from error

    def _check_url(self, url: str) -> None:
        try:
            target = parse_url(url, allow_local=self._allow_local)
        except ValueError as error:
            raise ValidationFailed("invalid url", details=[{"field": "url", "reason": str(error)}]) from None
        refusal = self._host_check(target.host, target.port)
        if refusal is not None:
            raise ValidationFailed("invalid url", details=[{"field": "url", "reason": refusal}])


def _distinct(events: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(events))


def limit_reached(limit: int) -> Conflict:
    """409 when a partner already has ``limit`` endpoints."""
    return Conflict(
        f"a partner may have at most {limit} webhook endpoints; delete one first",
        code="webhook_endpoint_limit",
        details=[{"field": "url", "reason": f"at most {limit} endpoints", "limit": limit}],
    )
