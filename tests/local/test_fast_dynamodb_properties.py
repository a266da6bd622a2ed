"""Property tests: for any table contents and any query, the fast DynamoDB layer answers what plain moto answers.

Hypothesis draws the items (every attribute type DynamoDB has, nested maps and lists, items missing from
the sparse index) and the queries (on the table or the index, any key condition, either order, filters,
limits, projections, and start keys taken from a previous page, from any stored item of the partition, or
made up). Each example runs in two fresh moto accounts, once on plain moto (the oracle, with
``fast_dynamodb.plain_moto()``) and once through the layer; every answer, page by page, must be equal,
as must GetItem and Scan answers, which go through the same response serializer.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from local import fast_dynamodb

TABLE = "props"
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
PARTITIONS = ("P#a", "P#b")
INDEX_PARTITIONS = ("G#a", "G#b")
SORT_ALPHABET = "ab#0z"

pytestmark = pytest.mark.skipif(
    os.environ.get("PARTNERHUB_PLAIN_MOTO") == "1", reason="PARTNERHUB_PLAIN_MOTO=1 switches the fast path off"
)

sort_values = st.text(alphabet=SORT_ALPHABET, min_size=1, max_size=4)
numbers = st.integers(min_value=-50, max_value=50).map(str)
leaf_values = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(alphabet="xyz é", max_size=5)),
    st.builds(lambda n: {"N": n}, numbers),
    st.builds(lambda b: {"B": b}, st.binary(min_size=1, max_size=4)),
    st.builds(lambda s: {"SS": sorted(s)}, st.sets(st.text(alphabet="xyz", min_size=1, max_size=3), min_size=1)),
    st.builds(lambda s: {"NS": sorted(s)}, st.sets(numbers, min_size=1, max_size=3)),
    st.builds(lambda s: {"BS": sorted(s)}, st.sets(st.binary(min_size=1, max_size=3), min_size=1, max_size=3)),
    st.just({"NULL": True}),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
)
attribute_values = st.recursive(
    leaf_values,
    lambda inner: st.one_of(
        st.builds(lambda m: {"M": m}, st.dictionaries(st.sampled_from("pqr"), inner, max_size=3)),
        st.builds(lambda items: {"L": items}, st.lists(inner, max_size=3)),
    ),
    max_leaves=6,
)


@st.composite
def items(draw: st.DrawFn) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": {"S": draw(st.sampled_from(PARTITIONS))},
        "SK": {"S": draw(sort_values)},
        "status": {"S": draw(st.sampled_from(["assigned", "unassigned", "revoked"]))},
        "n": {"N": draw(numbers)},
    }
    if draw(st.booleans()) or draw(st.booleans()):  # most items are in the index, some are not (sparse)
        item["GSI1PK"] = {"S": draw(st.sampled_from(INDEX_PARTITIONS))}
        if draw(st.integers(0, 9)):
            item["GSI1SK"] = {"S": draw(sort_values)}
    for name in draw(st.lists(st.sampled_from(["extra", "data", "more"]), unique=True, max_size=3)):
        item[name] = draw(attribute_values)
    return item


@st.composite
def queries(draw: st.DrawFn) -> dict[str, Any]:
    on_index = draw(st.booleans())
    hash_attr, range_attr = ("GSI1PK", "GSI1SK") if on_index else ("PK", "SK")
    hash_value = draw(st.sampled_from(INDEX_PARTITIONS if on_index else PARTITIONS))
    args: dict[str, Any] = {"TableName": TABLE}
    if on_index:
        args["IndexName"] = "GSI1"
    names = {"#h": hash_attr}
    values: dict[str, Any] = {":h": {"S": hash_value}}
    condition = "#h = :h"
    kind = draw(st.sampled_from(["none", "=", "<", "<=", ">", ">=", "between", "begins_with"]))
    if kind != "none":
        names["#r"] = range_attr
        values[":a"] = {"S": draw(sort_values)}
        if kind == "between":
            values[":b"] = {"S": draw(sort_values)}
            if values[":a"]["S"] > values[":b"]["S"]:
                values[":a"], values[":b"] = values[":b"], values[":a"]
            condition += " AND #r BETWEEN :a AND :b"
        elif kind == "begins_with":
            condition += " AND begins_with(#r, :a)"
        else:
            condition += f" AND #r {kind} :a"
    args["KeyConditionExpression"] = condition
    limit = draw(st.one_of(st.none(), st.integers(1, 12)))
    if limit is not None:
        args["Limit"] = limit
    forward = draw(st.sampled_from([None, True, False]))
    if forward is not None:
        args["ScanIndexForward"] = forward
    flt = draw(st.sampled_from([None, "status", "n", "exists"]))
    if flt == "status":
        args["FilterExpression"] = "#st <> :rev"
        names["#st"] = "status"
        values[":rev"] = {"S": "revoked"}
    elif flt == "n":
        args["FilterExpression"] = "n > :zero"
        values[":zero"] = {"N": "0"}
    elif flt == "exists":
        args["FilterExpression"] = "attribute_exists(extra)"
    projection = draw(st.sampled_from([None, "PK, SK, extra", "COUNT"]))
    if projection == "COUNT":
        args["Select"] = "COUNT"
    elif projection:
        args["ProjectionExpression"] = projection
    args["ExpressionAttributeNames"] = names
    args["ExpressionAttributeValues"] = values
    start = draw(st.sampled_from(["pages", "stored", "made-up"]))
    made_up = {"PK": {"S": draw(st.sampled_from(PARTITIONS))}, "SK": {"S": draw(sort_values)}}
    if on_index:
        made_up.update({"GSI1PK": {"S": hash_value}, "GSI1SK": {"S": draw(sort_values)}})
    else:
        made_up["PK"] = {"S": hash_value}
    return {"args": args, "start": start, "made_up": made_up, "pick": draw(st.integers(0, 1000))}


def _answer(call: Any, **args: Any) -> Any:
    try:
        reply = call(**args)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return {"error": error.get("Code"), "message": error.get("Message")}
    reply.pop("ResponseMetadata", None)
    return reply


@contextlib.contextmanager
def _table() -> Iterator[Any]:
    with mock.patch.dict("os.environ", ENV), mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"} for name in ("PK", "SK", "GSI1PK", "GSI1SK")
            ],
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "GSI1",
                    "KeySchema": [
                        {"AttributeName": "GSI1PK", "KeyType": "HASH"},
                        {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        try:
            yield client
        finally:
            client.delete_table(TableName=TABLE)


def _start_key(query: dict[str, Any], stored: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first page's ExclusiveStartKey: none (then pages follow LastEvaluatedKey), a stored item's, or made up."""
    args = query["args"]
    if query["start"] == "made-up":
        return dict(query["made_up"])
    hash_attr = "GSI1PK" if "IndexName" in args else "PK"
    wanted = args["ExpressionAttributeValues"][":h"]
    candidates = [i for i in stored if i.get(hash_attr) == wanted and ("IndexName" not in args or "GSI1SK" in i)]
    if query["start"] == "pages" or not candidates:
        return None
    chosen = candidates[query["pick"] % len(candidates)]
    names = ("PK", "SK", "GSI1PK", "GSI1SK") if "IndexName" in args else ("PK", "SK")
    return {name: chosen[name] for name in names}


def _run(stored: list[dict[str, Any]], asked: list[dict[str, Any]]) -> list[Any]:
    answers: list[Any] = []
    with _table() as client:
        for item in stored:
            answers.append(_answer(client.put_item, TableName=TABLE, Item=item))
        for query in asked:
            args = dict(query["args"])
            start = _start_key(query, stored)
            if start is not None:
                args["ExclusiveStartKey"] = start
            pages = []
            for _ in range(60):
                page = _answer(client.query, **args)
                pages.append(page)
                following = page.get("LastEvaluatedKey") if isinstance(page, dict) else None
                if not following:
                    break
                args = {**args, "ExclusiveStartKey": following}
            answers.append(pages)
        for item in stored[:3]:
            answers.append(_answer(client.get_item, TableName=TABLE, Key={"PK": item["PK"], "SK": item["SK"]}))
        answers.append(_answer(client.scan, TableName=TABLE))
    return answers


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(stored=st.lists(items(), max_size=30), asked=st.lists(queries(), min_size=1, max_size=6))
def test_any_query_answers_what_plain_moto_answers(stored: list[dict[str, Any]], asked: list[dict[str, Any]]) -> None:
    fast_dynamodb.install()
    with fast_dynamodb.plain_moto():
        expected = _run(stored, asked)
    assert _run(stored, asked) == expected


def test_every_attribute_type_is_written_back_as_plain_moto_writes_it() -> None:
    # Given an item holding each attribute type, nested ones and an empty map and list (worked by hand)
    fast_dynamodb.install()
    item = {
        "PK": {"S": "P#a"},
        "SK": {"S": "a"},
        "s": {"S": "é"},
        "n": {"N": "-1.50"},
        "b": {"B": b"\x00\xff"},
        "ss": {"SS": ["x", "y"]},
        "ns": {"NS": ["1", "2"]},
        "bs": {"BS": [b"\x01", b"\x02"]},
        "null": {"NULL": True},
        "bool": {"BOOL": False},
        "m": {"M": {"inner": {"L": [{"S": "v"}, {"M": {}}, {"L": []}]}}},
    }
    with fast_dynamodb.plain_moto():
        expected = _run([item], [])
    # When it is read back through the fast layer
    actual = _run([item], [])
    # Then the answers are plain moto's, and they hold the item as written
    assert actual == expected
    assert actual[1]["Item"] == item
