"""Least privilege, read from template.yaml and from what SAM makes of it: every function has a role of its own with
inline policies only (no managed policy, which would name every resource), its log group, its traces, exactly the
calls its code makes (each action named, on this stack's resources only, a Stripe secret only by its exact parameter
ARN) and, for the queue functions, only their own stage's queues."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from local.template import load_yaml
from partnerhub.repository import keys

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_yaml(ROOT / "template.yaml")
FUNCTIONS = {
    name: resource
    for name, resource in TEMPLATE["Resources"].items()
    if resource.get("Type") == "AWS::Serverless::Function"
}
# X-Ray's write actions take no resource-level permission: the one statement allowed "*" as its resource.
TRACES = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"}


def role_of(function: dict[str, Any]) -> dict[str, Any]:
    """The AWS::IAM::Role a function names (``Role: !GetAtt <Role>.Arn``)."""
    name, attribute = function["Properties"]["Role"]["Fn::GetAtt"]
    assert attribute == "Arn"
    role: dict[str, Any] = TEMPLATE["Resources"][name]
    assert role["Type"] == "AWS::IAM::Role"
    return role


def statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in role_of(function)["Properties"]["Policies"]:
        found.extend(policy["PolicyDocument"]["Statement"])
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_policy_names_each_action_on_this_stacks_resources(name: str) -> None:
    function = FUNCTIONS[name]
    assert "Policies" not in function["Properties"], f"{name}: its permissions belong in its role"
    role = role_of(function)
    assert "ManagedPolicyArns" not in role["Properties"], f"{name}: inline policies only"
    # Only Lambda may assume it (and only for a function someone allowed to pass this role made)
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    for statement in statements(function):
        actions = as_list(statement["Action"])
        assert all("*" not in action for action in actions), (name, actions)
        for resource in as_list(statement["Resource"]):
            if resource == "*":
                assert set(actions) == TRACES, (name, statement)
                continue
            text = str(resource)
            if any(a.startswith("ssm:") for a in actions):
                assert "parameter${Stripe" in text, (name, text)
            if any(a.startswith("dynamodb:") for a in actions):
                assert "Table" in text, (name, text)
            if any(a.startswith("sqs:") for a in actions):
                assert re.fullmatch(r"\{'Fn::GetAtt': \['\w+Queue', 'Arn'\]\}", text), (name, text)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_no_secret_in_environment(name: str) -> None:
    variables = FUNCTIONS[name]["Properties"].get("Environment", {}).get("Variables", {})
    for key, value in variables.items():
        assert not str(value).startswith(("sk_", "whsec_", "rk_")), (name, key)
        if "SECRET" in key:
            assert key.endswith("_PARAM"), f"{name}: {key} should name an SSM parameter, not hold the secret"


# -- exactly the calls each function makes, in the template CloudFormation receives ----------------------
# Worked out by hand from the code each function runs; a change to a function's calls changes this table
# and its policy together. Resources: "table", "table/index/*", "table/index/GSI1", an SSM parameter by its
# template parameter, a queue by its logical id. Powertools idempotency (partnerhub/api.py) is Get, Put,
# Update and Delete on the table (a failed command deletes its in-progress record).
IDEMPOTENT_COMMANDS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}


def leading_keys(*partitions: str) -> str:
    """A statement's condition (as ``granted`` writes it) allowing only items of these partitions."""
    return json.dumps({"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": list(partitions)}})


def leading_key_patterns(*patterns: str, **more: Any) -> str:
    """As :func:`leading_keys`, for partitions named by a pattern (``PARTNER#*``), with ``more`` conditions."""
    return json.dumps({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(patterns)}, **more})


def grants(actions: set[str], *resources: str, condition: str | None = None) -> set[tuple[str, str, str | None]]:
    return {(action, resource, condition) for action in actions for resource in resources}


EXACT_CALLS: dict[str, set[tuple[str, str, str | None]]] = {
    # repository/licenses.py: license and counter items, site claims (transactions with ConditionCheck),
    # listings on GSI2..GSI5; idempotency on issue/assign/unassign/revoke/label; an operator's external key is
    # looked for in every listed partner's licenses (BatchGetItem; the directory on GSI1).
    "LicensesFunction": grants(
        IDEMPOTENT_COMMANDS | {"dynamodb:Query", "dynamodb:ConditionCheckItem", "dynamodb:BatchGetItem"},
        "table",
        "table/index/*",
    ),
    # repository/partners.py (partner record, cards), Stripe through the secret key.
    "PaymentMethodsFunction": grants(IDEMPOTENT_COMMANDS | {"dynamodb:Query"}, "table")
    | grants({"ssm:GetParameter"}, "ssm:StripeSecretKeyParameter"),
    # repository/catalog.py and billing.py read (tallies, the licenses and their history, invoice records);
    # writes only prices (with their audit entries, one transaction) and idempotency records.
    "BillingFunction": grants({"dynamodb:GetItem", "dynamodb:Query"}, "table", "table/index/*")
    | grants(
        {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
        "table",
        condition=leading_keys(keys.CATALOG, keys.IDEMPOTENCY, keys.AUDIT),
    ),
    # functions/operator: reads partners (directory on GSI1, BatchGetItem of PROFILEs), invoice records
    # (BatchGetItem), licenses (GSI5) and the catalog for the dry run, the audit log, a partner's API keys (to count
    # them); writes only audit entries,
    # run items and idempotency records; queue.py sends run requests to the planner and re-drives dead letters.
    "OperatorFunction": grants(
        {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}, "table", "table/index/*"
    )
    | grants(
        {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
        "table",
        condition=leading_keys(keys.AUDIT, keys.INVOICE_RUNS, keys.IDEMPOTENCY),
    )
    | grants({"sqs:SendMessage"}, "InvoiceRunRequestQueue", "InvoiceQueue")
    | grants({"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"}, "InvoiceDeadLetterQueue"),
    # repository/idempotency.py (dedupe: Get, Put, Update, Delete), invoices and standing, cards.
    "WebhooksFunction": grants(IDEMPOTENT_COMMANDS | {"dynamodb:Query"}, "table")
    | grants({"ssm:GetParameter"}, "ssm:StripeSecretKeyParameter", "ssm:StripeWebhookSecretParameter"),
    # repository/invoices.py (records, pay), standing; Stripe for pay and the PDF link.
    "InvoicesFunction": grants(IDEMPOTENT_COMMANDS | {"dynamodb:Query"}, "table")
    | grants({"ssm:GetParameter"}, "ssm:StripeSecretKeyParameter"),
    # functions/invoice_planner: the billable-partner registry on GSI1, then SendMessageBatch (sqs:SendMessage),
    # then the plan noted on the month's run item (repository/invoice_runs.py: UpdateItem).
    "InvoicePlannerFunction": grants({"dynamodb:Query"}, "table/index/GSI1")
    | grants({"dynamodb:UpdateItem"}, "table", condition=leading_keys(keys.INVOICE_RUNS))
    | grants({"sqs:SendMessage"}, "InvoiceQueue"),
    # repository/invoices.py (the partner-month record, transactions), licenses and catalog reads, standing.
    "InvoiceWorkerFunction": grants(
        {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"}, "table", "table/index/*"
    )
    | grants({"ssm:GetParameter"}, "ssm:StripeSecretKeyParameter"),
    # repository/webhooks.py: endpoints (transactions with their count), events (GSI1 by time), deliveries,
    # redeliveries dispatched at once (claim: UpdateItem; the message: SendMessage); idempotency.
    "WebhookEndpointsFunction": grants(IDEMPOTENT_COMMANDS | {"dynamodb:Query"}, "table")
    | grants({"dynamodb:Query"}, "table/index/GSI1")
    | grants({"sqs:SendMessage"}, "WebhookDeliveryQueue"),
    # functions/webhook_events: the partner's endpoints (Query), its primary card (GetItem), the event and its
    # deliveries (a transaction of Puts), the claim (UpdateItem), then the delivery queue.
    "WebhookEventsFunction": grants(
        {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"}, "table"
    )
    | grants({"sqs:SendMessage"}, "WebhookDeliveryQueue"),
    # functions/webhook_deliverer: the attempt's start (UpdateItem), endpoint and event (GetItem), its outcome and
    # the endpoint's run of failures (PutItem), and the sweep's wake-ups.
    "WebhookDelivererFunction": grants({"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, "table")
    | grants({"sqs:SendMessage"}, "WebhookWakeQueue"),
    # functions/webhook_scheduler: the due index (GSI2), the claim, the delivery queue.
    "WebhookSchedulerFunction": grants({"dynamodb:Query"}, "table/index/GSI2")
    | grants({"dynamodb:UpdateItem"}, "table")
    | grants({"sqs:SendMessage"}, "WebhookDeliveryQueue"),
    # partnerhub/authorizer.py through repository/api_keys.py (DynamoCredentials): a credential by its prefix
    # (GetItem), and its last_used_at alone (UpdateItem, answering nothing back); and the user pool's AdminGetUser.
    "AuthorizerFunction": grants(
        {"dynamodb:GetItem"}, "table", condition=leading_key_patterns(keys.CREDENTIAL_PK_PREFIX + "*")
    )
    | grants(
        {"dynamodb:UpdateItem"},
        "table",
        condition=leading_key_patterns(
            keys.CREDENTIAL_PK_PREFIX + "*",
            **{
                "ForAllValues:StringEquals": {"dynamodb:Attributes": ["PK", "SK", "last_used_at"]},
                "StringEqualsIfExists": {"dynamodb:ReturnValues": "NONE"},
            },
        ),
    )
    # partnerhub/cognito.py (CognitoMfa): whether an operator has TOTP MFA, on the stage's own pool.
    | grants({"cognito-idp:AdminGetUser"}, "UserPool"),
    # repository/api_keys.py (DynamoApiKeyRepository): the partner's keys and ring (Query, GetItem), the credentials'
    # last use (BatchGetItem); writes keys and ring (partner partition), credentials, audit entries (one transaction)
    # and idempotency records.
    "ApiKeysFunction": grants({"dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"}, "table")
    | grants(
        {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
        "table",
        condition=leading_key_patterns(
            keys.partner_pk("*"), keys.CREDENTIAL_PK_PREFIX + "*", keys.AUDIT, keys.IDEMPOTENCY
        ),
    ),
}
# What Lambda itself does with the role, beyond the function's code: write the function's own log group and its
# traces, poll an SQS event source, send to an on-failure destination. Every queue is this stack's own.
RUNTIME = {("logs:CreateLogStream", "{group}", None), ("logs:PutLogEvents", "{group}", None)} | grants(TRACES, "*")
POLL = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
SERVICE_CALLS = {
    "InvoiceWorkerFunction": grants(POLL, "InvoiceQueue"),
    # the run-request queue is its SQS event source; the failure queue its on-failure destination
    "InvoicePlannerFunction": grants(POLL, "InvoiceRunRequestQueue")
    | grants({"sqs:SendMessage"}, "InvoiceRunFailureQueue"),
    # the table's stream is its event source (the stream's records; its list, to find the stream), and the failure
    # queue the source's on-failure destination
    "WebhookEventsFunction": grants(
        {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"}, "table/stream"
    )
    | grants({"dynamodb:ListStreams"}, "table/stream/*")
    | grants({"sqs:SendMessage"}, "WebhookEventsFailureQueue"),
    "WebhookDelivererFunction": grants(POLL, "WebhookDeliveryQueue"),
    "WebhookSchedulerFunction": grants(POLL, "WebhookWakeQueue"),
}


def short(resource: Any) -> str:
    """A granted resource as EXACT_CALLS names it."""
    if resource == "*":
        return "*"
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        name, attribute = resource["Fn::GetAtt"]
        if name == "Table":
            return "table/stream" if attribute == "StreamArn" else "table"
        return str(name)
    text = resource["Fn::Sub"] if isinstance(resource, dict) else str(resource)
    if text.startswith("${Table.Arn}"):
        return "table" + text.removeprefix("${Table.Arn}")
    found = re.search(r":parameter\$\{(\w+)\}$", text)
    assert found, f"unexpected resource {resource}"
    return f"ssm:{found.group(1)}"


def granted(role: dict[str, Any], names: set[str] | None = None) -> set[tuple[str, str, str | None]]:
    found = set()
    for policy in role["Properties"].get("Policies", []):
        if names is not None and policy["PolicyName"] not in names:
            continue
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            condition = json.dumps(statement["Condition"]) if "Condition" in statement else None
            for action in as_list(statement["Action"]):
                for resource in as_list(statement["Resource"]):
                    found.add((action, short(resource), condition))
    return found


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    from tests.deploy.cfn import transformed

    result: dict[str, Any] = transformed()
    return result


@pytest.fixture(scope="module")
def roles(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    from tests.deploy.cfn import resources_of

    functions = resources_of(cfn, "AWS::Lambda::Function")
    return {name: cfn["Resources"][fn["Properties"]["Role"]["Fn::GetAtt"][0]] for name, fn in functions.items()}


def test_every_function_is_in_the_table(roles: dict[str, dict[str, Any]]) -> None:
    assert set(roles) == set(EXACT_CALLS) == set(FUNCTIONS)
    assert len({id(role) for role in roles.values()}) == len(roles), "one role per function"


@pytest.mark.parametrize("name", sorted(EXACT_CALLS))
def test_each_role_grants_exactly_the_calls_its_function_makes(roles: dict[str, dict[str, Any]], name: str) -> None:
    role = roles[name]
    assert "ManagedPolicyArns" not in role["Properties"]
    assert granted(role, {"Calls"}) == EXACT_CALLS[name]
    group = FUNCTIONS[name]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert granted(role, {"Runtime"}) == {(a, r.format(group=group), c) for a, r, c in RUNTIME}
    assert granted(role) - granted(role, {"Calls", "Runtime"}) == SERVICE_CALLS.get(name, set())


def test_no_role_in_the_stack_carries_a_managed_policy(cfn: dict[str, Any]) -> None:
    # SAM adds AWSLambdaBasicExecutionRole, AWSXrayWriteOnlyAccess, AWSLambdaSQSQueueExecutionRole and
    # AWSCodeDeployRoleForLambda to the roles it makes; each has statements on "*". The stack makes none of them.
    from tests.deploy.cfn import resources_of

    roles = resources_of(cfn, "AWS::IAM::Role")
    assert "CodeDeployServiceRole" not in roles
    for name, role in roles.items():
        assert not role["Properties"].get("ManagedPolicyArns"), name


def test_codedeploy_may_only_move_the_live_aliases_and_read_their_release_alarms(cfn: dict[str, Any]) -> None:
    from tests.deploy.cfn import resources_of

    api = sorted(name for name, fn in FUNCTIONS.items() if "AutoPublishAlias" in fn["Properties"])
    groups = resources_of(cfn, "AWS::CodeDeploy::DeploymentGroup")
    assert {g["Properties"]["ServiceRoleArn"]["Fn::GetAtt"][0] for g in groups.values()} == {"ReleaseRole"}
    (policy,) = cfn["Resources"]["ReleaseRole"]["Properties"]["Policies"]
    aliases, alarms = policy["PolicyDocument"]["Statement"]
    assert set(aliases["Action"]) == {"lambda:GetAlias", "lambda:UpdateAlias", "lambda:GetProvisionedConcurrencyConfig"}
    assert sorted(a["Fn::Sub"] for a in aliases["Resource"]) == [f"${{{name}.Arn}}:live" for name in api]
    assert alarms["Action"] == "cloudwatch:DescribeAlarms"
    expected = [{"Fn::GetAtt": [name.removesuffix("Function") + "ReleaseErrorsAlarm", "Arn"]} for name in api]
    assert sorted(map(json.dumps, alarms["Resource"])) == sorted(map(json.dumps, expected))
