"""Stripe's list object and cursor pagination."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .errors import invalid


def created_matches(created: int, condition: dict[str, int] | None) -> bool:
    """Whether ``created`` passes a ``created`` / ``created[gte]`` style filter."""
    if not condition:
        return True
    checks: dict[str, Callable[[int, int], bool]] = {
        "eq": lambda a, b: a == b,
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    return all(checks[op](created, bound) for op, bound in condition.items() if bound is not None)


def paginate(
    items: Iterable[dict[str, Any]],
    params: dict[str, Any],
    url: str,
    render: Callable[[dict[str, Any]], dict[str, Any]],
) -> dict[str, Any]:
    """A list object of ``items`` (already newest first), honouring limit/starting_after/ending_before."""
    ordered = list(items)
    limit = params.get("limit") or 10
    if limit > 100:
        raise invalid("This value must be less than or equal to 100.", code="parameter_invalid_integer", param="limit")
    ids = [item["id"] for item in ordered]
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise invalid("You may only specify one of these parameters: ending_before, starting_after.")
    if after:
        if after not in ids:
            raise invalid(f"No such object: '{after}'", code="resource_missing", param="starting_after")
        rest = ordered[ids.index(after) + 1 :]
        page, has_more = rest[:limit], len(rest) > limit
    elif before:
        if before not in ids:
            raise invalid(f"No such object: '{before}'", code="resource_missing", param="ending_before")
        head = ordered[: ids.index(before)]
        page, has_more = head[-limit:], len(head) > limit
    else:
        page, has_more = ordered[:limit], len(ordered) > limit
    return {"object": "list", "data": [render(item) for item in page], "has_more": has_more, "url": url}
