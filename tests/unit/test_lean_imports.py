"""A lean package: its submodules and re-exported names load without running its ``__init__``."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from partnerhub.lean import register_lean


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # Given a package whose __init__ re-exports one name and drags in a heavy module
    root = tmp_path / "leanpkg_demo"
    root.mkdir()
    (root / "__init__.py").write_text(
        "from leanpkg_demo.light import Light\nimport leanpkg_demo.heavy\nEXTRA = 42\n", encoding="utf-8"
    )
    (root / "light.py").write_text("class Light:\n    pass\n", encoding="utf-8")
    (root / "heavy.py").write_text("LOADED = True\n", encoding="utf-8")
    (root / "user.py").write_text("from leanpkg_demo import Light\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "leanpkg_demo"
    for name in [m for m in sys.modules if m.startswith("leanpkg_demo")]:
        del sys.modules[name]


def test_submodules_and_reexports_load_alone(package: str) -> None:
    register_lean(package)
    # When a module imports a re-exported name from the package
    user = importlib.import_module(f"{package}.user")
    # Then it gets the defining module's object, and the heavy module was never imported
    assert user.Light is importlib.import_module(f"{package}.light").Light
    assert f"{package}.heavy" not in sys.modules


def test_any_other_name_runs_the_real_init(package: str) -> None:
    register_lean(package)
    lean = importlib.import_module(package)
    assert lean.EXTRA == 42
    assert f"{package}.heavy" in sys.modules
    with pytest.raises(AttributeError):
        _ = lean.MISSING
