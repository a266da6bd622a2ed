"""The product catalog and its versioned prices: one small partition, read in a single Query."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from partnerhub.domain.audit import AuditEntry
from partnerhub.domain.billing import PriceVersion
from partnerhub.domain.models import Product
from partnerhub.repository import keys
from partnerhub.repository.audit import audit_put
from partnerhub.repository.dynamo import (
    TableRepository,
    cancellation_reasons,
    error_code,
    serialize,
    values,
)


class DynamoCatalogRepository(TableRepository):
    def load(self) -> tuple[list[Product], list[PriceVersion]]:
        """Every product and every price version, in one paginated Query of the catalog partition."""
        products: list[Product] = []
        prices: list[PriceVersion] = []
        for item in self._items(KeyConditionExpression="PK = :pk", ExpressionAttributeValues=values(pk=keys.CATALOG)):
            if item.get("type") == "product":
                products.append(Product(product=item["product"], name=item["name"]))
            elif item.get("type") == "price":
                prices.append(price_from_item(item))
        return products, prices

    def put_product(self, product: Product) -> None:
        self._client.put_item(
            TableName=self._table,
            Item=serialize(
                {"PK": keys.CATALOG, "SK": keys.product_sk(product.product), "type": "product", **product.model_dump()}
            ),
        )

    def put_price(self, price: PriceVersion, *, only_if_new: bool = False, audit: AuditEntry | None = None) -> bool:
        """Store a price version; with ``only_if_new`` an existing version is kept. True when written.
        With ``audit``, the version and the audit entry are written in one transaction."""
        if audit is not None and not only_if_new:
            self._client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self._table, "Item": serialize(price_item(price))}},
                    audit_put(self._table, audit),
                ]
            )
            return True
        params: dict[str, Any] = {
            "TableName": self._table,
            "Item": serialize(price_item(price)),
        }
        if only_if_new:
            params["ConditionExpression"] = "attribute_not_exists(PK)"
        try:
            self._client.put_item(**params)
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def delete_price(self, product: str, effective_from: date, audit: AuditEntry) -> bool:
        """Delete a price version (it must exist) and write ``audit``, in one transaction. False when absent."""
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": serialize(
                                {"PK": keys.CATALOG, "SK": keys.price_sk(product, effective_from.isoformat())}
                            ),
                            "ConditionExpression": "attribute_exists(PK)",
                        }
                    },
                    audit_put(self._table, audit),
                ]
            )
        except ClientError as error:
            if any(r.get("Code") == "ConditionalCheckFailed" for r in cancellation_reasons(error)):
                return False
            raise
        return True

    def seed(self, products: Iterable[Product], prices: Iterable[PriceVersion]) -> None:
        """Write the catalog; price versions already present (an operator may have changed them) are kept."""
        for product in products:
            self.put_product(product)
        for price in prices:
            self.put_price(price, only_if_new=True)


def price_item(price: PriceVersion) -> dict[str, object]:
    effective = price.effective_from.isoformat()
    return {
        "PK": keys.CATALOG,
        "SK": keys.price_sk(price.product, effective),
        "type": "price",
        "product": price.product,
        "daily_price": price.daily_price,
        "monthly_price": price.monthly_price,
        "effective_from": effective,
        "currency": price.currency,
    }


def price_from_item(item: dict[str, object]) -> PriceVersion:
    return PriceVersion(
        product=str(item["product"]),
        daily_price=int(item["daily_price"]),  # type: ignore[call-overload]
        monthly_price=int(item["monthly_price"]),  # type: ignore[call-overload]
        effective_from=date.fromisoformat(str(item["effective_from"])),
        currency=str(item.get("currency", "usd")),
    )
