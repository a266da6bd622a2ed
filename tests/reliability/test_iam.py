"""Least privilege, read from template.yaml and from what SAM makes of it: every function's own policy names
actions one by one (no wildcards), on this stack's resources only, reads a Stripe secret only by its exact
parameter ARN, and grants exactly the calls the function makes."""

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


def statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in function["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            found.extend(policy["Statement"])
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_policy_names_each_action_on_this_stacks_resources(name: str) -> None:
    function = FUNCTIONS[name]
    for policy in function["Properties"].get("Policies", []):
        assert isinstance(policy, dict) and "Statement" in policy, f"{name}: only inline statements, no managed policy"
    for statement in statements(function):
        actions = as_list(statement["Action"])
        assert all("*" not in action for action in actions), (name, actions)
        for resource in as_list(statement["Resource"]):
            assert resource != "*", (name, statement)
            text = str(resource)
            if any(a.startswith("ssm:") for a in actions):
                assert "parameter${Stripe" in text, (name, text)
            if any(a.startswith("dynamodb:") for a in actions):
                assert "Table" in text, (name, text)


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
    # (BatchGetItem), licenses (GSI5) and the catalog for the dry run, the audit log; writes only audit entries,
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
    # repository/webhook_events.py (dedupe: Get, Put, Update, Delete), invoices and standing, cards.
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
}
BASIC = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",  # its own log group
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",  # Tracing: Active
}
# What Lambda itself does with the function's role, beyond the function's code.
SERVICE_CALLS = {
    "InvoiceWorkerFunction": {"managed": {"arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"}},
    # on-failure destination; the run-request queue is its SQS event source
    "InvoicePlannerFunction": {
        "policies": grants({"sqs:SendMessage"}, "InvoiceRunFailureQueue"),
        "managed": {"arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"},
    },
}


def short(resource: Any) -> str:
    """A granted resource as EXACT_CALLS names it."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        name, _ = resource["Fn::GetAtt"]
        return "table" if name == "Table" else str(name)
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
def roles() -> dict[str, dict[str, Any]]:
    from tests.deploy.cfn import resources_of, transformed

    cfn = transformed()
    functions = resources_of(cfn, "AWS::Lambda::Function")
    return {name: cfn["Resources"][fn["Properties"]["Role"]["Fn::GetAtt"][0]] for name, fn in functions.items()}


def test_every_function_is_in_the_table(roles: dict[str, dict[str, Any]]) -> None:
    assert set(roles) == set(EXACT_CALLS) == set(FUNCTIONS)


@pytest.mark.parametrize("name", sorted(EXACT_CALLS))
def test_each_role_grants_exactly_the_calls_its_function_makes(roles: dict[str, dict[str, Any]], name: str) -> None:
    role = roles[name]
    service = SERVICE_CALLS.get(name, {})
    assert set(role["Properties"]["ManagedPolicyArns"]) == BASIC | service.get("managed", set())
    own = {p["PolicyName"] for p in role["Properties"]["Policies"] if p["PolicyName"].startswith(f"{name}RolePolicy")}
    assert granted(role, own) == EXACT_CALLS[name]
    assert granted(role) - granted(role, own) == service.get("policies", set())
