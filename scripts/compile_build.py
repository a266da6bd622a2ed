"""Compile every module of a ``sam build`` output to bytecode for the Lambda runtime: ``make build`` runs it.

Lambda's code directories (``/var/task``, ``/opt``) are read-only, so Python cannot write ``__pycache__``
there: without ``.pyc`` files in the artifact it compiles each module it imports from source, on every cold
start, botocore and pydantic included (``bench/results.md``: "Cold start"). ``sam build`` ships none.

The files are written with ``unchecked-hash`` invalidation: Python loads them without comparing the source's
modification time, which a zip file keeps only to two seconds, so a timestamp-checked ``.pyc`` could be
judged stale after the upload and compiled again. The artifact is never edited in place, so nothing goes stale.
The interpreter must be the runtime's version (``template.yaml``: python3.13): bytecode is version-specific.

Usage: ``python3.13 scripts/compile_build.py .aws-sam/build``
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import py_compile
import sys
from pathlib import Path

RUNTIME = (3, 13)  # template.yaml's Runtime: python3.13


def compile_tree(root: Path) -> tuple[int, int]:
    """Compile every ``.py`` under ``root``; returns (modules, bytes of bytecode written). Raises on any failure."""
    if sys.version_info[:2] != RUNTIME:
        raise SystemExit(
            f"bytecode must be compiled by Python {RUNTIME[0]}.{RUNTIME[1]} (the Lambda runtime), not "
            f"{sys.version_info[0]}.{sys.version_info[1]}: run this with python3.13"
        )
    if not root.is_dir():
        raise SystemExit(f"{root} is not a directory: run sam build first")
    ok = compileall.compile_dir(
        root,
        quiet=1,
        workers=0,  # one process per core
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        raise SystemExit(f"some modules under {root} did not compile (listed above)")
    sources = list(root.rglob("*.py"))
    written = sum(Path(importlib.util.cache_from_source(str(source))).stat().st_size for source in sources)
    return len(sources), written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("build_dir", type=Path, help="the sam build output, e.g. .aws-sam/build")
    args = parser.parse_args(argv)
    modules, written = compile_tree(args.build_dir)
    print(f"compiled {modules} modules under {args.build_dir} to bytecode ({written / 1e6:.1f} MB, unchecked-hash)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
