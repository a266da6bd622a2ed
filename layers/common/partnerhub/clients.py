"""The AWS clients, made by a function's composition root once per execution environment.

Nothing else makes a client: repositories and queues are handed theirs (tests hand them moto's or a fake).
The endpoint comes from ``AWS_ENDPOINT_URL`` when it is set (the local stack), as boto3 reads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def dynamodb() -> DynamoDBClient:
    """DynamoDB, with boto3's ``standard`` retries for throttling and Query/Scan items read as their JSON has them
    (``repository.dynamo.read_pages_raw``)."""
    import boto3
    from botocore.config import Config

    from partnerhub.repository.dynamo import read_pages_raw

    client = boto3.client("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 4}))
    read_pages_raw(client)
    return client


def sqs() -> Any:  # no SQS stubs are pinned
    """SQS, for the month-end queues."""
    import boto3

    return boto3.client("sqs")


def cognito_idp() -> Any:  # no Cognito stubs are pinned
    """The user pool's API, for the authorizer's ``AdminGetUser`` (``standard`` retries for its throttling)."""
    import boto3
    from botocore.config import Config

    return boto3.client("cognito-idp", config=Config(retries={"mode": "standard", "max_attempts": 4}))
