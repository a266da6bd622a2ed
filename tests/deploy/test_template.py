"""What CloudFormation receives from template.yaml (the SAM transform's output): versions that follow the
layer, routes on the alias, one open route, alarms that reach someone, no placeholder keys, invite-only sign-in,
and logs that expire."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from local.template import Template
from tests.deploy.cfn import LAYER_URI, ROOT, TEMPLATE, resources_of, transform_all

WEBHOOK = ("post", "/v1/webhooks/stripe")
LAYER_A = "s3://artifacts/layers/common-0a0a0a"
LAYER_B = "s3://artifacts/layers/common-1b1b1b"
LOCAL = Template(TEMPLATE, parameter_overrides={"Stage": "test", "StripePublishableKey": "pk_test_local"})
# The functions behind HTTP routes (SnapStart, served through the live alias).
API_FUNCTIONS = {route.function_id for route in LOCAL.routes}
# ... and the authorizer in front of them (SnapStart, invoked by API Gateway through its live alias too).
AUTHORIZER = "AuthorizerFunction"
ALIASED_FUNCTIONS = API_FUNCTIONS | {AUTHORIZER}


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """template.yaml as deployed, with two builds of the layer, and the same without AutoPublishAliasAllProperties."""
    text = TEMPLATE.read_text()
    stripped = tmp_path_factory.mktemp("template") / "template.yaml"
    stripped.write_text(text.replace("AutoPublishAliasAllProperties: true", "AutoPublishAliasAllProperties: false"))
    names = {
        "deployed": (TEMPLATE, LAYER_URI),
        "layer_a": (TEMPLATE, LAYER_A),
        "layer_b": (TEMPLATE, LAYER_B),
        "code_only_a": (stripped, LAYER_A),
        "code_only_b": (stripped, LAYER_B),
    }
    return dict(zip(names, transform_all(list(names.values())), strict=True))


@pytest.fixture(scope="module")
def cfn(variants: dict[str, Any]) -> Any:
    return variants["deployed"]


def aliased_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Function logical id -> its AWS::Lambda::Alias resource."""
    aliases = resources_of(template, "AWS::Lambda::Alias")
    return {alias["Properties"]["FunctionName"]["Ref"]: alias for alias in aliases.values()}


def version_of(alias: dict[str, Any]) -> str:
    return str(alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0])


def operations(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    body = template["Resources"]["HttpApi"]["Properties"]["Body"]
    return {(method, path): op for path, ops in body["paths"].items() for method, op in ops.items()}


# -- versions and aliases ----------------------------------------------------------------------------


def test_a_layer_only_change_publishes_new_versions_behind_every_alias(variants: dict[str, Any]) -> None:
    # Given the same function code, packaged with two different builds of the layer
    before, after = variants["layer_a"], variants["layer_b"]
    aliases_before, aliases_after = aliased_functions(before), aliased_functions(after)
    # Then every API function (and the authorizer) gets a new version, and its alias moves to it
    assert set(aliases_before) == ALIASED_FUNCTIONS
    for function, alias in aliases_before.items():
        old, new = version_of(alias), version_of(aliases_after[function])
        assert old != new, f"{function}: a layer change would leave the alias on the old version"
        assert new in after["Resources"] and old not in after["Resources"]


def test_without_all_properties_the_alias_would_miss_a_layer_change(variants: dict[str, Any]) -> None:
    # The control for the test above: code-only hashing is the defect the template's setting fixes.
    text = TEMPLATE.read_text()
    assert text.count("AutoPublishAliasAllProperties: true") == len(aliased_functions(variants["deployed"]))
    before, after = variants["code_only_a"], variants["code_only_b"]
    for function, alias in aliased_functions(before).items():
        assert version_of(alias) == version_of(aliased_functions(after)[function])


def test_every_route_invokes_its_functions_live_alias(cfn: dict[str, Any]) -> None:
    ops = operations(cfn)
    assert len(ops) == len(LOCAL.routes)  # the local gateway routes the same set
    for (method, path), op in ops.items():
        uri = op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        assert re.search(r"/functions/\$\{[A-Za-z]+FunctionAliaslive\}/invocations$", uri), (method, path, uri)
    permissions = [
        p["Properties"]
        for p in resources_of(cfn, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
        and p["Properties"]["FunctionName"] != {"Ref": f"{AUTHORIZER}Aliaslive"}
    ]
    assert len(permissions) == len(ops)
    for permission in permissions:
        assert permission["FunctionName"]["Ref"].endswith("Aliaslive"), permission


def test_only_the_stripe_webhook_route_has_no_authorizer(cfn: dict[str, Any]) -> None:
    ops = operations(cfn)
    assert ops[WEBHOOK]["security"] == [{"NONE": []}]
    for key, op in ops.items():
        if key != WEBHOOK:
            assert op["security"] == [{"PartnerAuthorizer": []}], key
    schemes = cfn["Resources"]["HttpApi"]["Properties"]["Body"]["components"]["securitySchemes"]
    assert set(schemes) == {"PartnerAuthorizer"}, "one authorizer: the JWT authorizer is gone"


def test_the_authorizer_is_a_cached_request_authorizer_on_the_live_alias(cfn: dict[str, Any]) -> None:
    scheme = cfn["Resources"]["HttpApi"]["Properties"]["Body"]["components"]["securitySchemes"]["PartnerAuthorizer"]
    authorizer = scheme["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "request"
    assert authorizer["authorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["enableSimpleResponses"] is True
    assert authorizer["identitySource"] == ["$request.header.Authorization"]
    # 60 s: the revocation delay docs/security.md states
    assert authorizer["authorizerResultTtlInSeconds"] == 60
    uri, names = authorizer["authorizerUri"]["Fn::Sub"]
    assert uri.endswith("/functions/${__FunctionArn__}/invocations")
    assert names["__FunctionArn__"] == {"Ref": f"{AUTHORIZER}Aliaslive"}
    # API Gateway may invoke the alias, as an authorizer of this API only
    (permission,) = [
        p["Properties"]
        for p in resources_of(cfn, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Ref": f"{AUTHORIZER}Aliaslive"}
    ]
    assert permission["Principal"] == "apigateway.amazonaws.com"
    source, source_names = permission["SourceArn"]["Fn::Sub"]
    assert source.endswith(":${__ApiId__}/authorizers/*") and source_names == {"__ApiId__": {"Ref": "HttpApi"}}


def test_the_authorizer_trusts_the_user_pool_and_the_portals_client(cfn: dict[str, Any]) -> None:
    variables = cfn["Resources"][AUTHORIZER]["Properties"]["Environment"]["Variables"]
    assert variables["COGNITO_ISSUER"] == {"Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"}
    assert variables["COGNITO_AUDIENCE"] == {"Ref": "UserPoolClient"}
    assert variables["COGNITO_USER_POOL_ID"] == {"Ref": "UserPool"}


def test_the_authorizer_may_read_users_of_its_own_pool_and_nothing_else_of_cognito(cfn: dict[str, Any]) -> None:
    # Given the authorizer's role
    role = cfn["Resources"][AUTHORIZER]["Properties"]["Role"]
    assert role == {"Fn::GetAtt": ["AuthorizerRole", "Arn"]}
    statements = [
        statement
        for policy in cfn["Resources"]["AuthorizerRole"]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    # Then its one Cognito permission is AdminGetUser (an operator's MFA), on the stage's pool only
    cognito = [s for s in statements if any(str(a).startswith("cognito-idp:") for a in _actions(s))]
    assert len(cognito) == 1
    assert _actions(cognito[0]) == ["cognito-idp:AdminGetUser"]
    assert cognito[0]["Effect"] == "Allow" and cognito[0]["Resource"] == {"Fn::GetAtt": ["UserPool", "Arn"]}


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


# -- alarms ------------------------------------------------------------------------------------------


def alarms_on(cfn: dict[str, Any], metric: str, dimension: str, *, only: str | None = None) -> dict[str, Any]:
    """Dimension value (as written) -> alarm properties, for single-metric alarms on ``metric`` whose dimensions are
    ``dimension`` alone (or ``dimension`` and ``only``'s names, when given: the release alarms' three)."""
    found = {}
    for alarm in resources_of(cfn, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        names = sorted(d["Name"] for d in props.get("Dimensions", []))
        wanted = sorted([dimension, *(only.split(",") if only else [])])
        if props.get("MetricName") == metric and names == wanted:
            (value,) = [d["Value"] for d in props["Dimensions"] if d["Name"] == dimension]
            found[json.dumps(value, sort_keys=True)] = props
    return found


def test_every_alarm_notifies_the_one_topic_and_its_email(cfn: dict[str, Any]) -> None:
    assert list(resources_of(cfn, "AWS::SNS::Topic")) == ["AlarmTopic"]
    (subscription,) = resources_of(cfn, "AWS::SNS::Subscription").values()
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    assert "Default" not in cfn["Parameters"]["AlarmEmail"]
    alarms = resources_of(cfn, "AWS::CloudWatch::Alarm")
    assert alarms
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        # and the all-clear: a person who was paged learns that it is over
        assert alarm["Properties"]["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching", name


def test_every_function_alarms_on_errors_and_throttles(cfn: dict[str, Any]) -> None:
    functions = {json.dumps({"Ref": name}) for name in resources_of(cfn, "AWS::Lambda::Function")}
    assert len(functions) == len(LOCAL.functions)
    for metric in ("Errors", "Throttles"):
        alarms = alarms_on(cfn, metric, "FunctionName")
        assert set(alarms) == functions, metric
        for props in alarms.values():
            assert (props["Namespace"], props["Statistic"], props["Threshold"]) == ("AWS/Lambda", "Sum", 1)
            assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_dead_letters_and_a_failed_invoice_run_alarm(cfn: dict[str, Any]) -> None:
    res = cfn["Resources"]
    # Where failures land: the worker queue's redrive target, the planner's on-failure destination and
    # the schedule's dead-letter queue (the last two are one queue: a month-end run that did not happen).
    redrive = res["InvoiceQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]
    (invoke_config,) = resources_of(cfn, "AWS::Lambda::EventInvokeConfig").values()
    assert invoke_config["Properties"]["FunctionName"] == {"Ref": "InvoicePlannerFunction"}
    on_failure = invoke_config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
    schedule_dlq = res["MonthEndInvoicingSchedule"]["Properties"]["Target"]["DeadLetterConfig"]["Arn"]
    assert on_failure == schedule_dlq == {"Fn::GetAtt": ["InvoiceRunFailureQueue", "Arn"]}
    scheduler_actions = {
        (s["Action"], json.dumps(s["Resource"]))
        for p in res["InvoiceSchedulerRole"]["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
    }
    assert ("sqs:SendMessage", json.dumps(schedule_dlq)) in scheduler_actions
    depth = alarms_on(cfn, "ApproximateNumberOfMessagesVisible", "QueueName")
    for queue_arn in (redrive, on_failure):
        queue = queue_arn["Fn::GetAtt"][0]
        props = depth[json.dumps({"Fn::GetAtt": [queue, "QueueName"]})]
        assert (props["Namespace"], props["Threshold"]) == ("AWS/SQS", 1), queue
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_the_api_alarms_on_5xx(cfn: dict[str, Any]) -> None:
    (props,) = alarms_on(cfn, "5xx", "ApiId", only="Stage").values()
    assert props["Namespace"] == "AWS/ApiGateway"
    assert {"Name": "Stage", "Value": "$default"} in props["Dimensions"]
    assert props["Dimensions"][0]["Value"] == {"Ref": "HttpApi"}


# -- keys, sign-in ------------------------------------------------------------------------------------


def test_no_placeholder_keys_anywhere(cfn: dict[str, Any]) -> None:
    assert "Default" not in cfn["Parameters"]["StripePublishableKey"]
    pattern = re.compile(cfn["Parameters"]["StripePublishableKey"]["AllowedPattern"])
    assert pattern.match("pk_live_51HxYzAbCdEf") and pattern.match("pk_test_51HxYzAbCdEf")
    assert not pattern.match("pk_test_replace_me") and not pattern.match("sk_live_51HxYzAbCdEf")
    for path in ("template.yaml", "samconfig.toml"):
        text = (ROOT / path).read_text()
        # A key-shaped value (descriptions may say "pk_live_..."), or a stand-in for one (the whole word: an IAM
        # action such as sqs:ChangeMessageVisibility is not one).
        assert not re.search(r"\b(pk|sk|rk|whsec)_(test|live)_[A-Za-z0-9]|replace_me|\bchangeme\b", text, re.I), path


def test_sign_in_is_invite_only_with_the_code_grant_and_pkce(cfn: dict[str, Any]) -> None:
    res = cfn["Resources"]
    pool = res["UserPool"]
    assert pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    # Deletion protection and retention: tests/deploy/test_operations.py
    (partner_id,) = [a for a in pool["Properties"]["Schema"] if a["Name"] == "partner_id"]
    assert partner_id["Mutable"] is False
    client = res["UserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["AllowedOAuthFlows"] == ["code"]  # no implicit grant: tokens never ride in a URL
    # aws.cognito.signin.user.admin: the portal enrols an authenticator app with the user's own access token
    assert set(client["AllowedOAuthScopes"]) == {"openid", "email", "aws.cognito.signin.user.admin"}
    # TOTP is the one MFA; optional for partners, required of operators by the API (next test)
    assert (pool["Properties"]["MfaConfiguration"], pool["Properties"]["EnabledMfas"]) == (
        "OPTIONAL",
        ["SOFTWARE_TOKEN_MFA"],
    )
    portal = {
        "Fn::If": [
            "WithPortalDomain",
            {"Fn::Sub": "https://${PortalDomainName}/"},
            {"Fn::Sub": "https://${PortalDistribution.DomainName}/"},
        ]
    }
    assert client["CallbackURLs"] == client["LogoutURLs"] == [portal]
    assert "custom:partner_id" not in client["WriteAttributes"]  # a user cannot move to another tenant
    assert (client["IdTokenValidity"], client["TokenValidityUnits"]["IdToken"]) == (15, "minutes")
    assert res["UserPoolDomain"]["Properties"]["UserPoolId"] == {"Ref": "UserPool"}


# -- logs, data, traces --------------------------------------------------------------------------------


def test_every_log_group_expires_and_every_function_writes_to_its_own(cfn: dict[str, Any]) -> None:
    groups = resources_of(cfn, "AWS::Logs::LogGroup")
    for name, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    used = []
    for name, function in resources_of(cfn, "AWS::Lambda::Function").items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert group in groups, name
        used.append(group)
    assert len(set(used)) == len(used) == len(LOCAL.functions)
    stage = cfn["Resources"]["HttpApiApiGatewayDefaultStage"]["Properties"]
    access = stage["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert access in groups and access not in used
    fields = json.loads(stage["AccessLogSettings"]["Format"])
    assert {"requestId", "routeKey", "status"} <= set(fields)


def test_every_function_is_traced(cfn: dict[str, Any]) -> None:
    for name, function in resources_of(cfn, "AWS::Lambda::Function").items():
        assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}, name


def test_every_environment_variable_is_read_by_something() -> None:
    # The settings dataclasses (partnerhub/settings.py) read their fields from the environment, Powertools its own
    # POWERTOOLS_* variables, Lambda's runtime AWS_LAMBDA_EXEC_WRAPPER; a variable nothing reads is a claim nobody keeps.
    from partnerhub import settings

    fields = {
        f.name.upper()
        for cls in vars(settings).values()
        if isinstance(cls, type) and dataclasses.is_dataclass(cls)
        for f in dataclasses.fields(cls)
    }
    powertools = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
    runtime = {"AWS_LAMBDA_EXEC_WRAPPER"}
    used_fields = {name for name in fields if re.search(rf"settings\.{name.lower()}\b", _sources())}
    for function in LOCAL.functions.values():
        for variable in function.environment:
            assert variable in powertools | runtime | used_fields, f"{function.logical_id}: nothing reads {variable}"


def _sources() -> str:
    """The code that reads settings: the functions and the layer."""
    return "\n".join(p.read_text() for folder in ("functions", "layers/common") for p in (ROOT / folder).rglob("*.py"))


def test_the_local_stack_still_reads_the_template() -> None:
    # The local gateway parses template.yaml itself (no transform): the new resources must not trip it.
    # and the planner, the worker, the authorizer, and the webhooks' stream reader, deliverer and sweep
    assert len(LOCAL.functions) == len(API_FUNCTIONS) + 6
    default, authorizers = LOCAL.authorizers()
    assert default == "PartnerAuthorizer"
    (authorizer,) = authorizers.values()
    assert (authorizer.kind, authorizer.function_id, authorizer.ttl_seconds) == ("lambda", AUTHORIZER, 60)
    assert (authorizer.headers, authorizer.simple_responses) == (("Authorization",), True)
    assert LOCAL.schedule_targets() == ["InvoicePlannerFunction"]
    assert {r.route_key for r in LOCAL.routes if not r.authorized} == {"POST /v1/webhooks/stripe"}
