"""The API key scope SPEC "API keys" gives each route, written by hand: ``read`` for every partner GET, ``licenses``
for issue, assign, transfer, unassign, revoke and label, ``billing`` for cards, pay and company details, ``sites`` for
connecting and disconnecting sites; none (people only) for operators' routes and for managing keys or webhook
endpoints (their deliveries and redelivery included: no scope names them; the events list is a partner GET).
``tests/unit/test_key_scopes.py`` holds every route of template.yaml to it."""

from __future__ import annotations

PEOPLE_ONLY = None
EXPECTED: dict[str, str | None] = {
    # licenses
    "GET /v1/licenses": "read",
    "GET /v1/licenses/counts": "read",
    "GET /v1/licenses/{license_key}": "read",
    "POST /v1/licenses": "licenses",
    "PATCH /v1/licenses/{license_key}": "licenses",
    "PUT /v1/licenses/{license_key}/site": "licenses",
    "DELETE /v1/licenses/{license_key}/site": "licenses",
    "POST /v1/licenses/{license_key}/revoke": "licenses",
    "POST /v1/partners/{partner_id}/external-licenses": PEOPLE_ONLY,  # operators
    # connected sites
    "GET /v1/sites": "read",
    "POST /v1/sites": "sites",
    "DELETE /v1/sites/{site_id}": "sites",
    # cards, company, account
    "GET /v1/payment-methods": "read",
    "POST /v1/payment-methods": "billing",
    "POST /v1/payment-methods/setup-intent": "billing",
    "POST /v1/payment-methods/{payment_method_id}/primary": "billing",
    "DELETE /v1/payment-methods/{payment_method_id}": "billing",
    "GET /v1/company": "read",
    "PUT /v1/company": "billing",
    "GET /v1/account": "read",
    # prices and billing
    "GET /v1/prices": "read",
    "PUT /v1/prices/{product}": PEOPLE_ONLY,  # operators
    "DELETE /v1/prices/{product}/scheduled/{effective_from}": PEOPLE_ONLY,  # operators
    "GET /v1/billing": "read",
    "GET /v1/billing/export": "read",
    "GET /v1/billing/history": "read",
    # invoices
    "GET /v1/invoices": "read",
    "GET /v1/invoices/{invoice_id}": "read",
    "GET /v1/invoices/{invoice_id}/pdf": "read",
    "POST /v1/invoices/{invoice_id}/pay": "billing",
    "POST /v1/invoices/{invoice_id}/void": PEOPLE_ONLY,  # operators
    "POST /v1/invoices/{invoice_id}/mark-uncollectible": PEOPLE_ONLY,  # operators
    # the operators' console
    "GET /v1/operator/audit": PEOPLE_ONLY,
    "GET /v1/operator/partners": PEOPLE_ONLY,
    "GET /v1/operator/partners/{partner_id}": PEOPLE_ONLY,
    "GET /v1/operator/invoice-runs/{period}/preview": PEOPLE_ONLY,
    "POST /v1/operator/invoice-runs": PEOPLE_ONLY,
    "GET /v1/operator/invoice-runs/{period}": PEOPLE_ONLY,
    "POST /v1/operator/invoice-runs/{period}/retry": PEOPLE_ONLY,
    # key management: people only
    "POST /v1/api-keys": PEOPLE_ONLY,
    "GET /v1/api-keys": PEOPLE_ONLY,
    "DELETE /v1/api-keys/{key_id}": PEOPLE_ONLY,
    # webhooks to agencies: endpoints, their deliveries and redelivery are people only; the events are a partner GET
    "POST /v1/webhook-endpoints": PEOPLE_ONLY,
    "GET /v1/webhook-endpoints": PEOPLE_ONLY,
    "GET /v1/webhook-endpoints/{endpoint_id}": PEOPLE_ONLY,
    "PATCH /v1/webhook-endpoints/{endpoint_id}": PEOPLE_ONLY,
    "DELETE /v1/webhook-endpoints/{endpoint_id}": PEOPLE_ONLY,
    "POST /v1/webhook-endpoints/{endpoint_id}/rotate-secret": PEOPLE_ONLY,
    "GET /v1/webhook-endpoints/{endpoint_id}/deliveries": PEOPLE_ONLY,
    "GET /v1/events": "read",
    "POST /v1/events/{event_id}/redeliver": PEOPLE_ONLY,
}
