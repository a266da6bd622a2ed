"""Reading a request body: JSON, in UTF-8, an object. Anything else is refused before a route does any work.

The rules, for every route (``read_body``):
- no body, or only whitespace: fine for a route that reads none or whose body is optional; 400 otherwise;
- a body must say ``Content-Type: application/json`` (a ``charset`` parameter, if any, must be UTF-8): 415 if not;
- its bytes must be UTF-8 (400), one JSON value (400; ``NaN``/``Infinity`` are not JSON), and an object (400).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from partnerhub.errors import MalformedRequest, UnsupportedMediaType

JSON_MEDIA_TYPE = "application/json"
_UTF8 = frozenset({"utf-8", "utf8"})


def media_type(header: str | None) -> tuple[str, dict[str, str]]:
    """``"application/json; charset=UTF-8"`` → ``("application/json", {"charset": "utf-8"})``."""
    kind, _, rest = (header or "").partition(";")
    params: dict[str, str] = {}
    for part in rest.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            params[name.strip().lower()] = value.strip().strip('"').lower()
    return kind.strip().lower(), params


def raw_bytes(body: str | None, is_base64: bool) -> bytes:
    """The bytes the client sent, as API Gateway hands them over (text, or base64 for binary types)."""
    if not body:
        return b""
    if is_base64:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedRequest("the request body could not be decoded") from None
    return body.encode("utf-8", errors="surrogatepass")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_body(content_type: str | None, data: bytes, *, required: bool) -> dict[str, Any] | None:
    """The body as a JSON object, ``None`` when there is none; ``MalformedRequest`` (400) or
    ``UnsupportedMediaType`` (415) when it cannot be read."""
    if not data.strip():
        if required:
            raise MalformedRequest("the request body is empty; send a JSON object", code="body_required")
        return None
    kind, params = media_type(content_type)
    if kind != JSON_MEDIA_TYPE:
        sent = f"not {kind}" if kind else "the Content-Type header is missing"
        raise UnsupportedMediaType(f"the body must be sent as {JSON_MEDIA_TYPE}; {sent}")
    charset = params.get("charset")
    if charset is not None and charset not in _UTF8:
        raise UnsupportedMediaType(f"the body must be UTF-8, not {charset}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("the request body is not UTF-8 text") from None
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise MalformedRequest("the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise MalformedRequest("the request body must be a JSON object", code="body_not_an_object")
    return value
