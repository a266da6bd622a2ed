"""The local gateway: routing, the payload 2.0 event, the JWT authorizer, SQS draining.

Pure pieces (router, claim rendering, event and response conversion, template loading) are tested
in-process. Everything over HTTP runs against ``python -m local`` in a subprocess, started on a tiny
fixture template (``fixtures/local_gateway``) whose functions echo what they were given, so these
tests do not depend on the product's functions.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from local.auth import AuthError, LocalAuth, render_claim, render_claims
from local.events import HttpRequest, http_event, sqs_event
from local.gateway import Router, lambda_result_to_response
from local.stack import StackProcess
from local.template import Resolver, Route, Template, load_yaml

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "local_gateway"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# -- in-process: the pure parts --------------------------------------------------------------------


def _router() -> Router:
    def route(method: str, path: str) -> Route:
        return Route(method=method, path=path, function_id=f"{method} {path}", authorized=True)

    return Router(
        [
            route("GET", "/v1/licenses/{license_key}"),
            route("GET", "/v1/licenses/counts"),
            route("PUT", "/v1/licenses/{license_key}/site"),
            route("ANY", "/v1/things/{proxy+}"),
            route("GET", "/v1/things/special"),
            route("GET", "/v1/things/{id}"),
        ]
    )


@pytest.mark.parametrize(
    ("method", "path", "route_key", "params"),
    [
        ("GET", "/v1/licenses/counts", "GET /v1/licenses/counts", {}),
        ("GET", "/v1/licenses/LK-1", "GET /v1/licenses/{license_key}", {"license_key": "LK-1"}),
        ("PUT", "/v1/licenses/LK-1/site", "PUT /v1/licenses/{license_key}/site", {"license_key": "LK-1"}),
        ("GET", "/v1/things/special", "GET /v1/things/special", {}),
        ("GET", "/v1/things/7", "GET /v1/things/{id}", {"id": "7"}),
        ("DELETE", "/v1/things/7", "ANY /v1/things/{proxy+}", {"proxy": "7"}),
        ("GET", "/v1/things/a/b/c", "ANY /v1/things/{proxy+}", {"proxy": "a/b/c"}),
    ],
)
def test_router_picks_the_most_specific_route(method: str, path: str, route_key: str, params: dict[str, str]) -> None:
    matched = _router().match(method, path)
    assert matched is not None
    route, found = matched
    assert route.route_key == route_key
    assert found == params


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/licenses/LK-1"), ("GET", "/v1/licenses/"), ("GET", "/v1/nope"), ("GET", "/v1/things")],
)
def test_router_misses(method: str, path: str) -> None:
    assert _router().match(method, path) is None


def test_claims_are_rendered_as_http_api_renders_them() -> None:
    assert render_claim(["operators", "admin"]) == "[operators admin]"
    assert render_claim([]) == "[]"
    assert render_claim(1767225600) == "1767225600"
    assert render_claim(True) == "true"
    assert render_claim("agency-1") == "agency-1"
    assert render_claims({"exp": 5, "cognito:groups": ["a"]}) == {"exp": "5", "cognito:groups": "[a]"}


def test_auth_checks_expiry_against_the_given_clock() -> None:
    auth = LocalAuth(issuer="http://127.0.0.1/_local/cognito")
    token = auth.issue_token("agency-1", ["admin"], NOW)
    claims = auth.verify(f"Bearer {token}", NOW + timedelta(minutes=59))
    assert claims["custom:partner_id"] == "agency-1"
    assert claims["cognito:groups"] == ["admin"]
    assert auth.verify(token, NOW)["sub"] == claims["sub"], "the Bearer prefix is optional"
    with pytest.raises(AuthError, match="expired"):
        auth.verify(f"Bearer {token}", NOW + timedelta(hours=1))
    with pytest.raises(AuthError):
        auth.verify(f"Bearer {token}", NOW - timedelta(minutes=1))  # issued in the future
    with pytest.raises(AuthError):
        LocalAuth(issuer="http://127.0.0.1/_local/cognito").verify(f"Bearer {token}", NOW)  # another key
    with pytest.raises(AuthError):
        auth.verify(None, NOW)


def test_http_event_shape() -> None:
    event = http_event(
        HttpRequest(
            method="POST",
            path="/v1/echo",
            raw_query="a=1&a=2&b=",
            headers=[("X-Dup", "1"), ("x-dup", "2"), ("Cookie", "c1=v1; c2=v2"), ("Content-Type", "text/plain")],
            body="héllo".encode(),
        ),
        route_key="POST /v1/echo",
        path_parameters={},
        authorizer=None,
        now=NOW,
    )
    assert event["version"] == "2.0"
    assert event["headers"]["x-dup"] == "1,2"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["body"] == "héllo"
    assert event["isBase64Encoded"] is False
    assert "pathParameters" not in event
    assert "authorizer" not in event["requestContext"]
    assert event["requestContext"]["timeEpoch"] == int(NOW.timestamp() * 1000)
    assert event["requestContext"]["time"] == "01/Mar/2026:12:00:00 +0000"


def test_sqs_event_shape() -> None:
    event = sqs_event(
        [
            {
                "MessageId": "m-1",
                "ReceiptHandle": "rh",
                "Body": '{"n": 1}',
                "Attributes": {"ApproximateReceiveCount": "1"},
                "MD5OfBody": "x",
            }
        ],
        "arn:aws:sqs:us-east-1:123456789012:q",
    )
    (record,) = event["Records"]
    assert record["messageId"] == "m-1"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:q"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"


def test_handler_results_become_responses() -> None:
    plain = lambda_result_to_response({"ok": True})
    assert plain.status_code == 200
    assert plain.headers["Content-Type"] == "application/json"
    assert json.loads(plain.get_data()) == {"ok": True}
    full = lambda_result_to_response(
        {"statusCode": 201, "headers": {"x-a": "1"}, "cookies": ["a=1", "b=2"], "body": "{}"}
    )
    assert full.status_code == 201
    assert full.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    binary = lambda_result_to_response(
        {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}
    )
    assert binary.get_data() == b"\x00\x01"


def test_template_short_tags_and_resolution() -> None:
    data = load_yaml(FIXTURE / "template.yaml")
    assert data["Resources"]["Table"]["Properties"]["TableName"] == {"Fn::Sub": "fixture-${Stage}"}
    assert data["Globals"]["Function"]["Environment"]["Variables"]["TABLE_NAME"] == {"Ref": "Table"}
    template = Template(FIXTURE / "template.yaml", parameter_overrides={"Stage": "local"})
    resolver = Resolver(template, refs={"Table": "fixture-local"})
    env = resolver.resolve(template.global_environment)
    assert env == {"TABLE_NAME": "fixture-local", "STAGE_NAME": "is-local"}
    assert resolver.resolve({"Fn::Join": ["-", ["a", {"Ref": "AWS::Region"}]]}) == "a-us-east-1"
    assert resolver.resolve({"Ref": "Nowhere"}).startswith("UNRESOLVED")
    assert template.schedule_targets() == ["PlannerFunction"]
    (source,) = template.sqs_sources
    assert (source.batch_size, source.maximum_concurrency, source.report_batch_item_failures) == (5, 3, True)


# -- over HTTP, against the fixture stack ------------------------------------------------------------


class FixtureStack:
    def __init__(self, process: StackProcess) -> None:
        self.process = process
        self.url = process.api_url
        self.moto_url = process.moto_url

    def token(self, partner_id: str = "agency-1", groups: tuple[str, ...] = ("operators", "admin")) -> str:
        reply = requests.post(
            f"{self.url}/_local/token", json={"partner_id": partner_id, "groups": list(groups)}, timeout=10
        )
        reply.raise_for_status()
        return str(reply.json()["token"])

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.get(self.url + path, headers=headers, timeout=30, **kwargs)

    def post(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.post(self.url + path, headers=headers, timeout=60, **kwargs)

    def aws(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.moto_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="module")
def local() -> Iterator[FixtureStack]:
    process = StackProcess(
        {
            "LOCAL_TEMPLATE": str(FIXTURE / "template.yaml"),
            "LOCAL_SEED": "0",
            "LOCAL_STRIPE_EMULATOR": "0",
            "LOCAL_SQS_POLL": "0",
            "LOCAL_CLOCK_START": "2026-03-01T12:00:00Z",
        }
    )
    process.start(timeout=90)
    try:
        yield FixtureStack(process)
    except BaseException:
        print(process.log())
        raise
    finally:
        process.cleanup()


def test_event_reaches_the_handler_as_http_api_sends_it(local: FixtureStack) -> None:
    reply = local.get("/v1/echo/hi%20there?a=1&a=2", local.token(), headers={"Cookie": "k=v"})
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-echo"] == "YES"
    assert reply.headers["Set-Cookie"] == "seen=1; Path=/"
    body = reply.json()
    event = body["event"]
    assert event["routeKey"] == "GET /v1/echo/{name}"
    assert event["requestContext"]["routeKey"] == "GET /v1/echo/{name}"
    assert event["pathParameters"] == {"name": "hi there"}
    assert event["rawQueryString"] == "a=1&a=2"
    assert event["queryStringParameters"] == {"a": "1,2"}
    assert event["cookies"] == ["k=v"]
    assert event["requestContext"]["stage"] == "$default"
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert claims["custom:partner_id"] == "agency-1"
    assert claims["cognito:groups"] == "[operators admin]"
    assert isinstance(claims["exp"], str) and claims["exp"].isdigit()
    assert event["requestContext"]["authorizer"]["jwt"]["scopes"] is None
    assert body["now"] == "2026-03-01T12:00:00Z", "handlers see the stack clock"
    assert body["function"] == "partnerhub-local-EchoFunction"
    assert body["remaining_ms"] > 0
    assert body["env"] == {
        "TABLE_NAME": "fixture-local",
        "STAGE_NAME": "is-local",
        "STRIPE_SECRET_PARAM": "/fixture/stripe/secret-key",
    }


def test_bodies_text_and_binary(local: FixtureStack) -> None:
    token = local.token()
    text = local.post("/v1/echo", token, json={"x": 1}).json()["event"]
    assert text["isBase64Encoded"] is False
    assert json.loads(text["body"]) == {"x": 1}
    raw = bytes(range(256))
    binary = local.post("/v1/echo", token, data=raw, headers={"Content-Type": "application/octet-stream"}).json()
    assert binary["event"]["isBase64Encoded"] is True
    assert base64.b64decode(binary["event"]["body"]) == raw
    image = local.get("/v1/binary", token)
    assert image.headers["content-type"] == "image/png"
    assert image.content == base64.b64decode("iVBORw0K")


def test_routes_match_as_api_gateway_matches(local: FixtureStack) -> None:
    token = local.token()
    special = local.get("/v1/things/special", token).json()["event"]
    assert special["routeKey"] == "GET /v1/things/special"
    proxied = local.get("/v1/things/a/b", token).json()["event"]
    assert proxied["routeKey"] == "ANY /v1/things/{proxy+}"
    assert proxied["pathParameters"] == {"proxy": "a/b"}
    assert local.post("/v1/echo/x", token).status_code == 404, "a method mismatch is a 404 on HTTP API"
    missing = local.get("/v1/nothing-here", token)
    assert missing.status_code == 404
    assert missing.json() == {"message": "Not Found"}


def test_unauthorized_requests_never_reach_the_function(local: FixtureStack) -> None:
    assert local.get("/v1/echo/x").status_code == 401
    assert local.get("/v1/echo/x").json() == {"message": "Unauthorized"}
    bad = local.get("/v1/echo/x", headers={"Authorization": "Bearer abc.def.ghi"})
    assert bad.status_code == 401
    assert "invalid_token" in bad.headers["www-authenticate"]
    foreign = LocalAuth(issuer=f"{local.url}/_local/cognito").issue_token("agency-1", [], NOW)
    assert local.get("/v1/echo/x", foreign).status_code == 401


def test_token_expires_with_the_stack_clock(local: FixtureStack) -> None:
    token = local.token()
    assert local.get("/v1/echo/x", token).status_code == 200
    requests.post(f"{local.url}/_local/clock", json={"advance": "PT61M"}, timeout=10).raise_for_status()
    try:
        expired = local.get("/v1/echo/x", token)
        assert expired.status_code == 401
        assert "expired" in expired.headers["www-authenticate"]
        assert local.get("/v1/echo/x", local.token()).status_code == 200
    finally:
        requests.post(f"{local.url}/_local/clock", json={"now": "2026-03-01T12:00:00Z"}, timeout=10)


def _clock(local: FixtureStack, body: dict[str, str]) -> None:
    requests.post(f"{local.url}/_local/clock", json=body, timeout=10).raise_for_status()


def test_a_lambda_authorizer_is_invoked_and_its_answer_handed_over(local: FixtureStack) -> None:
    # When a request carries the identity source, the authorizer gets a REQUEST event (no body) for the route
    reply = local.post("/v1/gated", data="payload", headers={"Authorization": "Bearer allow-1"})

    # Then its context reaches the function as requestContext.authorizer.lambda
    assert reply.status_code == 200, reply.text
    event = reply.json()["event"]
    assert event["body"] == "payload"
    context = event["requestContext"]["authorizer"]["lambda"]
    assert (context["who"], context["type"], context["route"], context["has_body"]) == (
        "allow-1",
        "REQUEST",
        "POST /v1/gated",
        False,
    )


def test_a_lambda_authorizers_answer_is_cached_for_its_ttl_on_the_stack_clock(local: FixtureStack) -> None:
    def invocation() -> int:
        reply = local.post("/v1/gated", headers={"Authorization": "Bearer allow-cache"})
        assert reply.status_code == 200, reply.text
        return int(reply.json()["event"]["requestContext"]["authorizer"]["lambda"]["invocation"])

    try:
        first = invocation()
        # Within the 30 s of ReauthorizeEvery the cached answer is used: the authorizer is not invoked again
        _clock(local, {"advance": "PT29S"})
        assert invocation() == first
        # After it, the authorizer is asked again
        _clock(local, {"advance": "PT2S"})
        second = invocation()
        assert second > first
        # And an answer stored in a future the clock was moved back from is not reused
        _clock(local, {"now": "2026-03-01T12:00:00Z"})
        assert invocation() > second
    finally:
        _clock(local, {"now": "2026-03-01T12:00:00Z"})


def test_a_lambda_authorizers_refusals_are_the_gateways_own_answers(local: FixtureStack) -> None:
    # No identity source: 401, the authorizer is not asked
    missing = local.post("/v1/gated")
    assert (missing.status_code, missing.json()) == (401, {"message": "Unauthorized"})
    # isAuthorized false: 403
    denied = local.post("/v1/gated", headers={"Authorization": "Bearer deny"})
    assert (denied.status_code, denied.json()) == (403, {"message": "Forbidden"})
    # The authorizer failing, or answering no simple response: 500
    for credential in ("Bearer boom", "Bearer nonsense"):
        failed = local.post("/v1/gated", headers={"Authorization": credential})
        assert (failed.status_code, failed.json()) == (500, {"message": "Internal Server Error"}), credential


def test_route_without_authorizer(local: FixtureStack) -> None:
    reply = local.post("/v1/public", data="hello")
    assert reply.status_code == 200
    assert "authorizer" not in reply.json()["event"]["requestContext"]


def test_handler_errors_are_500s(local: FixtureStack) -> None:
    reply = local.get("/v1/boom", local.token())
    assert reply.status_code == 500
    assert reply.json() == {"message": "Internal Server Error"}
    assert "RuntimeError: boom" in local.process.log()


def test_plain_dict_result_is_a_json_200(local: FixtureStack) -> None:
    reply = local.get("/v1/plain", local.token())
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {"plain": True}


def test_sibling_modules_do_not_shadow_each_other(local: FixtureStack) -> None:
    token = local.token()
    assert local.get("/v1/hello/bob", token).json() == {"message": "hello bob"}
    assert local.get("/v1/echo/x", token).headers["x-echo"] == "YES"


def test_requests_run_concurrently(local: FixtureStack, tmp_path: Path) -> None:
    # Given eight requests sent at once, each of which waits until all eight have reached the function
    token = local.token()
    room = {"room": str(tmp_path), "n": "8", "wait": "10"}
    # When the gateway serves them
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: local.get("/v1/meet", token, params=room).status_code, range(8)))
    # Then every one met the other seven: they ran at the same time (one served alone answers 409)
    assert statuses == [204] * 8
    assert len(list(tmp_path.iterdir())) == 8


def test_openapi_is_merged_from_the_functions(local: FixtureStack) -> None:
    document = local.get("/v1/openapi.json").json()
    assert "openapi" in document
    assert "/v1/hello/{who}" in document["paths"]


def test_ssm_parameters_hold_local_stripe_values(local: FixtureStack) -> None:
    ssm = local.aws("ssm")
    secret = ssm.get_parameter(Name="/fixture/stripe/secret-key", WithDecryption=True)["Parameter"]["Value"]
    webhook = ssm.get_parameter(Name="/fixture/stripe/webhook-secret", WithDecryption=True)["Parameter"]["Value"]
    assert (secret, webhook) == ("sk_test_local", "whsec_local")


def test_table_is_created_from_the_template(local: FixtureStack) -> None:
    dynamodb = local.aws("dynamodb")
    table = dynamodb.describe_table(TableName="fixture-local")["Table"]
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["GSI1"]
    ttl = dynamodb.describe_time_to_live(TableName="fixture-local")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "ttl"


def _work_queues(local: FixtureStack) -> tuple[Any, str, str]:
    sqs = local.aws("sqs")
    return (
        sqs,
        sqs.get_queue_url(QueueName="partnerhub-local-WorkQueue")["QueueUrl"],
        sqs.get_queue_url(QueueName="partnerhub-local-WorkDeadLetterQueue")["QueueUrl"],
    )


def _dead_letters(sqs: Any, url: str) -> int:
    return int(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
    )


def test_drain_deletes_successes_and_redrives_partial_failures(local: FixtureStack) -> None:
    sqs, url, dlq = _work_queues(local)
    dead_before = _dead_letters(sqs, dlq)
    for n in range(7):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": 1000 + n}))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"fail": True}))
    reply = local.post("/_local/drain")
    assert reply.status_code == 200
    stats = reply.json()["queues"]["WorkerFunction:WorkQueue"]
    # Seven succeed once; the poisoned one fails maxReceiveCount (2) times, then goes to the DLQ.
    assert stats["succeeded"] == 7
    assert stats["failed"] == 2
    assert stats["dead_lettered"] == 1
    assert stats["complete"] is True
    assert _dead_letters(sqs, dlq) == dead_before + 1
    items = local.aws("dynamodb").query(
        TableName="fixture-local",
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "WORK"}},
    )["Items"]
    assert {item["SK"]["S"] for item in items} >= {str(1000 + n) for n in range(7)}


def test_a_raising_handler_fails_the_whole_batch(local: FixtureStack) -> None:
    sqs, url, dlq = _work_queues(local)
    dead_before = _dead_letters(sqs, dlq)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"explode": True}))
    stats = local.post("/_local/drain").json()["queues"]["WorkerFunction:WorkQueue"]
    assert stats["succeeded"] == 0
    assert stats["dead_lettered"] == 1
    assert stats["errors"], "the invocation error is reported"
    assert _dead_letters(sqs, dlq) == dead_before + 1


def test_invoice_run_invokes_the_scheduled_function_and_drains(local: FixtureStack) -> None:
    reply = local.post("/_local/invoice-run", json={"period": "2026-02"})
    assert reply.status_code == 200, reply.text
    summary = reply.json()
    assert summary["planner"] == "PlannerFunction"
    assert summary["partners_enqueued"] == 13
    assert summary["succeeded"] == 12
    assert summary["dead_lettered"] == 1
    assert summary["complete"] is True
    assert "sqs partnerhub-local-WorkQueue -> WorkerFunction" in local.process.log()
    # The planner is told what started the run: this control
    assert summary["planner_result"]["started_by"] == "local:invoice-run"


def test_invoice_run_names_the_caller_that_says_which_it_is(local: FixtureStack) -> None:
    # `make invoice` says "via": the month's run then names it (the stack's clock is in March 2026: January has ended)
    reply = local.post("/_local/invoice-run", json={"period": "2026-01", "via": "make-invoice"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["planner_result"]["started_by"] == "local:make-invoice"
    # Anything but a short lowercase name is refused, and nothing runs
    for via in ("Make Invoice", "", 7, "x" * 40):
        assert local.post("/_local/invoice-run", json={"period": "2026-01", "via": via}).status_code == 422


@pytest.mark.parametrize("body", [{}, {"period": "2026-13"}, {"period": "Feb"}])
def test_invoice_run_rejects_a_bad_period(local: FixtureStack, body: dict[str, str]) -> None:
    assert local.post("/_local/invoice-run", json=body).status_code == 422
