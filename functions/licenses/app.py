"""License commands: issue (also to connected sites), list, count, detail, assign/transfer, unassign, revoke,
record external licenses; and the partner's connected sites: list, connect, disconnect."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal, cast

from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from partnerhub import clients
from partnerhub.api import OPERATORS, CursorQuery, caller_of, create_app
from partnerhub.clock import Clock, SystemClock
from partnerhub.composition import Function, entry_point, http_handler
from partnerhub.domain.licenses import UNCHANGED, LicenseService, ListQuery
from partnerhub.domain.models import (
    CLIENT_PATTERN,
    LICENSE_KEY,
    MAX_CLIENT,
    PARTNER_ID,
    PRODUCT_SLUG,
    SITE_ID,
    TAG_PATTERN,
    LicenseCounts,
    Site,
)
from partnerhub.domain.sites import SiteService
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.repository.idempotency import api_requests
from partnerhub.repository.licenses import DynamoLicenseRepository, sort_field_for
from partnerhub.repository.sites import DynamoSiteRepository
from partnerhub.schemas.licenses import (
    AssignRequest,
    ExternalLicenseRequest,
    HistoryOut,
    IssueRequest,
    LabelRequest,
    LicenseDetail,
    LicenseList,
    LicenseOut,
)
from partnerhub.schemas.sites import ConnectSiteRequest, SiteList, SiteOut
from partnerhub.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

app = create_app()


@dataclass(frozen=True)
class Wiring:
    repository: DynamoLicenseRepository
    service: LicenseService
    sites: SiteService
    clock: Clock


def build(
    settings: Settings | None = None, *, clock: Clock | None = None, dynamodb: "DynamoDBClient | None" = None
) -> Function[Wiring]:
    """The composition root: every client and service of this function, made once per execution environment."""
    settings = settings or Settings.from_env()
    dynamodb = dynamodb or clients.dynamodb()
    repository = DynamoLicenseRepository(settings.table_name, dynamodb)
    clock = clock or SystemClock()
    sites = SiteService(DynamoSiteRepository(settings.table_name, dynamodb), repository, clock)
    wiring = Wiring(repository=repository, service=LicenseService(repository, clock), sites=sites, clock=clock)
    idempotency = api_requests(settings.table_name, dynamodb, settings.idempotency_ttl_seconds)
    return Function(wiring, http_handler(app, wiring, idempotency))


def wired() -> Wiring:
    """The services of the request being resolved."""
    return cast(Wiring, app.context["wiring"])


Status = Literal["all", "assigned", "unassigned", "revoked"]
Sort = Literal["issued_at", "assigned_at", "revoked_at"]
LicenseKey = Annotated[str, Path(pattern=LICENSE_KEY.pattern, max_length=200)]


@app.get(
    "/v1/licenses",
    description="`sort` must be the status's own order (issued_at for all and unassigned, assigned_at for "
    "assigned, revoked_at for revoked) or absent; `cursor` must be a `next_cursor` this list returned. "
    "Anything else is 422. `search` matches a substring of the key, the site URL or id, or the client label; "
    "`client` is an exact client label, `tag` one of the license's tags; filters combine.",
)
@app.key_scope("read")
@tracer.capture_method
def list_licenses(
    status: Annotated[Status, Query()] = "all",
    product: Annotated[str | None, Query(pattern=PRODUCT_SLUG, max_length=64)] = None,
    search: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    client: Annotated[str | None, Query(pattern=CLIENT_PATTERN, min_length=1, max_length=MAX_CLIENT)] = None,
    tag: Annotated[str | None, Query(pattern=TAG_PATTERN, min_length=1, max_length=40)] = None,
    sort: Annotated[Sort | None, Query()] = None,
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: CursorQuery = None,
) -> LicenseList:
    query = ListQuery(
        partner_id=caller_of(app).partner(),
        status=status,
        product=product or None,
        search=search,
        client=client,
        tag=tag,
        sort=sort or sort_field_for(status),
        descending=order == "desc",
        limit=limit,
        cursor=cursor,
    )
    page = wired().service.list(query)
    return LicenseList(items=[LicenseOut.of(lic) for lic in page.items], next_cursor=page.next_cursor)


@app.get("/v1/licenses/counts")
@app.key_scope("read")
def license_counts() -> LicenseCounts:
    return wired().service.counts(caller_of(app).partner())


@app.post(
    "/v1/licenses",
    status_code=201,
    response_description="Issued",
    description="Refused with 402 without a payment method or with a past-due invoice; "
    "404 `product_not_found` for a product the catalog does not hold. With `site_ids` (instead of `quantity`): one "
    "license to each of those connected sites, assigned at once, all or none: 404 `site_not_found` and 409 "
    "`site_has_license` name in `details` every site that is not connected, or that holds (or is being issued) an "
    "active license of the product.",
)
@app.key_scope("licenses")
@app.idempotent()
@tracer.capture_method
def issue_licenses(request: Annotated[IssueRequest, Body()]) -> LicenseList:
    caller = caller_of(app)
    partner = caller.partner()
    if request.site_ids is not None:
        issued = wired().service.issue_to_sites(
            partner, request.product, request.site_ids, caller.actor, app.receipt_id(), request.labels
        )
    else:
        issued = wired().service.issue(
            partner, request.product, request.quantity, caller.actor, app.receipt_id(), request.labels
        )
    metrics.add_metric(name="LicensesIssued", unit=MetricUnit.Count, value=len(issued))
    logger.info("licenses issued", extra={"partner_id": partner, "count": len(issued)})
    return LicenseList(items=[LicenseOut.of(lic) for lic in issued])


@app.get("/v1/licenses/<license_key>")
@app.key_scope("read")
def license_detail(license_key: LicenseKey) -> LicenseDetail:
    license, history = wired().service.get(caller_of(app).partner(), license_key)
    return LicenseDetail(**LicenseOut.of(license).model_dump(), history=[HistoryOut.of(e) for e in history])


@app.put("/v1/licenses/<license_key>/site", response_description="Assigned or transferred")
@app.key_scope("licenses")
@app.idempotent()
@tracer.capture_method
def assign_license(license_key: LicenseKey, request: Annotated[AssignRequest, Body()]) -> LicenseOut:
    caller = caller_of(app)
    license = wired().service.assign(caller.partner(), license_key, Site(**request.model_dump()), caller.actor)
    metrics.add_metric(name="LicensesAssigned", unit=MetricUnit.Count, value=1)
    return LicenseOut.of(license)


@app.delete("/v1/licenses/<license_key>/site", response_description="Unassigned")
@app.key_scope("licenses")
@app.idempotent()
def unassign_license(license_key: LicenseKey) -> LicenseOut:
    caller = caller_of(app)
    license = wired().service.unassign(caller.partner(), license_key, caller.actor)
    metrics.add_metric(name="LicensesUnassigned", unit=MetricUnit.Count, value=1)
    return LicenseOut.of(license)


@app.patch(
    "/v1/licenses/<license_key>",
    response_description="Labelled",
    description="Sets the client label and/or the tags: a field left out stays as it is, `null` clears it. "
    "Recorded in the history as a `labelled` event. A revoked license may still be labelled (its past months "
    "are still billed on to a client). Setting what is already set changes nothing.",
)
@app.key_scope("licenses")
@app.idempotent()
def label_license(license_key: LicenseKey, request: Annotated[LabelRequest, Body()]) -> LicenseOut:
    caller = caller_of(app)
    given = request.model_fields_set
    license = wired().service.label(
        caller.partner(),
        license_key,
        request.client if "client" in given else UNCHANGED,
        request.tags if "tags" in given else UNCHANGED,
        caller.actor,
    )
    metrics.add_metric(name="LicensesLabelled", unit=MetricUnit.Count, value=1)
    return LicenseOut.of(license)


@app.post("/v1/licenses/<license_key>/revoke", response_description="Revoked")
@app.key_scope("licenses")
@app.idempotent()
def revoke_license(license_key: LicenseKey) -> LicenseOut:
    caller = caller_of(app)
    license = wired().service.revoke(caller.partner(), license_key, caller.actor)
    metrics.add_metric(name="LicensesRevoked", unit=MetricUnit.Count, value=1)
    return LicenseOut.of(license)


@app.post(
    "/v1/partners/<partner_id>/external-licenses",
    status_code=201,
    response_description="Recorded",
    tags=[OPERATORS],
    description="Operators only. A `license_key`, when given, must begin with the product's slug and `_` (422), "
    "and must not be held already by any partner (409 `license_exists`); an unknown partner is 404 "
    "`partner_not_found`. The history names the operator (`operator:<sub>`).",
)
@app.idempotent(operator=True)
def record_external_license(
    partner_id: Annotated[str, Path(pattern=PARTNER_ID.pattern)],
    request: Annotated[ExternalLicenseRequest, Body()],
) -> LicenseOut:
    caller = caller_of(app)
    caller.require_operator()
    receipt_id = app.receipt_id()
    summary = {"partner_id": partner_id, **request.model_dump(mode="json")}
    audit = caller.audit_entry(
        receipt_id, wired().clock.now(), "license.record_external", f"partner:{partner_id}", summary
    )
    license = wired().service.record_external(
        partner_id, request.product, request.site, audit.actor, request.license_key, receipt_id, audit
    )
    return LicenseOut.of(license)


SiteIdPath = Annotated[str, Path(pattern=SITE_ID.pattern, max_length=64)]


@app.get(
    "/v1/sites",
    description="The partner's connected sites in site id order, each with its active licenses. `search` matches a "
    "substring of the site id, URL or owner (any case); `cursor` must be a `next_cursor` this list returned "
    "(anything else is 422).",
)
@app.key_scope("read")
def list_sites(
    search: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: CursorQuery = None,
) -> SiteList:
    page = wired().sites.list(caller_of(app).partner(), search, limit, cursor)
    return SiteList(items=[SiteOut.of(site) for site in page.items], next_cursor=page.next_cursor)


@app.post(
    "/v1/sites",
    response_description="Connected (or, connected already, given this URL and owner)",
    description="Connects a site to the partner's account; connecting it again updates its URL and owner.",
)
@app.key_scope("sites")
@app.idempotent()
def connect_site(request: Annotated[ConnectSiteRequest, Body()]) -> SiteOut:
    site = wired().sites.connect(caller_of(app).partner(), Site(**request.model_dump()))
    metrics.add_metric(name="SitesConnected", unit=MetricUnit.Count, value=1)
    return SiteOut.of(site)


@app.delete(
    "/v1/sites/<site_id>",
    status_code=204,
    response_description="Disconnected",
    description="Refused with 409 `site_has_licenses` while the site holds an active license (or one is being "
    "issued to it), each named in `details`.",
)
@app.key_scope("sites")
@app.idempotent()
def disconnect_site(site_id: SiteIdPath) -> None:
    wired().sites.disconnect(caller_of(app).partner(), site_id)
    metrics.add_metric(name="SitesDisconnected", unit=MetricUnit.Count, value=1)


lambda_handler = entry_point(build)

__all__ = ["app", "build", "lambda_handler"]
