"""The house's floors, read from the source: which modules import which (module-level imports and the ones inside
functions alike), as ``docs/architecture.md`` draws them.

- the domain imports no adapter (DynamoDB, Stripe, SQS, the AWS clients), no edge module, no SDK;
- nothing in the layer imports a function, and no function imports another;
- no two modules import each other, directly or through others (a circle hidden by a function-local import
  counts too);
- the Stripe emulator imports nothing inside a function (its modules load once, when the stack starts).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common"
PACKAGES = {"partnerhub": LAYER / "partnerhub", "local": ROOT / "local"}

DOMAIN_MAY_NOT = (
    "boto3",
    "botocore",
    "stripe",
    "aws_lambda_powertools",
    "partnerhub.repository",
    "partnerhub.payments",
    "partnerhub.outbound",
    "partnerhub.queues",
    "partnerhub.clients",
    "partnerhub.api",
    "partnerhub.composition",
    "partnerhub.schemas",
    "partnerhub.settings",
    "os",
)


def module_name(path: Path, package_root: Path) -> str:
    parts = path.relative_to(package_root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root in PACKAGES.values():
        for path in root.rglob("*.py"):
            found[module_name(path, root)] = path
    return found


def imports_of(name: str, path: Path, known: Iterable[str] = ()) -> Iterator[str]:
    """Every module ``path`` imports, wherever the import statement stands (``TYPE_CHECKING`` blocks aside:
    they are never executed). ``from package import module`` names the module, not the package (a submodule's
    package is loaded before it anyway), when ``known`` says it is one."""
    modules = set(known)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(child) for stmt in node.body for child in ast.walk(stmt)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            named = [f"{base}.{alias.name}" for alias in node.names]
            submodules = [target for target in named if target in modules]
            yield from submodules or [base, *named]


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        edges[name] = {target for target in imports_of(name, path, known) if target in known and target != name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read() -> None:
    # The reader finds what it must: a module known to import another, through a relative import too
    edges = graph()
    assert "partnerhub.repository.keys" in edges["partnerhub.repository.licenses"]
    assert "partnerhub.domain.periods" in edges["partnerhub.domain.tallies"]


def test_a_circle_is_found_when_there_is_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_import_circles(package: str) -> None:
    edges = {name: targets for name, targets in graph().items() if name.split(".")[0] == package}
    assert cycles(edges) == []


def test_the_domain_imports_no_adapter_no_sdk_and_no_environment() -> None:
    known = modules()
    offending = {
        name: sorted(
            target
            for target in imports_of(name, path)
            if any(target == bad or target.startswith(bad + ".") for bad in DOMAIN_MAY_NOT)
        )
        for name, path in known.items()
        if name.startswith("partnerhub.domain.")
    }
    assert {name: found for name, found in offending.items() if found} == {}


def test_no_module_imports_a_function() -> None:
    layer_and_functions = [*(LAYER / "partnerhub").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
    offending = [
        str(path.relative_to(ROOT))
        for path in layer_and_functions
        for target in imports_of(path.stem, path)
        if target.startswith(("functions", "app"))
    ]
    assert offending == []


def test_the_emulator_imports_nothing_inside_a_function() -> None:
    hidden = []
    for path in (ROOT / "local" / "stripe_emulator").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                hidden += [
                    f"{path.relative_to(ROOT)}:{inner.lineno} {ast.unparse(inner)}"
                    for inner in ast.walk(node)
                    if isinstance(inner, ast.Import | ast.ImportFrom)
                ]
    assert hidden == []
