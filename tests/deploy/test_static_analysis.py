"""checkov, a tool nobody here wrote, on template.yaml and on the template SAM makes of it (cfn-lint with its
informational rules runs as `make cfn-lint`, a part of `make test`). Every checkov finding is either fixed or skipped
in .checkov.yaml with its reason in docs/security.md ("Static analysis"); these tests fail when a new finding
appears, when a skip is no longer needed, or when a skip has no reason written down."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.cfn import ROOT, TEMPLATE, transformed

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CONFIG = yaml.safe_load((ROOT / ".checkov.yaml").read_text())
SECURITY = (ROOT / "docs" / "security.md").read_text()


def failed_checks(paths: list[Path], workdir: Path) -> dict[str, set[str]]:
    """checkov's failed check ids on ``paths``, with no skips, each with the resources it failed on. It runs in
    ``workdir``: in the repository it would read .checkov.yaml, skips included."""
    if not CHECKOV.exists():
        pytest.skip(f"{CHECKOV} is missing: `make checkov` creates checkov's own virtualenv")
    files = [argument for path in paths for argument in ("-f", str(path))]
    done = subprocess.run(  # noqa: S603 - checkov from its own virtualenv, on our files
        [str(CHECKOV), *files, "--framework", "cloudformation", "--skip-download", "--quiet", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=workdir,
    )
    report: Any = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    found: dict[str, set[str]] = {}
    for one in reports:
        assert one["summary"]["parsing_errors"] == 0, one["summary"]
        assert one["summary"]["resource_count"] > 100, one["summary"]  # both templates were read
        for check in one["results"]["failed_checks"]:
            found.setdefault(check["check_id"], set()).add(check["resource"])
    return found


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    workdir = tmp_path_factory.mktemp("checkov")
    cfn = workdir / "template.json"
    cfn.write_text(json.dumps(transformed()))
    return failed_checks([TEMPLATE, cfn], workdir)


def test_every_checkov_finding_is_one_the_config_skips_and_every_skip_is_still_needed(
    findings: dict[str, set[str]],
) -> None:
    skipped = set(CONFIG["skip-check"])
    assert set(findings) - skipped == set(), {c: sorted(findings[c]) for c in set(findings) - skipped}
    assert skipped - set(findings) == set(), "skips checkov no longer needs: remove them and their reasons"


def test_every_skip_has_its_reason_in_the_security_doc() -> None:
    section = SECURITY.split("## Static analysis", 1)[1].split("\n## ", 1)[0]
    explained = dict(re.findall(r"^\| (CKV_AWS_\d+) \|[^|]*\|([^|]+)\|", section, re.M))
    assert set(explained) == set(CONFIG["skip-check"])
    for check, reason in explained.items():
        assert len(reason.split()) >= 8, f"{check}: say why, not just that"
