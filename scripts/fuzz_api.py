"""Schemathesis against the running local stack (`make run`): every phase, every check but unsupported_method.

    .venv/bin/python scripts/fuzz_api.py [--examples 60] [--seed N]      (API_URL or API_PORT pick the stack)

Sets the stack clock back a month to give the fuzzing partner last month's open invoice, then returns it:
use a fresh stack. Prints schemathesis' summary; exits non-zero when it found anything.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from testkit import api_fuzz  # needs the repository root on sys.path

API = os.environ.get("API_URL", f"http://127.0.0.1:{os.environ.get('API_PORT', '3000')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=60, help="examples per operation (default 60)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workdir", type=Path, default=None, help="where the config and JSON report go")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fuzz-api-"))
    prepared = api_fuzz.prepare(API)
    outcome = api_fuzz.run(prepared, args.examples, workdir, seed=args.seed)
    print(outcome.output)
    print(f"config and report: {workdir}")
    return outcome.returncode


if __name__ == "__main__":
    sys.exit(main())
