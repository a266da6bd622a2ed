"""Field types the request models share, each published in the OpenAPI document exactly as the server reads it."""

from __future__ import annotations

from typing import Annotated, Any, get_args

from pydantic import BaseModel, BeforeValidator, StringConstraints
from pydantic_core import PydanticCustomError

from partnerhub.domain.accounts import COUNTRY_CODES
from partnerhub.domain.models import HTTP_URL, PRODUCT_SLUG


def _whole_number(value: Any) -> Any:
    # JSON has one number type: 70394.0 is the integer 70394 (JSON Schema agrees), 70394.5 is not an integer.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WHOLE_NUMBER = BeforeValidator(_whole_number)
"""With ``Field(strict=True, ...)`` before it: a JSON integer, never a string, a boolean or a fraction."""


NOT_BLANK = r"\S"
"""A JSON Schema ``pattern`` (unanchored): at least one character that is not white space."""

PERIOD_PATTERN = (
    r"^(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-(0[1-9]|1[0-2])$"
)
"""``YYYY-MM`` with a year 0001..9998 (``Period.parse``)."""

CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
CURSOR_MAX = 512


def _either_case(code: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" for c in code)


COUNTRY_PATTERN = r"^(" + "|".join(_either_case(c) for c in sorted(COUNTRY_CODES)) + r")$"
"""ISO 3166-1 alpha-2 in either case (saved in upper case)."""

URL_PATTERN = f"^{HTTP_URL}$"
"""An absolute http(s) URI (``partnerhub.domain.models.HTTP_URL``)."""

ProductSlugText = Annotated[str, StringConstraints(pattern=PRODUCT_SLUG, min_length=1, max_length=64)]


def published(**fields: dict[str, Any]) -> Any:
    """A ``json_schema_extra`` that adds keywords to the named properties, so the document states rules a
    validator enforces in code (trimming, case folding, URL checks); a keyword given as ``None`` is removed.
    For an optional (``anyOf``) property, the keywords go on its string branch."""

    def extra(schema: dict[str, Any]) -> None:
        properties = schema.get("properties", {})
        for name, keywords in fields.items():
            target = properties.get(name)
            if target is None:
                continue
            branches = [b for b in target.get("anyOf", []) if b.get("type") == "string"] or [target]
            for branch in branches:
                for keyword, value in keywords.items():
                    if value is None:
                        branch.pop(keyword, None)
                    else:
                        branch[keyword] = value

    return extra


def _max_length(annotation: Any, metadata: list[Any]) -> int | None:
    for item in metadata:
        if isinstance(item, StringConstraints) and item.max_length is not None:
            return item.max_length
    for arg in get_args(annotation):
        found = _max_length(arg, list(getattr(arg, "__metadata__", ())))
        if found is not None:
            return found
    return None


def limit_as_sent(model: type[BaseModel]) -> Any:
    """A ``mode="before"`` field validator: each string field's ``maxLength`` holds for the string as sent.

    Fields that trim surrounding space check their length after trimming; the document cannot say "trimmed
    length", so its ``maxLength`` counts the space too, and this makes the server agree with it."""
    limits = {name: _max_length(f.annotation, f.metadata) for name, f in model.model_fields.items()}

    def check(value: Any, info: Any) -> Any:
        limit = limits.get(info.field_name)
        if isinstance(value, str) and limit is not None and len(value) > limit:
            raise PydanticCustomError(
                "string_too_long", "String should have at most {max_length} characters", {"max_length": limit}
            )
        return value

    return check
