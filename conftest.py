"""Puts the shared layer and the repository root on sys.path for every test, as the Lambda runtime would,
and gives Powertools the environment a function has before anything imports the layer."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
for path in (ROOT / "layers" / "common", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

# partnerhub.observability builds its Metrics at import: without a namespace, flushing would fail.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "PartnerHubTest")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
