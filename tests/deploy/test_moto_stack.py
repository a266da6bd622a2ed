"""The packaged stack created in moto's CloudFormation, as far as moto models it, then torn down as
`make teardown` does it.

What CloudFormation receives is the SAM transform's output (tests/deploy/cfn.py) with the code in S3, as
`sam deploy` uploads it. moto 5.2.5 creates the table, the queues, the functions with their layer and versions, the
event source mappings, the roles, the log groups, the SNS topic, the portal bucket and the dashboard, and resolves
every Ref, GetAtt and Sub between them. It does not model these types, which this test leaves out of the stack
together with what refers to them (named in MOTO_SKIPS and DROPPED_WITH_THEM; the test fails when that changes):
the HTTP API and its stage, Cognito (pool, client, domain, group), CloudFront (distribution, origin access
control, response headers policy), the S3 bucket policy, CloudWatch alarms, CodeDeploy (application, deployment
groups), the live aliases, the planner's event invoke config, the SNS subscription and topic policy, the
EventBridge schedule, and the authorizer function with its published version and its role (its environment names
the Cognito pool and app client, and its role may read the pool's users, which moto's CloudFormation does not make).

moto knows one deletion policy, ``Retain``; CloudFormation's ``RetainExceptOnCreate`` acts as ``Retain`` when a stack
that was created successfully is deleted, so the test hands moto ``Retain`` there to model the teardown (what a
failed first create does with it, moto cannot show: tests/deploy/test_operations.py checks the template for that).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.cloudformation.parsing import get_model_map

from tests.deploy.cfn import transformed
from tests.deploy.test_scripts import deploy

STACK = "partnerhub-test"
PARAMETERS = {
    "Stage": "test",
    "StripePublishableKey": "pk_test_51abcdefgh",
    "AlarmEmail": "ops@example.com",
    "StripeSecretKeyParameter": "/partnerhub/test/stripe/secret-key",
    "StripeWebhookSecretParameter": "/partnerhub/test/stripe/webhook-secret",
    "DataProtection": "ACTIVE",
}
MOTO_SKIPS = {
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::CloudFront::Distribution",
    "AWS::CloudFront::OriginAccessControl",
    "AWS::CloudFront::ResponseHeadersPolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::CodeDeploy::Application",
    "AWS::CodeDeploy::DeploymentGroup",
    "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolClient",
    "AWS::Cognito::UserPoolDomain",
    "AWS::Cognito::UserPoolGroup",
    "AWS::Lambda::Alias",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Subscription",
    "AWS::SNS::TopicPolicy",
    "AWS::Scheduler::Schedule",
}
# Resources moto does model, left out only because they refer to one it does not: the API's invoke permissions
# name the live aliases; CodeDeploy's role names the release alarms; the dashboard names the HTTP API and alarms.
DROPPED_WITH_THEM = {
    "AWS::Lambda::Permission",
    "AWS::IAM::Role",
    "AWS::CloudWatch::Dashboard",
    "AWS::Lambda::Function",
    "AWS::Lambda::Version",
}


def references(value: Any) -> set[str]:
    """The logical ids ``value`` refers to (Ref, GetAtt, and the names inside a Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref":
                found.add(str(inner))
            elif key == "Fn::GetAtt":
                found.add(str(inner[0] if isinstance(inner, list) else inner.split(".")[0]))
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text)}
                if isinstance(inner, list):
                    found |= references(inner[1])
            else:
                found |= references(inner)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def as_moto_models(template: dict[str, Any]) -> tuple[dict[str, Any], set[str], dict[str, str]]:
    """``template`` cut to what moto models: the template, the types left out, and the dependents dropped with them
    (logical id -> type)."""
    resources = json.loads(json.dumps(template["Resources"]))
    models = get_model_map()
    skipped = {r["Type"] for r in resources.values() if r["Type"] not in models}
    gone = {name for name, r in resources.items() if r["Type"] in skipped}
    dependents: dict[str, str] = {}
    changed = True
    while changed:  # what refers to something gone goes too, transitively
        changed = False
        for name, resource in resources.items():
            if name in gone:
                continue
            needs = references(resource.get("Properties", {})) | set(resource.get("DependsOn", []))
            if needs & gone:
                gone.add(name)
                dependents[name] = resource["Type"]
                changed = True
    for resource in resources.values():
        if resource.get("DeletionPolicy") == "RetainExceptOnCreate":
            resource["DeletionPolicy"] = "Retain"
    kept = {name: r for name, r in resources.items() if name not in gone}
    outputs = {k: o for k, o in template["Outputs"].items() if not references(o["Value"]) & gone}
    cut = {k: v for k, v in template.items() if k not in ("Resources", "Outputs", "Rules")}
    return {**cut, "Resources": kept, "Outputs": outputs}, skipped, dependents


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield


def package(template: dict[str, Any]) -> None:
    """Put a code archive wherever the template points a function or the layer, as `sam deploy` uploads them."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="artifacts")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as built:
        built.writestr("app.py", "def lambda_handler(event, context):\n    return None\n")
    for resource in template["Resources"].values():
        for key in ("Code", "Content"):
            code = resource.get("Properties", {}).get(key)
            if isinstance(code, dict) and "S3Key" in code:
                s3.put_object(Bucket=code["S3Bucket"], Key=code["S3Key"], Body=archive.getvalue())


def test_the_packaged_stack_is_created_and_torn_down_keeping_only_the_data(aws: None, tmp_path: Path) -> None:
    template, skipped, dependents = as_moto_models(transformed())
    # What moto leaves out is what the docstring says, no more, no less
    assert skipped == MOTO_SKIPS
    assert set(dependents.values()) == DROPPED_WITH_THEM, dependents
    assert {n for n, kind in dependents.items() if kind == "AWS::IAM::Role"} == {"ReleaseRole", "AuthorizerRole"}
    assert {n for n, kind in dependents.items() if kind == "AWS::Lambda::Function"} == {"AuthorizerFunction"}
    package(template)

    # When the stack is created
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(
        StackName=STACK,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in PARAMETERS.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    (stack,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    # Then every modelled resource exists as the template describes it
    table = boto3.client("dynamodb").describe_table(TableName=outputs["TableName"])["Table"]
    assert table["TableName"] == "partnerhub-test"
    assert table["DeletionProtectionEnabled"] is True
    assert {index["IndexName"] for index in table["GlobalSecondaryIndexes"]} == {f"GSI{n}" for n in range(1, 6)}
    sqs = boto3.client("sqs")
    queues = {url.rsplit("/", 1)[1]: url for url in sqs.list_queues()["QueueUrls"]}
    assert len(queues) == 8  # the month-end's four, the webhooks' four (delivery and its dead letters: FIFO)
    assert {"partnerhub-test-webhook-deliveries.fifo", "partnerhub-test-webhook-delivery-dead-letters.fifo"} <= set(
        queues
    )
    dead_letters = sqs.get_queue_attributes(QueueUrl=outputs["InvoiceDeadLetterQueueUrl"], AttributeNames=["QueueArn"])
    (invoice_queue,) = [url for name, url in queues.items() if "-InvoiceQueue-" in name]
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=invoice_queue, AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    )
    assert redrive == {"deadLetterTargetArn": dead_letters["Attributes"]["QueueArn"], "maxReceiveCount": 5}
    lambdas = boto3.client("lambda")
    functions = {f["FunctionName"]: f for f in lambdas.list_functions()["Functions"]}
    modelled = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(functions) == len(modelled) == 13  # every function but the authorizer
    iam = boto3.client("iam")
    stack_roles = [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(STACK)]
    # one per function (the authorizer's goes with it: it names the pool), the month-end schedule's, and the webhook
    # sweep's (SAM's ScheduleV2)
    assert len(stack_roles) == 15
    for function in functions.values():
        role = function["Role"].rsplit("/", 1)[1]
        # its own role, inline policies only
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == [], role
        assert "Runtime" in iam.list_role_policies(RoleName=role)["PolicyNames"], role
        assert function["Runtime"] == "python3.13"
    worker = next(f for n, f in functions.items() if "InvoiceWorker" in n)
    (mapping,) = lambdas.list_event_source_mappings(FunctionName=worker["FunctionName"])["EventSourceMappings"]
    assert mapping["BatchSize"] == 10
    groups = boto3.client("logs").describe_log_groups(logGroupNamePrefix="/aws/")["logGroups"]
    assert {g["logGroupName"] for g in groups} >= {"/aws/lambda/partnerhub-test-licenses"}
    assert all(g["retentionInDays"] == 90 for g in groups)

    # And the portal's files are in its bucket, as `make deploy` leaves them
    s3 = boto3.client("s3")
    portal = deploy.stage_portal(
        {"ApiUrl": "https://api.example", "UserPoolId": "p", "UserPoolClientId": "c", "UserPoolDomainUrl": "https://d"},
        "us-east-1",
        build=tmp_path / "portal",
    )
    uploaded, _ = deploy.upload_portal(s3, outputs["PortalBucketName"], portal)
    assert uploaded

    # When the stage is torn down as `make teardown STAGE=test` does it
    config = deploy.StageConfig("test", STACK, "us-east-1", {})
    kept = deploy.teardown(boto3.session.Session(region_name="us-east-1"), config, STACK)

    # Then the stack and everything in it are gone but the table, kept with its data protection on
    assert kept["table"] == "partnerhub-test"
    with pytest.raises(cloudformation.exceptions.ClientError, match="does not exist"):
        cloudformation.describe_stacks(StackName=STACK)
    assert boto3.client("dynamodb").describe_table(TableName="partnerhub-test")["Table"]["DeletionProtectionEnabled"]
    assert lambdas.list_functions()["Functions"] == []
    assert sqs.list_queues().get("QueueUrls", []) == []
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["artifacts"]  # sam deploy's, not the stack's
    assert boto3.client("logs").describe_log_groups(logGroupNamePrefix="/aws/")["logGroups"] == []
    assert [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(STACK)] == []
