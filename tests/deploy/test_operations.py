"""The template's operational promises, on what CloudFormation receives (the SAM transform's output) and, where a
property depends on a parameter, on the template resolved as CloudFormation would resolve it for a given stack:

- a failed first create leaves nothing behind, a deleted stack keeps the data;
- the API functions are released gradually and rolled back by their new version's errors;
- invitations name the portal and go through SES when the stage has a sender address;
- the portal's edge: security headers with a Content-Security-Policy, TLS 1.2 on its own domain, a sign-in domain
  without the account id;
- the month-end and the table alarm, and one dashboard reads what the code publishes.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local.template import Template
from tests.deploy.cfn import (
    ACCOUNT,
    DISTRIBUTION,
    REQUIRED,
    ROOT,
    STACK_ID,
    TEMPLATE,
    portal_content_security_policy,
    resolved,
    resources_of,
    transformed,
)


@pytest.fixture(scope="module")
def cfn() -> Any:
    return transformed()


# -- a first create that can fail, a teardown that keeps the data ----------------------------------------------------


def test_the_data_survives_a_deleted_stack_but_not_a_failed_first_create(cfn: dict[str, Any]) -> None:
    resources = cfn["Resources"]
    for name in ("Table", "UserPool"):
        # Kept when the stack is deleted or the resource replaced; deleted when the create that made it rolls back,
        # so the retry does not meet an "already exists" partnerhub-<stage> table or pool.
        assert resources[name]["DeletionPolicy"] == "RetainExceptOnCreate", name
        assert resources[name]["UpdateReplacePolicy"] == "Retain", name
    # Nothing else outlives the stack: the portal bucket holds only files from git, and teardown empties it.
    assert resources["PortalBucket"]["DeletionPolicy"] == "Delete"
    # (SAM keeps each function version on updates, so CodeDeploy can move the alias back to it; deleting the
    # function deletes its versions with it, so they do not outlive the stack.)
    kept = {
        n
        for n, r in resources.items()
        if r.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate", "Snapshot")
        and r["Type"] != "AWS::Lambda::Version"
    }
    assert kept == {"Table", "UserPool"}


@pytest.mark.parametrize(("protection", "table", "pool"), [("ACTIVE", True, "ACTIVE"), ("INACTIVE", False, "INACTIVE")])
def test_deletion_protection_follows_the_data_protection_parameter(protection: str, table: bool, pool: str) -> None:
    # make deploy passes INACTIVE to a stage's first create only (a rollback must be able to delete them), then ACTIVE.
    assert resolved("Table", DataProtection=protection)["DeletionProtectionEnabled"] is table
    assert resolved("UserPool", DataProtection=protection)["DeletionProtection"] == pool


def test_without_being_told_a_stack_protects_its_data() -> None:
    assert Template(TEMPLATE, REQUIRED).parameters["DataProtection"] == "ACTIVE"
    assert resolved("Table")["DeletionProtectionEnabled"] is True
    assert resolved("UserPool")["DeletionProtection"] == "ACTIVE"


# -- gradual deployment ------------------------------------------------------------------------------------------------


def aliases(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """API function logical id -> its live alias."""
    found = resources_of(cfn, "AWS::Lambda::Alias").values()
    return {alias["Properties"]["FunctionName"]["Ref"]: alias for alias in found}


def test_each_api_function_is_released_gradually_and_rolled_back_by_its_new_versions_errors(
    cfn: dict[str, Any],
) -> None:
    resources = cfn["Resources"]
    groups = resources_of(cfn, "AWS::CodeDeploy::DeploymentGroup")
    live = aliases(cfn)
    # Every function the HTTP API invokes (its routes' functions and the authorizer) has a live alias
    invoked = {
        p["Properties"]["FunctionName"]["Ref"].removesuffix("Aliaslive")
        for p in resources_of(cfn, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    }
    assert set(live) == invoked and "AuthorizerFunction" in invoked
    assert len(groups) == len(live)
    for function, alias in live.items():
        base = function.removesuffix("Function")
        group = groups[f"{function}DeploymentGroup"]["Properties"]
        # Traffic moves 10% first, the rest five minutes later (the DeploymentStrategy parameter's default)
        assert group["DeploymentConfigName"] == {
            "Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": "Canary10Percent5Minutes"}]
        }
        assert group["AlarmConfiguration"] == {
            "Enabled": True,
            "Alarms": [{"Name": {"Ref": f"{base}ReleaseErrorsAlarm"}}],
        }
        assert group["AutoRollbackConfiguration"]["Enabled"] is True
        assert {"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"} <= set(group["AutoRollbackConfiguration"]["Events"])
        # The alias is moved by CodeDeploy, not switched at once by CloudFormation
        update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        assert update["DeploymentGroupName"] == {"Ref": f"{function}DeploymentGroup"}
        assert update["ApplicationName"] == {"Ref": "ServerlessDeploymentApplication"}
        # The release alarm counts the errors of exactly the version the alias is moving to, through the alias
        alarm = resources[f"{base}ReleaseErrorsAlarm"]["Properties"]
        new_version = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"]
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
            "FunctionName": {"Ref": function},
            "Resource": {"Fn::Sub": f"${{{function}}}:live"},
            "ExecutedVersion": {"Fn::GetAtt": new_version},
        }
        assert (alarm["MetricName"], alarm["Statistic"], alarm["Threshold"], alarm["Period"]) == (
            "Errors",
            "Sum",
            1,
            60,
        )


def test_the_queue_functions_have_no_alias_to_shift(cfn: dict[str, Any]) -> None:
    for function in ("InvoicePlannerFunction", "InvoiceWorkerFunction"):
        assert function not in aliases(cfn)
        assert f"{function}DeploymentGroup" not in cfn["Resources"]


# -- e-mail ---------------------------------------------------------------------------------------------------------------


def test_without_a_sender_address_cognito_mails_and_the_invitation_names_the_portal() -> None:
    pool = resolved("UserPool")
    assert pool["EmailConfiguration"] == {"EmailSendingAccount": "COGNITO_DEFAULT"}
    invitation = pool["AdminCreateUserConfig"]["InviteMessageTemplate"]["EmailMessage"]
    # Cognito refuses a template without both placeholders
    assert "{username}" in invitation and "{####}" in invitation
    assert f'<a href="https://{DISTRIBUTION}/">https://{DISTRIBUTION}/</a>' in invitation
    reset = pool["VerificationMessageTemplate"]
    assert "{####}" in reset["EmailMessage"] and f"https://{DISTRIBUTION}/" in reset["EmailMessage"]


@pytest.mark.parametrize(
    ("identity", "arn_identity"), [("", "partners@vendor.example"), ("vendor.example", "vendor.example")]
)
def test_with_a_sender_address_ses_sends_as_the_vendor(identity: str, arn_identity: str) -> None:
    pool = resolved("UserPool", EmailFromAddress="partners@vendor.example", SesIdentity=identity)
    assert pool["EmailConfiguration"] == {
        "EmailSendingAccount": "DEVELOPER",
        "From": "partners@vendor.example",
        "SourceArn": f"arn:aws:ses:us-east-1:{ACCOUNT}:identity/{arn_identity}",
    }


def test_with_its_own_domain_the_portal_is_named_by_it_everywhere() -> None:
    custom = {
        "PortalDomainName": "partners.vendor.example",
        "PortalCertificateArn": f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/0a1b2c3d-4e5f",
    }
    pool = resolved("UserPool", **custom)
    assert "https://partners.vendor.example/" in pool["AdminCreateUserConfig"]["InviteMessageTemplate"]["EmailMessage"]
    client = resolved("UserPoolClient", **custom)
    assert client["CallbackURLs"] == client["LogoutURLs"] == ["https://partners.vendor.example/"]
    cors = resolved("HttpApi", **custom)["CorsConfiguration"]["AllowOrigins"]
    assert cors == ["https://partners.vendor.example"]


# -- the edge -----------------------------------------------------------------------------------------------------------


def policy_directives(**parameters: str) -> dict[str, list[str]]:
    config = resolved("PortalSecurityHeaders", **parameters)["ResponseHeadersPolicyConfig"]
    assert config["SecurityHeadersConfig"]["ContentSecurityPolicy"]["Override"] is True
    directives = {}
    for part in portal_content_security_policy(**parameters).split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def sign_in_host(stack_id: str = STACK_ID) -> str:
    domain = resolved("UserPoolDomain", stack_id=stack_id)["Domain"]
    return f"https://{domain}.auth.us-east-1.amazoncognito.com"


def test_the_portal_may_run_only_its_own_files_and_stripe_js(cfn: dict[str, Any]) -> None:
    csp = policy_directives()
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'", "https://js.stripe.com", "https://*.js.stripe.com"]
    assert csp["style-src"] == ["'self'"]
    assert all("unsafe" not in value for values in csp.values() for value in values)
    # It talks to the API, the stage's own sign-in domain, Cognito's API and Stripe; it frames only Stripe; nobody frames it
    assert csp["connect-src"] == [
        "'self'",
        "https://*.execute-api.us-east-1.amazonaws.com",
        sign_in_host(),
        "https://cognito-idp.us-east-1.amazonaws.com",  # the user's own Cognito API: enrolling an authenticator
        "https://api.stripe.com",
    ]
    assert csp["frame-src"] == ["https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"]
    assert csp["frame-ancestors"] == csp["base-uri"] == csp["object-src"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    behavior = cfn["Resources"]["PortalDistribution"]["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]
    assert behavior["ResponseHeadersPolicyId"] == {"Ref": "PortalSecurityHeaders"}


def test_the_portal_is_https_only_never_sniffed_or_framed() -> None:
    config = resolved("PortalSecurityHeaders")["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert config["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31_536_000  # a year at least
    assert config["ContentTypeOptions"] == {"Override": True}
    assert config["FrameOptions"] == {"Override": True, "FrameOption": "DENY"}
    assert config["ReferrerPolicy"]["ReferrerPolicy"] == "strict-origin-when-cross-origin"


def test_the_sign_in_domain_names_the_stack_not_the_account() -> None:
    host = sign_in_host()
    assert host == "https://partnerhub-prod-7f3e2a10.auth.us-east-1.amazoncognito.com"
    assert ACCOUNT not in host
    # Another stack (another stage, or the same stage in another account) gets another prefix: prefixes are global
    other = STACK_ID.replace("7f3e2a10", "c0ffee42")
    assert sign_in_host(other) != host
    domain = Template(TEMPLATE).resources["UserPoolDomain"]["Properties"]["Domain"]
    assert "AWS::AccountId" not in json.dumps(domain)


def test_the_default_domain_keeps_cloudfronts_certificate_and_its_own_domain_gets_tls_1_2() -> None:
    default = resolved("PortalDistribution")["DistributionConfig"]
    assert default["ViewerCertificate"] == {"CloudFrontDefaultCertificate": True}
    assert "Aliases" not in default
    certificate = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/0a1b2c3d-4e5f"
    own = resolved("PortalDistribution", PortalDomainName="partners.vendor.example", PortalCertificateArn=certificate)
    assert own["DistributionConfig"]["Aliases"] == ["partners.vendor.example"]
    assert own["DistributionConfig"]["ViewerCertificate"] == {
        "AcmCertificateArn": certificate,
        "SslSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
    }


def test_a_domain_without_its_certificate_is_refused_before_anything_is_made() -> None:
    rule = Template(TEMPLATE).data["Rules"]["PortalDomainNeedsItsCertificate"]
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "PortalDomainName"}, ""]}]}
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "PortalCertificateArn"}, ""]}]}


# -- alarms and the dashboard ---------------------------------------------------------------------------------------------


def test_a_stuck_or_looping_month_end_and_a_throttled_table_alarm(cfn: dict[str, Any]) -> None:
    resources = cfn["Resources"]
    queue = [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["InvoiceQueue", "QueueName"]}}]
    age = resources["InvoiceQueueAgeAlarm"]["Properties"]
    assert (age["MetricName"], age["Dimensions"], age["Statistic"]) == (
        "ApproximateAgeOfOldestMessage",
        queue,
        "Maximum",
    )
    assert age["Threshold"] == 2 * 3600  # twice the hour 10,000 partners take at worst (docs/invoicing.md)
    backlog = resources["InvoiceQueueBacklogAlarm"]["Properties"]
    assert (backlog["MetricName"], backlog["Dimensions"]) == ("ApproximateNumberOfMessagesVisible", queue)
    # never empty for three whole hours: the minimum of each hour is at least one message
    assert (backlog["Statistic"], backlog["Period"], backlog["EvaluationPeriods"], backlog["Threshold"]) == (
        "Minimum",
        3600,
        3,
        1,
    )
    throttles = resources["TableThrottlesAlarm"]["Properties"]
    (total,) = [m for m in throttles["Metrics"] if m.get("ReturnData")]
    parts = {m["Id"]: m["MetricStat"]["Metric"] for m in throttles["Metrics"] if "MetricStat" in m}
    assert set(re.findall(r"\w+", total["Expression"])) == set(parts)
    assert {(p["Namespace"], p["MetricName"]) for p in parts.values()} == {
        ("AWS/DynamoDB", "ReadThrottleEvents"),
        ("AWS/DynamoDB", "WriteThrottleEvents"),
    }
    assert all(p["Dimensions"] == [{"Name": "TableName", "Value": {"Ref": "Table"}}] for p in parts.values())
    assert throttles["Threshold"] == 1


def dashboard_metrics(cfn: dict[str, Any]) -> tuple[list[list[Any]], list[str]]:
    """Every metric line of the dashboard's widgets, and the alarms its alarm widget shows."""
    body = cfn["Resources"]["OperatorDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    # What CloudFormation substitutes: a resource's name or attribute, the region
    parsed = json.loads(re.sub(r"\$\{([A-Za-z0-9:.]+)\}", lambda m: "ref:" + m.group(1), body))
    lines, alarms = [], []
    for widget in parsed["widgets"]:
        if widget["type"] == "metric":
            lines.extend(widget["properties"]["metrics"])
        else:
            alarms.extend(widget["properties"]["alarms"])
    return lines, alarms


def emitted_metrics() -> set[str]:
    """The metric names the code publishes (``add_metric(name="...")`` in the functions and the layer)."""
    code = "\n".join(p.read_text() for folder in ("functions", "layers/common") for p in (ROOT / folder).rglob("*.py"))
    return set(re.findall(r'add_metric\(\s*name="(\w+)"', code))


def test_the_dashboard_shows_every_function_and_reads_only_what_is_published(cfn: dict[str, Any]) -> None:
    lines, alarms = dashboard_metrics(cfn)
    functions = set(resources_of(cfn, "AWS::Lambda::Function"))
    for metric in ("Invocations", "Errors"):
        shown = {line[3].removeprefix("ref:") for line in lines if line[:2] == ["AWS/Lambda", metric]}
        assert shown == functions, metric
    ours = [line for line in lines if line[0] == "PartnerHub"]
    assert {line[1] for line in ours} <= emitted_metrics()
    # Powertools adds the function's service name as the "service" dimension
    services = {f.environment["POWERTOOLS_SERVICE_NAME"] for f in Template(TEMPLATE, REQUIRED).functions.values()}
    assert {line[3] for line in ours if line[2] == "service"} <= services
    # month-end progress, dead letters, Stripe failures and webhook lag are all on it
    assert {"PartnerMonthsEnqueued", "InvoiceIssued", "StripeCallsFailed", "StripeEventLag"} <= {
        line[1] for line in ours
    }
    queues = {line[3] for line in lines if line[0] == "AWS/SQS"}
    assert {"ref:InvoiceDeadLetterQueue.QueueName", "ref:InvoiceRunFailureQueue.QueueName"} <= queues
    for alarm in alarms:
        name = alarm.removeprefix("ref:").removesuffix(".Arn")
        assert cfn["Resources"][name]["Type"] == "AWS::CloudWatch::Alarm", alarm
