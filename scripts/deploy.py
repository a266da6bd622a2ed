"""Deploy a stage and publish its portal, or tear a stage down: what `make deploy STAGE=...`, `make portal STAGE=...`
and `make teardown STAGE=...` run.

    python scripts/deploy.py --stage prod [--sam .venv-sam/bin/sam]   sam deploy, then the portal
    python scripts/deploy.py --stage prod --portal-only               the portal only
    python scripts/deploy.py --stage staging --teardown               empty the portal bucket, delete the stack

1. Names the stage, its stack, the account and the region before anything else, and checks the account's Lambda
   concurrency and that the stage's Stripe secret key is in SSM (the functions read it on first use).
2. ``sam deploy --config-env <stage>`` with samconfig.toml's settings. ``StripePublishableKey`` and
   ``AlarmEmail`` have no default: the first deploy of a stage takes them from the environment
   (``STRIPE_PUBLISHABLE_KEY``, ``ALARM_EMAIL``); later deploys keep the stack's values unless given again. The
   optional parameters (``EMAIL_FROM_ADDRESS``, ``SES_IDENTITY``, ``PORTAL_DOMAIN_NAME``, ``PORTAL_CERTIFICATE_ARN``,
   ``DEPLOYMENT_STRATEGY``) are passed when set, even empty (which clears them), and kept otherwise.
3. A stage's first create runs with ``DataProtection=INACTIVE``: if it fails, CloudFormation rolls it back whole
   (the table and the user pool are ``RetainExceptOnCreate``) and the next ``make deploy`` deletes the empty
   rolled-back stack and tries again. Once the create has succeeded, a second ``sam deploy`` turns the protection on;
   every later deploy passes ``DataProtection=ACTIVE``.
4. Writes the portal's ``config.js`` from the stack's outputs (into ``.aws-sam/portal/``: the checked-in
   ``portal/config.js`` stays empty, which is what the local stack needs), uploads ``portal/`` to the
   bucket, deletes what is no longer there, and invalidates CloudFront.

Teardown asks for the stack's name (or takes ``CONFIRM=<stack name>``), empties the portal bucket (CloudFormation
cannot delete a bucket with objects in it), deletes the stack and waits, then names what is kept: the table and the
user pool, with their deletion protection on (docs/runbook.md, "Tearing a stage down").
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[1]
PORTAL = ROOT / "portal"
BUILD = ROOT / ".aws-sam" / "portal"
# Parameters with no default: needed on the first deploy of a stage, then kept from the stack.
FIRST_DEPLOY = {"StripePublishableKey": "STRIPE_PUBLISHABLE_KEY", "AlarmEmail": "ALARM_EMAIL"}
# Parameters with a default: passed when the variable is set (even empty, which clears them), kept otherwise.
OPTIONAL = {
    "EmailFromAddress": "EMAIL_FROM_ADDRESS",
    "SesIdentity": "SES_IDENTITY",
    "PortalDomainName": "PORTAL_DOMAIN_NAME",
    "PortalCertificateArn": "PORTAL_CERTIFICATE_ARN",
    "DeploymentStrategy": "DEPLOYMENT_STRATEGY",
}
# The account-wide Lambda concurrency a stage needs at least: the API's burst (200), the month-end worker (5) and the
# planner, with room for a second stage in the same account. New accounts may start far lower (docs/runbook.md).
MIN_ACCOUNT_CONCURRENCY = 400
# A first create that failed and was rolled back: nothing is left but the stack's record, which blocks a new create.
ROLLED_BACK = "ROLLBACK_COMPLETE"
# The page and its settings are fetched fresh on every load; the modules may be cached for an hour
# (every deploy invalidates the distribution anyway).
NO_CACHE = {"index.html", "config.js"}
MIME = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}


@dataclass(frozen=True)
class StageConfig:
    stage: str
    stack_name: str
    region: str
    parameter_overrides: dict[str, str]


def stage_config(stage: str, samconfig: Path = ROOT / "samconfig.toml") -> StageConfig:
    """The stage's ``[<stage>.deploy.parameters]`` from samconfig.toml."""
    data = tomllib.loads(samconfig.read_text())
    try:
        params = data[stage]["deploy"]["parameters"]
    except KeyError:
        stages = sorted(name for name, env in data.items() if isinstance(env, dict) and "deploy" in env)
        raise SystemExit(f"no [{stage}.deploy.parameters] in {samconfig.name}; stages: {', '.join(stages)}") from None
    overrides = dict(item.split("=", 1) for item in shlex.split(params.get("parameter_overrides", "")))
    return StageConfig(stage, params["stack_name"], params["region"], overrides)


def stack_status(cloudformation: Any, stack_name: str) -> str | None:
    """The stack's status (``CREATE_COMPLETE``, ``ROLLBACK_COMPLETE``, ...), or None when there is no such stack."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return str(stacks[0]["StackStatus"])


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str] | None:
    """The stack's outputs, or None when the stack does not exist yet."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return {item["OutputKey"]: item["OutputValue"] for item in stacks[0].get("Outputs", [])}


def clear_rolled_back_create(cloudformation: Any, stack_name: str) -> bool:
    """Delete the record of a first create that failed and was rolled back (CloudFormation allows no second create
    while it is there; nothing else is left of it). True when there was one."""
    if stack_status(cloudformation, stack_name) != ROLLED_BACK:
        return False
    print(f"{stack_name}: its first create failed and was rolled back; deleting what is left of it before retrying")
    cloudformation.delete_stack(StackName=stack_name)
    cloudformation.get_waiter("stack_delete_complete").wait(StackName=stack_name)
    return True


def deploy_overrides(config: StageConfig, stack_exists: bool, environ: dict[str, str]) -> dict[str, str]:
    """samconfig's overrides, the first-deploy parameters and the optional ones found in the environment, and the
    data protection: off for a stage's first create only.

    ``--parameter-overrides`` on the command line replaces samconfig's list, so the whole list is passed;
    a parameter left out keeps the stack's previous value (SAM passes ``UsePreviousValue``).
    """
    overrides = dict(config.parameter_overrides)
    missing = []
    for parameter, variable in FIRST_DEPLOY.items():
        if environ.get(variable):
            overrides[parameter] = environ[variable]
        elif not stack_exists:
            missing.append(variable)
    if missing:
        raise SystemExit(
            f"{config.stack_name} does not exist yet: its first deploy needs {' and '.join(missing)}, e.g.\n"
            f"  make deploy STAGE={config.stage} STRIPE_PUBLISHABLE_KEY=pk_live_... ALARM_EMAIL=ops@example.com"
        )
    for parameter, variable in OPTIONAL.items():
        if variable in environ:
            overrides[parameter] = environ[variable]
    overrides["DataProtection"] = "ACTIVE" if stack_exists else "INACTIVE"
    return overrides


def check_lambda_concurrency(lambda_client: Any, minimum: int = MIN_ACCOUNT_CONCURRENCY) -> int:
    """The account's Lambda concurrency in this region; a warning when it is below ``minimum``."""
    limit = int(lambda_client.get_account_settings()["AccountLimit"]["ConcurrentExecutions"])
    if limit < minimum:
        print(
            f"warning: this account runs at most {limit} Lambda functions at once in this region; a stage needs "
            f"{minimum} (docs/runbook.md, Before the first deploy: ask Service Quotas for more, code L-B99A9384)"
        )
    return limit


def check_secrets(ssm: Any, config: StageConfig) -> list[str]:
    """Stop before deploying when the Stripe secret key is not in SSM; return the other missing secrets.

    The webhook signing secret exists only once Stripe's endpoint is created, which needs the deployed
    URL (and Stripe sends nothing before that), so its absence is only reported.
    """
    missing = []
    for parameter in ("StripeSecretKeyParameter", "StripeWebhookSecretParameter"):
        name = config.parameter_overrides.get(parameter)
        if not name:
            continue
        try:
            ssm.get_parameter(Name=name, WithDecryption=False)
        except ssm.exceptions.ParameterNotFound:
            missing.append(name)
    secret_key = config.parameter_overrides.get("StripeSecretKeyParameter")
    if secret_key in missing:
        raise SystemExit(
            "create the Stripe secret key first (docs/runbook.md):\n"
            f"  aws ssm put-parameter --region {config.region} --type SecureString --name {secret_key} --value sk_..."
        )
    return missing


def sam_deploy(sam: str, config: StageConfig, overrides: dict[str, str]) -> None:
    command = [
        sam,
        "deploy",
        "--config-env",
        config.stage,
        "--parameter-overrides",
        *(f"{key}={value}" for key, value in overrides.items()),
    ]
    shown = [part if not part.startswith("AlarmEmail=") else "AlarmEmail=…" for part in command]
    print("$", " ".join(shown))
    subprocess.run(command, cwd=ROOT, check=True, env={**os.environ, "SAM_CLI_TELEMETRY": "0"})  # noqa: S603


def render_config(outputs: dict[str, str], region: str) -> str:
    """portal/config.js for a deployed stack (same shape as the checked-in, empty one)."""
    config = {
        "apiUrl": outputs["ApiUrl"].rstrip("/"),
        "cognito": {
            "region": region,
            "userPoolId": outputs["UserPoolId"],
            "clientId": outputs["UserPoolClientId"],
            "domain": outputs["UserPoolDomainUrl"].rstrip("/"),
        },
        "support": {"email": outputs.get("SupportEmail", ""), "url": outputs.get("SupportUrl", "")},
    }
    return (
        "// Written by scripts/deploy.py from the stack's outputs; the checked-in portal/config.js stays empty.\n"
        f"export const config = {json.dumps(config, indent=2)};\n"
    )


def stage_portal(outputs: dict[str, str], region: str, build: Path = BUILD) -> Path:
    """A copy of portal/ with the stage's config.js, ready to upload."""
    if build.exists():
        shutil.rmtree(build)
    shutil.copytree(PORTAL, build)
    (build / "config.js").write_text(render_config(outputs, region))
    return build


def upload_portal(s3: Any, bucket: str, folder: Path) -> tuple[list[str], list[str]]:
    """Upload every file under ``folder``; delete objects that are no longer there. Returns (uploaded, deleted)."""
    uploaded = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = path.relative_to(folder).as_posix()
        content_type = MIME.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        cache = "no-cache" if key in NO_CACHE else "public, max-age=3600"
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type, CacheControl=cache)
        uploaded.append(key)
    keep = set(uploaded)
    stale: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        stale.extend(item["Key"] for item in page.get("Contents", []) if item["Key"] not in keep)
    for start in range(0, len(stale), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in stale[start : start + 1000]]})
    return uploaded, stale


def invalidate(cloudfront: Any, distribution_id: str) -> str:
    reply = cloudfront.create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": uuid.uuid4().hex},
    )
    return str(reply["Invalidation"]["Id"])


def publish_portal(session: Any, config: StageConfig) -> dict[str, str]:
    outputs = stack_outputs(session.client("cloudformation"), config.stack_name)
    if outputs is None:
        raise SystemExit(f"{config.stack_name} does not exist: run make deploy STAGE={config.stage} first")
    folder = stage_portal(outputs, config.region)
    uploaded, deleted = upload_portal(session.client("s3"), outputs["PortalBucketName"], folder)
    invalidation = invalidate(session.client("cloudfront"), outputs["PortalDistributionId"])
    print(f"portal: {len(uploaded)} files uploaded, {len(deleted)} removed, invalidation {invalidation}")
    return outputs


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object in ``bucket`` (every version, should versioning ever be turned on); how many."""
    removed = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        entries = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for kind in ("Versions", "DeleteMarkers")
            for item in page.get(kind, [])
        ]
        for start in range(0, len(entries), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": entries[start : start + 1000], "Quiet": True})
        removed += len(entries)
    return removed


def teardown(session: Any, config: StageConfig, confirmation: str) -> dict[str, str]:
    """Empty the portal bucket and delete the stage's stack; the kept resources (name -> id).

    ``confirmation`` must be the stack's name: a teardown is never one mistyped stage away.
    """
    if confirmation != config.stack_name:
        raise SystemExit(f"not deleting {config.stack_name}: confirm with its name (CONFIRM={config.stack_name})")
    cloudformation = session.client("cloudformation")
    outputs = stack_outputs(cloudformation, config.stack_name)
    if outputs is None:
        raise SystemExit(f"{config.stack_name} does not exist in {config.region}")
    bucket = outputs.get("PortalBucketName")
    if bucket:
        print(f"{bucket}: {empty_bucket(session.client('s3'), bucket)} portal files removed")
    print(f"deleting {config.stack_name} (CloudFront takes several minutes) ...")
    cloudformation.delete_stack(StackName=config.stack_name)
    cloudformation.get_waiter("stack_delete_complete").wait(
        StackName=config.stack_name, WaiterConfig={"Delay": 15, "MaxAttempts": 240}
    )
    kept = {"table": outputs.get("TableName", ""), "user pool": outputs.get("UserPoolId", "")}
    print(f"{config.stack_name} is deleted. Kept, with deletion protection on (docs/runbook.md, Tearing a stage down):")
    for kind, name in kept.items():
        print(f"  {kind:<10} {name}")
    return kept


def announce(session: Any, config: StageConfig) -> None:
    """Say which stage goes where before anything changes."""
    account = session.client("sts").get_caller_identity()["Account"]
    print(f"stage {config.stage}: stack {config.stack_name}, account {account}, region {config.region}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--sam", default=str(ROOT / ".venv-sam" / "bin" / "sam"))
    parser.add_argument("--portal-only", action="store_true")
    parser.add_argument("--teardown", action="store_true")
    args = parser.parse_args(argv)
    config = stage_config(args.stage)
    session = boto3.session.Session(region_name=config.region)
    announce(session, config)
    if args.teardown:
        confirmation = os.environ.get("CONFIRM") or input(f"Type {config.stack_name} to delete it: ").strip()
        teardown(session, config, confirmation)
        return
    if not args.portal_only:
        check_lambda_concurrency(session.client("lambda"))
        later = check_secrets(session.client("ssm"), config)
        cloudformation = session.client("cloudformation")
        clear_rolled_back_create(cloudformation, config.stack_name)
        exists = stack_status(cloudformation, config.stack_name) is not None
        sam_deploy(args.sam, config, deploy_overrides(config, exists, dict(os.environ)))
        if not exists:
            # The first create succeeded: now protect the table and the user pool (only they change).
            print(f"{config.stack_name} is created; turning on the deletion protection of its table and user pool")
            sam_deploy(args.sam, config, deploy_overrides(config, True, dict(os.environ)))
    outputs = publish_portal(session, config)
    print(
        "\n".join(
            [
                "",
                f"Stage             {config.stage} ({config.stack_name}, {config.region})",
                f"Portal            {outputs['PortalUrl']}",
                f"API               {outputs['ApiUrl']}",
                f"Dashboard         {outputs.get('DashboardUrl', '-')}",
                f"Stripe webhook    {outputs['ApiUrl']}/v1/webhooks/stripe",
                f"Add a user        make partner-user STAGE={config.stage} EMAIL=... PARTNER_ID=... [OPERATOR=1]",
            ]
        )
    )
    if not args.portal_only and later:
        print(f"Not in SSM yet    {', '.join(later)} (Stripe's webhook signing secret: docs/runbook.md step 4)")


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as error:
        sys.exit(error.returncode)
