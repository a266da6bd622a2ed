"""The events and context objects Lambda hands to the handlers, built from local requests.

HTTP requests become API Gateway HTTP API payload format 2.0 events; SQS messages become the batch
event an SQS event source mapping delivers. Both follow the shapes AWS documents (including its
quirks: JWT claims as strings, comma-joined duplicate headers and query parameters, cookies lifted
out of the headers, absent keys rather than empty ones), so a handler that works here works there.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from local.template import ACCOUNT_ID, REGION, STACK_NAME

API_ID = "local"

# Content types API Gateway passes through as text; everything else arrives base64-encoded.
# (HTTP APIs base64-encode form posts too, which surprises people; Powertools decodes them.)
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "application/graphql")


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    if not kind:
        return True
    return kind.startswith(_TEXT_TYPES) or kind.endswith(("+json", "+xml"))


@dataclass
class HttpRequest:
    """The parts of an incoming request the event is made of (transport-neutral, for tests too)."""

    method: str
    path: str
    raw_query: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    host: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"


def http_event(
    request: HttpRequest,
    *,
    route_key: str,
    path_parameters: Mapping[str, str],
    authorizer: Mapping[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload format 2.0 event for ``request`` on ``route_key``.

    ``authorizer`` is ``requestContext.authorizer`` as the route's authorizer made it: ``{"lambda": context}`` for
    a Lambda authorizer, ``{"jwt": {"claims", "scopes"}}`` for a JWT one (claims rendered as strings, see
    :func:`local.auth.render_claims`); ``None`` means the route has no authorizer, and then
    ``requestContext.authorizer`` is absent as on AWS.
    """
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        lower = name.lower()
        if lower == "cookie":
            # Payload 2.0 moves cookies into their own list and drops the header.
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[lower] = f"{headers[lower]},{value}" if lower in headers else value
    request_id = _request_id()
    headers.setdefault("host", request.host)
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-proto", "http")
    headers.setdefault("x-forwarded-port", request.host.rpartition(":")[2] if ":" in request.host else "80")
    headers.setdefault("x-amzn-trace-id", f"Root=1-{int(now.timestamp()):08x}-{uuid.uuid4().hex[:24]}")
    if request.body:
        headers.setdefault("content-length", str(len(request.body)))

    query: dict[str, str] = {}
    for key, value in parse_qsl(request.raw_query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value

    domain = request.host.partition(":")[0]
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": domain,
        "domainPrefix": domain.partition(".")[0],
        "http": {
            "method": request.method.upper(),
            "path": request.path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": now.astimezone(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    event["requestContext"] = context
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if request.body:
        content_type = headers.get("content-type", "")
        text: str | None = None
        if _is_text(content_type):
            try:
                text = request.body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is None:
            event["body"] = base64.b64encode(request.body).decode("ascii")
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
            event["isBase64Encoded"] = False
    else:
        event["isBase64Encoded"] = False
    return event


def authorizer_event(
    request: HttpRequest,
    *,
    route_key: str,
    path_parameters: Mapping[str, str],
    identity: Iterable[str],
    now: datetime,
) -> dict[str, Any]:
    """The event a Lambda REQUEST authorizer gets (payload format 2.0): the request as the route's function would
    get it, without the body, with ``type``, ``routeArn`` and ``identitySource`` (the identity sources' values)."""
    event = http_event(request, route_key=route_key, path_parameters=path_parameters, authorizer=None, now=now)
    for name in ("body", "isBase64Encoded"):
        event.pop(name, None)
    method, _, path = route_key.partition(" ")
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/$default/{method}{path or ''}",
        "identitySource": list(identity),
        **event,
    }


def _request_id() -> str:
    # API Gateway's request ids look like "JKJaXmPLvHcESHA="; any unique string serves.
    return base64.b64encode(uuid.uuid4().bytes[:10]).decode().rstrip("=") + "="


class LambdaContext:
    """The context object the Python runtime passes as the handler's second argument."""

    def __init__(self, function_name: str, memory_limit_in_mb: int = 128, timeout_seconds: int = 3) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        # Execution time is real time: the stack clock may jump, a timeout budget does not.
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before Lambda would stop this invocation."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def function_name(logical_id: str) -> str:
    """The physical name a function gets in the local stack."""
    return f"{STACK_NAME}-{logical_id}"


def sqs_event(messages: Iterable[Mapping[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event an SQS event source mapping delivers for ``messages`` (boto3 ``receive_message`` items)."""
    records = []
    for message in messages:
        attributes = dict(message.get("Attributes") or {})
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": attributes,
            "messageAttributes": {
                name: {
                    "stringValue": attr.get("StringValue"),
                    "binaryValue": base64.b64encode(attr["BinaryValue"]).decode() if "BinaryValue" in attr else None,
                    "stringListValues": list(attr.get("StringListValues") or []),
                    "binaryListValues": list(attr.get("BinaryListValues") or []),
                    "dataType": attr.get("DataType", "String"),
                }
                for name, attr in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message.get("Body", "").encode()).hexdigest(),  # noqa: S324
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": REGION,
        }
        for name, attr in record["messageAttributes"].items():
            # Lambda leaves out the value kind a message attribute does not have.
            record["messageAttributes"][name] = {k: v for k, v in attr.items() if v is not None}
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        records.append(record)
    return {"Records": records}
