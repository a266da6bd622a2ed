"""The project's DynamoDB client takes a Query's or Scan's items as their JSON has them (``read_pages_raw`` in
``repository/dynamo.py``) instead of letting botocore walk every value: its answers are a plain client's."""

from __future__ import annotations

import os
import uuid
from typing import Any

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partnerhub.repository.dynamo import default_client, lift_items, read_pages_raw

NAMES = st.text(alphabet="abcdefgh_", min_size=1, max_size=6)
NUMBERS = st.integers(min_value=-(10**12), max_value=10**12).map(str)
TEXT = st.text(max_size=12)  # any text, "B" and '"B":' included
SCALARS = st.one_of(
    TEXT.map(lambda v: {"S": v}),
    NUMBERS.map(lambda v: {"N": v}),
    st.booleans().map(lambda v: {"BOOL": v}),
    st.just({"NULL": True}),
    st.binary(min_size=1, max_size=8).map(lambda v: {"B": v}),
    st.sets(TEXT, min_size=1, max_size=3).map(lambda v: {"SS": sorted(v)}),
    st.sets(NUMBERS, min_size=1, max_size=3).map(lambda v: {"NS": sorted(v)}),
    st.sets(st.binary(min_size=1, max_size=4), min_size=1, max_size=3).map(lambda v: {"BS": sorted(v)}),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda v: {"L": v}),
        st.dictionaries(NAMES, inner, max_size=3).map(lambda v: {"M": v}),
    ),
    max_leaves=6,
)
ITEMS = st.lists(st.dictionaries(NAMES, VALUES, max_size=5), min_size=0, max_size=6)


def both_answers(table: str, items: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    pk = f"RAW#{uuid.uuid4().hex}"
    ours, plain = default_client(), boto3.client("dynamodb")
    for i, attributes in enumerate(items):
        item = {**attributes, "PK": {"S": pk}, "SK": {"S": f"{i:03d}"}}
        ours.put_item(TableName=table, Item=item)
    query = {
        "TableName": table,
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}},
        "Limit": 4,
    }
    answers = []
    for client in (ours, plain):
        answer = dict(client.query(**query))
        answer.pop("ResponseMetadata")
        answers.append(answer)
    return answers[0], answers[1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=ITEMS)
def test_a_page_read_raw_is_the_page_botocore_parses(aws: Any, items: list[dict[str, Any]]) -> None:
    ours, plain = both_answers(os.environ["TABLE_NAME"], items)
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
    ours, plain = both_answers(os.environ["TABLE_NAME"], [item, item])
    assert ours == plain
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
