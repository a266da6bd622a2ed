"""Deploy a stage and publish its portal: what `make deploy STAGE=...` and `make portal STAGE=...` run.

    python scripts/deploy.py --stage prod [--sam .venv-sam/bin/sam]   sam deploy, then the portal
    python scripts/deploy.py --stage prod --portal-only               the portal only

1. Checks that the stage's Stripe secret key is in SSM (the functions read it on first use).
2. ``sam deploy --config-env <stage>`` with samconfig.toml's settings. ``StripePublishableKey`` and
   ``AlarmEmail`` have no default: the first deploy of a stage takes them from the environment
   (``STRIPE_PUBLISHABLE_KEY``, ``ALARM_EMAIL``); later deploys keep the stack's values unless given again.
3. Writes the portal's ``config.js`` from the stack's outputs (into ``.aws-sam/portal/``: the checked-in
   ``portal/config.js`` stays empty, which is what the local stack needs), uploads ``portal/`` to the
   bucket, deletes what is no longer there, and invalidates CloudFront.
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


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str] | None:
    """The stack's outputs, or None when the stack does not exist yet."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return {item["OutputKey"]: item["OutputValue"] for item in stacks[0].get("Outputs", [])}


def deploy_overrides(config: StageConfig, stack_exists: bool, environ: dict[str, str]) -> dict[str, str]:
    """samconfig's overrides plus the first-deploy parameters found in the environment.

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
    return overrides


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--sam", default=str(ROOT / ".venv-sam" / "bin" / "sam"))
    parser.add_argument("--portal-only", action="store_true")
    args = parser.parse_args(argv)
    config = stage_config(args.stage)
    session = boto3.session.Session(region_name=config.region)
    if not args.portal_only:
        later = check_secrets(session.client("ssm"), config)
        exists = stack_outputs(session.client("cloudformation"), config.stack_name) is not None
        sam_deploy(args.sam, config, deploy_overrides(config, exists, dict(os.environ)))
    outputs = publish_portal(session, config)
    print(
        "\n".join(
            [
                "",
                f"Portal            {outputs['PortalUrl']}",
                f"API               {outputs['ApiUrl']}",
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
