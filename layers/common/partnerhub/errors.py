"""Domain errors. Each carries its HTTP status and error code; one exception handler maps them."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or []


class MalformedRequest(DomainError):
    status, code = 400, "malformed_request"


class UnsupportedMediaType(DomainError):
    """415: a body sent as something other than ``application/json`` in UTF-8."""

    status, code = 415, "unsupported_media_type"


class Unauthorized(DomainError):
    status, code = 401, "unauthorized"


class PaymentRequired(DomainError):
    """402: ``payment_method_required`` or ``past_due_invoice``."""

    status, code = 402, "payment_required"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class ValidationFailed(DomainError):
    status, code = 422, "validation_error"


class ServiceUnavailable(DomainError):
    """503: a dependency is throttling or down; safe to retry after ``retry_after`` seconds."""

    status, code = 503, "service_unavailable"

    def __init__(self, message: str, *, retry_after: int = 1, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class UpstreamError(DomainError):
    """A payment provider failure the caller can retry (502).

    ``answered``: the provider answered the request (with a server error, or a rate limit after every try), so
    the request is over and whatever it did is visible in the provider's objects; read them to decide what
    happened. Stripe may replay that answer for 24 hours under the same idempotency key. False when no answer
    came (a timeout, a lost connection): the request may still be running."""

    status, code = 502, "payment_provider_error"

    def __init__(self, message: str, *, answered: bool = False, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.answered = answered
