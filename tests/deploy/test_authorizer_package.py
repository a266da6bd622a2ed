"""The authorizer ships its own dependencies (PyJWT and cryptography, which only it needs) beside the layer: each
pinned to the version the tests run, and everything they need on Lambda shipped with them or in the layer."""

from __future__ import annotations

from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.test_layer import CONSTRAINTS, LAMBDA_ENV, LAYER_PINS, ROOT, pins, requirements

PACKAGE = ROOT / "functions" / "authorizer" / "requirements.txt"
OWN = requirements(PACKAGE)
OWN_PINS = pins(PACKAGE)


def test_the_authorizer_ships_what_verifies_tokens_pinned_as_the_tests_run_it() -> None:
    assert {"pyjwt", "cryptography"} <= set(OWN_PINS)
    assert {name: version for name, version in OWN_PINS.items() if CONSTRAINTS.get(name) != version} == {}
    (pyjwt,) = [req for req in OWN if canonicalize_name(req.name) == "pyjwt"]
    assert pyjwt.extras == {"crypto"}


def test_nothing_is_shipped_twice() -> None:
    assert set(OWN_PINS) & set(LAYER_PINS) == set()


def test_everything_the_authorizers_packages_need_ships_with_them_or_in_the_layer() -> None:
    shipped = OWN_PINS | LAYER_PINS
    missing: dict[str, list[str]] = {}
    for req in OWN:
        dist = metadata.distribution(req.name)
        for extra in ["", *sorted(req.extras)]:
            for text in dist.requires or []:
                dep = Requirement(text)
                if dep.marker is not None and not dep.marker.evaluate({**LAMBDA_ENV, "extra": extra}):
                    continue
                if dep.marker is None and extra:
                    continue
                name = canonicalize_name(dep.name)
                if name not in shipped or shipped[name] not in dep.specifier:
                    missing.setdefault(req.name, []).append(text)
    assert missing == {}


def test_no_other_function_ships_packages_of_its_own() -> None:
    for path in sorted((ROOT / "functions").glob("*/requirements.txt")):
        if path != PACKAGE:
            assert requirements(path) == [], f"{path.relative_to(ROOT)}: dependencies belong in the layer"


def test_only_the_authorizer_loads_the_module_that_needs_them() -> None:
    # The layer does not ship PyJWT: the one layer module importing it must be reached by the authorizer alone
    from tests.unit.test_layers import graph, imports_of, modules

    known = modules()
    importing_jwt = {
        name for name, path in known.items() if name.startswith("partnerhub") and "jwt" in set(imports_of(name, path))
    }
    assert importing_jwt == {"partnerhub.cognito"}
    edges = graph()

    def reached(start: set[str]) -> set[str]:
        seen: set[str] = set()
        todo = list(start)
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo += edges.get(name, set())
        return seen

    for app in sorted((ROOT / "functions").glob("*/app.py")):
        direct = {target for target in imports_of("app", app) if target in known}
        loads_it = "partnerhub.cognito" in reached(direct)
        assert loads_it == (app.parent.name == "authorizer"), app.parent.name
