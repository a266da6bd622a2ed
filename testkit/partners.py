"""The partner repository with the setters only the tests and the bench use.

In service the standing changes with the cards (``commit_cards``) and the invoices
(``DynamoInvoiceRepository.apply_stripe_invoice``), each in its own transaction; a test or a benchmark that
only needs a partner in a given standing sets it directly here. Past-due invoices, the counters and the
billable registry are written with the repository's own pieces (``mark_past_due``, ``count_licenses``,
``billable_item``), for tests and a bench that seed the table without the commands.
"""

from __future__ import annotations

from partnerhub.repository.dynamo import serialize, values
from partnerhub.repository.licenses import billable_item
from partnerhub.repository.partners import DynamoPartnerRepository, count_licenses, mark_past_due


class SeededPartners(DynamoPartnerRepository):
    def set_has_payment_method(self, partner_id: str, has_payment_method: bool) -> None:
        self._update(partner_id, "SET partner_id = :pid, has_payment_method = :h", values(h=has_payment_method))

    def mark_past_due(self, partner_id: str, invoice_id: str) -> None:
        self._client.update_item(**mark_past_due(self._table, partner_id, invoice_id, past_due=True)["Update"])

    def clear_past_due(self, partner_id: str, invoice_id: str) -> None:
        self._client.update_item(**mark_past_due(self._table, partner_id, invoice_id, past_due=False)["Update"])

    def add_license_counts(self, partner_id: str, counters: dict[str, dict[str, int]]) -> None:
        """Add to the partner's license counters (product -> ``issued``/``assigned``/``revoked`` -> n)."""
        for product, deltas in counters.items():
            self._client.update_item(**count_licenses(self._table, partner_id, product, deltas, set_partner_id=True))

    def make_billable(self, partner_id: str) -> None:
        """Enter the partner in the billable-partner registry, as a portal issue does."""
        self._client.put_item(TableName=self._table, Item=serialize(billable_item(partner_id)))
