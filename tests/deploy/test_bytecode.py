"""The build ships bytecode Lambda can use as it is: Python never compiles a module of the artifact again.

Lambda's code directories are read-only, so a module without a usable ``.pyc`` is compiled from source on every
cold start (``scripts/compile_build.py``). These tests show the ``.pyc`` files ``make build`` writes are loaded
without looking at the source, and that every module of the real build has one.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import compile_build  # noqa: E402

UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, source not checked


def pyc_flags(source: Path) -> tuple[bytes, int]:
    compiled = Path(importlib.util.cache_from_source(str(source)))
    if not compiled.exists():
        return b"", -1
    header = compiled.read_bytes()[:8]
    return header[:4], int.from_bytes(header[4:8], "little")


def import_value(directory: Path, module: str) -> str:
    """``module.VALUE`` imported in a fresh interpreter that may not write bytecode, as on Lambda."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(directory)}
    env.pop("PYTHONPYCACHEPREFIX", None)
    done = subprocess.run(  # noqa: S603 - our own interpreter importing a module the test wrote
        [sys.executable, "-c", f"import {module}; print({module}.VALUE)"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_compiled_module_is_loaded_without_reading_its_source_again(tmp_path: Path) -> None:
    # Given a package compiled as make build compiles the artifact
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    module = package / "mod.py"
    module.write_text('VALUE = "compiled"\n')
    modules, written = compile_build.compile_tree(tmp_path)
    assert modules == 2 and written > 0
    assert pyc_flags(module) == (importlib.util.MAGIC_NUMBER, UNCHECKED_HASH)

    # When the source changes afterwards (a zip upload may change its timestamp; here its text changes too)
    module.write_text('VALUE = "source"\n')
    os.utime(module, (1, 1))

    # Then Python still runs the bytecode: it neither compared nor compiled the source
    assert import_value(tmp_path, "pkg.mod") == "compiled"


def test_without_the_build_step_python_would_compile_the_source(tmp_path: Path) -> None:
    # The counterpart: with no .pyc (what sam build alone ships), the source is what runs, compiled at import
    (tmp_path / "plain.py").write_text('VALUE = "source"\n')
    assert import_value(tmp_path, "plain") == "source"
    assert not Path(importlib.util.cache_from_source(str(tmp_path / "plain.py"))).exists()


def test_another_python_version_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Bytecode is specific to a Python version: compiling for 3.13 with another interpreter would ship files
    # the runtime ignores
    monkeypatch.setattr(compile_build, "RUNTIME", (2, 7))
    (tmp_path / "m.py").write_text("VALUE = 1\n")
    with pytest.raises(SystemExit, match=r"must be compiled by Python 2\.7"):
        compile_build.compile_tree(tmp_path)
    assert not Path(importlib.util.cache_from_source(str(tmp_path / "m.py"))).exists()


def test_a_module_that_does_not_compile_fails_the_build(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def broken(:\n")
    with pytest.raises(SystemExit, match="did not compile"):
        compile_build.compile_tree(tmp_path)


def test_make_build_ships_unchecked_bytecode_for_every_module(tmp_path: Path) -> None:
    # Given the real build (sam build of the layer and every function, then the compile step), into a
    # directory of its own
    build = tmp_path / "build"
    make = shutil.which("make") or "make"
    done = subprocess.run(  # noqa: S603 - the project's own make target
        [make, "-s", "build", f"BUILD_DIR={build}"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"modules under {build} to bytecode" in done.stdout

    # Then every module shipped, the project's and its dependencies', has bytecode for this Python version
    # that the runtime loads without checking the source
    sources = list(build.rglob("*.py"))
    layer = build / "CommonLayer" / "python"
    assert (layer / "partnerhub" / "api.py") in sources and (layer / "pydantic" / "main.py") in sources
    assert (build / "LicensesFunction" / "app.py") in sources
    wrong = [
        str(s.relative_to(build)) for s in sources if pyc_flags(s) != (importlib.util.MAGIC_NUMBER, UNCHECKED_HASH)
    ]
    assert wrong == []
