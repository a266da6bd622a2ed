"""The resolver keeps the request it resolves on itself: execution environments served from threads of one
process (the local stack, the in-process tests) never read each other's event, as Lambda's processes never do."""

from __future__ import annotations

import json
import threading
from typing import Any

from partnerhub.api import caller_of, create_app


def _event(subject: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "GET /who",
        "rawPath": "/who",
        "rawQueryString": "",
        "headers": {},
        "requestContext": {
            "http": {
                "method": "GET",
                "path": "/who",
                "sourceIp": "127.0.0.1",
                "protocol": "HTTP/1.1",
                "userAgent": "t",
            },
            "authorizer": {"lambda": {"kind": "person", "subject": subject}},
            "timeEpoch": 1795248000000,
            "stage": "$default",
            "routeKey": "GET /who",
            "requestId": subject,
        },
        "isBase64Encoded": False,
    }


def test_each_environment_resolves_with_its_own_event_while_others_resolve_theirs() -> None:
    # Given twelve execution environments (one resolver each) whose route reads the event twice, with every
    # other environment resolving its own request in between
    environments = 12
    barrier = threading.Barrier(environments)
    answers: dict[str, dict[str, str]] = {}

    def environment(subject: str) -> None:
        app = create_app()

        @app.get("/who")
        def who() -> dict[str, str]:
            before = caller_of(app).subject
            barrier.wait(timeout=10)  # every environment is inside its route now
            return {"before": before, "after": caller_of(app).subject}

        answers[subject] = json.loads(app.resolve(_event(subject), None)["body"])

    # When they resolve at the same time
    threads = [threading.Thread(target=environment, args=(f"user-{n}",)) for n in range(environments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then each saw only its own caller, before and after the others set theirs
    assert len(answers) == environments
    assert all(seen == {"before": subject, "after": subject} for subject, seen in answers.items()), answers


def test_a_resolver_holds_no_request_once_it_has_answered() -> None:
    # Given a resolver that answered a request
    app = create_app()

    @app.get("/who")
    def who() -> dict[str, str]:
        return {"sub": caller_of(app).subject}

    assert json.loads(app.resolve(_event("user-1"), None)["body"]) == {"sub": "user-1"}

    # Then it keeps nothing of it: reading the request outside a resolve is an error, not the last caller
    try:
        _ = app.current_event
    except AssertionError:
        pass
    else:
        raise AssertionError("the resolver still held the last request")
