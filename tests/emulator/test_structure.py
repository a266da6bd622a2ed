"""The emulator's modules import each other in one direction: no circle, and no import hidden in a function."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "local" / "stripe_emulator"


def _module(path: Path) -> str:
    parts = ("local", *path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    modules = {_module(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    hidden: list[str] = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                named = {f"{target}.{alias.name}" for alias in node.names} & set(modules)
                graph[name] |= (named or {target}) & set(modules) - {name}
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                hidden += [
                    f"{name}.{node.name}: {ast.unparse(inner)}"
                    for inner in ast.walk(node)
                    if isinstance(inner, ast.Import | ast.ImportFrom)
                ]
    return graph, hidden


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        for target in sorted(graph[node]):
            if target in path:
                found.append([*path[path.index(target) :], target])
            elif len(path) < len(graph):
                walk(target, [*path, target])

    for start in graph:
        walk(start, [start])
    return found


def test_no_module_of_the_emulator_imports_one_that_imports_it_back() -> None:
    graph, _ = _graph()
    assert graph["local.stripe_emulator.app"], "the import graph was read"
    assert _circles(graph) == []


def test_no_function_imports_a_module_of_its_own() -> None:
    _, hidden = _graph()
    assert hidden == []
