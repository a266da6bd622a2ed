"""The partner's record: standing (payment method, past-due invoices), counters, Stripe customer, company."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from partnerhub.domain.models import Standing
from partnerhub.repository import keys
from partnerhub.repository.dynamo import Item, default_client, deserialize, serialize, values

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def standing_from_item(item: Item | None) -> Standing:
    if not item:
        return Standing()
    return Standing(
        has_payment_method=bool(item.get("has_payment_method", False)),
        past_due_invoices=tuple(sorted(item.get("past_due", ()))),
    )


class DynamoPartnerRepository:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self._table = table_name
        self._client = client or default_client()

    def profile(self, partner_id: str) -> Item:
        response = self._client.get_item(TableName=self._table, Key=self._key(partner_id), ConsistentRead=True)
        return deserialize(response.get("Item", {}))

    def standing(self, partner_id: str) -> Standing:
        return standing_from_item(self.profile(partner_id))

    def set_has_payment_method(self, partner_id: str, has_payment_method: bool) -> None:
        self._update(partner_id, "SET has_payment_method = :h", values(h=has_payment_method))

    def mark_past_due(self, partner_id: str, invoice_id: str) -> None:
        self._update(partner_id, "ADD past_due :i", {":i": {"SS": [invoice_id]}})

    def clear_past_due(self, partner_id: str, invoice_id: str) -> None:
        # Deleting the last element removes the attribute, which is what the license commands' conditions test.
        self._update(partner_id, "DELETE past_due :i", {":i": {"SS": [invoice_id]}})

    def _update(self, partner_id: str, expression: str, attribute_values: dict[str, Any]) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=self._key(partner_id),
            UpdateExpression=f"{expression} SET partner_id = :pid"
            if not expression.startswith("SET")
            else f"{expression}, partner_id = :pid",
            ExpressionAttributeValues=attribute_values | values(pid=partner_id),
        )

    @staticmethod
    def _key(partner_id: str) -> dict[str, Any]:
        return serialize({"PK": keys.partner_pk(partner_id), "SK": keys.PROFILE})
