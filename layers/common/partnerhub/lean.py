"""Import only the parts of Powertools a function uses: imported first by every function's ``app.py``.

Importing ``aws_lambda_powertools.event_handler.api_gateway`` first runs the package's ``__init__``,
which imports every resolver it has (AppSync with asyncio, Bedrock agents, VPC Lattice, Lambda function
URLs, ...) though a function here uses one, and Powertools' own modules import names from the package.
This registers such packages without running their ``__init__``. Their submodules import as usual; a
name the ``__init__`` re-exports (``from package import Response``) is imported from the one module
that defines it, as the ``__init__`` itself says; any other name runs the real ``__init__``, so nothing
that imports from the package breaks. ``bench/results.md`` shows the import profile.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

LEAN_PACKAGES = (
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.data_classes",
    # Its ``__init__`` loads the persistence layers and the decorator; the API functions need only its
    # exceptions until a request sends an Idempotency-Key (``partnerhub.api.Idempotency``).
    "aws_lambda_powertools.utilities.idempotency",
)


def _reexports(init_file: str, package: str) -> dict[str, str]:
    """``name -> module`` for every ``from <module> import name`` at the top of the package's ``__init__``."""
    tree = ast.parse(Path(init_file).read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            module = node.module if node.level == 0 else f"{package}.{node.module}"
            for alias in node.names:
                found[alias.asname or alias.name] = module
    return found


def register_lean(name: str) -> None:
    """Put package ``name`` in ``sys.modules`` without running its ``__init__`` (a no-op once imported)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.origin is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    loader, origin = spec.loader, spec.origin
    state: dict[str, Any] = {"loaded": False, "reexports": None}

    def load_on_first_use(attribute: str) -> Any:
        if state["loaded"] or attribute.startswith("__"):
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        if importlib.util.find_spec(f"{name}.{attribute}") is not None:
            return importlib.import_module(f"{name}.{attribute}")  # ``from package import submodule``
        if state["reexports"] is None:
            state["reexports"] = _reexports(origin, name)
        defining = state["reexports"].get(attribute)
        if defining is not None:
            value = getattr(importlib.import_module(defining), attribute)
            setattr(module, attribute, value)
            return value
        state["loaded"] = True
        loader.exec_module(module)
        return getattr(module, attribute)

    module.__getattr__ = load_on_first_use  # type: ignore[method-assign]
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent in sys.modules:
        setattr(sys.modules[parent], child, module)


for _package in LEAN_PACKAGES:
    register_lean(_package)
