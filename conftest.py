"""Puts the shared layer and the repository root on sys.path for every test, as the Lambda runtime would."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
for path in (ROOT / "layers" / "common", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
