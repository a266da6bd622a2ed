"""The layer ships exactly what the tests run: every package pinned as in requirements/constraints.txt, and
every package it needs (read from the installed distributions' own metadata) shipped with it."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
# The Lambda environment the layer is built for (template.yaml: python3.13, arm64).
LAMBDA_ENV = {
    **default_environment(),
    "python_version": "3.13",
    "python_full_version": "3.13.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def requirements(path: Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def pins(path: Path) -> dict[str, str]:
    found = {}
    for req in requirements(path):
        (spec,) = req.specifier
        assert spec.operator == "==", f"{path.name}: {req} is not pinned with =="
        found[canonicalize_name(req.name)] = spec.version
    return found


LAYER = requirements(ROOT / "layers/common/requirements.txt")
LAYER_PINS = pins(ROOT / "layers/common/requirements.txt")
CONSTRAINTS = pins(ROOT / "requirements/constraints.txt")


def test_every_layer_package_is_pinned_to_the_version_the_tests_run() -> None:
    # Given the layer's requirements and the lock the test virtualenv is installed from
    # Then each shipped package has exactly the locked version
    mismatched = {name: (v, CONSTRAINTS.get(name)) for name, v in LAYER_PINS.items() if CONSTRAINTS.get(name) != v}
    assert mismatched == {}


def test_the_top_level_runtime_requirements_ship_with_their_extras() -> None:
    layer = {canonicalize_name(r.name): r for r in LAYER}
    for req in requirements(ROOT / "requirements/runtime.txt"):
        shipped = layer.get(canonicalize_name(req.name))
        assert shipped is not None, f"{req.name} is in runtime.txt but not in the layer"
        assert shipped.specifier == req.specifier and shipped.extras == req.extras, (req, shipped)


def test_everything_a_shipped_package_needs_ships_too() -> None:
    # Given each shipped package's declared dependencies (its installed metadata, not our list)
    missing: dict[str, list[str]] = {}
    for req in LAYER:
        dist = metadata.distribution(req.name)
        for extra in ["", *sorted(req.extras)]:
            for dep_text in dist.requires or []:
                dep = Requirement(dep_text)
                if dep.marker is not None and not dep.marker.evaluate({**LAMBDA_ENV, "extra": extra}):
                    continue
                if dep.marker is None and extra:
                    continue  # unconditional dependencies were checked with extra ""
                name = canonicalize_name(dep.name)
                if name not in LAYER_PINS:
                    missing.setdefault(req.name, []).append(dep_text)
                elif LAYER_PINS[name] not in dep.specifier:
                    missing.setdefault(req.name, []).append(f"{dep_text} (layer pins {LAYER_PINS[name]})")
    # Then nothing is left for the Lambda runtime's own, older copies to fill in
    assert missing == {}


def test_boto3_ships_with_the_botocore_it_was_released_with() -> None:
    # botocore ships (aws-xray-sdk needs it); the runtime's own boto3 must not run on top of it.
    assert "botocore" in LAYER_PINS
    assert LAYER_PINS["boto3"] == LAYER_PINS["botocore"]
    assert "s3transfer" in LAYER_PINS
