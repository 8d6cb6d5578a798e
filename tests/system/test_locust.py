"""The Locust scenarios run against a real embedded server for a few seconds:
batched taps on the rain, ten-pulls on the wheel and single taps, each answer
checked by the locustfile itself (shape, consecutive nonces, stops). A
scenario that drifts from the API fails here, not on the day of a rain."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import running_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_batched_scenarios_run_clean(tmp_path: Path) -> None:
    with running_server({}, tmp_path / "server.log") as base:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(ROOT / "loadtest" / "locustfile.py"),
                "--headless",
                "-u",
                "24",
                "-r",
                "24",
                "-t",
                "8s",
                "--host",
                base,
                "--csv",
                str(tmp_path / "lc"),
                "--only-summary",
                "BatchRainPlayer",
                "TenPullPlayer",
                "RainPlayer",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    with (tmp_path / "lc_stats.csv").open() as f:
        rows = {r["Name"]: r for r in csv.DictReader(f)}
    batched = {n: int(r["Request Count"]) for n, r in rows.items() if " x" in n}
    assert any(n.startswith("draw rain x") for n in batched), rows.keys()
    assert batched.get("draw wheel x10", 0) > 0, rows.keys()
    assert int(rows["Aggregated"]["Failure Count"]) == 0
