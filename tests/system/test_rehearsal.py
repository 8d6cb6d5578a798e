"""The campaign rehearsal's short variant (loadtest/rehearse.py --short): a
three-round rain under a Locust burst while a flush worker and Redis are
killed and MariaDB is cut off; every invariant must PASS."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_short_rehearsal_passes_every_check(artifacts: Path) -> None:
    report = artifacts / "rehearsal-short.json"
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "loadtest" / "rehearse.py"),
            "--short",
            "--json",
            str(report),
            "--keep",
            str(artifacts / "rehearsal-short"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    (artifacts / "rehearsal-short.txt").write_text(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-3000:]
    checks = json.loads(report.read_text())["checks"]
    assert len(checks) >= 10
    assert all(c["pass"] for c in checks.values()), checks
    for invariant in ("I1", "I2", "I3", "I4", "I5", "I6"):
        assert any(name.startswith(invariant) for name in checks), invariant
    assert "ALL PASS" in run.stdout
    report_load = json.loads(report.read_text())["load"]
    assert report_load["via"].startswith("through nginx")  # players go through the shipped edge
    assert report_load["p99_ms"] is not None
