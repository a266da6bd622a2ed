"""The template as CloudFormation receives it: template.yaml transformed by samtranslator, as `sam validate`
and `sam deploy` do. The transform runs in the SAM CLI's virtualenv (.venv-sam, made by `make validate`)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from local.template import Resolver, Template

ROOT = Path(__file__).resolve().parents[2]
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
SCRIPT = Path(__file__).with_name("sam_transform.py")
TEMPLATE = ROOT / "template.yaml"
LAYER_URI = "s3://artifacts/layers/common"


def transform_all(variants: list[tuple[Path, str]]) -> list[Any]:
    """The CloudFormation templates SAM makes of each (template, layer S3 URI), in one SAM process."""
    if not SAM_PYTHON.exists():
        pytest.skip(f"{SAM_PYTHON} is missing: `make validate` creates the SAM CLI virtualenv that transforms")
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"}
    arguments = [f"{template}={layer_uri}" for template, layer_uri in variants]
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [str(SAM_PYTHON), str(SCRIPT), *arguments], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    result: list[Any] = json.loads(done.stdout)
    return result


@cache
def transformed(template: Path = TEMPLATE, layer_uri: str = LAYER_URI) -> Any:
    """The CloudFormation template SAM makes of ``template``, with the layer's code at ``layer_uri``."""
    return transform_all([(template, layer_uri)])[0]


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


# -- the template resolved for one stack, where a property depends on a parameter or the stack's identity ------------

ACCOUNT = "210987654321"
STACK_ID = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/partnerhub-prod/7f3e2a10-5b1c-11f0-9a2e-0affd1c3b4e5"
DISTRIBUTION = "d111abcdef8.cloudfront.net"
REQUIRED = {"Stage": "prod", "StripePublishableKey": "pk_test_51TestOnly", "AlarmEmail": "ops@example.com"}


@dataclass
class Deployed(Resolver):
    """Resolves intrinsic functions as CloudFormation would for one stack: its account, its stack id, and the
    CloudFront domain its distribution got."""

    stack_id: str = STACK_ID

    def pseudo(self) -> dict[str, Any]:
        return {**super().pseudo(), "AWS::AccountId": ACCOUNT, "AWS::StackId": self.stack_id}


def resolved(logical_id: str, stack_id: str = STACK_ID, **parameters: str) -> dict[str, Any]:
    """``logical_id``'s properties in template.yaml, every condition and reference resolved for a stack deployed
    with ``parameters`` (Stage=prod and the required ones unless given)."""
    template = Template(TEMPLATE, parameter_overrides={**REQUIRED, **parameters})
    resolver = Deployed(template, attrs={("PortalDistribution", "DomainName"): DISTRIBUTION}, stack_id=stack_id)
    props: dict[str, Any] = resolver.resolve(template.resources[logical_id].get("Properties") or {})
    return props


def portal_content_security_policy(stack_id: str = STACK_ID, **parameters: str) -> str:
    """The Content-Security-Policy header CloudFront sends with the portal's files, for that stack."""
    config = resolved("PortalSecurityHeaders", stack_id, **parameters)["ResponseHeadersPolicyConfig"]
    return str(config["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"])
