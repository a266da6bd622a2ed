"""The fast DynamoDB layer answers exactly what plain moto answers.

One scripted sequence (seeded, so every run is the same) of writes, conditional writes, transactions
that commit and transactions that are cancelled, and queries on the table and on every kind of index,
paged to the end, runs twice in fresh moto accounts: once on plain moto (the oracle), once through
``local.fast_dynamodb``. Every answer -- items, order, LastEvaluatedKey, Count, ScannedCount,
ConsumedCapacity, error codes, messages and cancellation reasons -- must be equal.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local import fast_dynamodb

ROOT = Path(__file__).resolve().parents[2]
TABLE = "main"
NUMERIC = "numeric"
PARTITIONS = [f"P#{n}" for n in range(4)]
PREFIXES = ["LIC#", "CARD#", "USAGE#"]
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _create_tables(client: Any) -> None:
    # The shape of template.yaml's table: PK/SK, range-keyed GSIs with ALL and INCLUDE projections.
    names = ["PK", "SK"] + [f"GSI{n}{k}" for n in (1, 2, 5) for k in ("PK", "SK")]
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in names],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": f"GSI{n}",
                "KeySchema": [
                    {"AttributeName": f"GSI{n}PK", "KeyType": "HASH"},
                    {"AttributeName": f"GSI{n}SK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"}
                if n != 5
                else {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["status", "n"]},
            }
            for n in (1, 2, 5)
        ],
    )
    # A numeric sort key and an index with no sort key of its own.
    client.create_table(
        TableName=NUMERIC,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "seq", "AttributeType": "N"},
            {"AttributeName": "group", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "seq", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-group",
                "KeySchema": [{"AttributeName": "group", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )


class Script:
    """Generates the operations; the same seed always gives the same sequence."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def key(self) -> dict[str, Any]:
        r = self.rng
        return {"PK": {"S": r.choice(PARTITIONS)}, "SK": {"S": f"{r.choice(PREFIXES)}{r.randrange(60):03d}"}}

    def item(self) -> dict[str, Any]:
        r = self.rng
        item: dict[str, Any] = {**self.key(), "status": {"S": r.choice(["active", "revoked", "unassigned"])}}
        item["n"] = {"N": str(r.randrange(-5, 50))}
        item["note"] = {"S": "x" * r.randrange(0, 40)}
        for n in (1, 2, 5):
            if r.random() < 0.7:  # sparse: many items are in no index
                item[f"GSI{n}PK"] = {"S": f"G{n}#{r.randrange(3)}"}
                if r.random() < 0.85:
                    item[f"GSI{n}SK"] = {"S": f"{r.choice(['2026-10', '2026-11', '2026-12'])}#{r.randrange(40):02d}"}
        return item

    def operations(self, count: int) -> Iterator[tuple[str, dict[str, Any]]]:
        r = self.rng
        for _ in range(count):
            roll = r.random()
            if roll < 0.30:
                yield "put_item", self.put()
            elif roll < 0.42:
                yield "update_item", self.update()
            elif roll < 0.48:
                yield "delete_item", self.delete()
            elif roll < 0.60:
                yield "transact_write_items", self.transaction()
            elif roll < 0.62:
                yield "batch_write_item", self.batch()
            elif roll < 0.70:
                yield "numeric", {}
            else:
                yield "query", self.query()

    def put(self) -> dict[str, Any]:
        args: dict[str, Any] = {"TableName": TABLE, "Item": self.item()}
        if self.rng.random() < 0.3:
            args["ConditionExpression"] = "attribute_not_exists(PK)"
            args["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        if self.rng.random() < 0.3:
            args["ReturnConsumedCapacity"] = "TOTAL"
        return args

    def update(self) -> dict[str, Any]:
        r = self.rng
        args: dict[str, Any] = {"TableName": TABLE, "Key": self.key(), "ReturnValues": "ALL_NEW"}
        choice = r.randrange(4)
        if choice == 0:  # move the item within an index
            args["UpdateExpression"] = "SET GSI1PK = :p, GSI1SK = :s"
            args["ExpressionAttributeValues"] = {
                ":p": {"S": f"G1#{r.randrange(3)}"},
                ":s": {"S": f"2026-12#{r.randrange(40):02d}"},
            }
        elif choice == 1:  # take it out of an index
            args["UpdateExpression"] = "REMOVE GSI2SK"
        elif choice == 2:
            args["UpdateExpression"] = "ADD n :one"
            args["ExpressionAttributeValues"] = {":one": {"N": "1"}}
        else:
            args["UpdateExpression"] = "SET #s = :s"
            args["ExpressionAttributeNames"] = {"#s": "status"}
            args["ExpressionAttributeValues"] = {":s": {"S": "revoked"}}
        if r.random() < 0.4:
            args["ConditionExpression"] = "attribute_exists(PK)"
        if r.random() < 0.3:
            args["ReturnConsumedCapacity"] = "INDEXES"
        return args

    def delete(self) -> dict[str, Any]:
        args: dict[str, Any] = {"TableName": TABLE, "Key": self.key(), "ReturnValues": "ALL_OLD"}
        if self.rng.random() < 0.5:
            args["ConditionExpression"] = "#s = :a"
            args["ExpressionAttributeNames"] = {"#s": "status"}
            args["ExpressionAttributeValues"] = {":a": {"S": "active"}}
        return args

    def transaction(self) -> dict[str, Any]:
        r = self.rng
        ops: list[dict[str, Any]] = []
        for _ in range(r.randrange(2, 6)):
            kind = r.randrange(4)
            if kind == 0:
                op: dict[str, Any] = {"Put": {"TableName": TABLE, "Item": self.item()}}
                if r.random() < 0.5:
                    op["Put"]["ConditionExpression"] = "attribute_not_exists(PK)"
            elif kind == 1:
                op = {
                    "Update": {
                        "TableName": TABLE,
                        "Key": self.key(),
                        "UpdateExpression": "SET GSI5PK = :p, GSI5SK = :s ADD n :one",
                        "ExpressionAttributeValues": {
                            ":p": {"S": f"G5#{r.randrange(3)}"},
                            ":s": {"S": f"2026-11#{r.randrange(40):02d}"},
                            ":one": {"N": "1"},
                        },
                    }
                }
                if r.random() < 0.5:
                    op["Update"]["ConditionExpression"] = "attribute_exists(PK)"
            elif kind == 2:
                op = {"Delete": {"TableName": TABLE, "Key": self.key()}}
                if r.random() < 0.5:
                    op["Delete"]["ConditionExpression"] = "attribute_exists(GSI1PK)"
            else:
                op = {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": self.key(),
                        "ConditionExpression": "n < :limit",
                        "ExpressionAttributeValues": {":limit": {"N": str(r.randrange(0, 40))}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            ops.append(op)
        args: dict[str, Any] = {"TransactItems": ops}
        if r.random() < 0.3:
            args["ReturnConsumedCapacity"] = "TOTAL"
        return args

    def batch(self) -> dict[str, Any]:
        requests: list[dict[str, Any]] = []
        seen: set[str] = set()
        for _ in range(self.rng.randrange(1, 8)):
            if self.rng.random() < 0.7:
                item = self.item()
                key, request = repr((item["PK"], item["SK"])), {"PutRequest": {"Item": item}}
            else:
                k = self.key()
                key, request = repr((k["PK"], k["SK"])), {"DeleteRequest": {"Key": k}}
            if key not in seen:
                seen.add(key)
                requests.append(request)
        return {"RequestItems": {TABLE: requests}}

    def query(self) -> dict[str, Any]:
        r = self.rng
        index = r.choice([None, None, "GSI1", "GSI2", "GSI5"])
        args: dict[str, Any] = {"TableName": TABLE}
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        if index is None:
            hash_attr, range_attr, hash_value = "PK", "SK", r.choice(PARTITIONS)
            prefix = r.choice(PREFIXES)
            bounds = (f"{prefix}010", f"{prefix}045")
        else:
            args["IndexName"] = index
            n = index[-1]
            hash_attr, range_attr, hash_value = f"GSI{n}PK", f"GSI{n}SK", f"G{n}#{r.randrange(3)}"
            prefix = r.choice(["2026-10", "2026-11", "2026-12", "2026-1"])
            bounds = ("2026-10#20", "2026-12#05")
        names["#h"] = hash_attr
        values[":h"] = {"S": hash_value}
        condition = "#h = :h"
        kind = r.randrange(7)
        if kind:
            names["#r"] = range_attr
        if kind == 1:
            condition += " AND begins_with(#r, :a)"
            values[":a"] = {"S": prefix}
        elif kind == 2:
            condition += " AND #r BETWEEN :a AND :b"
            values[":a"], values[":b"] = {"S": bounds[0]}, {"S": bounds[1]}
        elif kind in (3, 4, 5, 6):
            op = {3: "<", 4: "<=", 5: ">", 6: ">="}[kind]
            condition += f" AND #r {op} :a"
            values[":a"] = {"S": r.choice(bounds)}
        args["KeyConditionExpression"] = condition
        if r.random() < 0.6:
            args["Limit"] = r.choice([1, 2, 3, 5, 8, 20])
        if r.random() < 0.4:
            args["ScanIndexForward"] = False
        if r.random() < 0.25:
            args["FilterExpression"] = "#st <> :rev"
            names["#st"] = "status"
            values[":rev"] = {"S": "revoked"}
        if r.random() < 0.2:
            args["ProjectionExpression"] = "PK, SK, n"
        elif r.random() < 0.1:
            args["Select"] = "COUNT"
        if r.random() < 0.4:
            args["ReturnConsumedCapacity"] = r.choice(["TOTAL", "INDEXES"])
        args["ExpressionAttributeNames"] = names
        args["ExpressionAttributeValues"] = values
        return args


def _answer(call: Callable[..., Any], **args: Any) -> Any:
    try:
        reply = call(**args)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        reasons = exc.response.get("CancellationReasons")
        return {"error": error.get("Code"), "message": error.get("Message"), "reasons": reasons}
    reply.pop("ResponseMetadata", None)
    return reply


def _numeric(client: Any, rng: random.Random) -> list[Any]:
    answers = []
    for _ in range(3):
        item = {"pk": {"S": f"n{rng.randrange(2)}"}, "seq": {"N": str(rng.randrange(-20, 80))}}
        if rng.random() < 0.6:
            item["group"] = {"S": f"g{rng.randrange(2)}"}
        answers.append(_answer(client.put_item, TableName=NUMERIC, Item=item))
    args: dict[str, Any] = {"TableName": NUMERIC, "Limit": rng.choice([1, 4, 50])}
    if rng.random() < 0.5:
        args.update(
            IndexName="by-group",
            KeyConditionExpression="#g = :g",
            ExpressionAttributeNames={"#g": "group"},
            ExpressionAttributeValues={":g": {"S": f"g{rng.randrange(2)}"}},
        )
    else:
        args.update(
            KeyConditionExpression="pk = :p AND seq BETWEEN :a AND :b",
            ExpressionAttributeValues={":p": {"S": f"n{rng.randrange(2)}"}, ":a": {"N": "-3"}, ":b": {"N": "40.5"}},
        )
    args["ScanIndexForward"] = rng.random() < 0.5
    answers.extend(_pages(client, args))
    return answers


def _pages(client: Any, args: dict[str, Any]) -> list[Any]:
    pages = []
    for _ in range(200):
        page = _answer(client.query, **args)
        pages.append(page)
        start = page.get("LastEvaluatedKey") if isinstance(page, dict) else None
        if not start:
            return pages
        args = {**args, "ExclusiveStartKey": start}
    raise AssertionError("pagination did not end")


@contextlib.contextmanager
def _tables() -> Iterator[Any]:
    """A client and fresh tables; they are deleted after, as moto keeps them when the mock is nested in another."""
    with mock.patch.dict("os.environ", ENV), mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _create_tables(client)
        try:
            yield client
        finally:
            client.delete_table(TableName=TABLE)
            client.delete_table(TableName=NUMERIC)


def _run(seed: int, count: int) -> list[Any]:
    script = Script(seed)
    numeric_rng = random.Random(seed + 1)
    answers: list[Any] = []
    with _tables() as client:
        for name, args in script.operations(count):
            if name == "query":
                answers.append(("query", args, _pages(client, args)))
            elif name == "numeric":
                answers.append(("numeric", _numeric(client, numeric_rng)))
            else:
                answers.append((name, _answer(getattr(client, name), **args)))
        # The whole state at the end, read without any index.
        answers.append(("scan", _answer(client.scan, TableName=TABLE)))
        answers.append(("scan", _answer(client.scan, TableName=NUMERIC)))
    return answers


@pytest.fixture(scope="module")
def seen() -> Iterator[list[tuple[dict[str, Any], int]]]:
    """Every query the fast path answered: its arguments and how many items moto was handed."""
    fast_dynamodb.install()
    calls: list[tuple[dict[str, Any], int]] = []
    original = fast_dynamodb._candidates

    def spy(table: Any, params: dict[str, Any], extra: dict[str, Any]) -> Any:
        found = original(table, params, extra)
        if found is not None:
            calls.append((params, len(found)))
        return found

    with mock.patch.object(fast_dynamodb, "_candidates", spy):
        yield calls


@pytest.mark.skipif(
    os.environ.get("PARTNERHUB_PLAIN_MOTO") == "1", reason="PARTNERHUB_PLAIN_MOTO=1 switches the fast path off"
)
def test_every_answer_matches_plain_moto(seen: list[tuple[dict[str, Any], int]]) -> None:
    # Given the same operations, When run on plain moto and then through the fast layer
    with fast_dynamodb.plain_moto():
        expected = _run(2026, 300)
    seen.clear()
    actual = _run(2026, 300)

    # Then every answer is the same, in the same order
    assert len(actual) == len(expected)
    for number, (want, got) in enumerate(zip(expected, actual, strict=True)):
        assert got == want, f"operation {number} ({want[0]}) differs"
    # And the sequence exercised what it is meant to: cancelled and committed transactions, pages, errors
    flat = repr(expected)
    assert "TransactionCanceledException" in flat and "ConditionalCheckFailed" in flat
    assert "LastEvaluatedKey" in flat and "ConsumedCapacity" in flat
    assert "ConditionalCheckFailedException" in flat
    # And the fast path answered most queries, handing moto at most one item past a Limit
    assert len(seen) > 80
    for params, handed in seen:
        if params.get("limit"):
            assert handed <= params["limit"] + 1


@pytest.mark.skipif(
    os.environ.get("PARTNERHUB_PLAIN_MOTO") == "1", reason="PARTNERHUB_PLAIN_MOTO=1 switches the fast path off"
)
def test_a_query_reads_its_partition_not_the_table(seen: list[tuple[dict[str, Any], int]]) -> None:
    # Given 3,000 items in other partitions and 30 in one index partition
    with _tables() as client:
        for start in range(0, 3000, 25):
            others = [{"PK": {"S": f"other#{n % 50}"}, "SK": {"S": f"LIC#{n:05d}"}} for n in range(start, start + 25)]
            client.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": item}} for item in others]})
        for n in range(30):
            item = {"PK": {"S": "mine"}, "SK": {"S": f"LIC#{n:05d}"}, "GSI1PK": {"S": "G1#mine"}}
            client.put_item(TableName=TABLE, Item={**item, "GSI1SK": {"S": f"2026-11#{n:02d}"}})
        seen.clear()
        # When a page of 10 is asked for, on the table and on the index
        table_page = client.query(
            TableName=TABLE,
            KeyConditionExpression="PK = :p AND begins_with(SK, :l)",
            ExpressionAttributeValues={":p": {"S": "mine"}, ":l": {"S": "LIC#"}},
            Limit=10,
        )
        index_page = client.query(
            TableName=TABLE,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :p",
            ExpressionAttributeValues={":p": {"S": "G1#mine"}},
            Limit=10,
            ScanIndexForward=False,
            ExclusiveStartKey={
                "PK": {"S": "mine"},
                "SK": {"S": "LIC#00025"},
                "GSI1PK": {"S": "G1#mine"},
                "GSI1SK": {"S": "2026-11#25"},
            },
        )
    # Then moto was handed eleven items each time, not the table's 3,030
    assert [handed for _, handed in seen] == [11, 11]
    assert [i["SK"]["S"] for i in table_page["Items"]] == [f"LIC#{n:05d}" for n in range(10)]
    assert [i["GSI1SK"]["S"] for i in index_page["Items"]] == [f"2026-11#{n:02d}" for n in range(24, 14, -1)]


def test_installing_over_another_moto_version_fails_loudly() -> None:
    with (
        mock.patch.dict(fast_dynamodb._state, {"installed": False}),
        mock.patch("moto.__version__", "9.9.9"),
        pytest.raises(fast_dynamodb.MotoVersionError, match=r"moto 5\.2\.5.*moto 9\.9\.9"),
    ):
        fast_dynamodb.install()


def test_the_pin_is_the_version_the_requirements_install() -> None:
    requirements = (ROOT / "requirements" / "dev.txt").read_text(encoding="utf-8")
    pinned = re.search(r"^moto\[[^\]]*\]==(\S+)$", requirements, re.MULTILINE)
    assert pinned is not None
    assert pinned.group(1) == fast_dynamodb.MOTO_VERSION
