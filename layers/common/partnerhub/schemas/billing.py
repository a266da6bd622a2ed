"""Request and response bodies of the price and billing routes (the OpenAPI document is generated from these)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    WithJsonSchema,
    field_serializer,
)

from partnerhub.clock import isoformat
from partnerhub.domain.billing import CURRENCY, Estimate, EstimateCounts, EstimateTotals, PriceVersion
from partnerhub.domain.estimates import NamedEstimate
from partnerhub.domain.pricing import MAX_PRICE, ProductPrices
from partnerhub.domain.rebilling import GroupedEstimate, HistoryMonth
from partnerhub.domain.splits import Group
from partnerhub.schemas.types import WHOLE_NUMBER

Instant = Annotated[datetime, PlainSerializer(isoformat, return_type=str)]
Cents = Annotated[int, Field(strict=True, ge=0, le=MAX_PRICE, description="integer cents"), WHOLE_NUMBER]

_FIRST_OF_MONTH = re.compile(r"^(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2])-01$")


def _first_of_month(value: Any) -> Any:
    if not isinstance(value, str) or not _FIRST_OF_MONTH.match(value):
        raise ValueError("must be the first day of a month, YYYY-MM-01")
    return value


FirstOfMonth = Annotated[
    date,
    BeforeValidator(_first_of_month),
    WithJsonSchema({"type": "string", "format": "date", "pattern": _FIRST_OF_MONTH.pattern}),
]


class PriceRequest(BaseModel):
    """``PUT /v1/prices/{product}``: a new version from the 1st of a month not yet started.

    Also enforced, beyond what a schema can say: ``monthly_price`` is not below ``daily_price`` (422), a
    ``daily_price`` of 0 (the product becomes free) only with ``confirm_free: true`` (422 otherwise), and
    ``effective_from`` is the 1st of a month that has not started yet (409 ``month_already_started``)."""

    model_config = ConfigDict(extra="forbid")

    daily_price: Cents
    monthly_price: Cents
    effective_from: FirstOfMonth
    confirm_free: StrictBool = Field(
        default=False, description="Must be true to schedule a daily price of 0: the product is then free"
    )


class PriceVersionOut(BaseModel):
    daily_price: int
    monthly_price: int
    effective_from: date

    @classmethod
    def of(cls, version: PriceVersion) -> PriceVersionOut:
        return cls(
            daily_price=version.daily_price,
            monthly_price=version.monthly_price,
            effective_from=version.effective_from,
        )


class ProductPricesOut(BaseModel):
    """The version in force for the current month (null fields if none yet) and the scheduled ones."""

    product: str
    name: str
    currency: str
    daily_price: int | None
    monthly_price: int | None
    effective_from: date | None
    scheduled: list[PriceVersionOut]

    @classmethod
    def of(cls, prices: ProductPrices) -> ProductPricesOut:
        current = prices.current
        return cls(
            product=prices.product.product,
            name=prices.product.name,
            currency=prices.currency,
            daily_price=current.daily_price if current else None,
            monthly_price=current.monthly_price if current else None,
            effective_from=current.effective_from if current else None,
            scheduled=[PriceVersionOut.of(v) for v in prices.scheduled],
        )


class PriceList(BaseModel):
    items: list[ProductPricesOut]
    as_of: Instant = Field(description="The service's time of the answer (the console's default months use it)")


class CountsOut(BaseModel):
    assigned: int
    unassigned: int
    total: int

    @classmethod
    def of(cls, counts: EstimateCounts) -> CountsOut:
        return cls(assigned=counts.assigned, unassigned=counts.unassigned, total=counts.total)


class TotalsOut(BaseModel):
    counts: CountsOut
    license_days: int
    cost_to_date: int
    projected_cost: int

    @classmethod
    def of(cls, totals: EstimateTotals) -> TotalsOut:
        return cls(
            counts=CountsOut.of(totals.counts),
            license_days=totals.license_days,
            cost_to_date=totals.cost_to_date,
            projected_cost=totals.projected_cost,
        )


class ProductEstimateOut(BaseModel):
    product: str
    name: str
    counts: CountsOut
    license_days: int
    cost_to_date: int
    projected_cost: int


class EstimateOut(BaseModel):
    """``GET /v1/billing``: SPEC's shape; ``license_days`` and ``cost_to_date`` count up to ``as_of``."""

    period: str
    as_of: Instant
    currency: str
    products: list[ProductEstimateOut]
    totals: TotalsOut

    @classmethod
    def of(cls, named: NamedEstimate) -> EstimateOut:
        estimate: Estimate = named.estimate
        return cls(
            period=str(estimate.period),
            as_of=estimate.as_of,
            currency=CURRENCY,
            products=[
                ProductEstimateOut(
                    product=p.product,
                    name=named.names.get(p.product, p.product),
                    counts=CountsOut.of(p.counts),
                    license_days=p.license_days,
                    cost_to_date=p.cost_to_date,
                    projected_cost=p.projected_cost,
                )
                for p in estimate.products
            ],
            totals=TotalsOut.of(estimate.totals),
        )


class GroupOut(BaseModel):
    """One group of ``GET /v1/billing?group_by=``: only the key of the grouping asked for is present (``client``,
    ``site`` with ``site_url``, or ``product``). ``licenses`` counts each license once (by site: at the site its
    last day belongs to); days and amounts are split, and every field sums to ``totals``."""

    client: str | None = None
    site: str | None = None
    site_url: str | None = None
    product: str | None = None
    licenses: int
    license_days: int
    cost_to_date: int
    projected_cost: int

    @classmethod
    def of(cls, group: Group, by: str, site_urls: dict[str, str]) -> GroupOut:
        keyed: dict[str, Any] = {by: group.key}
        if by == "site":
            keyed["site_url"] = site_urls.get(group.key) if group.key is not None else None
        return cls(
            licenses=group.licenses,
            license_days=group.license_days,
            cost_to_date=group.cost_to_date,
            projected_cost=group.projected_cost,
            **keyed,
        )


class GroupedEstimateOut(EstimateOut):
    """``GET /v1/billing``; with ``group_by=client|site|product`` also ``group_by`` and ``groups`` (absent without)."""

    group_by: str | None = None
    groups: list[GroupOut] | None = None

    @field_serializer("groups")
    def _only_the_key_asked_for(self, groups: list[GroupOut] | None) -> list[dict[str, Any]] | None:
        return None if groups is None else [g.model_dump(mode="json", exclude_unset=True) for g in groups]

    @classmethod
    def of_grouped(cls, grouped: GroupedEstimate) -> GroupedEstimateOut:
        plain = EstimateOut.of(grouped.named)
        return cls(
            **plain.model_dump(),
            group_by=grouped.by,
            groups=[GroupOut.of(g, grouped.by, grouped.site_urls) for g in grouped.groups],
        )


class BillingMonthOut(BaseModel):
    period: str
    total: int
    invoice_id: str | None
    status: str = Field(
        description="the invoice's status (draft, open, paid, void, uncollectible) for an invoiced month; "
        "`projected` for the current month; `pending` for a past month not invoiced yet; `none` for nothing to bill"
    )

    @classmethod
    def of(cls, month: HistoryMonth) -> BillingMonthOut:
        return cls(period=month.period, total=month.total, invoice_id=month.invoice_id, status=month.status)


class BillingHistoryOut(BaseModel):
    items: list[BillingMonthOut]
