"""The template as CloudFormation receives it: template.yaml transformed by samtranslator, as `sam validate`
and `sam deploy` do. The transform runs in the SAM CLI's virtualenv (.venv-sam, made by `make validate`)."""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

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
