"""Events: retrieve and list, filtered by type (``invoice.*`` wildcards too) and creation time."""

from __future__ import annotations

import fnmatch
from typing import Any

from ..forms import ListOf, Str, schema
from ..listing import created_matches, paginate
from ..routing import Context, Route


def _retrieve(ctx: Context, params: dict[str, Any], event_id: str) -> dict[str, Any]:
    return ctx.store.render("event", ctx.store.get("event", event_id))


def _list(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.store
    patterns = [params["type"]] if params.get("type") else list(params.get("types") or [])

    def wanted(event: dict[str, Any]) -> bool:
        if patterns and not any(fnmatch.fnmatchcase(event["type"], p) for p in patterns):
            return False
        return created_matches(event["created"], params.get("created"))

    return paginate(
        [e for e in store.newest_first("event") if wanted(e)], params, "/v1/events", lambda e: store.render("event", e)
    )


ROUTES = [
    Route(
        "GET",
        "/v1/events",
        _list,
        schema({"type": Str(), "types": ListOf(Str()), "delivery_success": Str()}, listing=True),
    ),
    Route("GET", "/v1/events/<event_id>", _retrieve, schema({})),
]
