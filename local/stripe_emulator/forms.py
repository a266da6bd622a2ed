"""Stripe's form encoding (bracket notation) and per-endpoint parameter schemas."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import invalid

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_APPEND = object()


def decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn ``a[b][0]=x`` style pairs into nested dicts and lists, as Stripe reads them."""
    root: dict[str, Any] = {}
    for raw_key, value in pairs:
        match = _KEY.match(raw_key)
        if match is None:
            raise invalid(f"Invalid parameter name: {raw_key}", code="parameter_unknown", param=raw_key)
        tokens: list[Any] = [match.group(1)]
        tokens += [t if t else _APPEND for t in re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node: dict[str, Any] = root
        for index, token in enumerate(tokens):
            last = index == len(tokens) - 1
            # ``x[]`` appends: number it after what is already there so it becomes a list later.
            name = str(len(node)) if token is _APPEND else token
            if last:
                node[name] = value
            else:
                child = node.get(name)
                if not isinstance(child, dict):
                    child = {}
                    node[name] = child
                node = child
    decoded: dict[str, Any] = _listify(root)
    return decoded


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def _name(path: list[str]) -> str:
    return path[0] + "".join(f"[{part}]" for part in path[1:])


class Field(ABC):
    """A schema node: checks one value and converts it to its Python type."""

    @abstractmethod
    def coerce(self, value: Any, path: list[str]) -> Any:
        """The value as its Python type, or a Stripe-shaped 400 naming the parameter."""


class Str(Field):
    def coerce(self, value: Any, path: list[str]) -> Any:
        if not isinstance(value, str):
            raise invalid(f"Invalid string: {value!r}", code="parameter_invalid_string", param=_name(path))
        return value


class Enum(Field):
    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def coerce(self, value: Any, path: list[str]) -> Any:
        if value not in self.choices:
            options = ", ".join(f"`{choice}`" for choice in self.choices)
            raise invalid(f"Invalid {_name(path)}: must be one of {options}", param=_name(path))
        return value


class Int(Field):
    def __init__(self, minimum: int | None = None) -> None:
        self.minimum = minimum

    def coerce(self, value: Any, path: list[str]) -> Any:
        try:
            number = int(value) if isinstance(value, str) and re.fullmatch(r"-?\d+", value) else None
        except ValueError:
            number = None
        if number is None:
            raise invalid(f"Invalid integer: {value}", code="parameter_invalid_integer", param=_name(path))
        if self.minimum is not None and number < self.minimum:
            raise invalid(
                f"This value must be greater than or equal to {self.minimum}.",
                code="parameter_invalid_integer",
                param=_name(path),
            )
        return number


class Dec(Field):
    """A decimal string such as ``unit_amount_decimal``; kept as :class:`Decimal`, never a float."""

    def coerce(self, value: Any, path: list[str]) -> Any:
        try:
            number = Decimal(value)
        except (InvalidOperation, TypeError):
            number = None
        if number is None or not number.is_finite():
            raise invalid(f"Invalid decimal: {value}", code="parameter_invalid_string", param=_name(path))
        return number


class Bool(Field):
    def coerce(self, value: Any, path: list[str]) -> Any:
        if value in ("true", "false"):
            return value == "true"
        raise invalid(f"Invalid boolean: {value}", code="parameter_invalid_boolean", param=_name(path))


class Metadata(Field):
    """``metadata[k]=v``; ``metadata=""`` clears it and ``metadata[k]=""`` removes one key."""

    def coerce(self, value: Any, path: list[str]) -> Any:
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise invalid("Invalid metadata: must be a hash", param=_name(path))
        for key, item in value.items():
            if not isinstance(item, str):
                raise invalid("Invalid metadata value: must be a string", param=_name([*path, key]))
            if len(key) > 40:
                raise invalid("Metadata keys can have up to 40 characters", param=_name([*path, key]))
            if len(item) > 500:
                raise invalid("Metadata values can have up to 500 characters", param=_name([*path, key]))
        return dict(value)


class Obj(Field):
    """A hash with known keys; anything else is ``parameter_unknown`` as on Stripe."""

    def __init__(self, fields: Mapping[str, Field], required: Iterable[str] = ()) -> None:
        self.fields = dict(fields)
        self.required = tuple(required)

    def coerce(self, value: Any, path: list[str]) -> Any:
        if value == "" and path:
            return None
        if not isinstance(value, dict):
            raise invalid(f"Invalid object: {_name(path)}", code="parameter_invalid_string", param=_name(path))
        result: dict[str, Any] = {}
        for key, item in value.items():
            field = self.fields.get(key)
            if field is None:
                raise invalid(
                    f"Received unknown parameter: {_name([*path, key])}",
                    code="parameter_unknown",
                    param=_name([*path, key]),
                )
            # An empty string unsets an optional field, as Stripe's clients send it.
            result[key] = None if item == "" else field.coerce(item, [*path, key])
        for key in self.required:
            if result.get(key) is None:
                raise invalid(
                    f"Missing required param: {_name([*path, key])}.",
                    code="parameter_missing",
                    param=_name([*path, key]),
                )
        return result


class ListOf(Field):
    def __init__(self, item: Field) -> None:
        self.item = item

    def coerce(self, value: Any, path: list[str]) -> Any:
        if isinstance(value, dict) and not value:
            return []
        if not isinstance(value, list):
            raise invalid(f"Invalid array: {_name(path)}", code="parameter_invalid_array", param=_name(path))
        return [self.item.coerce(item, [*path, str(index)]) for index, item in enumerate(value)]


class IntOrRange(Field):
    """A timestamp filter: ``created=123`` or ``created[gte]=123``."""

    def coerce(self, value: Any, path: list[str]) -> Any:
        if isinstance(value, dict):
            return Obj({op: Int() for op in ("gt", "gte", "lt", "lte")}).coerce(value, path)
        return {"eq": Int().coerce(value, path)}


ADDRESS = Obj({key: Str() for key in ("city", "country", "line1", "line2", "postal_code", "state")})
LIST_PARAMS: dict[str, Field] = {
    "limit": Int(minimum=1),
    "starting_after": Str(),
    "ending_before": Str(),
    "created": IntOrRange(),
}
EXPAND: dict[str, Field] = {"expand": ListOf(Str())}


def schema(fields: Mapping[str, Field], required: Iterable[str] = (), *, listing: bool = False) -> Obj:
    """The top-level schema of one endpoint; ``expand`` is always allowed, list parameters on lists."""
    merged: dict[str, Field] = {**EXPAND, **(LIST_PARAMS if listing else {}), **fields}
    return Obj(merged, required)
