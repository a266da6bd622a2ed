"""Concurrent requests in one process each see only their own event (the local stack's threads)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

from local.thread_local_router import make_event_handler_thread_local


def _event(subject: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "GET /who",
        "rawPath": "/who",
        "rawQueryString": "",
        "headers": {},
        "requestContext": {
            "http": {"method": "GET", "path": "/who", "sourceIp": "127.0.0.1", "protocol": "HTTP/1.1", "userAgent": "t"},
            "authorizer": {"jwt": {"claims": {"sub": subject}, "scopes": None}},
            "stage": "$default",
            "routeKey": "GET /who",
            "requestId": subject,
        },
        "isBase64Encoded": False,
    }


def test_each_thread_resolves_with_its_own_event() -> None:
    make_event_handler_thread_local()
    app = APIGatewayHttpResolver()

    @app.get("/who")
    def who() -> dict[str, str]:
        before = app.current_event.request_context.authorizer.jwt_claim["sub"]
        time.sleep(0.02)  # let the other threads resolve their requests meanwhile
        return {
            "before": before,
            "after": app.current_event.request_context.authorizer.jwt_claim["sub"],
            "class": BaseRouter.current_event.request_context.authorizer.jwt_claim["sub"],
        }

    answers: dict[str, dict[str, str]] = {}

    def call(subject: str) -> None:
        answers[subject] = json.loads(app.resolve(_event(subject), None)["body"])

    threads = [threading.Thread(target=call, args=(f"user-{n}",)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == 12
    assert all(set(seen.values()) == {subject} for subject, seen in answers.items())
