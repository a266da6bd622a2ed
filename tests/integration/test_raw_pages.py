"""The project's DynamoDB client takes a Query's or Scan's items as their JSON has them (``read_pages_raw`` in
``repository/dynamo.py``) instead of letting botocore walk every value: its answers are a plain client's."""

from __future__ import annotations

import os
import uuid
from typing import Any

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partnerhub.repository.dynamo import lift_items, read_pages_raw

NAMES = st.text(alphabet="abcdefgh_", min_size=1, max_size=6)
NUMBERS = st.integers(min_value=-(10**12), max_value=10**12).map(str)
TEXT = st.text(max_size=12)  # any text, "B" and '"B":' included
TEXT_SCALARS = (
    TEXT.map(lambda v: {"S": v}),
    NUMBERS.map(lambda v: {"N": v}),
    st.booleans().map(lambda v: {"BOOL": v}),
    st.just({"NULL": True}),
    st.sets(TEXT, min_size=1, max_size=3).map(lambda v: {"SS": sorted(v)}),
    st.sets(NUMBERS, min_size=1, max_size=3).map(lambda v: {"NS": sorted(v)}),
)
BINARY_SCALARS = (
    st.binary(min_size=1, max_size=8).map(lambda v: {"B": v}),
    st.sets(st.binary(min_size=1, max_size=4), min_size=1, max_size=3).map(lambda v: {"BS": sorted(v)}),
)


def values(*scalars: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.recursive(
        st.one_of(*scalars),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(lambda v: {"L": v}),
            st.dictionaries(NAMES, inner, max_size=3).map(lambda v: {"M": v}),
        ),
        max_leaves=6,
    )


def items_of(value: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(st.dictionaries(NAMES, value, max_size=5), min_size=0, max_size=6)


TEXT_ITEMS = items_of(values(*TEXT_SCALARS))  # what this project stores: read raw
ANY_ITEMS = items_of(values(*TEXT_SCALARS, *BINARY_SCALARS))  # binary too: left to botocore
READS = st.sampled_from(["query", "query-next-page", "query-count", "scan"])


class Lifts:
    """Counts the answers whose items reached the caller raw (after the project's hook, before the parser)."""

    def __init__(self, client: Any) -> None:
        self.raw = 0
        for operation in ("Query", "Scan"):
            client.meta.events.register(f"before-parse.dynamodb.{operation}", self._seen)

    def _seen(self, customized_response_dict: dict[str, Any], **_: Any) -> None:
        self.raw += "Items" in customized_response_dict


def both_answers(
    table: str, items: list[dict[str, Any]], read: str = "query"
) -> tuple[dict[str, Any], dict[str, Any], int, int]:
    """The same read through the project's client and a plain one, after writing ``items`` to a new
    partition; how many of the project's answers came raw, and how many of its reads answer items."""
    pk = f"RAW#{uuid.uuid4().hex}"
    ours, plain = boto3.client("dynamodb"), boto3.client("dynamodb")
    read_pages_raw(ours)
    lifts = Lifts(ours)
    for i, attributes in enumerate(items):
        item = {**attributes, "PK": {"S": pk}, "SK": {"S": f"{i:03d}"}}
        plain.put_item(TableName=table, Item=item)
    key = {"KeyConditionExpression": "PK = :pk", "ExpressionAttributeValues": {":pk": {"S": pk}}}

    def through(client: Any) -> tuple[dict[str, Any], int]:
        """The read's last answer, and how many of its calls answer items."""
        if read == "scan":
            # This partition's items only: the table holds every other test's too
            answer = client.scan(
                TableName=table,
                FilterExpression="PK = :pk",
                ExpressionAttributeValues=key["ExpressionAttributeValues"],
                ReturnConsumedCapacity="TOTAL",
            )
            calls = 1
        elif read == "query-count":
            answer, calls = client.query(TableName=table, Select="COUNT", **key), 0
        else:
            answer, calls = client.query(TableName=table, Limit=4, ReturnConsumedCapacity="TOTAL", **key), 1
            if read == "query-next-page" and "LastEvaluatedKey" in answer:
                answer = client.query(TableName=table, Limit=4, ExclusiveStartKey=answer["LastEvaluatedKey"], **key)
                calls = 2
        answer = dict(answer)
        answer.pop("ResponseMetadata")
        return answer, calls

    (mine, item_reads), (theirs, _) = through(ours), through(plain)
    return mine, theirs, lifts.raw, item_reads


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=TEXT_ITEMS, read=READS)
def test_a_page_read_raw_is_the_page_botocore_parses(aws: Any, items: list[dict[str, Any]], read: str) -> None:
    ours, plain, raw, item_reads = both_answers(os.environ["TABLE_NAME"], items, read)
    assert ours == plain
    # Every page of items was taken raw (a COUNT answer has no items to take)
    assert raw == item_reads


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=ANY_ITEMS, read=READS)
def test_pages_with_binary_values_are_botocores_own(aws: Any, items: list[dict[str, Any]], read: str) -> None:
    ours, plain, _, _ = both_answers(os.environ["TABLE_NAME"], items, read)
    assert ours == plain


def test_the_licenses_a_page_holds_come_back_unchanged(aws: Any) -> None:
    # What this project stores: text, whole numbers, lists, maps, flags and nulls
    item = {
        "product": {"S": "jetpack-backup"},
        "version": {"N": "3"},
        "tags": {"L": [{"S": "vip"}, {"S": "q4"}]},
        "site": {"M": {"site_id": {"S": "s-1"}, "site_url": {"S": "https://client.example.com"}}},
        "revoked": {"BOOL": False},
        "client": {"NULL": True},
    }
    ours, plain, raw, _ = both_answers(os.environ["TABLE_NAME"], [item, item])
    assert ours == plain and raw == 1
    assert ours["Items"][0]["tags"] == {"L": [{"S": "vip"}, {"S": "q4"}]}


def test_the_items_skip_botocores_walk_unless_a_value_may_be_binary(aws: Any) -> None:
    # Given a client that records what reached botocore's parser after the project's hook
    client = boto3.client("dynamodb")
    read_pages_raw(client)
    seen: list[dict[str, Any]] = []
    client.meta.events.register(
        "before-parse.dynamodb.Query", lambda customized_response_dict, **_: seen.append(dict(customized_response_dict))
    )
    table = os.environ["TABLE_NAME"]
    for value in ({"S": "plain"}, {"B": b"\x00\x01"}):
        pk = f"RAW#{uuid.uuid4().hex}"
        client.put_item(TableName=table, Item={"PK": {"S": pk}, "SK": {"S": "1"}, "v": value})
        client.query(TableName=table, KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": {"S": pk}})
    # Then the page of text was taken raw, and the page with a binary value was left to botocore
    assert [("Items" in s) for s in seen] == [True, False]


def test_answers_that_are_not_a_page_are_left_alone() -> None:
    for response in (
        {"status_code": 400, "body": b'{"__type": "ValidationException", "Items": []}'},
        {"status_code": 200, "body": b""},
        {"status_code": 200, "body": b'{"Count": 0}'},
        {"status_code": 200, "body": b'{"Items": [{"a": {"B": "AAE="}}]}'},
    ):
        body, customized = response["body"], {}  # type: ignore[var-annotated]
        lift_items(response_dict=response, customized_response_dict=customized)
        assert customized == {} and response["body"] == body
