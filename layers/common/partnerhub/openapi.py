"""What the OpenAPI document says beyond the routes' own models: who may call, what the gateway itself answers,
and the links that lead from one operation's answer to the next (the order an agency's script follows).

``finish`` is applied to each function's generated document; the local stack merges them into
``/v1/openapi.json``. Links name their target by ``operationRef``, a pointer into that merged document,
because the target is often served by another function.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

BEARER = "partnerJwt"
API_KEY = "apiKey"
OPERATORS_TAG = "operators"

UNAUTHENTICATED = frozenset({("POST", "/v1/webhooks/stripe")})
"""Routes template.yaml serves without the authorizer (Stripe signs its calls instead)."""

GATEWAY_MESSAGE: dict[str, Any] = {
    "type": "object",
    "title": "GatewayMessage",
    "required": ["message"],
    "properties": {"message": {"type": "string"}},
    "description": "API Gateway's own answer, before any function runs: "
    '`{"message": "Unauthorized"}` (no `Authorization` header) or `{"message": "Not Found"}` (no such route).',
}

EXTRAS: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/webhooks/stripe"): {
        "description": "Stripe's event deliveries. No JWT: the `Stripe-Signature` header (an HMAC-SHA256 of the raw "
        "body with the endpoint's signing secret, within five minutes of the server's clock) authenticates the "
        "call; a missing, wrong or stale signature is 400. Each event is processed at most once.",
        "parameters": [
            {
                "name": "Stripe-Signature",
                "in": "header",
                "required": True,
                "description": "`t=<unix time>,v1=<hex HMAC-SHA256 of '<t>.<body>'>`",
                "schema": {"type": "string", "minLength": 1},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["id", "type"],
                        "properties": {"id": {"type": "string"}, "type": {"type": "string"}},
                        "description": "A Stripe Event object",
                    }
                }
            },
        },
    },
}
"""What a route reads by hand, beyond its Powertools parameters (the webhook verifies the raw body itself)."""

Link = tuple[str, str, dict[str, str], str]
"""(target method, target path, parameters, description)"""

_LICENSE = "$response.body#/license_key"
_FIRST_LICENSE = "$response.body#/items/0/license_key"


def _license_links(key: str) -> dict[str, Link]:
    return {
        "GetLicense": ("GET", "/v1/licenses/{license_key}", {"license_key": key}, "The license and its history"),
        "AssignLicense": (
            "PUT",
            "/v1/licenses/{license_key}/site",
            {"license_key": key},
            "Assign it to a site, or transfer it to another",
        ),
        "UnassignLicense": ("DELETE", "/v1/licenses/{license_key}/site", {"license_key": key}, "Take it off its site"),
        "RevokeLicense": ("POST", "/v1/licenses/{license_key}/revoke", {"license_key": key}, "Revoke it for good"),
    }


def _card_links(card: str) -> dict[str, Link]:
    return {
        "MakePrimary": (
            "POST",
            "/v1/payment-methods/{payment_method_id}/primary",
            {"payment_method_id": card},
            "Make this card the primary one",
        ),
        "DeletePaymentMethod": (
            "DELETE",
            "/v1/payment-methods/{payment_method_id}",
            {"payment_method_id": card},
            "Delete this card",
        ),
    }


def _site_links(site: str) -> dict[str, Link]:
    return {
        "DisconnectSite": (
            "DELETE",
            "/v1/sites/{site_id}",
            {"site_id": site},
            "Disconnect the site (refused while it holds an active license)",
        ),
    }


def _invoice_links(invoice: str) -> dict[str, Link]:
    return {
        "GetInvoice": ("GET", "/v1/invoices/{invoice_id}", {"invoice_id": invoice}, "The invoice with its lines"),
        "InvoicePdf": ("GET", "/v1/invoices/{invoice_id}/pdf", {"invoice_id": invoice}, "The invoice's PDF"),
        "PayInvoice": ("POST", "/v1/invoices/{invoice_id}/pay", {"invoice_id": invoice}, "Pay it now"),
        "VoidInvoice": ("POST", "/v1/invoices/{invoice_id}/void", {"invoice_id": invoice}, "Void it (operators)"),
        "MarkUncollectible": (
            "POST",
            "/v1/invoices/{invoice_id}/mark-uncollectible",
            {"invoice_id": invoice},
            "Stop collecting it (operators)",
        ),
    }


LINKS: dict[tuple[str, str, str], dict[str, Link]] = {
    ("POST", "/v1/payment-methods", "201"): {
        **_card_links("$response.body#/id"),
        "IssueLicenses": ("POST", "/v1/licenses", {}, "With a card on file, licenses can be issued"),
    },
    ("GET", "/v1/payment-methods", "200"): _card_links("$response.body#/items/0/id"),
    ("POST", "/v1/payment-methods/{payment_method_id}/primary", "200"): {
        "DeletePaymentMethod": _card_links("$response.body#/id")["DeletePaymentMethod"],
        "IssueLicenses": ("POST", "/v1/licenses", {}, "With a card on file, licenses can be issued"),
    },
    ("POST", "/v1/licenses", "201"): _license_links(_FIRST_LICENSE),
    ("GET", "/v1/licenses", "200"): _license_links(_FIRST_LICENSE),
    ("GET", "/v1/licenses/{license_key}", "200"): {
        k: v for k, v in _license_links(_LICENSE).items() if k != "GetLicense"
    },
    ("PUT", "/v1/licenses/{license_key}/site", "200"): _license_links(_LICENSE),
    ("DELETE", "/v1/licenses/{license_key}/site", "200"): _license_links(_LICENSE),
    ("POST", "/v1/licenses/{license_key}/revoke", "200"): {"GetLicense": _license_links(_LICENSE)["GetLicense"]},
    ("POST", "/v1/sites", "200"): _site_links("$response.body#/site_id"),
    ("GET", "/v1/sites", "200"): _site_links("$response.body#/items/0/site_id"),
    ("GET", "/v1/prices", "200"): {
        "SchedulePrice": (
            "PUT",
            "/v1/prices/{product}",
            {"product": "$response.body#/items/0/product"},
            "Schedule a new price for a product of the catalog (operators)",
        ),
    },
    ("GET", "/v1/invoices", "200"): _invoice_links("$response.body#/items/0/id"),
    ("GET", "/v1/invoices/{invoice_id}", "200"): {
        k: v for k, v in _invoice_links("$response.body#/id").items() if k != "GetInvoice"
    },
    ("POST", "/v1/invoices/{invoice_id}/pay", "200"): {
        "GetInvoice": _invoice_links("$response.body#/id")["GetInvoice"],
    },
}
"""Where an answer leads: (method, path, status) of the source → link name → the operation it feeds."""


def operation_ref(method: str, path: str) -> str:
    """A JSON pointer to an operation of the merged document (``~1`` escapes ``/``)."""
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method.lower()


def security(key: tuple[str, str], scope: str | None) -> list[dict[str, list[str]]]:
    """An operation's security requirement: a person's token, or an API key holding ``scope`` when the route
    declares one (``partnerhub.api.ApiResolver.key_scope``); nothing for a route without the authorizer."""
    if key in UNAUTHENTICATED:
        return []
    return [{BEARER: []}, {API_KEY: [scope]}] if scope else [{BEARER: []}]


def finish(document: dict[str, Any], scopes: Mapping[tuple[str, str], str | None] | None = None) -> dict[str, Any]:
    """The generated document, completed: security (``scopes``: each route's API key scope), the gateway's own
    answers, empty 204s, links."""
    doc = copy.deepcopy(document)
    components = doc.setdefault("components", {})
    schemes = components.setdefault("securitySchemes", {})
    schemes[BEARER] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A Cognito ID token whose `custom:partner_id` claim names the partner; operators also carry "
        "the `operators` group. No `Authorization` header: 401 from API Gateway itself; an invalid or expired token: "
        "401 in the error shape.",
    }
    schemes[API_KEY] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "phk_...",
        "description": "An API key (`POST /v1/api-keys`), sent as `Authorization: Bearer phk_...`. An operation "
        "lists the scope a key needs; without it, 403 `insufficient_scope`. An operation that lists none is for "
        "signed-in people only. A malformed, unknown, revoked or expired key: 401.",
    }
    components.setdefault("schemas", {})["GatewayMessage"] = GATEWAY_MESSAGE
    for path, operations in doc.get("paths", {}).items():
        for method, op in operations.items():
            key = (method.upper(), path)
            op["security"] = security(key, (scopes or {}).get(key))
            for media in op.get("requestBody", {}).get("content", {}).values():
                # An optional body is either absent or an object: JSON null is refused like any non-object.
                branches = media.get("schema", {}).get("anyOf")
                if branches and {"type": "null"} in branches:
                    kept = [b for b in branches if b != {"type": "null"}]
                    media["schema"] = kept[0] if len(kept) == 1 else {"anyOf": kept}
            for name, value in EXTRAS.get(key, {}).items():
                op[name] = op.get(name, []) + value if isinstance(value, list) else value
            responses = op.setdefault("responses", {})
            for code in ("401", "404"):
                answer = responses.get(code)
                if answer and "content" in answer:
                    for media in answer["content"].values():
                        schema = media.get("schema")
                        if schema is not None and "anyOf" not in schema:
                            media["schema"] = {"anyOf": [schema, {"$ref": "#/components/schemas/GatewayMessage"}]}
            for code, answer in responses.items():
                if code == "204" or code.startswith("3"):
                    answer.pop("content", None)  # no body: a 204, or a redirect
            for (src_method, src_path, status), links in LINKS.items():
                if (src_method, src_path) != key or status not in responses:
                    continue
                out = responses[status].setdefault("links", {})
                for name, (target_method, target_path, parameters, description) in links.items():
                    link: dict[str, Any] = {
                        "operationRef": operation_ref(target_method, target_path),
                        "description": description,
                    }
                    if parameters:
                        link["parameters"] = dict(parameters)
                    out[name] = link
    return doc
