"""License commands: issue, list, count, detail, assign/transfer, unassign, revoke, record external licenses."""

import partnerhub.lean  # noqa: F401  (first: Powertools then loads only the modules used)

# isort: split
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging.correlation_paths import API_GATEWAY_HTTP
from aws_lambda_powertools.utilities.typing.lambda_context import LambdaContext

from partnerhub import clock
from partnerhub.api import Idempotency, caller_of, create_app, json_response, success
from partnerhub.domain.licenses import LicenseService, ListQuery
from partnerhub.domain.models import LicenseCounts, Site
from partnerhub.observability import MetricUnit, logger, metrics, tracer
from partnerhub.repository.licenses import DynamoLicenseRepository, sort_field_for
from partnerhub.schemas.licenses import (
    AssignRequest,
    ExternalLicenseRequest,
    HistoryOut,
    IssueRequest,
    LicenseDetail,
    LicenseList,
    LicenseOut,
)
from partnerhub.settings import Settings

settings = Settings.from_env()
repository = DynamoLicenseRepository(settings.table_name)
service = LicenseService(repository, clock.current())
idempotency = Idempotency(settings.table_name, settings.idempotency_ttl_seconds)
app = create_app()

Status = Literal["all", "assigned", "unassigned", "revoked"]
Sort = Literal["issued_at", "assigned_at", "revoked_at"]
LicenseKey = Annotated[str, Path(max_length=200)]


@app.get("/v1/licenses")
@tracer.capture_method
def list_licenses(
    status: Annotated[Status, Query()] = "all",
    product: Annotated[str | None, Query(max_length=64)] = None,
    search: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    sort: Annotated[Sort | None, Query()] = None,
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> LicenseList:
    query = ListQuery(
        partner_id=caller_of(app).partner(),
        status=status,
        product=product or None,
        search=search,
        sort=sort or sort_field_for(status),
        descending=order == "desc",
        limit=limit,
        cursor=cursor,
    )
    page = service.list(query)
    return LicenseList(items=[LicenseOut.of(lic) for lic in page.items], next_cursor=page.next_cursor)


@app.get("/v1/licenses/counts")
def license_counts() -> LicenseCounts:
    return service.counts(caller_of(app).partner())


@app.post("/v1/licenses", responses=success(201, LicenseList, "Issued"))
@tracer.capture_method
def issue_licenses(request: Annotated[IssueRequest, Body()]) -> Response[str]:
    caller = caller_of(app)
    partner = caller.partner()

    def issue(receipt_id: str) -> tuple[int, Any]:
        issued = service.issue(partner, request.product, request.quantity, caller.actor, receipt_id)
        metrics.add_metric(name="LicensesIssued", unit=MetricUnit.Count, value=len(issued))
        logger.info("licenses issued", extra={"partner_id": partner, "count": len(issued)})
        return 201, LicenseList(items=[LicenseOut.of(lic) for lic in issued])

    return idempotency.run(app, partner, "POST /v1/licenses", request.model_dump(mode="json"), issue)


@app.get("/v1/licenses/<license_key>")
def license_detail(license_key: LicenseKey) -> LicenseDetail:
    license, history = service.get(caller_of(app).partner(), license_key)
    return LicenseDetail(**LicenseOut.of(license).model_dump(), history=[HistoryOut.of(e) for e in history])


@app.put("/v1/licenses/<license_key>/site", responses=success(200, LicenseOut, "Assigned or transferred"))
@tracer.capture_method
def assign_license(license_key: LicenseKey, request: Annotated[AssignRequest, Body()]) -> Response[str]:
    caller = caller_of(app)
    partner = caller.partner()

    def assign(_: str) -> tuple[int, Any]:
        license = service.assign(partner, license_key, Site(**request.model_dump()), caller.actor)
        metrics.add_metric(name="LicensesAssigned", unit=MetricUnit.Count, value=1)
        return 200, LicenseOut.of(license)

    body = {"license_key": license_key, **request.model_dump(mode="json")}
    return idempotency.run(app, partner, "PUT /v1/licenses/{license_key}/site", body, assign)


@app.delete("/v1/licenses/<license_key>/site", responses=success(200, LicenseOut, "Unassigned"))
def unassign_license(license_key: LicenseKey) -> Response[str]:
    caller = caller_of(app)
    partner = caller.partner()

    def unassign(_: str) -> tuple[int, Any]:
        license = service.unassign(partner, license_key, caller.actor)
        metrics.add_metric(name="LicensesUnassigned", unit=MetricUnit.Count, value=1)
        return 200, LicenseOut.of(license)

    return idempotency.run(
        app, partner, "DELETE /v1/licenses/{license_key}/site", {"license_key": license_key}, unassign
    )


@app.post("/v1/licenses/<license_key>/revoke", responses=success(200, LicenseOut, "Revoked"))
def revoke_license(license_key: LicenseKey) -> Response[str]:
    caller = caller_of(app)
    partner = caller.partner()

    def revoke(_: str) -> tuple[int, Any]:
        license = service.revoke(partner, license_key, caller.actor)
        metrics.add_metric(name="LicensesRevoked", unit=MetricUnit.Count, value=1)
        return 200, LicenseOut.of(license)

    return idempotency.run(app, partner, "POST /v1/licenses/{license_key}/revoke", {"license_key": license_key}, revoke)


@app.post("/v1/partners/<partner_id>/external-licenses", responses=success(201, LicenseOut, "Recorded"))
def record_external_license(
    partner_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")],
    request: Annotated[ExternalLicenseRequest, Body()],
) -> Response[str]:
    caller = caller_of(app)
    caller.require_operator()

    def record(receipt_id: str) -> tuple[int, Any]:
        license = service.record_external(
            partner_id, request.product, request.site, caller.actor, request.license_key, receipt_id
        )
        return 201, LicenseOut.of(license)

    body = {"partner_id": partner_id, **request.model_dump(mode="json")}
    return idempotency.run(
        app, f"operator:{caller.subject}", "POST /v1/partners/{partner_id}/external-licenses", body, record
    )


@logger.inject_lambda_context(correlation_id_path=API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


__all__ = ["app", "json_response", "lambda_handler"]
