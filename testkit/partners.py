"""The partner repository with the standing setters only the tests and the bench use.

In service the standing changes with the cards (``commit_cards``) and the invoices
(``DynamoInvoiceRepository.apply_stripe_invoice``), each in its own transaction; a test or a benchmark that
only needs a partner in a given standing sets it directly here.
"""

from __future__ import annotations

from partnerhub.repository.dynamo import values
from partnerhub.repository.partners import DynamoPartnerRepository


class SeededPartners(DynamoPartnerRepository):
    def set_has_payment_method(self, partner_id: str, has_payment_method: bool) -> None:
        self._update(partner_id, "SET partner_id = :pid, has_payment_method = :h", values(h=has_payment_method))

    def mark_past_due(self, partner_id: str, invoice_id: str) -> None:
        self._update(partner_id, "SET partner_id = :pid ADD past_due :i", {":i": {"SS": [invoice_id]}})

    def clear_past_due(self, partner_id: str, invoice_id: str) -> None:
        # Deleting the last element removes the attribute, which is what the standing conditions test.
        self._update(partner_id, "SET partner_id = :pid DELETE past_due :i", {":i": {"SS": [invoice_id]}})
