"""Least privilege, read from template.yaml: every function's own policy names actions one by one (no
wildcards), on this stack's resources only, and reads a Stripe secret only by its exact parameter ARN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


class _Loader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {f"!{suffix}": loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {f"!{suffix}": loader.construct_sequence(node, deep=True)}
    return {f"!{suffix}": loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_Loader.add_multi_constructor("!", _tag)
TEMPLATE = yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
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
