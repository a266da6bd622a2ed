"""The deploy and partner-user scripts against moto: the portal a stage gets, the parameters a first deploy
needs, and the Cognito user an operator creates."""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import deploy  # noqa: E402 - scripts/ is not a package
import partner_user  # noqa: E402

OUTPUTS = {
    "ApiUrl": "https://abc123.execute-api.us-east-1.amazonaws.com",
    "PortalUrl": "https://d111.cloudfront.net",
    "UserPoolId": "us-east-1_Example",
    "UserPoolClientId": "client123",
    "UserPoolDomainUrl": "https://partnerhub-prod-7f3e2a10.auth.us-east-1.amazoncognito.com",
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield


# -- samconfig and the first deploy ------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["prod", "staging"])
def test_each_stage_deploys_its_own_stack_with_its_own_secrets(stage: str) -> None:
    config = deploy.stage_config(stage)
    assert config.stack_name == f"partnerhub-{stage}"
    assert config.parameter_overrides["Stage"] == stage
    assert config.parameter_overrides["StripeSecretKeyParameter"] == f"/partnerhub/{stage}/stripe/secret-key"
    assert config.parameter_overrides["StripeWebhookSecretParameter"] == f"/partnerhub/{stage}/stripe/webhook-secret"
    # No placeholder publishable key or e-mail sits in the settings: they come from the operator.
    assert "StripePublishableKey" not in config.parameter_overrides
    assert "AlarmEmail" not in config.parameter_overrides


def test_a_first_deploy_without_the_key_and_email_stops_before_sam() -> None:
    config = deploy.stage_config("staging")
    with pytest.raises(SystemExit) as stopped:
        deploy.deploy_overrides(config, stack_exists=False, environ={})
    assert "STRIPE_PUBLISHABLE_KEY and ALARM_EMAIL" in str(stopped.value)


def test_a_first_deploy_passes_the_key_and_email_with_samconfigs_parameters() -> None:
    config = deploy.stage_config("staging")
    environ = {"STRIPE_PUBLISHABLE_KEY": "pk_test_51abcdef", "ALARM_EMAIL": "ops@example.com"}
    overrides = deploy.deploy_overrides(config, stack_exists=False, environ=environ)
    assert overrides == {
        "Stage": "staging",
        "StripeSecretKeyParameter": "/partnerhub/staging/stripe/secret-key",
        "StripeWebhookSecretParameter": "/partnerhub/staging/stripe/webhook-secret",
        "StripePublishableKey": "pk_test_51abcdef",
        "AlarmEmail": "ops@example.com",
        # A first create that fails must be able to delete its table and user pool on the way back
        "DataProtection": "INACTIVE",
    }


def test_a_later_deploy_keeps_the_stacks_key_and_email_and_protects_the_data() -> None:
    overrides = deploy.deploy_overrides(deploy.stage_config("prod"), stack_exists=True, environ={})
    assert set(overrides) == {"Stage", "StripeSecretKeyParameter", "StripeWebhookSecretParameter", "DataProtection"}
    assert overrides["DataProtection"] == "ACTIVE"


def test_optional_parameters_are_passed_when_set_cleared_when_empty_and_kept_otherwise() -> None:
    config = deploy.stage_config("prod")
    environ = {"EMAIL_FROM_ADDRESS": "partners@vendor.example", "PORTAL_DOMAIN_NAME": ""}
    overrides = deploy.deploy_overrides(config, stack_exists=True, environ=environ)
    assert overrides["EmailFromAddress"] == "partners@vendor.example"
    assert overrides["PortalDomainName"] == ""  # given empty: the stage goes back to CloudFront's domain
    for kept in ("SesIdentity", "PortalCertificateArn", "DeploymentStrategy"):
        assert kept not in overrides  # SAM passes UsePreviousValue for them


def test_every_optional_parameter_is_one_the_template_declares_with_a_default() -> None:
    from local.template import load_yaml

    parameters = load_yaml(ROOT / "template.yaml")["Parameters"]
    for parameter in deploy.OPTIONAL:
        assert "Default" in parameters[parameter], parameter
    for parameter in deploy.FIRST_DEPLOY:
        assert "Default" not in parameters[parameter], parameter


# -- samconfig: nothing reaches a stage unless it is named ---------------------------------------------------------


def test_no_default_in_samconfig_names_a_stack() -> None:
    import tomllib

    settings = tomllib.loads((ROOT / "samconfig.toml").read_text())
    defaults = settings.get("default", {})
    # A bare `sam deploy`, `sam delete` or `sam sync` would read these sections: none may name a stack or a stage
    for command, section in defaults.items():
        parameters = section.get("parameters", {})
        assert "stack_name" not in parameters, command
        assert "parameter_overrides" not in parameters, command
    assert not {"deploy", "delete", "sync"} & set(defaults)
    # and every stage's stack carries its stage's name
    for stage in ("prod", "staging"):
        assert settings[stage]["deploy"]["parameters"]["stack_name"] == f"partnerhub-{stage}"


def test_the_template_does_not_pick_a_stage_either() -> None:
    from local.template import load_yaml

    assert "Default" not in load_yaml(ROOT / "template.yaml")["Parameters"]["Stage"]


def test_a_missing_stripe_secret_key_stops_the_deploy_and_says_how_to_create_it(aws: None) -> None:
    config = deploy.stage_config("prod")
    ssm = boto3.client("ssm")
    with pytest.raises(SystemExit) as stopped:
        deploy.check_secrets(ssm, config)
    assert "--name /partnerhub/prod/stripe/secret-key --value sk_..." in str(stopped.value)


def test_the_webhook_secret_may_follow_the_first_deploy(aws: None) -> None:
    # Stripe's signing secret exists only once its endpoint points at the deployed API.
    config = deploy.stage_config("prod")
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/partnerhub/prod/stripe/secret-key", Type="SecureString", Value="sk_live_x")
    assert deploy.check_secrets(ssm, config) == ["/partnerhub/prod/stripe/webhook-secret"]
    ssm.put_parameter(Name="/partnerhub/prod/stripe/webhook-secret", Type="SecureString", Value="whsec_x")
    assert deploy.check_secrets(ssm, config) == []


# -- the portal ---------------------------------------------------------------------------------------


def parse_config(text: str) -> dict[str, Any]:
    match = re.search(r"export const config = (\{.*\});", text, re.S)
    assert match, text
    parsed: dict[str, Any] = json.loads(match.group(1))
    return parsed


def test_config_js_comes_from_the_stack_outputs() -> None:
    config = parse_config(deploy.render_config(OUTPUTS, "us-east-1"))
    assert config == {
        "apiUrl": "https://abc123.execute-api.us-east-1.amazonaws.com",
        "cognito": {
            "region": "us-east-1",
            "userPoolId": "us-east-1_Example",
            "clientId": "client123",
            "domain": "https://partnerhub-prod-7f3e2a10.auth.us-east-1.amazoncognito.com",
        },
        "support": {"email": "", "url": ""},
    }


def test_config_js_names_the_support_contact_when_the_stack_has_one() -> None:
    # Given a stack deployed with SupportEmail and SupportUrl (its outputs exist only then)
    outputs = {**OUTPUTS, "SupportEmail": "help@agency-portal.example", "SupportUrl": "https://help.example/portal"}
    # Then the portal's Help page gets both
    config = parse_config(deploy.render_config(outputs, "us-east-1"))
    assert config["support"] == {"email": "help@agency-portal.example", "url": "https://help.example/portal"}


def test_the_checked_in_config_js_stays_empty_for_the_local_stack() -> None:
    text = (ROOT / "portal/config.js").read_text()
    assert 'apiUrl: ""' in text and 'clientId: ""' in text and 'domain: ""' in text


def test_the_portal_is_uploaded_with_its_config_and_stale_files_removed(aws: None, tmp_path: Path) -> None:
    # Given a portal bucket holding a file from an older portal
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="portal-bucket")
    s3.put_object(Bucket="portal-bucket", Key="js/old.js", Body=b"old")
    # When the stage's portal is published
    folder = deploy.stage_portal(OUTPUTS, "us-east-1", build=tmp_path / "portal")
    uploaded, deleted = deploy.upload_portal(s3, "portal-bucket", folder)
    # Then every file of portal/ is there, config.js is the stage's, and the old file is gone
    expected = sorted(p.relative_to(ROOT / "portal").as_posix() for p in (ROOT / "portal").rglob("*") if p.is_file())
    keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket="portal-bucket")["Contents"])
    assert keys == expected == sorted(uploaded)
    assert deleted == ["js/old.js"]
    config = s3.get_object(Bucket="portal-bucket", Key="config.js")
    assert parse_config(config["Body"].read().decode())["cognito"]["clientId"] == "client123"
    assert config["ContentType"] == "text/javascript"
    assert config["CacheControl"] == "no-cache"
    app = s3.head_object(Bucket="portal-bucket", Key="js/app.js")
    assert (app["ContentType"], app["CacheControl"]) == ("text/javascript", "public, max-age=3600")
    assert s3.head_object(Bucket="portal-bucket", Key="index.html")["ContentType"] == "text/html"
    assert s3.head_object(Bucket="portal-bucket", Key="favicon.ico")["ContentType"] == "image/x-icon"
    # And the checked-in config.js is untouched
    test_the_checked_in_config_js_stays_empty_for_the_local_stack()


def test_publishing_invalidates_the_whole_distribution(aws: None) -> None:
    cloudfront = boto3.client("cloudfront")
    distribution = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": "portal",
            "Comment": "",
            "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [{"Id": "portal", "DomainName": "b.s3.amazonaws.com"}]},
            "DefaultCacheBehavior": {"TargetOriginId": "portal", "ViewerProtocolPolicy": "redirect-to-https"},
        }
    )["Distribution"]["Id"]
    invalidation = deploy.invalidate(cloudfront, distribution)
    found = cloudfront.get_invalidation(DistributionId=distribution, Id=invalidation)["Invalidation"]
    assert found["InvalidationBatch"]["Paths"]["Items"] == ["/*"]


# -- partner users ------------------------------------------------------------------------------------


@pytest.fixture
def pool(aws: None) -> tuple[Any, str]:
    cognito = boto3.client("cognito-idp")
    pool_id = cognito.create_user_pool(
        PoolName="partnerhub-test",
        UsernameAttributes=["email"],
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
        Schema=[{"Name": "partner_id", "AttributeDataType": "String", "Mutable": False}],
    )["UserPool"]["Id"]
    cognito.create_group(UserPoolId=pool_id, GroupName="operators")
    return cognito, pool_id


def groups_of(cognito: Any, pool_id: str, email: str) -> list[str]:
    return [g["GroupName"] for g in cognito.admin_list_groups_for_user(UserPoolId=pool_id, Username=email)["Groups"]]


def test_a_partner_user_carries_its_partner_id_and_no_group(pool: tuple[Any, str]) -> None:
    cognito, pool_id = pool
    assert partner_user.ensure_user(cognito, pool_id, "ana@agency.example", "agency-1", operator=False) == "created"
    user = cognito.admin_get_user(UserPoolId=pool_id, Username="ana@agency.example")
    assert partner_user.attribute(user, "custom:partner_id") == "agency-1"
    assert partner_user.attribute(user, "email") == "ana@agency.example"
    assert groups_of(cognito, pool_id, "ana@agency.example") == []


def test_running_it_again_changes_nothing_and_can_add_the_operators_group(pool: tuple[Any, str]) -> None:
    cognito, pool_id = pool
    partner_user.ensure_user(cognito, pool_id, "op@vendor.example", "vendor", operator=False)
    assert partner_user.ensure_user(cognito, pool_id, "op@vendor.example", "vendor", operator=True) == "exists"
    assert groups_of(cognito, pool_id, "op@vendor.example") == ["operators"]
    assert len(cognito.list_users(UserPoolId=pool_id)["Users"]) == 1


def test_the_same_email_for_another_partner_is_refused(pool: tuple[Any, str]) -> None:
    cognito, pool_id = pool
    partner_user.ensure_user(cognito, pool_id, "ana@agency.example", "agency-1", operator=False)
    with pytest.raises(SystemExit, match="already exists for partner 'agency-1'"):
        partner_user.ensure_user(cognito, pool_id, "ana@agency.example", "agency-2", operator=True)
    assert groups_of(cognito, pool_id, "ana@agency.example") == []


@pytest.mark.parametrize("bad", ["", "a b", "x" * 65, "agency/1"])
def test_a_malformed_partner_id_creates_nothing(pool: tuple[Any, str], bad: str) -> None:
    cognito, pool_id = pool
    with pytest.raises(SystemExit, match="partner id"):
        partner_user.ensure_user(cognito, pool_id, "ana@agency.example", bad, operator=False)
    assert cognito.list_users(UserPoolId=pool_id)["Users"] == []


def test_sam_deploy_gets_the_stage_and_the_whole_override_list(monkeypatch: pytest.MonkeyPatch) -> None:
    # --parameter-overrides on the command line replaces samconfig's list: all of it must be passed.
    ran: list[list[str]] = []
    monkeypatch.setattr(deploy.subprocess, "run", lambda command, **_: ran.append(command))
    config = deploy.stage_config("staging")
    environ = {"STRIPE_PUBLISHABLE_KEY": "pk_test_51abcdef", "ALARM_EMAIL": "ops@example.com"}
    deploy.sam_deploy("sam", config, deploy.deploy_overrides(config, stack_exists=False, environ=environ))
    assert ran == [
        [
            "sam",
            "deploy",
            "--config-env",
            "staging",
            "--parameter-overrides",
            "Stage=staging",
            "StripeSecretKeyParameter=/partnerhub/staging/stripe/secret-key",
            "StripeWebhookSecretParameter=/partnerhub/staging/stripe/webhook-secret",
            "StripePublishableKey=pk_test_51abcdef",
            "AlarmEmail=ops@example.com",
            "DataProtection=INACTIVE",
        ]
    ]


# -- a first deploy that can fail, a deploy that says where it goes -------------------------------------------------


def deploy_commands(monkeypatch: pytest.MonkeyPatch, stage: str, environ: dict[str, str]) -> tuple[list[Any], str]:
    """What ``make deploy STAGE=<stage>`` runs (sam commands) and prints, against moto's account."""
    ran: list[Any] = []
    monkeypatch.setattr(deploy.subprocess, "run", lambda command, **_: ran.append(command))
    # moto has no GetAccountSettings; the concurrency check is tested on its own below
    monkeypatch.setattr(deploy, "check_lambda_concurrency", lambda client: 1000)
    monkeypatch.setattr(deploy, "publish_portal", lambda session, config: OUTPUTS | {"DashboardUrl": "https://d"})
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name=f"/partnerhub/{stage}/stripe/secret-key", Type="SecureString", Value="sk_test_x"
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        deploy.main(["--stage", stage, "--sam", "sam"])
    return ran, out.getvalue()


def test_a_first_create_runs_unprotected_then_protects_the_data_at_once(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no partnerhub-staging stack yet
    environ = {"STRIPE_PUBLISHABLE_KEY": "pk_test_51abcdef", "ALARM_EMAIL": "ops@example.com"}
    ran, out = deploy_commands(monkeypatch, "staging", environ)
    # Then the first `sam deploy` creates it with the protection off, and a second one turns it on
    assert [c[c.index("--config-env") + 1] for c in ran] == ["staging", "staging"]
    assert [c for c in ran[0] if c.startswith("DataProtection=")] == ["DataProtection=INACTIVE"]
    assert [c for c in ran[1] if c.startswith("DataProtection=")] == ["DataProtection=ACTIVE"]
    # And it said which stage, stack, account and region before anything ran
    assert out.splitlines()[0] == "stage staging: stack partnerhub-staging, account 123456789012, region us-east-1"
    assert "Stage             staging (partnerhub-staging, us-east-1)" in out


def test_a_rolled_back_first_create_is_cleared_before_the_retry() -> None:
    from botocore.stub import Stubber

    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    stack = {"StackName": "partnerhub-staging", "CreationTime": "2026-11-01T00:00:00Z"}
    with Stubber(cloudformation) as stub:
        # Given the record of a create that failed and was rolled back (nothing else of it is left)
        stub.add_response("describe_stacks", {"Stacks": [{**stack, "StackStatus": "ROLLBACK_COMPLETE"}]})
        # Then it is deleted, and the wait ends when CloudFormation no longer knows it
        stub.add_response("delete_stack", {}, {"StackName": "partnerhub-staging"})
        stub.add_response("describe_stacks", {"Stacks": [{**stack, "StackStatus": "DELETE_COMPLETE"}]})
        assert deploy.clear_rolled_back_create(cloudformation, "partnerhub-staging") is True
        stub.assert_no_pending_responses()
    with Stubber(cloudformation) as stub:
        # A stack that works is never deleted
        stub.add_response("describe_stacks", {"Stacks": [{**stack, "StackStatus": "UPDATE_COMPLETE"}]})
        assert deploy.clear_rolled_back_create(cloudformation, "partnerhub-staging") is False


@pytest.mark.parametrize(("limit", "warned"), [(10, True), (1000, False)])
def test_a_low_lambda_concurrency_is_said_before_deploying(limit: int, warned: bool, capsys: Any) -> None:
    from botocore.stub import Stubber

    client = boto3.client("lambda", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "get_account_settings",
            {"AccountLimit": {"ConcurrentExecutions": limit, "UnreservedConcurrentExecutions": limit}},
        )
        assert deploy.check_lambda_concurrency(client) == limit
    said = capsys.readouterr().out
    assert ("at most 10 Lambda functions at once" in said) is warned
    assert ("L-B99A9384" in said) is warned


def test_a_teardown_needs_the_stacks_name(aws: None) -> None:
    config = deploy.stage_config("staging")
    session = boto3.session.Session(region_name="us-east-1")
    with pytest.raises(SystemExit, match="confirm with its name"):
        deploy.teardown(session, config, "staging")
    with pytest.raises(SystemExit, match="does not exist"):
        deploy.teardown(session, config, "partnerhub-staging")
