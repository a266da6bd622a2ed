"""What every repository module shares: item (de)serialisation, the one pager, error translation.

Repositories are given their DynamoDB client by the function's composition root (``partnerhub.clients``);
none makes one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from partnerhub.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

THROTTLING = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)

Item = dict[str, Any]


# The reads that answer pages of items. botocore walks every attribute value of every item against the
# service model (a structure of ten optional members per value) to produce what the JSON already says: for
# a 50-item page of licenses that walk costs about ten times decoding the JSON. Only binary values differ
# (botocore decodes their base64), and this project stores none.
_PAGE_READS = ("Query", "Scan")
_BINARY_KEYS = (b'"B"', b'"BS"')


def read_pages_raw(client: DynamoDBClient) -> None:
    """Give ``client``'s Query and Scan answers their items as the JSON has them (see :func:`lift_items`)."""
    for operation in _PAGE_READS:
        client.meta.events.register(
            f"before-parse.dynamodb.{operation}", lift_items, unique_id=f"partnerhub-raw-items-{operation}"
        )


def lift_items(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """botocore's ``before-parse`` hook: take ``Items`` out of a successful answer before botocore's parser
    walks them, and hand them back as decoded JSON (``customized_response_dict`` is merged into the parsed
    answer). The result is what botocore would build, because every value but a binary one parses to itself;
    an answer that may hold a binary value (its text has a ``"B"`` or ``"BS"`` key, or the string "B") is left
    to botocore whole."""
    body = response_dict.get("body")
    if response_dict.get("status_code") != 200 or not isinstance(body, bytes) or not body:
        return
    if any(key in body for key in _BINARY_KEYS):
        return
    answer = json.loads(body)
    if not isinstance(answer, dict) or not isinstance(answer.get("Items"), list):
        return
    customized_response_dict["Items"] = answer.pop("Items")
    response_dict["body"] = json.dumps(answer).encode()


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in item.items() if value is not None}


def deserialize(item: Mapping[str, Any]) -> Item:
    return {key: _value(value) for key, value in item.items()}


def _value(typed: Mapping[str, Any]) -> Any:
    """One attribute value: the types this project stores directly (a list page reads hundreds of them),
    anything else through boto3's deserializer."""
    ((kind, raw),) = typed.items()
    if kind == "S":
        return raw
    if kind == "N":
        return _number(raw)
    if kind == "M":
        return {key: _value(value) for key, value in raw.items()}
    if kind == "L":
        return [_value(value) for value in raw]
    if kind == "BOOL":
        return bool(raw)
    if kind == "NULL":
        return None
    if kind == "SS":
        return set(raw)
    return _plain(_deserializer.deserialize(typed))  # type: ignore[arg-type]


def _number(text: str) -> int:
    """Every number this project stores is an integer (DynamoDB may still spell one ``1E+2``)."""
    try:
        return int(text)
    except ValueError:
        return int(Decimal(text))


def _plain(value: Any) -> Any:
    """Numbers come back as Decimal; every number this project stores is an integer."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return {_plain(v) for v in value}
    return value


def values(**named: Any) -> dict[str, Any]:
    """ExpressionAttributeValues from keyword arguments: ``values(v=1)`` → ``{":v": {"N": "1"}}``."""
    return {f":{name}": _serializer.serialize(value) for name, value in named.items()}


def stamp(instant: datetime) -> str:
    """Storage spelling of an instant: fixed width, microseconds, so strings sort in time order."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def unstamp(text: str | None) -> datetime | None:
    """The instant ``stamp`` wrote (``fromisoformat`` reads the ``Z``; it is much cheaper than ``strptime``)."""
    if text is None:
        return None
    return datetime.fromisoformat(text).astimezone(UTC)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def raise_if_throttled(error: ClientError) -> None:
    """DynamoDB throttling after the SDK's own retries becomes a 503 the caller may retry."""
    if error_code(error) in THROTTLING:
        raise ServiceUnavailable("the database is busy; retry shortly", retry_after=1, code="throttled") from error


def cancellation_reasons(error: ClientError) -> list[dict[str, Any]]:
    reasons = error.response.get("CancellationReasons")
    if reasons is None:
        return []
    return list(reasons)  # type: ignore[arg-type]


Read = Callable[..., Any]
"""A paginated read: ``client.query`` or ``client.scan`` (or a wrapper that translates its errors)."""


def pages(read: Read, **params: Any) -> Iterator[dict[str, Any]]:
    """Every answer of a paginated read, following ``LastEvaluatedKey`` until the last page.

    The one pager of the project: callers that stop early take as many pages as they need
    (``itertools.islice``); the next page is read only when asked for."""
    while True:
        answer: dict[str, Any] = read(**params)
        yield answer
        last = answer.get("LastEvaluatedKey")
        if last is None:
            return
        params = {**params, "ExclusiveStartKey": last}


def items(read: Read, **params: Any) -> Iterator[Item]:
    """Every item of a paginated read, deserialized, page after page (:func:`pages`)."""
    for answer in pages(read, **params):
        for raw in answer.get("Items", ()):
            yield deserialize(raw)


def batch_get(client: DynamoDBClient, table: str, wanted: list[dict[str, Any]], **options: Any) -> Iterator[Item]:
    """The items of ``wanted`` keys that exist, 100 keys a BatchGetItem, unprocessed keys asked for again."""
    for start in range(0, len(wanted), 100):
        request: dict[str, Any] = {table: {"Keys": wanted[start : start + 100], **options}}
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for raw in answer.get("Responses", {}).get(table, ()):
                yield deserialize(raw)
            request = dict(answer.get("UnprocessedKeys") or {})


class TableRepository:
    """Base of every repository: the table's name and the DynamoDB client its composition root made."""

    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = table_name
        self._client = client

    def _items(self, **params: Any) -> Iterator[Item]:
        """Every item of a Query of this table (:func:`items`)."""
        return items(self._client.query, TableName=self._table, **params)
