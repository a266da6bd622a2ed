"""License commands: issue, list, count, detail, assign/transfer, unassign, revoke, record external licenses."""

import partnerhub.lean  # noqa: F401  (first: Powertools then loads only the modules used)

# isort: split
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from partnerhub.api import OPERATORS, CursorQuery, Idempotency, caller_of, create_app, json_response, success
from partnerhub.clock import Clock, SystemClock
from partnerhub.composition import Function, http_handler
from partnerhub.domain.licenses import UNCHANGED, LicenseService, ListQuery
from partnerhub.domain.models import (
    CLIENT_PATTERN,
    LICENSE_KEY,
    MAX_CLIENT,
    PARTNER_ID,
    PRODUCT_SLUG,
    TAG_PATTERN,
    LicenseCounts,
    Site,
)
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.repository.licenses import DynamoLicenseRepository, sort_field_for
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
from partnerhub.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

app = create_app()


@dataclass(frozen=True)
class Wiring:
    repository: DynamoLicenseRepository
    service: LicenseService
    idempotency: Idempotency
    clock: Clock


def build(
    settings: Settings | None = None, *, clock: Clock | None = None, dynamodb: "DynamoDBClient | None" = None
) -> Function[Wiring]:
    """The composition root: every client and service of this function, made once per execution environment."""
    settings = settings or Settings.from_env()
    repository = DynamoLicenseRepository(settings.table_name, dynamodb)
    clock = clock or SystemClock()
    wiring = Wiring(
        repository=repository,
        service=LicenseService(repository, clock),
        idempotency=Idempotency(settings.table_name, settings.idempotency_ttl_seconds, dynamodb),
        clock=clock,
    )
    return Function(wiring, http_handler(app, wiring))


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
def license_counts() -> LicenseCounts:
    return wired().service.counts(caller_of(app).partner())


@app.post(
    "/v1/licenses",
    responses=success(201, LicenseList, "Issued"),
    description="Refused with 402 without a payment method or with a past-due invoice; "
    "404 `product_not_found` for a product the catalog does not hold.",
)
@tracer.capture_method
def issue_licenses(request: Annotated[IssueRequest, Body()]) -> Response[str]:
    caller = caller_of(app)
    partner = caller.partner()

    def issue(receipt_id: str) -> tuple[int, Any]:
        issued = wired().service.issue(
            partner, request.product, request.quantity, caller.actor, receipt_id, request.labels
        )
        metrics.add_metric(name="LicensesIssued", unit=MetricUnit.Count, value=len(issued))
        logger.info("licenses issued", extra={"partner_id": partner, "count": len(issued)})
        return 201, LicenseList(items=[LicenseOut.of(lic) for lic in issued])

    return wired().idempotency.run(app, partner, "POST /v1/licenses", request.model_dump(mode="json"), issue)


@app.get("/v1/licenses/<license_key>")
def license_detail(license_key: LicenseKey) -> LicenseDetail:
    license, history = wired().service.get(caller_of(app).partner(), license_key)
    return LicenseDetail(**LicenseOut.of(license).model_dump(), history=[HistoryOut.of(e) for e in history])


@app.put("/v1/licenses/<license_key>/site", responses=success(200, LicenseOut, "Assigned or transferred"))
@tracer.capture_method
def assign_license(license_key: LicenseKey, request: Annotated[AssignRequest, Body()]) -> Response[str]:
    caller = caller_of(app)
    partner = caller.partner()

    def assign(_: str) -> tuple[int, Any]:
        license = wired().service.assign(partner, license_key, Site(**request.model_dump()), caller.actor)
        metrics.add_metric(name="LicensesAssigned", unit=MetricUnit.Count, value=1)
        return 200, LicenseOut.of(license)

    body = {"license_key": license_key, **request.model_dump(mode="json")}
    return wired().idempotency.run(app, partner, "PUT /v1/licenses/{license_key}/site", body, assign)


@app.delete("/v1/licenses/<license_key>/site", responses=success(200, LicenseOut, "Unassigned"))
def unassign_license(license_key: LicenseKey) -> Response[str]:
    caller = caller_of(app)
    partner = caller.partner()

    def unassign(_: str) -> tuple[int, Any]:
        license = wired().service.unassign(partner, license_key, caller.actor)
        metrics.add_metric(name="LicensesUnassigned", unit=MetricUnit.Count, value=1)
        return 200, LicenseOut.of(license)

    return wired().idempotency.run(
        app, partner, "DELETE /v1/licenses/{license_key}/site", {"license_key": license_key}, unassign
    )


@app.patch(
    "/v1/licenses/<license_key>",
    responses=success(200, LicenseOut, "Labelled"),
    description="Sets the client label and/or the tags: a field left out stays as it is, `null` clears it. "
    "Recorded in the history as a `labelled` event. A revoked license may still be labelled (its past months "
    "are still billed on to a client). Setting what is already set changes nothing.",
)
def label_license(license_key: LicenseKey, request: Annotated[LabelRequest, Body()]) -> Response[str]:
    caller = caller_of(app)
    partner = caller.partner()
    given = request.model_fields_set

    def label(_: str) -> tuple[int, Any]:
        license = wired().service.label(
            partner,
            license_key,
            request.client if "client" in given else UNCHANGED,
            request.tags if "tags" in given else UNCHANGED,
            caller.actor,
        )
        metrics.add_metric(name="LicensesLabelled", unit=MetricUnit.Count, value=1)
        return 200, LicenseOut.of(license)

    body = {"license_key": license_key, **request.model_dump(mode="json", exclude_unset=True)}
    return wired().idempotency.run(app, partner, "PATCH /v1/licenses/{license_key}", body, label)


@app.post("/v1/licenses/<license_key>/revoke", responses=success(200, LicenseOut, "Revoked"))
def revoke_license(license_key: LicenseKey) -> Response[str]:
    caller = caller_of(app)
    partner = caller.partner()

    def revoke(_: str) -> tuple[int, Any]:
        license = wired().service.revoke(partner, license_key, caller.actor)
        metrics.add_metric(name="LicensesRevoked", unit=MetricUnit.Count, value=1)
        return 200, LicenseOut.of(license)

    return wired().idempotency.run(
        app, partner, "POST /v1/licenses/{license_key}/revoke", {"license_key": license_key}, revoke
    )


@app.post(
    "/v1/partners/<partner_id>/external-licenses",
    responses=success(201, LicenseOut, "Recorded"),
    tags=[OPERATORS],
    description="Operators only. A `license_key`, when given, must begin with the product's slug and `_` (422), "
    "and must not be held already by any partner (409 `license_exists`); an unknown partner is 404 "
    "`partner_not_found`. The history names the operator (`operator:<sub>`).",
)
def record_external_license(
    partner_id: Annotated[str, Path(pattern=PARTNER_ID.pattern)],
    request: Annotated[ExternalLicenseRequest, Body()],
) -> Response[str]:
    caller = caller_of(app)
    caller.require_operator()

    body = {"partner_id": partner_id, **request.model_dump(mode="json")}

    def record(receipt_id: str) -> tuple[int, Any]:
        audit = caller.audit_entry(
            receipt_id, wired().clock.now(), "license.record_external", f"partner:{partner_id}", body
        )
        license = wired().service.record_external(
            partner_id,
            request.product,
            request.site,
            audit.actor,
            request.license_key,
            receipt_id,
            audit,
        )
        return 201, LicenseOut.of(license)

    return wired().idempotency.run(
        app, f"operator:{caller.subject}", "POST /v1/partners/{partner_id}/external-licenses", body, record
    )


lambda_handler = build().handler

__all__ = ["app", "build", "json_response", "lambda_handler"]
