"""Transforms template.yaml as `sam validate` and CloudFormation do (samtranslator), printing the JSON.

Runs under the SAM CLI's own virtualenv (.venv-sam), whose samtranslator pins a pydantic the project's
virtualenv does not have: ``.venv-sam/bin/python tests/deploy/sam_transform.py template.yaml[=layer-uri] ...``
prints a JSON list, one transformed template per argument (one process: importing samtranslator is the slow
part); ``--single template.yaml`` prints that one template alone. Local CodeUri/ContentUri folders become S3 URIs, as `sam package` makes them; ``=layer-uri`` sets the
layer's, so a test can show what a layer-only change does.
"""

import json
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

PARAMETERS = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "Stage": "prod",
    "StripePublishableKey": "pk_test_51TestOnly",
    "AlarmEmail": "ops@example.com",
}


class NoManagedPolicies:
    """The template names no managed policy, so there is nothing to look up in IAM."""

    def load(self):
        return {}


def transformed(argument):
    path, _, layer_uri = argument.partition("=")
    layer_uri = layer_uri or "s3://artifacts/layers/common"
    with open(path, encoding="utf-8") as handle:
        template = yaml_parse(handle.read())
    for resource in template["Resources"].values():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::LayerVersion" and isinstance(props.get("ContentUri"), str):
            props["ContentUri"] = layer_uri
        elif isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = "s3://artifacts/" + props["CodeUri"].strip("/")
    return transform(template, PARAMETERS, NoManagedPolicies())


def main():
    if sys.argv[1:2] == ["--single"]:  # one template, as a file CloudFormation (or checkov) reads
        json.dump(transformed(sys.argv[2]), sys.stdout, default=str, indent=1)
        return
    json.dump([transformed(argument) for argument in sys.argv[1:]], sys.stdout, default=str)


if __name__ == "__main__":
    main()
