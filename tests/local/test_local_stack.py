"""The local stack's own controls and plumbing, end to end over HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

if TYPE_CHECKING:
    from testkit.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]


def test_health(stack: LocalStack) -> None:
    reply = stack.anonymous.get("/_local/health")
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "ok", body
    assert body["routes"] > 0


def test_token_is_an_id_token_for_the_partner(stack: LocalStack) -> None:
    import jwt

    reply = stack.anonymous.post("/_local/token", json={"partner_id": "agency-e2e", "groups": ["operators"]})
    assert reply.status_code == 200
    claims = jwt.decode(reply.json()["token"], options={"verify_signature": False})
    assert claims["custom:partner_id"] == "agency-e2e"
    assert claims["cognito:groups"] == ["operators"]
    assert claims["token_use"] == "id"
    assert claims["exp"] - claims["iat"] == 3600


@pytest.mark.parametrize("body", [{}, {"partner_id": ""}, {"partner_id": "p", "groups": "admin"}])
def test_token_rejects_bad_input(stack: LocalStack, body: dict[str, object]) -> None:
    assert stack.anonymous.post("/_local/token", json=body).status_code == 422


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_clock_get_set_and_advance(stack: LocalStack) -> None:
    # The stack is shared by the whole session: move the clock, then put it back where it was.
    start = _parse(stack.now())
    try:
        assert stack.set_clock("2031-01-30T10:00:00Z") == "2031-01-30T10:00:00Z"
        assert stack.now() == "2031-01-30T10:00:00Z"
        assert stack.advance("P3D") == "2031-02-02T10:00:00Z"
        assert stack.advance("PT36H") == "2031-02-03T22:00:00Z"
        assert stack.set_clock("2031-02-03T22:00:00+00:00") == "2031-02-03T22:00:00Z"
    finally:
        stack.set_clock(_iso(start))


@pytest.mark.parametrize(
    "body",
    [{}, {"now": "yesterday"}, {"advance": "3 days"}, {"now": "2031-01-01T00:00:00Z", "advance": "P1D"}],
)
def test_clock_rejects_bad_input(stack: LocalStack, body: dict[str, str]) -> None:
    reply = stack.anonymous.post("/_local/clock", json=body)
    assert reply.status_code == 422
    assert reply.json()["message"]


def test_api_requires_a_token(stack: LocalStack) -> None:
    reply = stack.anonymous.get("/v1/licenses")
    assert reply.status_code == 401
    assert reply.json() == {"message": "Unauthorized"}
    forged = stack.anonymous.get("/v1/licenses", headers={"Authorization": "Bearer not-a-jwt"})
    assert forged.status_code == 401


def test_token_expires_when_the_stack_clock_moves_on(stack: LocalStack) -> None:
    partner = f"agency-{uuid.uuid4().hex[:8]}"
    start = _parse(stack.now())
    client = stack.client(partner)
    try:
        assert client.get("/v1/licenses").status_code == 200
        stack.set_clock(_iso(start + timedelta(hours=2)))
        assert client.get("/v1/licenses").status_code == 401, "an hour-old token must have expired"
        assert stack.client(partner).get("/v1/licenses").status_code == 200
    finally:
        stack.set_clock(_iso(start))


def test_unknown_route_is_not_found(stack: LocalStack) -> None:
    reply = stack.anonymous.get("/v1/no-such-thing")
    assert reply.status_code == 404
    assert reply.json() == {"message": "Not Found"}


def test_openapi_document(stack: LocalStack) -> None:
    reply = stack.anonymous.get("/v1/openapi.json")
    assert reply.status_code == 200
    document = reply.json()
    assert "openapi" in document
    assert document["paths"], "no function contributed any paths"


def test_portal_index(stack: LocalStack) -> None:
    reply = requests.get(stack.api_url + "/", timeout=10)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
